"""Measured level costs, checked as properties of FLOP counts: every entry is relative
to the finest level's gradient, a coarser (shallower) level costs less, and the kinds are
ordered forward < gradient < first HVP, with a further HVP through the same
linearisation (``hvp_more``) positive and no dearer than the first."""

import pytest

from ml2bench.problems.registry import make_task


@pytest.mark.parametrize("problem", ["ellipses_resnet[quick=true]",
                                     "poisson1d_pinn[quick=true]"])
def test_measured_level_costs_are_relative_ordered_and_decrease_with_coarsening(problem):
    costs = [level.cost for level in make_task(problem, 0).hierarchy.levels]
    assert len(costs) >= 2
    assert costs[0].grad == 1.0
    for cost in costs:
        assert 0.0 < cost.forward < cost.grad < cost.hvp
        assert 0.0 < cost.hvp_more <= cost.hvp
        assert cost.hvp < 10.0  # a relative cost, not a FLOP count
    for fine, coarse in zip(costs, costs[1:]):
        for kind in ("forward", "grad", "hvp", "hvp_more"):
            assert coarse.of(kind) < fine.of(kind)
