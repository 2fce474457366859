"""ASPQN / MSPQN: reduction to L-BFGS, the additive correction under overlap, the work
ledger of one step (hand-counted), monotonicity."""

import math

import pytest
import torch

from ml2bench.decomposition import ParameterDecomposition
from ml2bench.errors import UserError
from ml2bench.parameters import model_vector
from ml2bench.solvers.lbfgs_kernel import SmootherState, lbfgs_step
from ml2bench.solvers.level_objective import LevelObjective
from ml2bench.solvers.registry import make_solver
from ml2bench.solvers.schwarz_lbfgs import additive_correction
from ml2bench.testing import all_params, bind, finest_loss

PINN = "poisson1d_pinn[quick=true]"
PINN64 = "poisson1d_pinn[quick=true,dtype=float64]"


@pytest.mark.parametrize("label", ["aspqn[subdomains=1,local_steps=0,history_size=10]",
                                   "aspqn[subdomains=3,overlap=1,local_steps=0]",
                                   "mspqn[subdomains=2,local_steps=0,history_size=4]"])
def test_without_local_steps_it_is_the_lbfgs_kernel(label):
    """``local_steps = 0`` (any D, any overlap): zero correction, its line search skipped,
    one kernel L-BFGS iteration per step — the same iterates to 1e-12 in float64."""
    task, solver, ledger = bind(PINN64, label)
    ref_task, ref_solver, ref_ledger = bind(PINN64, label)  # its sampler draws the batches
    memory, h = SmootherState(), dict(solver.global_hparams)
    point = None
    for _ in range(6):
        info = solver.step()
        objective = LevelObjective(ref_solver.oracle, 0,
                                   ref_task.batch(ref_solver.sampler.next_indices()))
        if point is None:
            point = objective.evaluate(model_vector(ref_task.model))
        point = lbfgs_step(objective, objective.ensure_grad(point), memory, h)
        assert info["alpha"] == (0.0 if label.startswith("aspqn") else 1.0)
        assert info["batch_loss"] == pytest.approx(point.value, rel=1e-12, abs=1e-14)
        assert torch.allclose(model_vector(task.model), point.x, rtol=1e-12, atol=1e-12)
    assert ledger.count("grad_subdomain") == 0
    assert ledger.work_units == pytest.approx(ref_ledger.work_units, rel=1e-12)


def test_additive_correction_divides_by_the_multiplicity():
    task, _, _ = bind("swissroll_resnet[quick=true]", "lbfgs")  # 17 blocks: 9 + 8
    dec = ParameterDecomposition.layerwise(task.model, 2, overlap_blocks=1)
    assert dec.labels == ["opening+blocks 0-9", "blocks 8-16+classifier"]
    x = model_vector(task.model).double()
    # subdomain d moves every entry it owns by d + 1
    local = [dec.restrict(x, d) + (d + 1) for d in range(2)]
    c = additive_correction(dec, x, local)
    only0 = torch.zeros(dec.size, dtype=torch.bool)
    only0[dec.indices[0]] = True
    in1 = torch.zeros(dec.size, dtype=torch.bool)
    in1[dec.indices[1]] = True
    shared = only0 & in1
    assert int(shared.sum()) == 2 * int(task.model.block_weight[0].numel()
                                        + task.model.block_bias[0].numel())
    assert torch.equal(c[only0 & ~in1], torch.ones_like(c[only0 & ~in1]))
    assert torch.equal(c[in1 & ~only0], torch.full_like(c[in1 & ~only0], 2.0))
    assert torch.equal(c[shared], torch.full_like(c[shared], 1.5))  # (1 + 2) / 2
    # no overlap: the plain sum
    plain = ParameterDecomposition.layerwise(task.model, 2)
    c0 = additive_correction(plain, x, [plain.restrict(x, d) + (d + 1) for d in range(2)])
    assert torch.equal(c0, plain.extend(torch.full((plain.sizes()[1],), 2.0,
                                                   dtype=x.dtype), 1, torch.ones_like(x)))


def test_overlap_blocks_is_checked():
    task, _, _ = bind("swissroll_resnet[quick=true]", "lbfgs")
    with pytest.raises(UserError):
        ParameterDecomposition.layerwise(task.model, 2, overlap_blocks=-1)


