"""APTS_D / APTS_P: reduction to ``tr``, consistency, monotonicity, block Jacobi on the
Poisson energy, and the work of one step computed by hand."""

import math

import pytest
import torch

from ml2bench.errors import UserError
from ml2bench.parameters import model_vector
from ml2bench.problems.quadratic import poisson_matrix, poisson_rhs
from ml2bench.solvers.level_objective import LevelObjective
from ml2bench.solvers.registry import make_solver
from ml2bench.testing import all_params, bind, finest_loss

REGRESSION = "poisson1d_regression[quick=true]"
REGRESSION64 = "poisson1d_regression[quick=true,dtype=float64]"
TR_LIKE = "subdomains=1,local_steps=1,global_steps=0,tol=0,expand=1.0"


@pytest.mark.parametrize("variant", ["apts_d", "apts_p"])
def test_one_subdomain_reproduces_tr_iterates(variant):
    """subdomains=1, local_steps=1, global_steps=0, tol=0, expand=1 and tr's other
    trust-region parameters: the same iterates, bit for bit (rejections included)."""
    task_tr, tr, _ = bind(REGRESSION, "tr[subproblem=lsr1,radius=0.5,max_radius=1.0,"
                                      "min_radius=0.01,shrink=0.9,expand=1.0,memory=3]")
    task, apts, _ = bind(REGRESSION, f"{variant}[{TR_LIKE},radius=0.5]")
    rejected = 0
    for _ in range(10):
        a, b = tr.step(), apts.step()
        assert a["accepted"] == b["accepted"] and a["radius"] == b["radius"]
        rejected += a["accepted"] == 0.0
        for p, q in zip(all_params(task_tr), all_params(task)):
            assert torch.equal(p, q)
    assert rejected >= 1  # the shrink branch was exercised too


def _global_point(solver, task):
    objective = LevelObjective(solver.oracle, 0, task.batch(None))
    return objective.evaluate(model_vector(task.model))


@pytest.mark.parametrize("label", ["apts_d[subdomains=3,overlap=0.33]",
                                   "apts_p[subdomains=2,consistency=true]",
                                   "apts_p[subdomains=3,split=layer,consistency=false]"])
def test_first_order_consistency_identity(label):
    """∇f̃_d(R_dθ_k) = R_d∇f(θ_k) to 1e-10 for every subdomain (float64); without the
    term in apts_p it holds because the local loss is the global one on the same batch."""
    task, solver, _ = bind(REGRESSION64, label)
    point = _global_point(solver, task)
    for d in range(solver.hparams["subdomains"]):
        objective, start, _ = solver.local_problem(d, None, point)
        value, grad = objective.value_and_grad(start.x)
        expected = (point.grad if solver.name == "apts_d"
                    else solver.decomposition.restrict(point.grad, d))
        assert torch.allclose(grad, expected, rtol=0.0, atol=1e-10)
        assert torch.allclose(start.grad, expected, rtol=0.0, atol=1e-10)
        assert value == pytest.approx(start.value, abs=1e-12)


def test_apts_d_without_consistency_uses_the_shard_gradient():
    task, solver, _ = bind(REGRESSION64, "apts_d[subdomains=2,consistency=false]")
    point = _global_point(solver, task)
    _, start, _ = solver.local_problem(0, None, point)
    assert not torch.allclose(start.grad, point.grad, atol=1e-6)


@pytest.mark.parametrize("label", ["apts_d[subdomains=4]", "apts_p[subdomains=3]",
                                   "apts_d[subdomains=2,subproblem=cg,global_steps=0]"])
def test_deterministic_apts_never_increases_the_objective(label):
    task, solver, _ = bind(REGRESSION64, label)
    values = [finest_loss(task, solver)]
    for _ in range(8):
        solver.step()
        values.append(finest_loss(task, solver))
    assert all(b <= a for a, b in zip(values, values[1:]))
    assert values[-1] < values[0]


BLOCK_JACOBI = ("apts_p[split=rows,subdomains=4,subproblem=cg,cg_max_iter=16,cg_rtol=1e-14,"
                "local_steps=1,global_steps=0,radius=100,max_radius=100,tol=0]")


def test_one_apts_p_step_on_the_poisson_energy_is_block_jacobi():
    """Exact local solves within a large radius: x₁ = x₀ + Σ_d R_dᵀA_dd⁻¹R_d(b − Ax₀)."""
    task, solver, _ = bind("quadratic_poisson1d[n=63,levels=1]", BLOCK_JACOBI)
    A = torch.as_tensor(poisson_matrix(63))
    b = torch.as_tensor(poisson_rhs(63))
    x0 = task.model.x.detach().clone()
    residual = b - A @ x0
    expected = x0.clone()
    for d in range(4):
        idx = solver.decomposition.indices[d]
        expected[idx] += torch.linalg.solve(A[idx][:, idx], residual[idx])
    info = solver.step()
    assert info["accepted"] == 1.0
    assert torch.allclose(task.model.x.detach(), expected, rtol=0.0, atol=1e-8)


