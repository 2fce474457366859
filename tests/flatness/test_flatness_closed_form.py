"""Full Hessians from HVPs against closed forms (least squares, logistic, softmax)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ml2bench.flatness.hvp import HessianOperator, dense_matrix

N, D, K = 17, 4, 3
METHOD_TOL = [("double_backward", 1e-12), ("forward_over_reverse", 1e-12), ("finite_difference", 1e-8)]


def data(seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(N, D, generator=gen, dtype=torch.float64)
    weight = torch.randn(K, D, generator=gen, dtype=torch.float64)
    return x, weight, gen


def batches_of(x, y, size=5):
    return list(zip(torch.split(x, size), torch.split(y, size)))


def linear_model(weight):
    model = nn.Linear(weight.shape[1], weight.shape[0], bias=False).double()
    with torch.no_grad():
        model.weight.copy_(weight)
    return model


@pytest.mark.parametrize("method,tol", METHOD_TOL)
def test_least_squares(method, tol):
    x, weight, gen = data()
    y = torch.randn(N, 1, generator=gen, dtype=torch.float64)
    op = HessianOperator(linear_model(weight[:1]), lambda m, b: F.mse_loss(m(b[0]), b[1]),
                         batches_of(x, y), method=method)
    expected = 2.0 / N * x.T @ x
    assert (dense_matrix(op) - expected).abs().max().item() < tol


@pytest.mark.parametrize("method,tol", METHOD_TOL)
def test_logistic_regression(method, tol):
    x, weight, gen = data(1)
    y = torch.randint(0, 2, (N, 1), generator=gen).double()
    loss = lambda m, b: F.binary_cross_entropy_with_logits(m(b[0]), b[1])  # noqa: E731
    op = HessianOperator(linear_model(weight[:1]), loss, batches_of(x, y), method=method)
    p = torch.sigmoid(x @ weight[0])
    expected = x.T @ torch.diag(p * (1 - p)) @ x / N
    assert (dense_matrix(op) - expected).abs().max().item() < tol


@pytest.mark.parametrize("method,tol", METHOD_TOL)
def test_softmax_cross_entropy(method, tol):
    x, weight, gen = data(2)
    y = torch.randint(0, K, (N,), generator=gen)
    loss = lambda m, b: F.cross_entropy(m(b[0]), b[1])  # noqa: E731
    op = HessianOperator(linear_model(weight), loss, batches_of(x, y), method=method)
    probs = torch.softmax(x @ weight.T, dim=1)
    expected = torch.zeros(K * D, K * D, dtype=torch.float64)
    for p, xi in zip(probs, x):  # vec(W) is row-major: class-major, feature-minor
        expected += torch.kron(torch.diag(p) - torch.outer(p, p), torch.outer(xi, xi))
    expected /= N
    assert (dense_matrix(op) - expected).abs().max().item() < tol
