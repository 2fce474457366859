"""Leaderboard numbers on hand-made runs with known curves (see conftest.py)."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from ml2bench.report.leaderboard import (
    final_rows,
    leaderboard,
    problem_labels,
    status_summary,
    target_of,
    time_to_target,
)


def row_of(board, problem, solver):
    hit = board[(board["problem"] == problem) & (board["solver"] == solver)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_target_rule():
    assert target_of("toy", '{"target": 0.9}', "test_acc") == ("test_acc", 0.9, True)
    assert target_of("toy", {"target": 0.05}, "test_rel_l2") == ("test_rel_l2", 0.05, False)
    # the quadratic's target is on the relative gradient norm, whatever the test metric
    assert target_of("quadratic_poisson1d", '{"target": 1e-08}', "test_rel_l2") == \
        ("grad_norm_rel", 1e-8, False)
    metric, threshold, _ = target_of("toy", "{}", "test_acc")
    assert metric == "test_acc" and math.isnan(threshold)


def test_target_rule_from_registry():
    assert target_of("digits_cnn", json.dumps({"target": 0.95})) == ("test_acc", 0.95, True)
    assert target_of("poisson1d_pinn", {"target": 0.01})[0] == "test_rel_l2"


def test_final_rows_take_the_largest_step(runs):
    finals = final_rows(runs)
    assert len(finals) == runs["run_id"].nunique() == 10
    fast0 = finals.set_index("run_id").loc["toy_cls__fast__s0"]
    assert fast0["step"] == 2 and fast0["status"] == "target" and fast0["test_acc"] == 0.92


def test_time_to_target_is_the_first_crossing(runs):
    ttt = time_to_target(runs).set_index("run_id")
    expected = {"toy_cls__fast__s0": 1.0, "toy_cls__fast__s1": 1.5, "toy_cls__slow__s1": 1.5,
                "toy_reg__b__s0": 1.0, "toy_reg__b__s1": 1.0}
    for run_id, row in ttt.iterrows():
        if run_id in expected:
            assert row["reached"] and row["wu_to_target"] == expected[run_id]
            assert row["time_to_target_s"] == 3.0 * expected[run_id]
        else:
            assert not row["reached"] and math.isnan(row["wu_to_target"])
            assert math.isnan(row["time_to_target_s"])
    assert ttt.loc["toy_reg__b__s1", "target_metric"] == "test_rel_l2"
    assert ttt.loc["toy_cls__fast__s0", "higher_is_better"]


def test_skipped_runs_never_reach(make_rows):
    rows = make_rows("toy", "nested", 0, "test_acc", [0.99], final="skipped")
    ttt = time_to_target(pd.DataFrame(rows))
    assert not ttt["reached"].iloc[0]


def test_leaderboard_numbers(runs):
    board = leaderboard(runs)
    assert list(board.columns) == ["problem", "target", "solver", "seeds", "test_acc",
                                   "test_rel_l2", "train_loss", "wu_to_target",
                                   "time_to_target_s", "reached", "status"]
    fast = row_of(board, "toy_cls", "fast")
    assert fast["seeds"] == 2 and fast["target"] == "test_acc >= 0.9"
    assert fast["test_acc"] == pytest.approx(0.945)
    assert fast["train_loss"] == pytest.approx((2 / 3 + 2 / 5) / 2)
    assert fast["wu_to_target"] == pytest.approx(1.25)
    assert fast["time_to_target_s"] == pytest.approx(3.75)
    assert fast["reached"] == "2/2" and fast["status"] == "target 1, budget 1"
    assert math.isnan(fast["test_rel_l2"])
    slow = row_of(board, "toy_cls", "slow")
    assert slow["test_acc"] == pytest.approx(0.865)
    assert slow["wu_to_target"] == 1.5 and slow["time_to_target_s"] == 4.5
    assert slow["reached"] == "1/2" and slow["status"] == "budget 2"
    b = row_of(board, "toy_reg", "b")
    assert b["test_rel_l2"] == pytest.approx(0.045) and b["wu_to_target"] == 1.0
    assert b["reached"] == "2/2" and b["target"] == "test_rel_l2 <= 0.1"


def test_skipped_and_diverged_rows(runs):
    board = leaderboard(runs)
    nested = row_of(board, "toy_cls", "nested")
    assert nested["status"] == "skipped: needs >= 2 levels" and nested["seeds"] == 2 and nested["reached"] == ""
    numbers = ["test_acc", "test_rel_l2", "train_loss", "wu_to_target", "time_to_target_s"]
    assert nested[numbers].isna().all()
    a = row_of(board, "toy_reg", "a")
    assert a["status"] == "budget 1, diverged 1" and a["reached"] == "0/2"
    assert a["test_rel_l2"] == pytest.approx(0.12)  # the diverged seed's NaN is left out
    assert a["train_loss"] == math.inf  # ... but its infinite loss is not
    assert math.isnan(a["wu_to_target"])


def test_sorting_within_problems(runs):
    board = leaderboard(runs)
    assert list(zip(board["problem"], board["solver"])) == [
        ("toy_cls", "fast"), ("toy_cls", "slow"), ("toy_cls", "nested"),
        ("toy_reg", "b"), ("toy_reg", "a")]


def test_sorting_by_final_metric_when_no_one_reaches(make_rows):
    rows = []
    for solver, final in (("x", 0.5), ("y", 0.2), ("z", 0.9)):
        rows += make_rows("reg", solver, 0, "test_rel_l2", [1.0, final], params='{"target": 0.01}')
    board = leaderboard(pd.DataFrame(rows))
    assert list(board["solver"]) == ["y", "x", "z"]  # lower error first
    assert "test_acc" not in board


def test_flatness_columns(runs):
    finals = final_rows(runs)
    flat = pd.DataFrame({"run_id": finals["run_id"], "hess_max": np.arange(10.0),
                         "hess_trace_se": 1.0, "param_norm": 2.0 * np.arange(10.0),
                         "flatness_time_s": 5.0})
    board = leaderboard(runs, flatness=flat)
    columns = list(board.columns)
    assert columns.index("train_loss") < columns.index("hess_max") < \
        columns.index("param_norm") < columns.index("wu_to_target")
    assert "hess_trace_se" not in columns and "flatness_time_s" not in columns
    order = list(finals["run_id"])
    fast = row_of(board, "toy_cls", "fast")
    expected = np.median([order.index("toy_cls__fast__s0"), order.index("toy_cls__fast__s1")])
    assert fast["hess_max"] == pytest.approx(expected)
    assert fast["param_norm"] == pytest.approx(2 * expected)
    assert leaderboard(runs, flatness=pd.DataFrame()).columns.equals(leaderboard(runs).columns)


def test_problem_variants_get_distinct_labels(make_rows):
    rows = make_rows("p", "s", 0, "test_acc", [0.5], params='{"n": 8, "target": 0.9}')
    rows += make_rows("p", "s", 1, "test_acc", [0.5], params='{"n": 16, "target": 0.9}')
    frame = pd.DataFrame(rows)
    assert sorted(problem_labels(frame).unique()) == ["p[n=16]", "p[n=8]"]
    assert sorted(leaderboard(frame)["problem"]) == ["p[n=16]", "p[n=8]"]


def test_status_summary():
    assert status_summary(["skipped", "skipped"]) == "skipped"
    assert status_summary(["diverged", "budget", "budget"]) == "budget 2, diverged 1"


def test_empty_frame():
    assert leaderboard(pd.DataFrame()).empty
    assert final_rows(pd.DataFrame()).empty