def _step_accounting(label):
    task, solver, ledger = bind(PINN, label)
    costs = solver.oracle.subdomain_costs(solver.decomposition)  # measured, cached, free
    grad = ledger.costs[0].of("grad")  # full batch: b / N = 1
    info = solver.step()
    n = [int(info[f"local_evals_d{d}"]) for d in range(2)]
    return task, solver, ledger, info, costs, grad, n


def test_aspqn_one_step_work_units_and_communication():
    """D = 2, one local step: WU = n_g + Σ n_d c_d, WU_parallel = n_g + max n_d c_d (in
    gradients of the full batch), one all-reduce of the P-entry float32 correction."""
    task, solver, ledger, info, costs, grad, n = _step_accounting(
        "aspqn[subdomains=2,local_steps=1]")
    n_grad = ledger.count("grad")
    # counted by hand on seed 0: the start gradient, 1 for the line search along c
    # (α = 1 accepted), 2 for the global step's strong-Wolfe search; subdomain 0's local
    # strong-Wolfe search took 4 gradients, subdomain 1's took 3
    assert (n_grad, n, info["alpha"]) == (4, [4, 3], 1.0)
    assert sum(n) == ledger.count("grad_subdomain")
    assert ledger.work_units == pytest.approx(grad * (4 + 4 * costs[0] + 3 * costs[1]))
    assert ledger.work_units_parallel == pytest.approx(grad * (4 + 4 * costs[0]))
    assert ledger.count("forward") == 0
    assert 0.0 < costs[1] < costs[0] < 1.0  # the backward of d1 stops before d0's layers
    assert ledger.work_units == pytest.approx(grad * (n_grad + sum(k * c for k, c in zip(n, costs))))
    assert ledger.work_units_parallel == pytest.approx(
        grad * (n_grad + max(k * c for k, c in zip(n, costs))))
    params = sum(p.numel() for p in task.model.parameters())
    assert ledger.comm_bytes == 4 * params and ledger.communications == {"allreduce": 1}
    assert info["local_accepted_d0"] == 1.0 and info["local_accepted_d1"] == 1.0


def test_mspqn_one_step_work_units_and_communication():
    """Sequential: WU_parallel = WU = n_g + Σ n_d c_d; subdomain 1 evaluates its gradient
    at its start point; one broadcast of each subdomain's parameters (4 bytes each)."""
    task, solver, ledger, info, costs, grad, n = _step_accounting(
        "mspqn[subdomains=2,local_steps=1,overlap=1]")
    n_grad = ledger.count("grad")
    # by hand on seed 0: start gradient, gradient at the corrected point, 2 for the
    # global step; subdomain 0: 4 (its line search), subdomain 1: 1 (start) + 2
    assert (n_grad, n) == (4, [4, 3]) and sum(n) == ledger.count("grad_subdomain")
    assert ledger.work_units == pytest.approx(grad * (4 + 4 * costs[0] + 3 * costs[1]))
    expected = grad * (n_grad + sum(k * c for k, c in zip(n, costs)))
    assert ledger.work_units == pytest.approx(expected)
    assert ledger.work_units_parallel == pytest.approx(expected)
    assert ledger.comm_bytes == 4 * sum(solver.decomposition.sizes())
    assert ledger.communications == {"broadcast": 2}
    assert info["alpha"] == 1.0


@pytest.mark.parametrize("label", ["aspqn[local_steps=3,overlap=1]", "mspqn[local_steps=3]"])
def test_the_objective_never_increases_and_the_state_is_complete(label):
    task, solver, _ = bind(PINN64, label)
    values = [finest_loss(task, solver)]
    for _ in range(4):
        info = solver.step()
        values.append(finest_loss(task, solver))
        assert info["local_decrease_d0"] >= 0.0 and info["local_decrease_d1"] >= 0.0
        assert info["preconditioned_decrease"] >= 0.0
        assert all(isinstance(v, float) and not math.isnan(v) for v in info.values())
    assert all(b <= a for a, b in zip(values, values[1:]))
    assert values[-1] < values[0]
    saved = solver.state_dict()
    assert len(saved["state"]["local_memories"]) == 2
    assert isinstance(saved["state"]["point"], dict)
    assert all(p.dtype == torch.float64 for p in all_params(task))


def test_too_many_subdomains_is_skipped():
    task, _, _ = bind("swissroll_resnet[quick=true]", "lbfgs")  # 17 blocks
    supported, reason = make_solver("aspqn[subdomains=18]").supports(task)
    assert not supported and reason.startswith("skip:")
