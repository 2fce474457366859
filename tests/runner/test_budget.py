"""Equal work means equal work: the budget is a hard limit (AlgoPerf's rule). No
evaluation is made past it, a run ends at its last accepted iterate, and no metric of
any row comes from work beyond the budget — for every solver kind, multilevel cycles
and DD outer steps cut in the middle included."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ml2bench.accounting.ledger import BudgetExhausted, WorkLedger
from ml2bench.hierarchy.base import LevelCost
from ml2bench.runner.store import ResultsStore
from ml2bench.runner.sweep import expand, run_sweep

PROBLEM = "poisson1d_regression[quick=true]"


def ledger(limit: float) -> WorkLedger:
    book = WorkLedger([LevelCost(forward=0.3, grad=1.0, hvp=2.0),
                       LevelCost(forward=0.075, grad=0.25, hvp=0.5)], num_train=100)
    book.limit = limit
    return book


def test_an_evaluation_past_the_limit_is_refused_before_it_is_recorded():
    book = ledger(2.0)
    book.charge(0, "grad", 100)
    book.charge(1, "grad", 100)  # 1.25
    with pytest.raises(BudgetExhausted):
        book.charge(0, "grad", 100)  # would be 2.25
    assert book.work_units == 1.25 and book.count("grad") == 2
    book.charge(0, "grad", 50)  # 1.75: still fits
    book.charge(1, "grad", 100)  # exactly 2.0: a budget met exactly is not refused
    assert book.work_units == 2.0


def test_a_subdomain_allowance_limits_its_own_work_and_replays_are_not_checked_again():
    book = ledger(10.0)
    book.charge(0, "grad", 100)
    with book.parallel_phase():
        for d in range(2):
            with book.subdomain(d), book.allowance(book.remaining() / 2 if d == 0 else 4.5):
                book.charge(0, "grad", 100)
                book.charge(0, "grad", 100)
                book.charge(0, "grad", 100)
                book.charge(0, "grad", 100)
                with pytest.raises(BudgetExhausted):
                    book.charge(0, "grad", 100)  # a fifth: past the 4.5 WU share
    assert book.work_units == 9.0 and book.work_units_parallel == 5.0
    with book.recording() as records:
        book.charge(1, "grad", 100)
    book.limit = 9.0  # replayed charges were checked when they were recorded
    book.replay(records)
    assert book.work_units == 9.25


def final_rows(out) -> pd.DataFrame:
    df = ResultsStore(out).load_runs()
    return df.sort_values(["run_id", "step"]).groupby("run_id").tail(1).set_index("solver")


@pytest.mark.parametrize("solver,problem,budget", [
    ("rmtr", "peaks_resnet[quick=true]", 13.0),
    ("rmtr[subproblem=lsr1]", PROBLEM, 7.3),
    ("mgopt", PROBLEM, 7.3),
    ("apts_d[subdomains=2]", PROBLEM, 7.3),
    ("aspqn", PROBLEM, 7.3),
    ("lbfgs", "quadratic_poisson1d[quick=true]", 9.0),
])
def test_a_budget_ending_inside_a_step_ends_the_run_at_its_last_accepted_iterate(
        tmp_path, solver, problem, budget):
    """Mid-cycle budgets: every row within the budget; the run's last step was cut
    (``info_budget_cut``); its final metrics are those of an iterate reached within the
    budget: the same run with a larger budget passes through the same rows first."""
    specs = expand([problem], [solver], [0], budget=budget, checkpoint_every=0.0,
                   stop_at_target=False)
    report = run_sweep(specs, tmp_path / "cut", progress=False)
    assert report.statuses == {"budget": 1}
    rows = ResultsStore(tmp_path / "cut").load_runs().sort_values("step")
    assert (rows["work_units"] <= budget).all()
    last = rows.iloc[-1]
    assert last["info_budget_cut"] == 1.0, "the budget was meant to end inside a step"
    assert last["train_loss"] <= rows["train_loss"].iloc[0]
    # the same run with twice the budget: identical rows up to the cut step
    longer = expand([problem], [solver], [0], budget=2 * budget, checkpoint_every=0.0,
                    stop_at_target=False)
    run_sweep(longer, tmp_path / "long", progress=False)
    full = ResultsStore(tmp_path / "long").load_runs().sort_values("step")
    n = len(rows) - 1
    pd.testing.assert_series_equal(rows["train_loss"].iloc[:n].reset_index(drop=True),
                                   full["train_loss"].iloc[:n].reset_index(drop=True))
    # the cut run's final iterate is one that a whole step had reached: the previous
    # row's (or, for RMTR, a fine iterate accepted inside the cut cycle: no worse)
    assert last["train_loss"] <= rows["train_loss"].iloc[n - 1]
    if not solver.startswith("rmtr"):
        assert last["train_loss"] == rows["train_loss"].iloc[n - 1]


def test_rmtr_cut_inside_a_cycle_keeps_the_fine_steps_it_accepted(tmp_path):
    """RMTR accepts fine iterates inside a V-cycle (pre-smoothing, the coarse
    correction): a cycle cut by the budget ends at the last of them, which is better than
    the cycle's start and was bought within the budget."""
    problem, budget = "peaks_resnet[quick=true]", 13.0
    run_sweep(expand([problem], ["rmtr"], [0], budget=budget, checkpoint_every=0.0,
                     stop_at_target=False), tmp_path, progress=False)
    rows = ResultsStore(tmp_path).load_runs().sort_values("step")
    assert rows["info_budget_cut"].iloc[-1] == 1.0
    assert rows["train_loss"].iloc[-1] < rows["train_loss"].iloc[-2]
    assert rows["work_units"].iloc[-1] <= budget


def test_the_final_model_is_the_reported_iterate(tmp_path):
    """The saved final model (flatness, landscape) is the iterate the last row reports."""
    run_sweep(expand([PROBLEM], ["mgopt"], [0], budget=7.3, checkpoint_every=0.0,
                     stop_at_target=False), tmp_path, progress=False)
    rows = ResultsStore(tmp_path).load_runs().sort_values("step")
    saved = ResultsStore(tmp_path).load_model(rows["run_id"].iloc[0])
    from ml2bench.problems.registry import make_task
    task = make_task(PROBLEM, 0)
    task.model.load_state_dict(saved["state_dict"])
    assert math.isclose(task.full_objective(task.model), rows["train_loss"].iloc[-1],
                        rel_tol=1e-12)
