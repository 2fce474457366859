"""Training-dynamics diagnostics (metric M8).

Edge of stability
    Gradient descent on a quadratic with Hessian eigenvalue ``λ`` is stable iff
    ``λ < 2/η``; heavy-ball momentum ``β`` raises the bound to ``(2 + 2β)/η``
    (Cohen et al. 2021). Compare ``hess_max`` against :func:`eos_threshold`.
Gradient-noise scale
    With ``G`` the full gradient and ``Σ`` the per-example gradient covariance,
    ``E‖G_B‖² = ‖G‖² + tr Σ / B`` for a batch of size ``B``. From squared norms at two
    batch sizes ``B_s < B_b`` (McCandlish et al. 2018, appendix A.1),

    .. math::

        |\\mathcal G|^2 = \\frac{B_b ‖G_{B_b}‖^2 − B_s ‖G_{B_s}‖^2}{B_b − B_s}, \\qquad
        \\mathcal S = \\frac{‖G_{B_s}‖^2 − ‖G_{B_b}‖^2}{1/B_s − 1/B_b},

    both unbiased; ``B_simple = S / |G|²`` with numerator and denominator averaged
    separately over repeats before dividing (the ratio of averages, not the average
    of ratios).

References
----------
Cohen, J. M. et al. (2021). Gradient descent on neural networks typically occurs at
the edge of stability. ICLR.
McCandlish, S. et al. (2018). An empirical model of large-batch training.
arXiv:1812.06162.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from torch import nn

from ml2bench.flatness.evaluation import BatchedLoss, LossFn
from ml2bench.flatness.vectors import dot


def eos_threshold(lr: float, momentum: float = 0.0) -> float:
    """Largest stable curvature ``(2 + 2β)/η`` of (heavy-ball) gradient descent."""
    if not lr > 0 or not 0.0 <= momentum < 1.0:
        raise ValueError(f"Need lr > 0 and 0 <= momentum < 1, got {lr}, {momentum}.")
    return (2.0 + 2.0 * momentum) / lr


@dataclass
class NoiseScale:
    """Gradient-noise scale and its two unbiased ingredients.

    Attributes
    ----------
    b_simple : float
        ``tr Σ / |G|²``.
    grad_sq_norm : float
        Estimate of ``|G|²``.
    trace_sigma : float
        Estimate of ``tr Σ``.
    num_passes : int
        Batch gradients computed (0 when given norms directly).
    """

    b_simple: float
    grad_sq_norm: float
    trace_sigma: float
    num_passes: int = 0


def noise_scale_from_norms(
    small_sq_norms: Sequence[float],
    big_sq_norms: Sequence[float],
    small_batch: int,
    big_batch: int,
) -> NoiseScale:
    """``B_simple`` from squared gradient norms measured at batch sizes ``B_s < B_b``."""
    if not 0 < small_batch < big_batch:
        raise ValueError(f"Need 0 < small_batch < big_batch, got {small_batch}, {big_batch}.")
    if len(small_sq_norms) == 0 or len(big_sq_norms) == 0:
        raise ValueError("Need at least one squared norm at each batch size.")
    small = float(np.mean(small_sq_norms))
    big = float(np.mean(big_sq_norms))
    grad_sq = (big_batch * big - small_batch * small) / (big_batch - small_batch)
    trace_sigma = (small - big) / (1.0 / small_batch - 1.0 / big_batch)
    return NoiseScale(trace_sigma / grad_sq, grad_sq, trace_sigma)


def _uniform_size(batches: Sequence[tuple], name: str) -> int:
    sizes = {int(batch[0].shape[0]) for batch in batches}
    if len(sizes) != 1:
        raise ValueError(f"All {name} batches must have one size, got sizes {sorted(sizes)}.")
    return sizes.pop()


def gradient_noise_scale(
    model: nn.Module,
    loss_fn: LossFn,
    small_batches: Sequence[tuple],
    big_batches: Sequence[tuple],
) -> NoiseScale:
    """``B_simple`` from the gradients of ``small_batches`` (size ``B_s``) and
    ``big_batches`` (size ``B_b``), each batch an independent repeat.

    Gradients are taken in ``eval()`` mode at the current parameters; the model is
    left unchanged.
    """
    norms = []
    for batches in (small_batches, big_batches):
        squared = []
        for batch in batches:
            _, grad = BatchedLoss(model, loss_fn, [batch]).gradient()
            squared.append(dot(grad, grad))
        norms.append(squared)
    result = noise_scale_from_norms(
        norms[0], norms[1], _uniform_size(small_batches, "small"), _uniform_size(big_batches, "big")
    )
    result.num_passes = len(small_batches) + len(big_batches)
    return result
