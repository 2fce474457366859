"""RMTR: coherence of the coarse models, monotonicity, region coupling, honest work units."""

import math

import pytest
import torch

from ml2bench.errors import UserError
from ml2bench.accounting.ledger import WorkLedger
from ml2bench.accounting.oracle import Oracle
from ml2bench.problems.registry import make_task
from ml2bench.solvers import rmtr as rmtr_module
from ml2bench.parameters import model_vector
from ml2bench.solvers.level_objective import FlatTransfer, LevelObjective, coherent_objective
from ml2bench.solvers.registry import make_solver
from ml2bench.testing import bind, finest_loss, run_steps

SMALL_NN = "ellipses_resnet[quick=true,num_points=200,dtype=float64]"
QUADRATIC = "quadratic_poisson1d[n=63,levels=3]"


def oracle_for(task):
    return Oracle(task, WorkLedger([lv.cost for lv in task.hierarchy.levels], task.num_train))


@pytest.mark.parametrize("problem", ["peaks_resnet[quick=true,dtype=float64]", QUADRATIC])
def test_first_order_coherence_on_every_level(problem):
    """``∇h_{l+1}(Π x) == R ∇h_l(x)`` to 1e-10, down the whole hierarchy."""
    task = make_task(problem)
    hierarchy, generator = task.hierarchy, torch.Generator().manual_seed(3)
    objective = LevelObjective(oracle_for(task), 0, task.train)
    x = model_vector(task.model)
    point = objective.evaluate(x + 0.1 * torch.randn(x.shape, generator=generator, dtype=x.dtype))
    for level in range(len(hierarchy) - 1):
        transfer = FlatTransfer(hierarchy.transfers[level], hierarchy.levels[level].model,
                                hierarchy.levels[level + 1].model)
        coarse, start = coherent_objective(objective, point, transfer)
        z0 = transfer.project(point.x)
        value, grad = coarse.value_and_grad(z0)
        expected = transfer.restrict(point.grad)
        error = torch.linalg.vector_norm(grad - expected)
        assert error <= 1e-10 * torch.linalg.vector_norm(expected)
        assert value == start.value and torch.equal(start.grad, expected)
        # continue from a perturbed coarse point, so that the next shift is not trivial
        z = z0 + 0.1 * torch.randn(z0.shape, generator=generator, dtype=z0.dtype)
        objective, point = coarse, coarse.evaluate(z)


def test_coherent_objective_is_the_coarse_loss_plus_a_linear_term():
    task = make_task(QUADRATIC)
    h = task.hierarchy
    fine = LevelObjective(oracle_for(task), 0, task.train)
    point = fine.evaluate(model_vector(task.model))
    transfer = FlatTransfer(h.transfers[0], h.levels[0].model, h.levels[1].model)
    coarse, start = coherent_objective(fine, point, transfer)
    plain = LevelObjective(fine.oracle, 1, task.train)
    direction = torch.linspace(-1, 1, start.x.numel(), dtype=torch.float64)
    for t in (0.5, 1.0, 2.0):
        z = start.x + t * direction
        linear = coarse.value(z) - plain.value(z) - (coarse.value(start.x) - plain.value(start.x))
        assert linear == pytest.approx(t * float(coarse.shift @ direction), rel=1e-9)
        hv = coarse.hvp(z, direction)
        assert torch.allclose(hv, plain.hvp(z, direction))


def test_prolongated_coarse_step_stays_in_the_fine_region(monkeypatch):
    seen = []
    original = rmtr_module.RMTR._correct

    def spy(self, level, objective, point, radius, reach, step, predicted, on_boundary):
        seen.append((float(torch.linalg.vector_norm(step)), reach))
        return original(self, level, objective, point, radius, reach, step, predicted,
                        on_boundary)

    monkeypatch.setattr(rmtr_module.RMTR, "_correct", spy)
    for problem in (SMALL_NN, QUADRATIC):
        _, solver, _ = bind(problem, "rmtr[radius=0.05]")
        run_steps(solver, 4)
    assert len(seen) >= 8
    assert all(norm <= reach * (1 + 1e-12) for norm, reach in seen)
    assert any(norm >= 0.5 * reach for norm, reach in seen)  # the coupling is active


