"""Loss-landscape slices and linear interpolation between solutions (metric M7).

Slices evaluate ``L(θ + α d)`` (1-D) or ``L(θ + α d₁ + β d₂)`` (2-D) along given
directions. Random directions are *filter-normalised* (Li et al. 2018): a Gaussian
``d`` whose every output filter / neuron — row ``d[i]`` along the first dimension of a
weight of dimension ≥ 2 (``Linear``: ``[out, in]``, ``Conv``: ``[out, in, k, k]``) — is
rescaled to the norm of the matching row of ``θ``,

.. math:: d[i] ← d[i] \\, ‖θ[i]‖ / ‖d[i]‖ .

One-dimensional parameters (biases, batch-norm affine weights) get ``d = 0``
(Li et al.'s ``ignore biasbn`` setting): they have no filter structure to normalise by,
and leaving them fixed keeps curves invariant to the positive rescaling of ReLU layers.

Interpolation evaluates ``θ_α = (1−α) θ_A + α θ_B`` for ``α ∈ [−0.5, 1.5]``. Batch-norm
running statistics are recomputed on the data at every ``α`` (interpolated statistics
do not match the interpolated weights); the barrier is

.. math:: \\max_{α ∈ [0,1]} L(θ_α) − ((1−α) L_A + α L_B) ≥ 0 .

Every function leaves parameters, buffers, training flags and RNG state unchanged.

References
----------
Li, H. et al. (2018). Visualizing the loss landscape of neural nets. NeurIPS.
Goodfellow, I. J., Vinyals, O. & Saxe, A. M. (2015). Qualitatively characterizing
neural network optimization problems. ICLR.
Frankle, J. et al. (2020). Linear mode connectivity and the lottery ticket hypothesis.
ICML.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ml2bench.flatness.evaluation import BatchedLoss, LossFn
from ml2bench.flatness.state import preserved_state
from ml2bench.parameters import trainable_parameters
from ml2bench.flatness.vectors import Vector, default_generator, gaussian_like


@dataclass
class Slice:
    """Losses along a 1-D (``losses[i]`` at ``alphas[i]``) or 2-D slice
    (``losses[i, j]`` at ``(alphas[i], betas[j])``)."""

    alphas: np.ndarray
    losses: np.ndarray
    num_passes: int
    betas: np.ndarray | None = None


@dataclass
class Interpolation:
    """Losses along ``θ_α = (1−α)θ_A + αθ_B`` and the barrier between the endpoints."""

    alphas: np.ndarray
    losses: np.ndarray
    loss_a: float
    loss_b: float
    barrier: float
    num_passes: int


def filter_normalized_direction(
    model: nn.Module, generator: torch.Generator | None = None
) -> Vector:
    """A Gaussian direction with each output row scaled to ``‖θ[i]‖``; 1-D parts zero."""
    generator = generator or default_generator()
    params = trainable_parameters(model)
    direction = []
    for p, d in zip(params, gaussian_like(params, generator)):
        if p.dim() <= 1:
            direction.append(torch.zeros_like(p))
            continue
        rows_theta = p.detach().reshape(p.shape[0], -1).norm(dim=1)
        rows_d = d.reshape(p.shape[0], -1).norm(dim=1)
        factor = torch.where(rows_d > 0, rows_theta / rows_d.clamp_min(1e-300), 0.0)
        direction.append(d * factor.reshape((-1,) + (1,) * (p.dim() - 1)))
    return direction


@torch.no_grad()
def _set_combination(params: Sequence[torch.Tensor], terms: Sequence[tuple[float, Vector]]):
    """``params ← Σ_k c_k v_k`` in place."""
    for i, p in enumerate(params):
        p.copy_(sum(c * v[i] for c, v in terms))


def slice_1d(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Sequence[tuple],
    direction: Sequence[torch.Tensor],
    alphas: Sequence[float],
) -> Slice:
    """``L(θ + α d)`` for every ``α`` in ``alphas`` (one pass each)."""
    evaluator = BatchedLoss(model, loss_fn, batches)
    alphas = np.asarray(alphas, dtype=np.float64)
    with preserved_state(model):
        params = evaluator.params
        base = [p.detach().clone() for p in params]
        losses = np.empty(len(alphas))
        for i, alpha in enumerate(alphas):
            _set_combination(params, [(1.0, base), (float(alpha), list(direction))])
            losses[i] = evaluator.value()
    return Slice(alphas, losses, evaluator.num_passes)


def slice_2d(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Sequence[tuple],
    directions: tuple[Sequence[torch.Tensor], Sequence[torch.Tensor]],
    alphas: Sequence[float],
    betas: Sequence[float],
) -> Slice:
    """``L(θ + α d₁ + β d₂)`` on the grid ``alphas × betas`` (one pass per point)."""
    evaluator = BatchedLoss(model, loss_fn, batches)
    alphas = np.asarray(alphas, dtype=np.float64)
    betas = np.asarray(betas, dtype=np.float64)
    first, second = (list(d) for d in directions)
    with preserved_state(model):
        params = evaluator.params
        base = [p.detach().clone() for p in params]
        losses = np.empty((len(alphas), len(betas)))
        for i, alpha in enumerate(alphas):
            for j, beta in enumerate(betas):
                _set_combination(params, [(1.0, base), (float(alpha), first), (float(beta), second)])
                losses[i, j] = evaluator.value()
    return Slice(alphas, losses, evaluator.num_passes, betas)


def random_slices_1d(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Sequence[tuple],
    seeds: Sequence[int] = (0, 1, 2),
    num_points: int = 51,
    span: float = 1.0,
) -> list[Slice]:
    """The default M7 curves: one filter-normalised direction per seed (CPU generator
    seeded with it), ``num_points`` values of ``α`` on ``[−span, span]``."""
    alphas = np.linspace(-span, span, num_points)
    curves = []
    for seed in seeds:
        direction = filter_normalized_direction(model, torch.Generator().manual_seed(seed))
        curves.append(slice_1d(model, loss_fn, batches, direction, alphas))
    return curves


def _batch_norms(model: nn.Module) -> list[nn.Module]:
    return [
        m for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]


@torch.no_grad()
def recompute_batch_norm(model: nn.Module, loss_fn: LossFn, batches: Sequence[tuple]) -> None:
    """Reset batch-norm running statistics and re-estimate them on ``batches``.

    Batch norms run in train mode (everything else as it is); batch ``b`` gets momentum
    ``n_b / (n_1 + … + n_b)``, so the statistics are the sample-size-weighted mean of
    the per-batch statistics (``torch.optim.swa_utils.update_bn`` weighted by size).
    Mutates the model: callers wrap it in ``preserved_state``.
    """
    norms = _batch_norms(model)
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.train()
    seen = 0
    try:
        for batch in batches:
            seen += int(batch[0].shape[0])
            for m in norms:
                m.momentum = int(batch[0].shape[0]) / seen
            loss_fn(model, batch)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
            m.eval()


def interpolate(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Sequence[tuple],
    params_a: Sequence[torch.Tensor],
    params_b: Sequence[torch.Tensor],
    alphas: Sequence[float] | None = None,
) -> Interpolation:
    """Loss along ``θ_α = (1−α)θ_A + αθ_B`` and the barrier (module docstring).

    ``params_a``/``params_b`` list the trainable parameters in ``model.parameters()``
    order; ``alphas`` defaults to 41 points on ``[−0.5, 1.5]``. If the model has batch
    norms, their statistics are recomputed on ``batches`` at each ``α`` (one extra pass
    each). ``L_A``, ``L_B`` are always evaluated at ``α = 0, 1`` exactly.
    """
    alphas = np.linspace(-0.5, 1.5, 41) if alphas is None else np.asarray(alphas, np.float64)
    evaluator = BatchedLoss(model, loss_fn, batches)
    has_bn = bool(_batch_norms(model))
    a, b = [list(v) for v in (params_a, params_b)]
    with preserved_state(model):
        params = evaluator.params

        def loss_at(alpha: float) -> float:
            _set_combination(params, [(1.0 - alpha, a), (alpha, b)])
            if has_bn:
                with torch.no_grad():
                    recompute_batch_norm(model, loss_fn, batches)
                evaluator.num_passes += 1
            return evaluator.value()

        losses = np.array([loss_at(float(alpha)) for alpha in alphas])
        loss_a, loss_b = loss_at(0.0), loss_at(1.0)
    inside = (alphas >= 0.0) & (alphas <= 1.0)
    gaps = losses[inside] - ((1.0 - alphas[inside]) * loss_a + alphas[inside] * loss_b)
    barrier = max(0.0, float(gaps.max())) if gaps.size else 0.0
    return Interpolation(alphas, losses, loss_a, loss_b, barrier, evaluator.num_passes)
