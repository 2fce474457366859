"""The ``tr`` solver: convergence per subproblem, validation, stochastic use, state."""

import math

import pytest
import torch

from ml2bench.errors import UserError
from ml2bench.accounting.ledger import WorkLedger
from ml2bench.accounting.oracle import Oracle
from ml2bench.problems.registry import make_task
from ml2bench.parameters import model_vector
from ml2bench.solvers.level_objective import LevelObjective, Point
from ml2bench.solvers.lsr1 import LSR1
from ml2bench.solvers.registry import make_solver
from ml2bench.solvers.tr_kernel import TRConfig, reduction_ratio, trust_region_iteration
from ml2bench.testing import all_params, bind, finest_loss, restore, run_steps, snapshot

QUADRATIC = "quadratic_poisson1d[n=15,levels=1]"
SMALL_NN = "ellipses_resnet[quick=true,num_points=200,dtype=float64]"


def relative_gradient(task, g0):
    return task.evaluate()["grad_norm"] / g0


@pytest.mark.parametrize("label, tol", [("tr", 1e-6), ("tr[subproblem=lsr1]", 1e-6),
                                        ("tr[subproblem=lsr1,lsr1_solve=cg]", 1e-6),
                                        ("tr[subproblem=cauchy]", 1e-3)])
def test_converges_on_a_convex_quadratic_and_never_increases_it(label, tol):
    task, solver, _ = bind(QUADRATIC, label)
    g0 = task.evaluate()["grad_norm"]
    values = [finest_loss(task, solver)]
    for _ in range(400):
        info = solver.step()
        values.append(finest_loss(task, solver))
        assert info["batch_loss"] == pytest.approx(values[-1], rel=1e-12, abs=1e-9)
        if relative_gradient(task, g0) <= tol:
            break
    assert relative_gradient(task, g0) <= tol
    assert all(b <= a for a, b in zip(values, values[1:]))


def test_cg_with_enough_iterations_is_newton_on_a_quadratic():
    task, solver, ledger = bind(QUADRATIC, "tr[cg_max_iter=15,cg_rtol=1e-13,radius=100.0]")
    g0 = task.evaluate()["grad_norm"]
    solver.step()
    assert relative_gradient(task, g0) < 1e-8
    assert ledger.hvp_count() <= 15 and ledger.count("grad") == 2
    assert ledger.count("hvp") == 1  # one linearisation, the other products reuse it


def test_diagnostics_are_flat_floats():
    _, solver, _ = bind(SMALL_NN, "tr")
    info = solver.step()
    assert {"radius", "rho", "accepted", "batch_loss", "step_norm"} <= set(info)
    assert all(isinstance(v, float) for v in info.values())


def test_rejected_step_shrinks_the_radius_and_keeps_the_iterate():
    # the second CG step meets negative curvature and runs to the (huge) boundary
    task, solver, _ = bind(SMALL_NN, "tr[radius=50.0]")
    assert solver.step()["accepted"] == 1.0
    before = model_vector(task.model)
    info = solver.step()
    assert info["accepted"] == 0.0 and info["rho"] < 0.25
    assert info["radius"] == 25.0 and info["step_norm"] == pytest.approx(50.0)
    assert torch.equal(model_vector(task.model), before)


@pytest.mark.parametrize("given, message", [
    ("tr[eta1=0.9,eta2=0.5]", "eta1=0.9 is invalid"),
    ("tr[radius=1000.0]", "radius=1000.0 is invalid"),
    ("tr[subproblem=exact]", "subproblem=exact is invalid"),
    ("tr[shrink=1.0]", "shrink=1.0 is invalid"),
])
def test_constructor_validates(given, message):
    with pytest.raises(UserError, match=message):
        make_solver(given)


