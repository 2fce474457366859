"""``apts_d``'s named options from the authors' code: the first-order local solvers
(``local_solver=sgd|adam``, ``local_lr``; ``subproblem=linear``) and DD4ML's batch-growth
trigger (``growth_trigger=stagnation``, ``growth_patience``, ``growth_tol``): exact
local steps, the work of a step by hand, the Adam moments through a checkpoint, the
stagnation rule on a constructed run, and bad values."""

import math

import pytest
import torch

from ml2bench.errors import UserError
from ml2bench.parameters import model_vector
from ml2bench.solvers.level_objective import LevelObjective
from ml2bench.solvers.registry import make_solver
from ml2bench.testing import all_params, bind, restore, snapshot

REGRESSION = "poisson1d_regression[quick=true]"
ONE = "apts_d[subdomains=1,local_steps=1,global_steps=0,consistency=true,radius=0.1"


def start_point(task, solver):
    """θ_k with the global value and gradient, as ``step`` hands it to ``local_solve``."""
    objective = solver.global_objective(task.batch(None))
    return objective.evaluate(model_vector(objective.model))


@pytest.mark.parametrize("lr, clipped", [(1e-3, False), (1e3, True)])
def test_sgd_local_step_is_minus_lr_g_clipped_to_the_radius(lr, clipped):
    """One subdomain, one SGD step with consistency: ``∇f̃(θ_k) = g``, so
    ``s = −η g`` scaled to ``Δ/D = 0.1`` when longer — bit for bit; ``pred`` is the local
    decrease ``f̃(θ_k) − f̃(θ_k + s)``."""
    task, solver, ledger = bind(REGRESSION, f"{ONE},local_solver=sgd,local_lr={lr}]")
    point = start_point(task, solver)
    result = solver.local_solve(0, None, point, 0.1)
    expected = -(lr * point.grad)
    norm = float(torch.linalg.vector_norm(expected))
    assert (norm >= 0.1) is clipped
    if clipped:
        expected = expected * (0.1 / norm)
        assert float(torch.linalg.vector_norm(result.step)) == pytest.approx(0.1, rel=1e-6)
    assert torch.equal(result.step, expected)
    assert result.accepted == 1 and result.radius == 0.1
    # f̃(θ_k + s) by hand: the shard is the whole set, the shift g − ∇f(θ_k) is rounding
    plain = LevelObjective(solver.oracle, 0, task.batch(None))
    _, grad_k = plain.value_and_grad(point.x)
    by_hand = plain.value(point.x + expected) + float(torch.dot(point.grad - grad_k, expected))
    assert result.decrease == pytest.approx(point.value - by_hand, rel=1e-6, abs=1e-7)


def test_first_order_local_loop_ends_on_the_boundary():
    """The authors' APTS_D leaves the local loop when the step reaches the local radius:
    a long first step ends it after one step, of norm Δ/D."""
    task, solver, _ = bind(REGRESSION, "apts_d[subdomains=2,local_steps=5,local_solver=sgd,"
                                       "local_lr=1000]")
    info = solver.step()
    for d in range(2):
        assert info[f"local_accepted_d{d}"] == 1.0
    assert info["step_norm"] <= 0.1 * (1 + 1e-6)  # two steps of norm Δ/2


def test_linear_subproblem_is_the_authors_first_order_tr_step():
    """``subproblem=linear``: the local TR step is ``−(Δ/‖g‖) g`` (DD4ML's
    ``solve_tr_first_order``) with ``pred = Δ‖g‖``; one subdomain, one local iteration."""
    task, solver, _ = bind(REGRESSION, f"{ONE},subproblem=linear]")
    assert solver.local_memories == [None] and solver.global_memory is None
    point = start_point(task, solver)
    result = solver.local_solve(0, None, point, 0.1)
    norm = float(torch.linalg.vector_norm(point.grad))
    if result.accepted:  # s_d = (θ_k + s) − θ_k: equal up to the rounding of θ_k + s
        torch.testing.assert_close(result.step, point.grad * (-0.1 / norm),
                                   rtol=1e-4, atol=1e-6 * float(point.x.abs().max()))
        assert float(torch.linalg.vector_norm(result.step)) == pytest.approx(0.1, rel=1e-5)
    else:  # ρ ≤ η1 on the first-order model: the step is refused, the radius shrinks
        assert torch.equal(result.step, torch.zeros_like(point.x))
        assert result.radius == pytest.approx(0.1 * 0.9)
    info = solver.step()
    assert math.isfinite(info["pred"])


