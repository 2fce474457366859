"""The flatness Hessian operator linearises each batch once and reuses the graphs for
every product at the same parameters (``reuse_graph``), and notices when they move."""

import torch
import torch.nn.functional as F
from torch import nn

from ml2bench import parameters as P
from ml2bench.flatness import vectors as V
from ml2bench.flatness.hvp import HessianOperator
from ml2bench.flatness.lanczos import hess_max


def setup():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.BatchNorm1d(5), nn.Linear(5, 2)).double()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(23, 3, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 2, (23,), generator=gen)
    batches = list(zip(torch.split(x, 7), torch.split(y, 7)))
    return model, (lambda m, b: F.cross_entropy(m(b[0]), b[1])), batches


def random_vector(model, seed):
    return V.gaussian_like(P.trainable_parameters(model), torch.Generator().manual_seed(seed))


def close(a, b, tol=1e-12):
    a, b = P.flatten(a), P.flatten(b)
    return float((a - b).abs().max()) <= tol * float(b.abs().max())


def test_reused_products_equal_one_shot_products():
    model, loss_fn, batches = setup()
    reused = HessianOperator(model, loss_fn, batches)
    one_shot = HessianOperator(model, loss_fn, batches, reuse_graph=False)
    for seed in range(4):
        v = random_vector(model, seed)
        assert close(reused.matvec(v), one_shot.matvec(v))
    assert reused.num_hvps == 4 and reused.num_linearisations == 1
    assert reused.num_passes == one_shot.num_passes == 4
    assert one_shot.num_linearisations == 0


def test_moved_parameters_or_buffers_invalidate_the_linearisation():
    model, loss_fn, batches = setup()
    op = HessianOperator(model, loss_fn, batches)
    v = random_vector(model, 0)
    op.matvec(v)
    with torch.no_grad():
        model[0].weight.add_(0.3)  # in place, as optimisers and load_vector do
    moved = op.matvec(v)
    assert op.num_linearisations == 2
    assert close(moved, HessianOperator(model, loss_fn, batches, reuse_graph=False).matvec(v))
    with torch.no_grad():
        model[2].running_var.mul_(2.0)  # eval-mode batch norm reads its running statistics
    rescaled = op.matvec(v)
    assert op.num_linearisations == 3 and not close(rescaled, moved, 1e-6)
    model[3].weight.data = model[3].weight.data + 0.1  # reassigned storage
    op.matvec(v)
    assert op.num_linearisations == 4
    op.reset()
    op.matvec(v)
    assert op.num_linearisations == 5


def test_lanczos_linearises_once():
    model, loss_fn, batches = setup()
    op = HessianOperator(model, loss_fn, batches)
    reference = HessianOperator(model, loss_fn, batches, reuse_graph=False)
    top = hess_max(op, 1e-8, 30, torch.Generator().manual_seed(0))
    again = hess_max(reference, 1e-8, 30, torch.Generator().manual_seed(0))
    assert op.num_linearisations == 1 and top.num_hvps > 2
    assert abs(float(top.values[0]) - float(again.values[0])) <= 1e-10 * abs(float(again.values[0]))
