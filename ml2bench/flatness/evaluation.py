"""Size-weighted full-data loss and gradient over a fixed list of batches.

The evaluation set ``D_H`` of ``N`` samples is split into batches ``B_1 … B_K`` of
sizes ``n_b`` (the last one may be shorter). With a mean-reduced ``loss_fn``,

.. math::

    L(θ) = \\frac1N \\sum_{i ∈ D_H} ℓ_i(θ) = \\sum_b \\frac{n_b}{N} L_b(θ),

so each batch is weighted by ``n_b / N`` and every derived quantity (gradient, HVP)
is independent of the batch size. Summing batch losses or averaging them with equal
weights (as loss-landscape does) scales the spectrum or biases it towards the last
batch.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from ml2bench.flatness.state import evaluation_mode
from ml2bench.parameters import trainable_parameters
from ml2bench.flatness.vectors import Vector

LossFn = Callable[[nn.Module, tuple], torch.Tensor]


def batch_weights(batches: Sequence[tuple]) -> list[float]:
    """Weights ``n_b / N`` of the batches (``n_b`` = leading size of a batch's first tensor)."""
    if len(batches) == 0:
        raise ValueError("The evaluation set has no batches.")
    sizes = [int(batch[0].shape[0]) for batch in batches]
    total = sum(sizes)
    if total == 0:
        raise ValueError("The evaluation set has no samples.")
    return [n / total for n in sizes]


def accumulate(total: Vector | None, weight: float, part: Sequence[torch.Tensor]) -> Vector:
    """``total + weight · part`` (``total`` None means zero)."""
    if total is None:
        return [weight * t.detach() for t in part]
    return [a + weight * t.detach() for a, t in zip(total, part)]


def gradient_of(loss: torch.Tensor, params: Sequence[torch.Tensor], create_graph: bool = False):
    """``∂loss/∂params`` with zeros for parameters the loss does not depend on."""
    return torch.autograd.grad(
        loss, list(params), create_graph=create_graph, allow_unused=True, materialize_grads=True
    )


class BatchedLoss:
    """The mean-reduced data loss of ``model`` over ``batches``, evaluated in ``eval()``.

    Parameters
    ----------
    model : nn.Module
        Evaluated at its current parameters; training flags and RNG state are restored
        after every call (see :func:`~ml2bench.flatness.state.evaluation_mode`).
    loss_fn : callable
        ``loss_fn(model, batch) -> scalar``, mean over the batch, no regularisation.
    batches : sequence of tuple
        The frozen evaluation subset, already split.

    Attributes
    ----------
    num_passes : int
        Full passes over ``batches`` so far (one per :meth:`value` or :meth:`gradient`).
    """

    def __init__(self, model: nn.Module, loss_fn: LossFn, batches: Sequence[tuple]) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.batches = list(batches)
        self.weights = batch_weights(self.batches)
        self.num_passes = 0

    @property
    def params(self) -> list[nn.Parameter]:
        """The trainable parameters (``requires_grad``) in ``model.parameters()`` order."""
        return trainable_parameters(self.model)

    def value(self) -> float:
        """``L(θ) = Σ_b (n_b/N) L_b(θ)`` at the current parameters."""
        total = 0.0
        with evaluation_mode(self.model), torch.no_grad():
            for weight, batch in zip(self.weights, self.batches):
                total += weight * float(self.loss_fn(self.model, batch))
        self.num_passes += 1
        return total

    def gradient(self) -> tuple[float, Vector]:
        """``(L(θ), ∇L(θ))`` with the gradient as a parameter-shaped vector."""
        params = self.params
        total, grad = 0.0, None
        with evaluation_mode(self.model), torch.enable_grad():
            for weight, batch in zip(self.weights, self.batches):
                loss = self.loss_fn(self.model, batch)
                grad = accumulate(grad, weight, gradient_of(loss, params))
                total += weight * float(loss.detach())
        self.num_passes += 1
        return total, grad