@pytest.mark.parametrize("local_solver", ["sgd", "adam"])
def test_work_of_one_first_order_apts_d_step_by_hand(local_solver):
    """D = 2 halves, 2 local steps, full batch, global_steps=0: global gradient 1 WU
    (shared: 1/2 on the critical path) + per half [gradient at θ_k, gradient after step
    1, value after step 2] = (2 + c_f)/2 each (c_f: a forward pass's cost) + the global
    trial gradient 1 WU (shared)."""
    task, solver, ledger = bind(REGRESSION, f"apts_d[subdomains=2,overlap=0,local_steps=2,"
                                            f"global_steps=0,tol=0,local_solver={local_solver},"
                                            f"local_lr=0.001]")
    forward = ledger.costs[0].of("forward")
    assert task.num_train % 2 == 0 and ledger.costs[0].of("grad") == 1.0 and 0 < forward < 1
    info = solver.step()
    assert info["local_accepted_d0"] == info["local_accepted_d1"] == 2.0  # no boundary stop
    assert info["pred"] > 0.0  # the trial point was evaluated
    assert ledger.work_units == pytest.approx(1 + (2 + forward) + 1, rel=1e-12)
    assert ledger.work_units_parallel == pytest.approx(0.5 + (2 + forward) / 2 + 0.5,
                                                       rel=1e-12)
    assert ledger.count("grad") == 2 + 2 * 2 + 2
    assert ledger.count("forward") == 2


def test_adam_moments_round_trip_through_a_checkpoint():
    """Kill and resume: 3 steps, save, 3 more == load into a fresh solver, 3 steps (bit
    for bit). A resume that lost the per-subdomain moments would not: the moments matter."""
    label = "apts_d[subdomains=2,local_solver=adam,local_lr=0.002,batch_size=64]"
    task, solver, ledger = bind(REGRESSION, label)
    for _ in range(3):
        solver.step()
    assert all(adam.t > 0 for adam in solver.local_adams)
    saved = snapshot(task, solver, ledger)
    for _ in range(3):
        solver.step()
    expected = all_params(task)

    task2, solver2, ledger2 = bind(REGRESSION, label)
    restore(task2, solver2, saved, ledger2)
    for _ in range(3):
        solver2.step()
    assert all(torch.equal(a, b) for a, b in zip(expected, all_params(task2)))
    assert ledger2.work_units == ledger.work_units
    assert [a.t for a in solver2.local_adams] == [a.t for a in solver.local_adams]

    task3, solver3, _ = bind(REGRESSION, label)
    restore(task3, solver3, saved)
    solver3.set_subdomain_states([None, None])  # the moments forgotten
    for _ in range(3):
        solver3.step()
    assert not all(torch.equal(a, b) for a, b in zip(expected, all_params(task3)))


def test_stagnation_record_round_trips_through_a_checkpoint():
    """Saved after the first check (the recorded full loss, the epochs seen), resumed:
    the later checks compare with the saved loss — the same sizes and iterates."""
    label = ("apts_d[subdomains=2,batch_size=32,growth_trigger=stagnation,"
             "growth_patience=1,growth_tol=0.004]")
    task, solver, ledger = bind(REGRESSION, label)
    for _ in range(10):  # 8 batches per epoch: one check done
        solver.step()
    assert solver.state.epochs_done == 1 and solver.state.full_loss is not None
    saved = snapshot(task, solver, ledger)
    sizes = [solver.step()["batch_size"] for _ in range(30)]
    task2, solver2, ledger2 = bind(REGRESSION, label)
    restore(task2, solver2, saved, ledger2)
    assert [solver2.step()["batch_size"] for _ in range(30)] == sizes
    assert len(set(sizes)) > 1
    assert all(torch.equal(a, b) for a, b in zip(all_params(task), all_params(task2)))
    assert ledger2.work_units == ledger.work_units