def test_transfer_norm_bounds_the_prolongation():
    task = make_task("peaks_resnet[quick=true,dtype=float64]")
    h = task.hierarchy
    transfer = FlatTransfer(h.transfers[0], h.levels[0].model, h.levels[1].model)
    size = h.levels[1].num_parameters
    vectors = torch.randn(20, size, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    norm = transfer.norm(vectors[0])
    for v in vectors:
        assert torch.linalg.vector_norm(transfer.prolong(v)) <= norm * torch.linalg.vector_norm(v)
    assert norm <= 1.01 * math.sqrt(2.0) + 1e-12  # linear interpolation in depth: ‖P‖ ≤ √2


class EvaluationRecorder(Oracle):
    """Records (level, kind, batch size) of every evaluation and checks the model used."""

    def __init__(self, task, ledger):
        super().__init__(task, ledger)
        self.calls = []

    def _note(self, batch, level, kind):
        self.calls.append((level, kind, int(batch[0].shape[0])))

    def loss(self, batch, level=0):
        self._note(batch, level, "forward")
        return super().loss(batch, level)

    def loss_and_grad(self, batch, level=0, set_grad=False):
        self._note(batch, level, "grad")
        return super().loss_and_grad(batch, level, set_grad)

    def hvp(self, batch, vector, level=0):
        self._note(batch, level, "hvp")
        assert all(v.shape == p.shape for v, p in zip(vector, self.params(level)))
        return super().hvp(batch, vector, level)

    def hessian(self, batch, level=0):
        operator = super().hessian(batch, level)

        def product(vector):
            kind = "hvp_more" if operator.is_current else "hvp"  # reuses its linearisation
            self._note(batch, level, kind)
            assert all(v.shape == p.shape for v, p in zip(vector, self.params(level)))
            return operator(vector)

        return _Operator(operator, product)


class _Operator:
    """A recorded :class:`~ml2bench.accounting.oracle.CountedHessian`."""

    def __init__(self, operator, product):
        self.operator, self.product = operator, product

    @property
    def is_current(self):
        return self.operator.is_current

    def __call__(self, vector):
        return self.product(vector)


@pytest.mark.parametrize("label", ["rmtr", "rmtr[batch_size=40]", "mgopt",
                                   "mgopt[smoother=lbfgs]"])
@pytest.mark.parametrize("problem", [SMALL_NN, QUADRATIC])
def test_cycle_work_units_equal_the_sum_of_level_evaluations_times_costs(label, problem):
    task = make_task(problem)
    costs = [lv.cost for lv in task.hierarchy.levels]
    ledger = WorkLedger(costs, task.num_train)
    oracle = EvaluationRecorder(task, ledger)
    solver = make_solver(label)
    solver.init(task, oracle, torch.Generator().manual_seed(0))
    solver.step()
    oracle.calls, start = [], ledger.work_units
    solver.step()  # one V-cycle
    expected = sum(b / task.num_train * costs[level].of(kind) for level, kind, b in oracle.calls)
    assert ledger.work_units - start == pytest.approx(expected, rel=1e-12)
    levels = {level for level, _, _ in oracle.calls}
    assert {0, 1} <= levels
    if problem == QUADRATIC or label.startswith("mgopt"):
        assert levels == {0, 1, 2}
    as_if_fine = sum(b / task.num_train * costs[0].of(kind) for _, kind, b in oracle.calls)
    assert ledger.work_units - start < as_if_fine  # coarse work is charged at its lower cost
    assert costs[2].grad < costs[1].grad < costs[0].grad == 1.0


def test_f_cycle_visits_the_coarse_levels_more_often():
    counts = {}
    for cycle in ("V", "F"):
        _, solver, ledger = bind(QUADRATIC, f"rmtr[cycle={cycle}]")
        run_steps(solver, 2)
        counts[cycle] = ledger.count("grad", level=2)
    assert counts["F"] > counts["V"]


def test_diagnostics_per_level():
    _, solver, _ = bind(SMALL_NN, "rmtr")
    info = solver.step()
    for key in ("radius", "rho", "accepted", "batch_loss", "decrease_l0", "decrease_l1",
                "decrease_l2", "radius_l0", "radius_l1", "coarse_rho_l1", "coarse_accepted_l1",
                "correction_decrease_l1", "coarse_rho_l2"):
        assert key in info
    assert all(isinstance(v, float) for v in info.values())


@pytest.mark.parametrize("name", ["rmtr", "mgopt"])
def test_one_level_problems_are_skipped_and_levels_are_checked(name):
    task = make_task("quadratic_poisson1d[n=15,levels=1]")
    assert make_solver(name).supports(task) == (False, "skip: needs >= 2 levels")
    task = make_task(QUADRATIC)
    solver = make_solver(f"{name}[levels=4]")
    with pytest.raises(UserError, match="levels=4 is invalid, the problem has 3 levels"):
        solver.init(task, oracle_for(task), torch.Generator())
    solver = make_solver(f"{name}[levels=2]")
    solver.init(task, oracle_for(task), torch.Generator())
    solver.step()
    assert solver.oracle.ledger.count("grad", level=2) == 0


def test_stochastic_rmtr_state_round_trip_includes_the_lsr1_memories():
    _, solver, _ = bind(SMALL_NN, "rmtr[subproblem=lsr1,batch_size=40]")
    run_steps(solver, 2)
    state = solver.state_dict()
    assert all(state[f"lsr1_l{level}"]["S"] is not None for level in range(3))
    assert state["state"]["cycles"] == 2


# -- the coarse regions (issue 10, point 2) ---------------------------------------------
REGION_LABELS = ["rmtr[region=ball]", "rmtr[region=prolongated]", "rmtr[region=box]",
                 "rmtr[region=prolongated,subproblem=lsr1]", "rmtr[region=box,subproblem=lsr1]",
                 "rmtr[region=box,cycle=F]", "rmtr[region=box,box_sweeps=0]",
                 "rmtr[smooth_count=successful,trial_gradient=on_accept]"]


@pytest.mark.parametrize("label", ["rmtr", "rmtr[cycle=F]", "rmtr[subproblem=lsr1]",
                                   "rmtr[pre_smooth=0,post_smooth=2]", *REGION_LABELS])
@pytest.mark.parametrize("problem", [SMALL_NN, QUADRATIC])
def test_deterministic_rmtr_never_increases_the_fine_objective(label, problem):
    """Every region and cycle: each accepted step decreases its level's objective."""
    task, solver, _ = bind(problem, label)
    values = [finest_loss(task, solver)]
    for _ in range(6):
        info = solver.step()
        values.append(finest_loss(task, solver))
        assert info["batch_loss"] == pytest.approx(values[-1], rel=1e-12, abs=1e-12)
        levels = len(task.hierarchy)
        assert all(info[f"decrease_l{l}"] >= 0.0 for l in range(levels))
        assert all(info[f"correction_decrease_l{l}"] >= 0.0 for l in range(1, levels))
    assert all(b <= a for a, b in zip(values, values[1:]))
    assert values[-1] < values[0]


@pytest.mark.parametrize("region", ["ball", "prolongated", "box"])
def test_every_region_builds_first_order_coherent_coarse_models(region, monkeypatch):
    """Inside the cycles of each region: ``∇h_{l+1}(Πx) == R∇h_l(x)`` to 1e-10."""
    errors = []
    original = rmtr_module.coherent_objective

    def checked(fine, point, transfer):
        coarse, start = original(fine, point, transfer)
        _, grad = coarse.value_and_grad(start.x)
        expected = transfer.restrict(point.grad)
        errors.append(float(torch.linalg.vector_norm(grad - expected)
                            / torch.linalg.vector_norm(expected)))
        return coarse, start

    monkeypatch.setattr(rmtr_module, "coherent_objective", checked)
    for problem in (SMALL_NN, QUADRATIC):
        _, solver, _ = bind(problem, f"rmtr[region={region}]")
        run_steps(solver, 3)
    assert len(errors) >= 6 and max(errors) <= 1e-10


@pytest.mark.parametrize("region", ["prolongated", "box"])
def test_published_regions_keep_the_prolongated_step_in_the_fine_region(region, monkeypatch):
    """Level 0: ``‖P(z − Πx)‖₂ ≤ Δ`` (prolongated), ``‖P(z − Πx)‖∞ ≤ Δ`` (box; there the
    step is also clamped to the fine box against rounding, so the bound itself is tested
    by the Gelman–Mandel test below)."""
    seen = []
    original = rmtr_module.RMTR._correct

    def spy(self, level, objective, point, radius, reach, step, predicted, on_boundary):
        if level == 0:
            norm = (float(step.abs().max()) if region == "box"
                    else float(torch.linalg.vector_norm(step)))
            seen.append((norm, reach))
        return original(self, level, objective, point, radius, reach, step, predicted,
                        on_boundary)

    monkeypatch.setattr(rmtr_module.RMTR, "_correct", spy)
    for problem in (SMALL_NN, QUADRATIC):
        _, solver, _ = bind(problem, f"rmtr[region={region},radius=0.05]")
        run_steps(solver, 4)
    assert len(seen) >= 6
    assert all(norm <= reach * (1 + 1e-12) for norm, reach in seen)
    assert any(norm >= 0.5 * reach for norm, reach in seen)  # the region is active


@pytest.mark.parametrize("problem", ["peaks_resnet[quick=true,dtype=float64]", QUADRATIC])
def test_gelman_mandel_bounds_keep_every_prolongated_step_in_the_fine_box(problem):
    from ml2bench.solvers.rmtr_regions import gelman_mandel_bounds, transfer_matrix
    task = make_task(problem)
    h, generator = task.hierarchy, torch.Generator().manual_seed(1)
    transfer = FlatTransfer(h.transfers[0], h.levels[0].model, h.levels[1].model)
    n_fine, n_coarse = h.levels[0].num_parameters, h.levels[1].num_parameters
    z0 = torch.randn(n_coarse, generator=generator, dtype=torch.float64)
    matrix = transfer_matrix(transfer.prolong, n_coarse, z0)
    eye = torch.eye(n_coarse, dtype=torch.float64)
    dense = torch.stack([transfer.prolong(e) for e in eye], 1)
    assert matrix.inf_norm == pytest.approx(float(dense.abs().sum(1).max()), rel=1e-12)
    lower = -torch.rand(n_fine, generator=generator, dtype=torch.float64)
    upper = torch.rand(n_fine, generator=generator, dtype=torch.float64)
    box = gelman_mandel_bounds(matrix, z0, lower, upper)
    assert torch.all(box.lower <= z0) and torch.all(z0 <= box.upper)
    for _ in range(20):  # random points of the coarse box, and its corners
        t = torch.rand(n_coarse, generator=generator, dtype=torch.float64)
        corner = torch.where(t < 0.5, box.lower, box.upper)
        for z in (box.lower + t * (box.upper - box.lower), corner):
            step = transfer.prolong(z - z0)
            assert torch.all(step <= upper + 1e-12) and torch.all(step >= lower - 1e-12)
    # componentwise: a coordinate far from its fine bounds keeps room
    assert float((box.upper - z0).max()) > 2 * float((box.upper - z0).min())


def test_smoothing_counts_successful_iterations_up_to_the_cap():
    _, solver, _ = bind(QUADRATIC, "rmtr[smooth_count=successful,smooth_cap=2,radius=0.01]")
    for _ in range(3):
        solver.step()
        log = solver.logs[0]  # pre + post smoothing on the finest level: ν = 1 + 1
        assert log.smooth_steps <= 2 * 2
        assert log.smooth_accepted == 2 or log.smooth_steps == 4


@pytest.mark.parametrize("setting", ["always", "on_accept"])
def test_correction_trial_gradient_only_on_acceptance(setting):
    """``trial_gradient=on_accept``: each fine trial of a correction is a forward pass,
    followed by a gradient only if it is accepted; ``always``: a gradient each time."""
    task = make_task(SMALL_NN)
    oracle = EvaluationRecorder(task, WorkLedger([lv.cost for lv in task.hierarchy.levels],
                                                 task.num_train))
    solver = make_solver(f"rmtr[trial_gradient={setting},levels=2]")
    solver.init(task, oracle, torch.Generator().manual_seed(0))
    tried = accepted = 0
    for _ in range(4):
        solver.step()
        tried += solver.logs[1].coarse_tried
        accepted += solver.logs[1].coarse_accepted
    forwards = sum(1 for level, kind, _ in oracle.calls if level == 0 and kind == "forward")
    assert tried >= 3
    assert forwards == (tried if setting == "on_accept" else 0)


def test_ball_defaults_are_version_one():
    """``region=ball`` with ``smooth_count``/``trial_gradient`` on ``auto`` takes exactly
    the steps of the explicit version-1 settings."""
    runs = []
    for label in ("rmtr[region=ball]",
                  "rmtr[region=ball,smooth_count=all,trial_gradient=always]"):
        task, solver, ledger = bind(SMALL_NN, label)
        infos = run_steps(solver, 3)
        runs.append((model_vector(task.model), str(infos), ledger.work_units))
    assert torch.equal(runs[0][0], runs[1][0]) and runs[0][1:] == runs[1][1:]


def test_prolongated_region_holds_on_every_level_in_the_finest_norm(monkeypatch):
    """After every cycle on a coarse level ``l``: ``‖P_0⋯P_{l−1}(z − z₀)‖ ≤ budget``."""
    from ml2bench.solvers.rmtr_regions import ProlongatedRegion
    checked = []
    original = rmtr_module.RMTR._cycle

    def spy(self, level, objective, point, radius, region, kind):
        point, radius = original(self, level, objective, point, radius, region, kind)
        if level > 0:
            assert isinstance(region, ProlongatedRegion)
            checked.append((level, region.used(point.x), region.budget))
        return point, radius

    monkeypatch.setattr(rmtr_module.RMTR, "_cycle", spy)
    for problem in (SMALL_NN, "quadratic_poisson1d[n=127,levels=4]"):
        _, solver, _ = bind(problem, "rmtr[region=prolongated,radius=0.05]")
        run_steps(solver, 3)
    assert {level for level, _, _ in checked} >= {1, 2, 3}
    assert all(used <= budget * (1 + 1e-10) for _, used, budget in checked)
    assert any(used >= 0.9 * budget for _, used, budget in checked)


@pytest.mark.parametrize("label", ["rmtr[region=prolongated,batch_size=40]",
                                   "rmtr[region=box,subproblem=lsr1,batch_size=40]"])
def test_published_regions_state_round_trip_continues_identically(label):
    from ml2bench.testing import all_params, restore, snapshot
    task, solver, ledger = bind(SMALL_NN, label)
    run_steps(solver, 2)
    saved = snapshot(task, solver, ledger)
    run_steps(solver, 2)
    task2, solver2, ledger2 = bind(SMALL_NN, label)
    restore(task2, solver2, saved, ledger2)
    run_steps(solver2, 2)
    assert all(torch.equal(a, b) for a, b in zip(all_params(task), all_params(task2)))
    assert ledger2.work_units == pytest.approx(ledger.work_units, rel=1e-12)


def test_the_default_region_is_the_published_one():
    """``rmtr`` defaults to GST 2008's prolongated region with the published rules."""
    runs = []
    for label in ("rmtr", "rmtr[region=prolongated,smooth_count=successful,"
                  "trial_gradient=on_accept]"):
        task, solver, ledger = bind(SMALL_NN, label)
        infos = run_steps(solver, 3)
        runs.append((model_vector(task.model), str(infos), ledger.work_units))
    assert torch.equal(runs[0][0], runs[1][0]) and runs[0][1:] == runs[1][1:]


def test_skipped_recursions_are_counted_by_their_reason():
    """κ_g = 10⁶ fails the test ‖Rg‖ ≥ κ_g‖g‖ (‖R‖ is of order 1): level 1 is never
    visited and each cycle counts one κ_g skip; the box region recurses in every cycle
    and counts none."""
    label = "peaks_resnet[quick=true,num_points=200,train_size=150,batch_size=150]"
    _, solver, _ = bind(label, "rmtr[subproblem=lsr1,kappa_g=1e6]")
    infos = run_steps(solver, 3)
    for info in infos:
        assert info["skipped_kappa_l1"] == 1.0 and info["skipped_region_l1"] == 0.0
        assert math.isnan(info["radius_l1"])  # level 1 never visited
    _, solver, _ = bind(label, "rmtr[subproblem=lsr1,region=box]")
    for info in run_steps(solver, 3):  # the box recurses to every level in every cycle
        assert all(info[f"skipped_{why}_l{l}"] == 0.0 for why in ("region", "kappa")
                   for l in (1, 2))
        assert math.isfinite(info["radius_l2"])
