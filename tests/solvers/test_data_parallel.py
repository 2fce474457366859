"""The global objective shared over data shards (:mod:`ml2bench.solvers.data_parallel`):
the size-weighted sum of the disjoint chunks is the batch objective, priced as the
largest chunk on the critical path, one all-reduce per evaluation; refused whole by the
budget; and one ``apts_d`` step's collectives counted by hand."""

import pytest
import torch

from ml2bench.accounting.ledger import BudgetExhausted
from ml2bench.parameters import model_vector
from ml2bench.solvers.data_parallel import ShardedObjective
from ml2bench.solvers.level_objective import LevelObjective
from ml2bench.testing import bind

REGRESSION64 = "poisson1d_regression[quick=true,dtype=float64]"
REGRESSION = "poisson1d_regression[quick=true]"


def _chunks(n: int, sizes: list[int]) -> list[torch.Tensor]:
    permutation = torch.randperm(n, generator=torch.Generator().manual_seed(3))
    bounds = torch.tensor([0, *sizes]).cumsum(0).tolist()
    return [torch.sort(permutation[a:b]).values for a, b in zip(bounds, bounds[1:])]


def test_sharded_objective_is_the_batch_objective_with_the_largest_chunk_on_the_path():
    task, solver, ledger = bind(REGRESSION64, "apts_d[subdomains=3]")
    batch, n = task.batch(None), task.num_train
    sizes = [n // 2, n // 3, n - n // 2 - n // 3]  # unequal on purpose
    sharded = ShardedObjective(solver.oracle, 0, batch, _chunks(n, sizes))
    plain = LevelObjective(solver.oracle, 0, batch)
    x = model_vector(task.model).clone()
    v = torch.linspace(-1.0, 1.0, x.numel(), dtype=x.dtype)
    value, grad = plain.value_and_grad(x)
    product = plain.hessian(x)(v)
    start_wu, start_par = ledger.work_units, ledger.work_units_parallel
    s_value, s_grad = sharded.value_and_grad(x)
    assert ledger.work_units - start_wu == pytest.approx(1.0, rel=1e-12)  # one gradient
    assert ledger.work_units_parallel - start_par == pytest.approx(max(sizes) / n, rel=1e-12)
    assert ledger.comm_bytes == 8 * (x.numel() + 1)  # [∇f; f], float64
    assert s_value == pytest.approx(value, rel=1e-13)
    assert torch.allclose(s_grad, grad, rtol=1e-12, atol=1e-15)
    assert sharded.value(x) == pytest.approx(value, rel=1e-13)
    matvec = sharded.hessian(x)
    assert torch.allclose(matvec(v), product, rtol=1e-10, atol=1e-13)
    before = ledger.count("hvp_more")
    assert torch.allclose(matvec(2 * v), 2 * product, rtol=1e-10, atol=1e-13)
    assert ledger.count("hvp_more") == before + 3  # every chunk reuses its linearisation
    assert ledger.comm_bytes == 8 * (x.numel() + 1) + 8 + 2 * 8 * x.numel()


def test_an_evaluation_that_does_not_fit_is_refused_before_any_chunk():
    task, solver, ledger = bind(REGRESSION, "apts_d[subdomains=2]")
    n = task.num_train
    sharded = ShardedObjective(solver.oracle, 0, task.batch(None), _chunks(n, [n // 2,
                                                                            n - n // 2]))
    ledger.limit = 0.75  # one chunk (1/2 WU) would fit, the whole gradient (1 WU) not
    with pytest.raises(BudgetExhausted):
        sharded.value_and_grad(model_vector(task.model))
    assert ledger.work_units == 0.0 and ledger.count("grad") == 0


def test_collectives_of_one_apts_d_step_with_a_global_pass_by_hand():
    """Default ``global_steps=1`` (L-SR1), full batch, first step, trial accepted: the
    all-reduces are [∇f; f] at θ_k, [s; pred], [∇f; f] at the APTS trial point and at the
    global pass's trial point — four of P + 1 float32 entries; no broadcast."""
    task, solver, ledger = bind(REGRESSION, "apts_d[subdomains=2]")
    P = sum(p.numel() for p in task.model.parameters())
    info = solver.step()
    assert info["pred"] >= solver.hparams["tol"]
    assert ledger.communications == {"allreduce": 4}
    assert ledger.comm_bytes == 4 * 4 * (P + 1)


def test_one_shard_is_the_unsplit_objective_bit_for_bit():
    """D = 1: the chunk is the batch and the weight 1, so nothing changes (reduction to
    ``tr`` stays exact) and nothing is communicated."""
    task, solver, ledger = bind(REGRESSION, "apts_d[subdomains=1]")
    x = model_vector(task.model).clone()
    sharded = solver.global_objective(task.batch(None))
    value, grad = LevelObjective(solver.oracle, 0, task.batch(None)).value_and_grad(x)
    s_value, s_grad = sharded.value_and_grad(x)
    assert s_value == value and torch.equal(s_grad, grad)
    assert ledger.comm_bytes == 0
