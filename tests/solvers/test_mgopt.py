"""MG/OPT: smoothers, the Armijo line search on the correction, monotonicity, state."""

import math

import pytest
import torch

from ml2bench.errors import UserError
from ml2bench.parameters import model_vector
from ml2bench.solvers.level_objective import LevelObjective, Point
from ml2bench.solvers.lbfgs_kernel import SmootherState, lbfgs_direction
from ml2bench.solvers.registry import make_solver
from ml2bench.testing import bind, finest_loss, run_steps

SMALL_NN = "ellipses_resnet[quick=true,num_points=200,dtype=float64]"
QUADRATIC = "quadratic_poisson1d[n=63,levels=3]"


@pytest.mark.parametrize("label", ["mgopt", "mgopt[smoother=sgd,lr=0.05]",
                                   "mgopt[smoother=lbfgs]"])
def test_smoothers_reduce_the_loss(label):
    task, solver, _ = bind(SMALL_NN, label)
    before = finest_loss(task, solver)
    infos = run_steps(solver, 5)
    assert finest_loss(task, solver) < before
    assert all(math.isfinite(info["batch_loss"]) for info in infos)
    assert {"alpha_l1", "coarse_accepted_l1", "correction_decrease_l1", "alpha_l2"} <= set(infos[0])


@pytest.mark.parametrize("problem", [SMALL_NN, QUADRATIC])
def test_deterministic_lbfgs_mgopt_never_increases_the_fine_objective(problem):
    task, solver, _ = bind(problem, "mgopt[smoother=lbfgs]")
    values = [finest_loss(task, solver)]
    for _ in range(5):
        info = solver.step()
        values.append(finest_loss(task, solver))
        assert info["correction_decrease_l1"] >= 0.0
    assert all(b <= a for a, b in zip(values, values[1:]))


def test_line_search_accepts_the_full_coarse_correction_on_the_quadratic():
    # R A_h P = A_2h and R = ½Pᵀ: the coherent coarse minimiser is the Galerkin coarse-grid
    # correction, so α = 1 passes the Armijo test
    _, solver, _ = bind(QUADRATIC, "mgopt[smoother=lbfgs,coarse_steps=30]")
    info = solver.step()
    assert info["alpha_l1"] == 1.0 and info["coarse_accepted_l1"] == 1.0


def test_line_search_skips_an_ascent_direction():
    task, solver, _ = bind(QUADRATIC, "mgopt")
    objective = LevelObjective(solver.oracle, 0, task.train)
    point = objective.evaluate(model_vector(task.model))
    assert solver._line_search(0, objective, point, point.grad) is point
    assert solver.logs[1]["alpha"] == 0.0
    g = point.grad
    exact = float(g @ g) / float(g @ objective.hvp(point.x, g))  # exact step along −g
    halved = solver._line_search(0, objective, point, -3.0 * exact * g)
    assert halved.value < point.value and solver.logs[1]["alpha"] == 0.5


def test_lbfgs_direction_satisfies_the_secant_equation():
    generator = torch.Generator().manual_seed(0)
    s, y = torch.randn(6, generator=generator), torch.randn(6, generator=generator)
    y = y if float(s @ y) > 0 else -y
    state = SmootherState(pairs_s=[s], pairs_y=[y])
    assert torch.allclose(lbfgs_direction(y, state), -s, atol=1e-6)
    assert torch.equal(lbfgs_direction(y, SmootherState()), -y)


def test_constructor_validates_and_label():
    with pytest.raises(UserError, match="smoother=newton is invalid"):
        make_solver("mgopt[smoother=newton]")
    assert make_solver("mgopt[smoother=lbfgs,coarse_steps=20]").label == \
        "mgopt[coarse_steps=20,smoother=lbfgs]"


def test_lbfgs_smoother_is_full_batch_by_default_and_adam_uses_the_problem_batch():
    task, solver, _ = bind(SMALL_NN, "mgopt[smoother=lbfgs]")
    assert solver.sampler.full_batch
    task, solver, _ = bind(SMALL_NN, "mgopt")
    assert solver.sampler.batch_size == task.batch_size < task.num_train


def test_state_holds_the_per_level_smoother_memories():
    _, solver, _ = bind(QUADRATIC, "mgopt[smoother=lbfgs]")
    run_steps(solver, 2)
    state = solver.state_dict()["state"]
    assert state["cycles"] == 2 and len(state["smoothers"]) == 3
    assert all(len(s["pairs_s"]) > 0 for s in state["smoothers"])
    assert isinstance(state["point"], dict) or state["point"] is None
    assert Point(**state["point"]).grad is not None
