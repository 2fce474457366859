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
