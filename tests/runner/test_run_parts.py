"""The named parts of the run loop: stopping rule, checkpoint schedule, row builder."""

import math

import pytest

from ml2bench.problems.base import Target
from ml2bench.runner.checkpoint import CheckpointSchedule
from ml2bench.runner.stopping import DIVERGENCE_FACTOR, StoppingCriterion
from ml2bench.runner.store import COLUMNS, build_row


def test_stopping_reasons_in_order_of_precedence():
    rule = StoppingCriterion(budget=10.0, max_time=5.0, target=Target("test_acc", 0.9),
                             initial_loss=2.0)
    row = {"train_loss": 1.0, "test_acc": 0.5}
    assert rule.reason(row, work_units=1.0, time_s=1.0) is None
    assert rule.reason({**row, "test_acc": 0.95}, 1.0, 1.0) == "target"
    assert rule.reason(row, 10.0, 1.0) == "budget"
    assert rule.reason(row, 1.0, 5.0) == "timeout"
    # divergence wins over everything, a target reached with a NaN loss is no success
    assert rule.reason({"train_loss": math.nan, "test_acc": 0.95}, 10.0, 9.0) == "diverged"


def test_divergence_threshold_is_relative_to_the_initial_loss():
    rule = StoppingCriterion(budget=1.0, initial_loss=-4.0)
    limit = -4.0 + DIVERGENCE_FACTOR * 4.0
    assert not rule.diverged(limit)
    assert rule.diverged(limit * (1 + 1e-12))
    assert rule.diverged(math.inf)
    small = StoppingCriterion(budget=1.0, initial_loss=0.1)  # |f0| < 1: absolute margin 1e3
    assert not small.diverged(0.1 + DIVERGENCE_FACTOR) and small.diverged(0.2 + DIVERGENCE_FACTOR)


def test_no_target_means_never_stopping_at_it():
    rule = StoppingCriterion(budget=10.0, target=None, initial_loss=1.0)
    assert rule.reason({"train_loss": 0.5, "test_acc": 1.0}, 1.0, 1.0) is None


def test_evaluation_is_due_when_a_stop_may_be():
    rule = StoppingCriterion(budget=10.0, max_time=2.0)
    assert not rule.evaluation_due(9.9, 1.0, 0.3)
    assert rule.evaluation_due(10.0, 1.0, 0.3)
    assert rule.evaluation_due(1.0, 2.0, 0.3)
    assert rule.evaluation_due(1.0, 1.0, math.nan)


def test_checkpoint_schedule_skips_marks_passed_by_a_long_step():
    schedule = CheckpointSchedule(every=0.25)
    assert schedule.due(0.0)
    schedule.advance(0.0)
    assert schedule.next == 0.25 and not schedule.due(0.2)
    schedule.advance(0.9)  # one step crossed three marks: evaluate once, next at 1.0
    assert schedule.next == 1.0
    every_step = CheckpointSchedule(every=0.0)
    every_step.advance(3.0)
    assert every_step.due(3.0) and every_step.next == 0.0


def test_rows_follow_the_store_columns_and_keep_extras():
    values = {c: 0 for c in COLUMNS if c not in ("test_acc", "test_rel_l2")}
    row = build_row({**values, "info_radius": 1.5})
    assert list(row)[:len(COLUMNS)] == COLUMNS
    assert math.isnan(row["test_acc"]) and row["info_radius"] == 1.5
    with pytest.raises(KeyError, match="work_units"):
        build_row({k: v for k, v in values.items() if k != "work_units"})


def test_epoch_budget_stops_like_the_work_budget():
    rule = StoppingCriterion(budget=100.0, max_epochs=3.0, initial_loss=1.0)
    row = {"train_loss": 0.5, "epoch": 2.9}
    assert rule.reason(row, 1.0, 1.0) is None
    assert rule.reason({**row, "epoch": 3.0}, 1.0, 1.0) == "budget"
    assert not rule.evaluation_due(1.0, 1.0, 0.3, epoch=2.9)
    assert rule.evaluation_due(1.0, 1.0, 0.3, epoch=3.0)
    assert StoppingCriterion(budget=100.0).reason(row | {"epoch": 1e9}, 1.0, 1.0) is None
