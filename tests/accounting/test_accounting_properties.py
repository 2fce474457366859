"""Properties of the accounting layer that the mutation run (``make mutation``) found
unchecked: the budget's slack is relative to the budget, fp16 loss scaling keeps its
scale at or above ``min_scale`` and starts from torch's defaults, and the oracle leaves
no gradients on the parameters (no hidden state)."""

import inspect

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ml2bench.accounting.ledger import BUDGET_SLACK, BudgetExhausted, WorkLedger
from ml2bench.accounting.precision import Precision
from ml2bench.hierarchy.base import LevelCost
from ml2bench.testing import bind

MODEST = settings(max_examples=50, deadline=None, derandomize=True, database=None)


@MODEST
@given(st.floats(1.0, 1e6), st.floats(0.05, 0.5), st.floats(2.0, 50.0))
def test_budget_slack_is_relative_to_the_budget(limit, under, over):
    """An evaluation that ends within a relative BUDGET_SLACK of the budget is allowed
    (sums of charges round), one that ends clearly past it is refused — for budgets of
    any size."""
    ledger = WorkLedger([LevelCost(forward=0.5, grad=1.0, hvp=2.0)], num_train=1)
    ledger.limit = limit
    ledger.work_units = limit - 1.0 + under * BUDGET_SLACK * limit
    ledger.charge(0, "grad", 1)  # ends inside the slack
    ledger.work_units = limit - 1.0 + over * BUDGET_SLACK * limit
    with pytest.raises(BudgetExhausted):
        ledger.charge(0, "grad", 1)


def test_fp16_loss_scaling_defaults_are_torch_gradscalers():
    """The loss-scaling constants are those of torch.amp.GradScaler (the reference)."""
    defaults = {name: p.default for name, p in
                inspect.signature(torch.amp.GradScaler.__init__).parameters.items()}
    precision = Precision("fp16")
    assert precision.scale == defaults["init_scale"]
    assert precision.growth_factor == defaults["growth_factor"]
    assert precision.backoff_factor == defaults["backoff_factor"]
    assert precision.growth_interval == defaults["growth_interval"]


@MODEST
@given(st.integers(-30, 20), st.integers(1, 60))
def test_fp16_loss_scale_backs_off_on_overflow_but_never_below_min_scale(log2_scale, overflows):
    """Property: each overflowing evaluation halves the scale and asks for a retry while
    the halved scale stays ≥ min_scale; after that it is accepted as it is. The scale is
    never below min_scale."""
    precision = Precision("fp16", init_scale=2.0 ** max(log2_scale, -24))
    loss, overflow = torch.tensor(1.0), [torch.tensor([float("inf"), 1.0])]
    for _ in range(overflows):
        before = precision.scale
        retry = not precision.accept(loss, overflow)
        assert retry == (before * precision.backoff_factor >= precision.min_scale)
        assert precision.scale == (before * precision.backoff_factor if retry else before)
        assert precision.scale >= precision.min_scale


def test_oracle_leaves_no_gradient_on_the_parameters():
    """Property (no hidden state): a counted gradient is returned, not stored in .grad."""
    task, solver, _ = bind("quadratic_poisson1d[n=7,levels=2]", "tr")
    for level in (0, 1):
        solver.oracle.loss_and_grad(task.train, level)
        assert all(p.grad is None for p in solver.oracle.model(level).parameters())


def test_subdomain_costs_default_to_the_finest_level_on_a_multilevel_task():
    """The subdomain cost fractions of a decomposition of the finest model are measured
    on the finest level by default (what the DD solvers charge), each in (0, 1]."""
    task, solver, _ = bind("ellipses_resnet[quick=true]", "aspqn[subdomains=2]")
    assert len(task.hierarchy.levels) >= 2
    costs = solver.oracle.subdomain_costs(solver.decomposition)
    assert costs == solver.oracle.subdomain_costs(solver.decomposition, level=0)
    assert all(0.0 < c <= 1.0 for c in costs)


def test_oracle_evaluates_the_finest_level_by_default():
    """Property: without a level, the oracle's loss and gradient are the finest level's
    (the levels hold different iterates here, so a wrong default shows)."""
    task, solver, ledger = bind("quadratic_poisson1d[n=7,levels=2]", "tr")
    oracle = solver.oracle
    with torch.no_grad():
        oracle.model(1).x.fill_(0.5)
    assert float(oracle.loss(task.train)) == float(oracle.loss(task.train, 0))
    assert float(oracle.loss(task.train)) != float(oracle.loss(task.train, 1))
    value, grads = oracle.loss_and_grad(task.train)
    assert grads[0].shape == oracle.model(0).x.shape
    assert ledger.count("forward", 0) == 3 and ledger.count("grad", 0) == 1


def test_an_empty_parallel_phase_adds_no_work():
    """Property: a phase in which no subdomain evaluated anything adds nothing."""
    ledger = WorkLedger([LevelCost(forward=0.5, grad=1.0, hvp=2.0)], num_train=4)
    ledger.charge(0, "grad", 2)
    with ledger.parallel_phase():
        pass
    assert ledger.work_units == ledger.work_units_parallel == 0.5


def test_fp16_min_scale_is_the_smallest_fp16_subnormal():
    """The loss scale stops backing off at fp16's smallest positive number, 2⁻²⁴."""
    zero = torch.tensor(0.0, dtype=torch.float16)
    smallest = float(torch.nextafter(zero, torch.tensor(1.0, dtype=torch.float16)))
    assert Precision("fp16").min_scale == smallest


def test_fp16_scaled_gradient_is_the_gradient_after_unscaling():
    """Property: with fp16 loss scaling the returned gradient is the native gradient to
    fp16 accuracy (scaling is undone), not a multiple of it."""
    task, solver, _ = bind("ellipses_resnet[quick=true]", "tr")
    _, native = solver.oracle.loss_and_grad(task.train)
    _, half_solver, _ = bind("ellipses_resnet[quick=true]", "tr", precision="fp16")
    assert half_solver.oracle.precision.scale > 1.0
    _, scaled = half_solver.oracle.loss_and_grad(task.train)
    for a, b in zip(native, scaled):
        assert torch.allclose(a, b.to(a.dtype), rtol=0.05, atol=0.02 * float(a.abs().max()) + 1e-6)


def test_fp16_scaled_subdomain_gradient_is_the_restricted_gradient():
    """Property: the fp16 subdomain gradient R_d∇f is the native one to fp16 accuracy."""
    task, solver, _ = bind("ellipses_resnet[quick=true]", "aspqn[subdomains=2]")
    _, half, _ = bind("ellipses_resnet[quick=true]", "aspqn[subdomains=2]", precision="fp16")
    assert half.oracle.precision.scale > 1.0
    for d in range(2):
        _, native = solver.oracle.subdomain_loss_and_grad(task.train, solver.decomposition, d)
        _, scaled = half.oracle.subdomain_loss_and_grad(task.train, half.decomposition, d)
        assert torch.allclose(native, scaled.to(native.dtype), rtol=0.05,
                              atol=0.02 * float(native.abs().max()) + 1e-6)
