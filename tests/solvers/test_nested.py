"""Nested iteration: the cascade's schedule over the levels."""

import pytest

from ml2bench.testing import bind, run_steps

PROBLEM = "quadratic_poisson1d[n=31,levels=3]"


@pytest.mark.parametrize("coarse_steps", [1, 3])
def test_nested_takes_coarse_steps_on_every_coarse_level_then_stays_on_the_finest(coarse_steps):
    """Property: coarsest first, ``coarse_steps`` inner steps on each coarse level, then
    the finest level for good."""
    _, solver, _ = bind(PROBLEM, f"nested[coarse_steps={coarse_steps},inner=sgd,lr=0.001]")
    levels = [info["level"] for info in run_steps(solver, 2 * coarse_steps + 4)]
    assert levels == [2.0] * coarse_steps + [1.0] * coarse_steps + [0.0] * 4


def test_nested_without_coarse_steps_is_valid_and_reaches_the_finest_level():
    """``coarse_steps=0`` (the declared lower bound) is a valid setting; the cascade is on
    the finest level after at most one step per coarse level."""
    _, solver, _ = bind(PROBLEM, "nested[coarse_steps=0,inner=sgd,lr=0.001]")
    levels = [info["level"] for info in run_steps(solver, 4)]
    assert levels[-2:] == [0.0, 0.0] and levels[0] < 2.0

