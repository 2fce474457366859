"""Hessian-vector products: exactness on a quadratic, batching invariance, helpers."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ml2bench import parameters as P
from ml2bench.flatness import vectors as V
from ml2bench.flatness.analytic import (
    QuadraticModel,
    dummy_batches,
    quadratic_loss,
    symmetric_matrix,
)
from ml2bench.flatness.hvp import HessianOperator, as_linear_operator, dense_matrix

EXACT = ("double_backward", "forward_over_reverse")
ALL = EXACT + ("finite_difference",)


def make_quadratic(eigenvalues, seed=0):
    gen = torch.Generator().manual_seed(seed)
    matrix = symmetric_matrix(eigenvalues, gen)
    size = len(eigenvalues)
    minimizer = torch.randn(size, generator=gen, dtype=torch.float64)
    theta = torch.randn(size, generator=gen, dtype=torch.float64)
    return QuadraticModel(matrix, minimizer, theta), matrix


@pytest.mark.parametrize("method", ALL)
def test_quadratic_hvp_equals_matrix_product(method):
    model, matrix = make_quadratic(np.linspace(-30.0, 20.0, 25))
    op = HessianOperator(model, quadratic_loss, dummy_batches(5, 2), method=method)
    gen = torch.Generator().manual_seed(3)
    for _ in range(3):
        v = [torch.randn(25, generator=gen, dtype=torch.float64)]
        err = (op.matvec(v)[0] - matrix @ v[0]).abs().max().item()
        scale = (matrix @ v[0]).abs().max().item()
        assert err < (1e-12 if method in EXACT else 1e-8 * scale), err
    assert op.num_hvps == 3
    assert op.num_passes == (3 if method in EXACT else 6)


def test_finite_difference_error_is_rounding_level():
    model, matrix = make_quadratic(np.linspace(1.0, 10.0, 20))
    op = HessianOperator(model, quadratic_loss, dummy_batches(), method="finite_difference")
    v = [torch.randn(20, generator=torch.Generator().manual_seed(1), dtype=torch.float64)]
    rel = ((op.matvec(v)[0] - matrix @ v[0]).norm() / (matrix @ v[0]).norm()).item()
    assert 0.0 < rel < 1e-9


def test_loss_and_gradient_of_quadratic():
    model, matrix = make_quadratic([1.0, 2.0, 3.0, -4.0])
    op = HessianOperator(model, quadratic_loss, dummy_batches())
    delta = (model.theta - model.minimizer).detach()
    assert op.loss() == pytest.approx(0.5 * float(delta @ matrix @ delta), abs=1e-14)
    assert torch.allclose(op.grad()[0], matrix @ delta, atol=1e-14, rtol=0)
    assert torch.allclose(dense_matrix(op), matrix, atol=1e-13, rtol=0)


class TanhNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(3, 5)
        self.out = nn.Linear(5, 4)

    def forward(self, x):
        return self.out(torch.tanh(self.hidden(x)))


def cross_entropy(model, batch):
    x, y = batch
    return F.cross_entropy(model(x), y)


def batched(x, y, size):
    return list(zip(torch.split(x, size), torch.split(y, size)))


@pytest.mark.parametrize("method", EXACT)
def test_hvp_independent_of_batch_size(method):
    torch.manual_seed(0)
    model = TanhNet().double()
    gen = torch.Generator().manual_seed(0)
    n = 23  # not a multiple of 7: the last batch has 2 samples
    x = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 4, (n,), generator=gen)
    v = V.gaussian_like(P.trainable_parameters(model), gen)
    results, losses = [], []
    for size in (1, 7, n):
        op = HessianOperator(model, cross_entropy, batched(x, y, size), method=method)
        results.append(P.flatten(op.matvec(v)))
        losses.append(op.loss())
    for other in results[1:]:
        assert (other - results[0]).abs().max().item() < 1e-10
    assert max(losses) - min(losses) < 1e-12
    reference = cross_entropy(model, (x, y)).item()
    assert losses[1] == pytest.approx(reference, abs=1e-12)


def test_forward_over_reverse_matches_double_backward_on_network():
    torch.manual_seed(1)
    model = TanhNet().double()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(10, 3, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 4, (10,), generator=gen)
    v = V.gaussian_like(P.trainable_parameters(model), gen)
    ops = {m: HessianOperator(model, cross_entropy, batched(x, y, 4), method=m) for m in ALL}
    ref = P.flatten(ops["double_backward"].matvec(v))
    assert (P.flatten(ops["forward_over_reverse"].matvec(v)) - ref).abs().max() < 1e-12
    assert (P.flatten(ops["finite_difference"].matvec(v)) - ref).abs().max() < 1e-7


def test_frozen_and_unused_parameters():
    model = TanhNet().double()
    model.hidden.bias.requires_grad_(False)
    model.unused = nn.Parameter(torch.ones(2, dtype=torch.float64))
    batches = [(torch.randn(4, 3, dtype=torch.float64), torch.tensor([0, 1, 2, 3]))]
    for method in ALL:
        op = HessianOperator(model, cross_entropy, batches, method=method)
        assert len(op.template) == 4  # unused, hidden.weight, out.weight, out.bias
        hv = op.matvec(V.rademacher_like(op.template, torch.Generator().manual_seed(0)))
        assert torch.equal(hv[0], torch.zeros(2, dtype=torch.float64))  # own params come first


def test_linear_loss_has_zero_hessian():
    model = nn.Linear(3, 1, bias=False).double()
    batches = [(torch.ones(2, 3, dtype=torch.float64),)]
    op = HessianOperator(model, lambda m, b: m(b[0]).mean(), batches)
    assert torch.equal(op.matvec([torch.ones(1, 3, dtype=torch.float64)])[0], torch.zeros(1, 3, dtype=torch.float64))


def test_scipy_linear_operator_view():
    model, matrix = make_quadratic([3.0, -1.0, 2.0, 5.0, 0.5])
    linear = HessianOperator(model, quadratic_loss, dummy_batches()).as_linear_operator()
    x = np.arange(5.0)
    assert linear.shape == (5, 5) and linear.dtype == np.float64
    assert np.allclose(linear.matvec(x), matrix.numpy() @ x, atol=1e-13)
    assert np.allclose(linear @ np.eye(5), matrix.numpy(), atol=1e-13)
    generic = as_linear_operator(HessianOperator(model, quadratic_loss, dummy_batches()))
    assert np.array_equal(generic.matvec(x), linear.matvec(x))


def test_invalid_arguments_raise():
    model, _ = make_quadratic([1.0, 2.0])
    with pytest.raises(ValueError, match="Unknown HVP method"):
        HessianOperator(model, quadratic_loss, dummy_batches(), method="power")
    with pytest.raises(ValueError, match="fd_eps"):
        HessianOperator(model, quadratic_loss, dummy_batches(), method="finite_difference", fd_eps=0.0)
    with pytest.raises(ValueError, match="no batches"):
        HessianOperator(model, quadratic_loss, [])
    op = HessianOperator(model, quadratic_loss, dummy_batches())
    with pytest.raises(ValueError, match="tensors"):
        op.matvec([torch.ones(2), torch.ones(2)])


def test_vector_helpers():
    u = [torch.tensor([1.0, 2.0]), torch.tensor([[3.0]])]
    v = [torch.tensor([0.5, -1.0]), torch.tensor([[2.0]])]
    assert V.dot(u, v) == pytest.approx(0.5 - 2.0 + 6.0)
    assert V.norm(u) == pytest.approx(14.0**0.5)
    w = V.axpy(2.0, u, v)
    assert torch.equal(w[0], torch.tensor([2.5, 3.0])) and torch.equal(w[1], torch.tensor([[8.0]]))
    assert V.norm(V.normalize(u)) == pytest.approx(1.0)
    assert torch.equal(u[0], torch.tensor([1.0, 2.0]))  # inputs untouched
    flat = P.flatten(u)
    assert flat.tolist() == [1.0, 2.0, 3.0]
    back = P.unflatten(flat, u)
    assert all(torch.equal(a, b) for a, b in zip(back, u))
    with pytest.raises(ValueError):
        V.normalize(V.zeros_like(u))
    with pytest.raises(ValueError):
        P.unflatten(torch.zeros(4), u)
    z = V.rademacher_like([torch.zeros(1000)], torch.Generator().manual_seed(0))[0]
    assert set(z.unique().tolist()) == {-1.0, 1.0}
