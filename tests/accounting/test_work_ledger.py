"""Work units: 1 WU = one finest forward+backward over the whole training set."""

import pytest
import torch

from ml2bench.hierarchy.base import LevelCost
from ml2bench.accounting.ledger import WorkLedger
from ml2bench.accounting.oracle import Oracle
from ml2bench.problems.registry import make_task
from ml2bench.testing import bind, run_steps


def test_four_sgd_steps_with_quarter_batches_log_one_work_unit():
    problem = "digits_cnn[quick=true,train_size=1436,batch_size=359]"
    task, solver, ledger = bind(problem, "sgd[lr=0.01]")
    run_steps(solver, 4)
    assert ledger.work_units == pytest.approx(1.0, abs=1e-12)
    assert ledger.count("grad") == 4 and ledger.hvp_count() == 0
    assert solver.epoch == pytest.approx(1.0)


def test_divisible_batches_log_exactly_one_work_unit():
    costs = [LevelCost(0.3, 1.0, 2.5)]
    ledger = WorkLedger(costs, num_train=1000)
    for _ in range(4):
        ledger.charge(0, "grad", 250)
    assert ledger.work_units == 1.0


def test_coarse_gradient_is_charged_its_measured_cost():
    task = make_task("peaks_resnet[blocks=17,levels=3,num_points=500,train_size=400]")
    ledger = WorkLedger([lv.cost for lv in task.hierarchy.levels], task.num_train)
    oracle = Oracle(task, ledger)
    oracle.loss_and_grad(task.train, level=2)
    assert ledger.work_units == pytest.approx(task.hierarchy.levels[2].cost.grad)
    assert ledger.work_units < 0.5
    oracle.hvp(task.train, [torch.ones_like(p) for p in oracle.params(1)], level=1)
    expected = task.hierarchy.levels[2].cost.grad + task.hierarchy.levels[1].cost.hvp
    assert ledger.work_units == pytest.approx(expected)
    oracle.loss(task.batch(torch.arange(100)), level=0)
    expected += 100 / 400 * task.hierarchy.levels[0].cost.forward
    assert ledger.work_units == pytest.approx(expected)
    by_level = ledger.work_units_by_level()
    assert sum(by_level) == pytest.approx(ledger.work_units)


def test_parallel_phases_take_the_critical_path():
    ledger = WorkLedger([LevelCost(0.5, 1.0, 3.0)], num_train=100)
    with ledger.parallel_phase():
        for d, samples in enumerate([100, 50, 25]):
            with ledger.subdomain(d):
                ledger.charge(0, "grad", samples)
    assert ledger.work_units == pytest.approx(1.75)
    assert ledger.work_units_parallel == pytest.approx(1.0)
    state = ledger.state_dict()
    other = WorkLedger([LevelCost(0.5, 1.0, 3.0)], num_train=100)
    other.load_state_dict(state)
    assert other.work_units == ledger.work_units and other.count("grad") == 3


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError):
        WorkLedger([LevelCost(1, 1, 1)], 10).charge(0, "jvp", 1)