def test_ratio_guards_against_rounding():
    assert reduction_ratio(1.0, 0.5, 0.5, 2.2e-16) == pytest.approx(1.0)
    # both reductions at the rounding level of f: ratio ≈ 1, not noise
    assert reduction_ratio(1e6, 1e6, 0.0, 2.2e-16) == pytest.approx(1.0)
    assert math.isnan(reduction_ratio(1.0, math.inf, 1.0, 2.2e-16))


class BatchRecorder(Oracle):
    """An oracle that records a fingerprint of the batch of every evaluation."""

    def __init__(self, task, ledger):
        super().__init__(task, ledger)
        self.seen = []

    def _note(self, batch):
        self.seen.append(float(batch[0].sum()))

    def loss(self, batch, level=0):
        self._note(batch)
        return super().loss(batch, level)

    def loss_and_grad(self, batch, level=0, set_grad=False):
        self._note(batch)
        return super().loss_and_grad(batch, level, set_grad)

    def hvp(self, batch, vector, level=0):
        self._note(batch)
        return super().hvp(batch, vector, level)

    def hessian(self, batch, level=0):
        self._note(batch)  # every product of the operator uses this batch
        return super().hessian(batch, level)


@pytest.mark.parametrize("label", ["tr[batch_size=32]", "rmtr[batch_size=32]",
                                   "mgopt[batch_size=32]"])
def test_stochastic_step_and_ratio_use_the_same_batch(label):
    task = make_task(SMALL_NN)
    oracle = BatchRecorder(task, WorkLedger([lv.cost for lv in task.hierarchy.levels],
                                            task.num_train))
    solver = make_solver(label)
    solver.init(task, oracle, torch.Generator().manual_seed(0))
    fingerprints = []
    for _ in range(3):
        oracle.seen = []
        solver.step()
        assert len(set(oracle.seen)) == 1, "one batch per step, shared by all evaluations"
        fingerprints.append(oracle.seen[0])
    assert len(set(fingerprints)) == 3


def test_batch_grows_after_rejections():
    _, solver, _ = bind(SMALL_NN, "tr[batch_size=16,batch_growth=2.0,radius=50.0]")
    sizes, rejected = [16.0], []
    for info in run_steps(solver, 6):
        sizes.append(info["batch_size"])
        rejected.append(info["accepted"] == 0.0)
    for before, after, was_rejected in zip(sizes, sizes[1:], rejected):
        assert after == (min(2 * before, 160.0) if was_rejected else before)
    assert any(rejected)


def test_kernel_offers_every_trial_pair_to_the_memory():
    task = make_task(QUADRATIC)
    oracle = Oracle(task, WorkLedger([lv.cost for lv in task.hierarchy.levels], 1))
    objective = LevelObjective(oracle, 0, task.train)
    memory = LSR1(5, scaling="latest")
    point = Point(model_vector(task.model), math.nan)
    for _ in range(3):
        it = trust_region_iteration(objective, point, 1.0, TRConfig(subproblem="lsr1"), memory)
        point = it.point
    assert memory.num_accepted + memory.num_skipped == 3


@pytest.mark.parametrize("label", ["tr[subproblem=lsr1,batch_size=40]",
                                   "rmtr[subproblem=lsr1,batch_size=40,cycle=F]",
                                   "mgopt[batch_size=40]", "mgopt[smoother=lbfgs]"])
def test_stochastic_and_memory_state_round_trips(label):
    """L-SR1 memories, smoother states, sampler and radius survive ``state_dict``."""
    task, solver, _ = bind(SMALL_NN, label)
    run_steps(solver, 2)
    saved = snapshot(task, solver)
    expected_infos = run_steps(solver, 2)
    expected = all_params(task)
    task2, solver2, _ = bind(SMALL_NN, label)
    restore(task2, solver2, saved)
    for got, want in zip(run_steps(solver2, 2), expected_infos):
        assert got.keys() == want.keys()
        assert all(got[k] == want[k] or (math.isnan(got[k]) and math.isnan(want[k])) for k in got)
    assert all(torch.equal(a, b) for a, b in zip(expected, all_params(task2)))
