"""Work units of the operations a domain-decomposition step is made of, by hand:
a parallel phase of local gradients on data shards, a serial global gradient, an
all-reduce, and gradients with respect to parameter subdomains."""

import pytest
import torch

from ml2bench.accounting.ledger import WorkLedger, payload_bytes
from ml2bench.accounting.oracle import Oracle
from ml2bench.decomposition import DataDecomposition, ParameterDecomposition
from ml2bench.hierarchy.base import Hierarchy, Level, LevelCost
from ml2bench.models.resnet_ode import ResNetODE
from ml2bench.parameters import model_vector
from ml2bench.problems.base import Target, Task
from ml2bench.problems.classification import classification_metrics, cross_entropy
from ml2bench.problems.registry import make_task

PEAKS = "peaks_resnet[blocks=8,levels=1,num_points=300,train_size=102,width=4]"


def tiny_task(num_train: int = 10) -> Task:
    """A 4-block ResNet-ODE (in 2, width 4, out 3) whose gradient costs 1 WU per pass."""
    model = ResNetODE(2, 4, 3, 4, 1.0, generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    data = (torch.randn(num_train, 2, generator=gen),
            torch.randint(0, 3, (num_train,), generator=gen))
    hierarchy = Hierarchy([Level(model, LevelCost(forward=0.3, grad=1.0, hvp=3.0))])
    return Task(problem="tiny", train=data, test=data, hierarchy=hierarchy,
                data_loss=cross_entropy, test_metrics=classification_metrics,
                metric="test_acc", batch_size=num_train, budget=1.0,
                target=Target("test_acc", 1.0))


def test_parallel_phase_of_shard_gradients_then_global_gradient_and_allreduce():
    task = make_task(PEAKS)
    ledger = WorkLedger([LevelCost(0.3, 1.0, 3.0)], task.num_train)  # grad = 1 by hand
    oracle = Oracle(task, ledger)
    shards = DataDecomposition(task.num_train, 4, overlap=0.33, seed=0)
    assert shards.sizes() == [34, 34, 33, 33]  # N = 102: chunks 26, 26, 25, 25 + 8 shared
    with ledger.parallel_phase():
        for d, shard in enumerate(shards.shards):
            with ledger.subdomain(d):
                oracle.loss_and_grad(task.batch(shard))
    assert ledger.work_units == pytest.approx(134 / 102, rel=1e-12)  # > 1: the overlap
    assert ledger.work_units_parallel == pytest.approx(34 / 102, rel=1e-12)
    oracle.loss_and_grad(task.train)  # the serial global gradient: +1 to both
    assert ledger.work_units == pytest.approx(1 + 134 / 102, rel=1e-12)
    assert ledger.work_units_parallel == pytest.approx(1 + 34 / 102, rel=1e-12)
    vector = model_vector(task.model)
    num_params = vector.numel()
    assert ledger.communicate(payload_bytes(vector)) == 4 * num_params  # float32
    assert ledger.comm_bytes == 4 * num_params
    assert ledger.work_units == pytest.approx(1 + 134 / 102, rel=1e-12)  # no work units
    ledger.communicate(payload_bytes(vector.double()), kind="broadcast")
    assert ledger.comm_bytes == 12 * num_params
    assert dict(ledger.communications) == {"allreduce": 1, "broadcast": 1}
    assert ledger.count("grad") == 5


def test_subdomain_gradients_are_charged_their_measured_cost():
    task = tiny_task(num_train=10)
    ledger = WorkLedger([task.hierarchy.finest.cost], task.num_train)
    oracle = Oracle(task, ledger)
    dec = ParameterDecomposition.layerwise(task.model, 2)
    # measured costs (hand-computed in tests/decomposition): 4000/4880 and 3120/4880
    assert oracle.subdomain_costs(dec) == [4000 / 4880, 3120 / 4880]
    half = task.batch(torch.arange(5))
    with ledger.parallel_phase():
        for d in range(2):
            with ledger.subdomain(d):
                loss, grad = oracle.subdomain_loss_and_grad(half, dec, d)
                assert grad.shape == (dec.sizes()[d],)
    assert ledger.work_units == pytest.approx(0.5 * 7120 / 4880, rel=1e-12)
    assert ledger.work_units_parallel == pytest.approx(0.5 * 4000 / 4880, rel=1e-12)
    assert ledger.count("grad_subdomain") == 2 and ledger.count("grad") == 0
    assert sum(ledger.work_units_by_level()) == pytest.approx(ledger.work_units, rel=1e-12)
    _, full = oracle.loss_and_grad(half)
    flat = torch.cat([g.reshape(-1) for g in full])
    assert torch.allclose(grad, dec.restrict(flat, 1), atol=1e-7)
    assert ledger.work_units == pytest.approx(0.5 * 7120 / 4880 + 0.5, rel=1e-12)


def test_ledger_state_keeps_communication_and_subdomain_work():
    ledger = WorkLedger([LevelCost(0.3, 2.0, 3.0)], num_train=100)
    ledger.charge(0, "grad_subdomain", 50, scale=0.25)  # 50/100 · 2 · 0.25
    ledger.communicate(400)
    assert ledger.work_units == pytest.approx(0.25)
    other = WorkLedger([LevelCost(0.3, 2.0, 3.0)], num_train=100)
    other.load_state_dict(ledger.state_dict())
    assert other.comm_bytes == 400 and other.work_units_by_level() == [pytest.approx(0.25)]
    old = {k: v for k, v in ledger.state_dict().items()
           if k not in ("communications", "scaled_units")}  # a state saved before
    WorkLedger([LevelCost(0.3, 2.0, 3.0)], num_train=100).load_state_dict(old)


def test_bad_charges_and_communications_are_refused():
    ledger = WorkLedger([LevelCost(0.3, 1.0, 3.0)], num_train=10)
    with pytest.raises(ValueError, match="takes no scale"):
        ledger.charge(0, "grad", 5, scale=0.5)
    with pytest.raises(ValueError, match="unknown communication"):
        ledger.communicate(8, kind="gather")
    with pytest.raises(ValueError):
        ledger.communicate(-1)