def test_apts_p_converges_on_quadratic_poisson1d():
    """Additive local solves alone (block Jacobi steps, damped by the ratio test: the
    sum of local decreases overestimates the global one, ρ < η1 after the first step
    from a random start) decrease the energy monotonically; with one global CG pass per
    step APTS_P converges to the exact minimiser ``A⁻¹b``."""
    x_star = None
    for global_steps, steps, tolerance in ((0, 60, 0.75), (1, 50, 1e-6)):
        task, solver, _ = bind("quadratic_poisson1d[n=63,levels=1]",
                               BLOCK_JACOBI.replace("global_steps=0",
                                                    f"global_steps={global_steps}"))
        x_star = task.info["exact_minimiser"]
        error0 = float(torch.linalg.norm(task.model.x.detach() - x_star))
        values = [finest_loss(task, solver)]
        for _ in range(steps):
            solver.step()
            values.append(finest_loss(task, solver))
        assert all(b <= a for a, b in zip(values, values[1:]))
        error = float(torch.linalg.norm(task.model.x.detach() - x_star))
        assert error < tolerance * (error0 if global_steps == 0 else
                                    float(torch.linalg.norm(x_star)))


def test_work_of_one_apts_d_step_by_hand():
    """D = 2 shards of N/2, local_steps=1, L-SR1 (no HVPs), global_steps=0, full batch:
    global gradient 1 WU, shared over the two halves (critical path 1/2) + phase of
    [shard gradient at θ_k + shard gradient at the local trial] (sum 2·(n₁+n₂)/N = 2,
    max 2·max n_d/N = 1) + the global trial gradient 1 WU, shared (critical path 1/2).
    Communication, three all-reduces of P + 1 float32 entries: [∇f; f] at θ_k, [s; pred],
    [∇f; f] at the trial point."""
    task, solver, ledger = bind(REGRESSION, "apts_d[subdomains=2,overlap=0,local_steps=1,"
                                            "global_steps=0]")
    N, P = task.num_train, sum(p.numel() for p in task.model.parameters())
    assert N % 2 == 0 and ledger.costs[0].of("grad") == 1.0
    info = solver.step()
    assert info["pred"] >= solver.hparams["tol"]  # the trial point was evaluated
    assert ledger.work_units == pytest.approx(4.0, rel=1e-12)
    assert ledger.work_units_parallel == pytest.approx(0.5 + 1.0 + 0.5, rel=1e-12)
    assert ledger.comm_bytes == 3 * 4 * (P + 1)
    assert ledger.communications == {"allreduce": 3}
    assert ledger.count("grad") == 2 + 2 * 2 + 2


def test_work_of_one_apts_d_step_with_overlap_by_hand():
    """Overlap m = round(0.33·N/2) samples per shard: the phase costs 2(N/2 + m)/N per
    shard, the shared global gradients 1/2 on the critical path (the overlap is not
    evaluated twice there); in the next step the accepted trial gradient is reused (no
    global gradient)."""
    task, solver, ledger = bind(REGRESSION, "apts_d[subdomains=2,local_steps=1,global_steps=0]")
    N = task.num_train
    m = round(0.33 * (N // 2))
    shard = (N // 2 + m) / N
    info = solver.step()
    assert info["accepted"] == 1.0
    assert ledger.work_units == pytest.approx(1 + 2 * 2 * shard + 1, rel=1e-12)
    assert ledger.work_units_parallel == pytest.approx(0.5 + 2 * shard + 0.5, rel=1e-12)
    before, before_par = ledger.work_units, ledger.work_units_parallel
    solver.step()
    assert ledger.work_units - before == pytest.approx(2 * 2 * shard + 1, rel=1e-12)
    assert ledger.work_units_parallel - before_par == pytest.approx(2 * shard + 0.5, rel=1e-12)


@pytest.mark.parametrize("consistency", [False, True])
def test_work_of_one_apts_p_step_by_hand(consistency):
    """Subdomain gradients are charged their measured fractions c_d of a gradient: one
    per local trial (plus one at θ_k for the consistency term); float32 payload."""
    task, solver, ledger = bind(
        "swissroll_resnet[quick=true]",
        f"apts_p[subdomains=2,local_steps=1,global_steps=0,consistency={str(consistency).lower()}]")
    P = sum(p.numel() for p in task.model.parameters())
    costs = solver.oracle.subdomain_costs(solver.decomposition)
    assert all(0.0 < c <= 1.0 + 1e-9 for c in costs)
    per = [(2 if consistency else 1) * c for c in costs]
    info = solver.step()
    assert info["pred"] >= solver.hparams["tol"]
    assert ledger.work_units == pytest.approx(1 + sum(per) + 1, rel=1e-12)
    assert ledger.work_units_parallel == pytest.approx(1 + max(per) + 1, rel=1e-12)
    assert ledger.comm_bytes == 4 * (P + 1)


def test_diagnostics_per_subdomain():
    _, solver, _ = bind(REGRESSION, "apts_d[subdomains=3]")
    info = solver.step()
    for d in range(3):
        assert info[f"local_radius_d{d}"] <= 0.1 / 3 + 1e-15
        assert info[f"local_decrease_d{d}"] >= 0.0
        assert 0.0 <= info[f"local_accepted_d{d}"] <= 3.0
    assert {"radius", "rho", "accepted", "batch_size", "batch_loss"} <= set(info)


def test_mini_batch_growth_and_bad_input():
    _, solver, _ = bind(REGRESSION, "apts_d[subdomains=2,batch_size=32,batch_growth=2]")
    sizes = [solver.step()["batch_size"] for _ in range(6)]
    assert sizes[0] >= 32 and all(b >= a for a, b in zip(sizes, sizes[1:]))
    with pytest.raises(UserError):
        make_solver("apts_p[split=diagonal]")
    with pytest.raises(UserError):
        make_solver("apts_d[radius=5]")  # above max_radius = 1
    task, solver, _ = bind("quadratic_poisson1d[n=63,levels=1]", "apts_d[subdomains=2]")
    assert solver.supports(task)[0] is False
    assert math.isfinite(solver.hparams["radius"])