def predicted_sizes(task, solver, steps, patience, tol, factor=1.5):
    """Run ``steps`` steps; return the batch sizes the solver reported and those DD4ML's
    rule gives from the full losses computed here (``task.full_objective``, not
    charged) at the end of epochs 0, p, 2p, … (0-based), with the margins of the
    comparisons."""
    N = task.num_train
    size, previous, seen = solver.sampler.batch_size, None, 0
    reported, predicted, margins = [], [], []
    for _ in range(steps):
        info = solver.step()
        reported.append(int(info["batch_size"]))
        completed = solver.sampler.samples_drawn // N
        if size < N and completed > seen:
            seen = completed
            if (completed - 1) % patience == 0:
                value = task.full_objective(task.model)
                if previous is not None:
                    margins.append(abs(value - (previous - tol)))
                    if value > previous - tol:
                        size = min(N, math.floor(size * factor))
                previous = value
        predicted.append(size)
    return reported, predicted, margins


def test_stagnation_trigger_grows_exactly_when_the_full_loss_stalls():
    """growth_tol = 1e6: the loss can never fall by that much, so the batch grows at every
    check but the first (which only records): at the ends of epochs p, 2p, … (0-based),
    ×1.5 rounded down, capped at N — and never after a rejection."""
    task, solver, _ = bind(REGRESSION, "apts_d[subdomains=2,batch_size=64,"
                                       "growth_trigger=stagnation,growth_patience=2,"
                                       "growth_tol=1e6]")
    reported, predicted, _ = predicted_sizes(task, solver, 24, 2, 1e6)
    assert reported == predicted
    assert sorted(set(reported)) == [64, 96, 144, 216, 256]  # ⌊64·1.5ᵏ⌋, then N = 256


def test_stagnation_trigger_follows_the_full_loss():
    """growth_tol = 0.004 on a run whose full loss first falls fast, then slowly: the
    checks that saw a decrease by more than 0.004 keep the batch, the others grow it —
    the sizes the rule gives from full losses computed independently."""
    task, solver, _ = bind(REGRESSION, "apts_d[subdomains=2,batch_size=32,"
                                       "growth_trigger=stagnation,growth_patience=1,"
                                       "growth_tol=0.004]")
    reported, predicted, margins = predicted_sizes(task, solver, 60, 1, 0.004)
    assert min(margins) > 1e-6  # no comparison at the rounding level
    assert reported == predicted
    assert reported[0] == 32 and 32 < reported[-1]  # some checks grew it...
    assert len(set(reported)) < len(margins) + 1  # ...and some did not


def test_stagnation_check_is_charged_one_forward_pass_over_the_training_set():
    """Until the first growth the stagnation run takes the iterates of a run that never
    grows; the end of the first epoch costs it one forward pass over the N samples."""
    runs = [bind(REGRESSION, "apts_d[subdomains=2,batch_size=64,batch_growth=1]"),
            bind(REGRESSION, "apts_d[subdomains=2,batch_size=64,growth_trigger=stagnation,"
                             "growth_tol=1e6]")]
    forward = runs[0][2].costs[0].of("forward")
    for k in range(1, 7):  # 4 batches per epoch: checks end steps 4 (records) and 16
        for _, solver, _ in runs:
            solver.step()
        extra = runs[1][2].work_units - runs[0][2].work_units
        assert extra == pytest.approx(forward if k >= 4 else 0.0, abs=1e-12)
        assert all(torch.equal(a, b) for a, b in zip(all_params(runs[0][0]),
                                                     all_params(runs[1][0])))


def test_defaults_are_the_previous_behaviour():
    solver = make_solver("apts_d")
    assert solver.hparams["local_solver"] == "tr"
    assert solver.hparams["growth_trigger"] == "rejection"
    assert solver.label == "apts_d"


@pytest.mark.parametrize("label, names", [
    ("apts_d[local_lr=0]", "local_lr"),
    ("apts_d[local_lr=-0.1]", "local_lr"),
    ("apts_d[local_solver=newton]", "local_solver"),
    ("apts_d[growth_trigger=plateau]", "growth_trigger"),
    ("apts_d[growth_patience=0]", "growth_patience"),
    ("apts_d[growth_tol=-1]", "growth_tol"),
    ("apts_d[subproblem=dogleg]", "subproblem"),
])
def test_bad_values_are_one_clear_sentence(label, names):
    with pytest.raises(UserError) as error:
        make_solver(label)
    message = str(error.value)
    assert names in message and "\n" not in message
