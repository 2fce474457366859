"""The checkpoint schedule: O(1) advance, the same marks as before, absurd spacings refused."""

import math
import signal
from contextlib import contextmanager

import pytest

from ml2bench.errors import UserError
from ml2bench.runner.checkpoint import MAX_EVALUATIONS, CheckpointSchedule, check_spacing


@contextmanager
def at_most(seconds: int):
    """Fail (instead of hanging) if the block runs longer than ``seconds``."""
    def expire(*_):
        raise TimeoutError(f"took more than {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_step_over_many_marks_advances_at_once():
    schedule = CheckpointSchedule(1e-12)
    with at_most(5):
        schedule.advance(5.0)
    assert 5.0 < schedule.next <= 5.0 + 2e-12
    assert not schedule.due(5.0) and schedule.due(schedule.next)


def test_a_spacing_below_the_float_resolution_cannot_loop():
    schedule = CheckpointSchedule(1e-30, next=1.0)
    with at_most(5):
        schedule.advance(1.0)
        schedule.advance(3.0)
    assert schedule.next == math.nextafter(3.0, math.inf)


def test_few_marks_are_added_one_at_a_time_as_before():
    schedule, marks = CheckpointSchedule(0.1), []
    for work_units in (0.0, 0.05, 0.31, 0.31, 2.0):
        schedule.advance(work_units)
        marks.append(schedule.next)
    expected, mark = [], 0.0
    for work_units in (0.0, 0.05, 0.31, 0.31, 2.0):  # the old loop, addition by addition
        while mark <= work_units:
            mark += 0.1
        expected.append(mark)
    assert marks == expected


def test_spacing_zero_evaluates_after_every_step():
    schedule = CheckpointSchedule(0.0)
    schedule.advance(3.0)
    assert schedule.next == 0.0 and schedule.due(3.0)


def test_a_spacing_finer_than_the_budget_allows_is_refused():
    check_spacing(None, 5.0)
    check_spacing(0.0, 5.0)
    check_spacing(5.0 / MAX_EVALUATIONS, 5.0)
    with pytest.raises(UserError, match=r"--checkpoint-every 1e-12 WU is finer than budget / "
                       r"1e\+06 = 5e-06 WU .*use 0 \(after every step\) or a spacing >= 5e-06"):
        check_spacing(1e-12, 5.0)
