"""Contract tests generated over every registered solver × small problems."""

import pytest
import torch

from ml2bench.errors import UserError
from ml2bench.labels import SearchSpace
from ml2bench.solvers.registry import available_solvers, make_solver
from ml2bench.testing import all_params, bind, finest_loss, restore, run_steps, snapshot

PROBLEMS = ["ellipses_resnet[quick=true]", "poisson1d_regression[quick=true]"]
SOLVERS = sorted(available_solvers())


def bound_or_skip(problem, label, seed=0):
    task, solver, ledger = bind(problem, label, seed)
    supported, reason = solver.supports(task)
    if not supported:
        assert reason.startswith("skip:")
        pytest.skip(reason)
    return task, solver, ledger


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("name", SOLVERS)
def test_loss_decreases(name, problem):
    task, solver, ledger = bound_or_skip(problem, name)
    before = finest_loss(task, solver)
    infos = run_steps(solver, 12)
    after = finest_loss(task, solver)
    assert after < before
    assert ledger.work_units > 0
    assert all(isinstance(v, float) for info in infos for v in info.values())


@pytest.mark.parametrize("name", SOLVERS)
def test_state_dict_round_trip_continues_identically(name):
    problem = PROBLEMS[0]
    task, solver, ledger = bound_or_skip(problem, name)
    run_steps(solver, 3)
    saved = snapshot(task, solver, ledger)
    run_steps(solver, 3)
    expected = all_params(task)

    task2, solver2, ledger2 = bind(problem, name)
    restore(task2, solver2, saved, ledger2)
    run_steps(solver2, 3)
    for a, b in zip(expected, all_params(task2)):
        assert torch.equal(a, b)
    assert ledger2.work_units == pytest.approx(ledger.work_units, rel=1e-12)


@pytest.mark.parametrize("label", [*SOLVERS, "tr[subproblem=lsr1]", "rmtr[subproblem=lsr1]",
                                   "mgopt[smoother=lbfgs]"])
def test_saving_the_state_does_not_change_the_run(label):
    """``state_dict()`` is a pure read: a run that saves after every step takes exactly
    the steps of one that never saves."""
    runs = []
    for save in (False, True):
        task, solver, _ = bound_or_skip(PROBLEMS[0], label)
        infos = []
        for _ in range(3):
            infos.append(solver.step())
            if save:
                solver.state_dict()
        runs.append((all_params(task), infos))
    assert all(torch.equal(a, b) for a, b in zip(runs[0][0], runs[1][0]))
    assert str(runs[0][1]) == str(runs[1][1])  # NaN-safe comparison of the diagnostics


def test_state_dataclasses_round_trip_with_nested_points():
    from dataclasses import dataclass, field

    from ml2bench.solvers.base import state_from_dict, state_to_dict
    from ml2bench.solvers.level_objective import Point

    @dataclass
    class Inner:
        steps: int = 0
        buffer: torch.Tensor | None = None

    @dataclass
    class State:
        radius: float
        point: Point | None = None
        levels: list[Inner] = field(default_factory=list)

    state = State(2.0, Point(torch.arange(3.0), 1.5, torch.ones(3)),
                  [Inner(1, torch.zeros(2)), Inner()])
    saved = state_to_dict(state)
    saved["point"]["x"].add_(1.0)  # a deep copy: the state is not aliased
    assert torch.equal(state.point.x, torch.arange(3.0))
    rebuilt = state_from_dict(State, state_to_dict(state))
    assert isinstance(rebuilt.point, Point) and isinstance(rebuilt.levels[0], Inner)
    assert torch.equal(rebuilt.point.grad, torch.ones(3)) and rebuilt.levels[1].buffer is None
    assert state_from_dict(State, {"radius": 1.0, "point": None}).point is None


@pytest.mark.parametrize("name", SOLVERS)
def test_same_seed_gives_identical_numbers(name):
    results = []
    for _ in range(2):
        task, solver, _ = bound_or_skip(PROBLEMS[1], name, seed=7)
        infos = run_steps(solver, 4)
        results.append((all_params(task), infos))
    for a, b in zip(results[0][0], results[1][0]):
        assert torch.equal(a, b)
    assert results[0][1] == results[1][1]


@pytest.mark.parametrize("name", SOLVERS)
def test_declared_hyperparameters(name):
    cls = available_solvers()[name]
    assert cls.description and cls.reference
    solver = make_solver(name)
    assert solver.label == name
    for key, param in cls.params.items():
        assert param.help, f"{name}.{key} needs a help text"
        if param.search is not None:
            assert isinstance(param.search, SearchSpace)
            for value in param.search.grid(3):
                make_solver(f"{name}[{key}={value}]")
    with pytest.raises(UserError, match="unknown parameter 'foo'"):
        make_solver(f"{name}[foo=1]")


def test_sgd_rejects_bad_values():
    with pytest.raises(UserError, match="lr=-1 is invalid"):
        make_solver("sgd[lr=-1]")
    with pytest.raises(UserError, match="nesterov"):
        make_solver("sgd[nesterov=true,momentum=0]")
    assert make_solver("sgd[lr=0.5,momentum=0.9]").label == "sgd[lr=0.5]"


def test_unknown_solver_lists_valid_names():
    with pytest.raises(UserError, match="unknown solver 'bfgs'; valid solvers: .*adam.*sgd"):
        make_solver("bfgs")


def test_multilevel_solvers_skip_one_level_problems():
    for name in ("nested", "rmtr", "mgopt"):
        task, solver, _ = bind("digits_cnn[quick=true]", name)
        assert solver.supports(task) == (False, "skip: needs >= 2 levels")
