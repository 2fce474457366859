"""Perturbation sharpness of a minimum (metrics M4, M5, M6).

All three perturb the trainable weights ``w`` of the model, evaluate the full-data loss
``L`` (size-weighted, ``eval()`` mode) and restore parameters, buffers, training flags
and the global RNG bit-exactly (:func:`~ml2bench.flatness.state.preserved_state`).

* average sharpness ``E_δ[L(w+δ)] − L(w)`` with ``δ ~ N(0, ρ² w²)`` element-wise
  (adaptive: standard deviation ``ρ|w_i|`` — not ``ρ²|w_i|`` as in Jiang et al.'s code)
  or ``δ ~ N(0, σ² I)`` (absolute). For a quadratic at its minimum it equals
  ``σ² tr H / 2``.
* worst-case sharpness ``max_{‖δ/c‖ ≤ ρ} L(w+δ) − L(w)``, ``c = |w| + tiny``
  (adaptive, Kwon et al. 2021) or ``c = 1``, by projected normalised gradient ascent
  from a random start (the one-step SAM direction is 0/0 at a minimum). For a
  quadratic at its minimum and ``c = 1`` it equals ``ρ² λ_max / 2``.
* Keskar et al. (2017) ε-sharpness
  ``100 · (max_{z ∈ C_ε} L(x+z) − L(x)) / (1 + L(x))`` on the box
  ``C_ε = {|z_i| ≤ ε(|x_i| + 1)}``, maximised by L-BFGS-B.

References
----------
Keskar, N. S. et al. (2017). On large-batch training for deep learning: generalization
gap and sharp minima. ICLR.
Jiang, Y. et al. (2020). Fantastic generalization measures and where to find them. ICLR.
Kwon, J. et al. (2021). ASAM: adaptive sharpness-aware minimization. ICML.
Andriushchenko, M. et al. (2023). A modern look at the relationship between sharpness
and generalization. ICML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from contextlib import contextmanager
from typing import Iterator, Sequence

import numpy as np
import torch
from scipy.optimize import Bounds, minimize
from torch import nn

from ml2bench.flatness.evaluation import BatchedLoss, LossFn
from ml2bench.flatness.state import preserved_state
from ml2bench.flatness.vectors import Vector, default_generator, gaussian_like, norm, normalize
from ml2bench.parameters import clone, flatten, unflatten


@dataclass
class SharpnessEstimate:
    """A sharpness value with the loss it is measured from.

    Attributes
    ----------
    value : float
        The sharpness.
    base_loss : float
        ``L(w)`` at the unperturbed weights.
    num_passes : int
        Full passes over the evaluation batches (forward, or forward+backward).
    stderr : float
        Monte Carlo standard error (average sharpness only; NaN otherwise).
    samples : np.ndarray or None
        Per-sample ``L(w+δ) − L(w)`` (average sharpness only).
    """

    value: float
    base_loss: float
    num_passes: int
    stderr: float = math.nan
    samples: np.ndarray | None = None


@torch.no_grad()
def _set(params: Sequence[torch.Tensor], base: Vector, delta: Vector) -> None:
    """``params ← base + delta`` in place."""
    for p, b, d in zip(params, base, delta):
        p.copy_(b + d)


@contextmanager
def _at_minimum(model: nn.Module, loss_fn: LossFn,
                batches: Sequence[tuple]) -> Iterator[tuple[BatchedLoss, list, Vector, float]]:
    """``(evaluator, params, w, L(w))`` at the current parameters ``w``; perturbations
    made inside are undone on exit (parameters, buffers, flags and RNG restored)."""
    evaluator = BatchedLoss(model, loss_fn, batches)
    with preserved_state(model):
        params = evaluator.params
        yield evaluator, params, clone(params), evaluator.value()


def sharp_avg(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Sequence[tuple],
    rho: float = 0.05,
    num_samples: int = 32,
    adaptive: bool = True,
    generator: torch.Generator | None = None,
) -> SharpnessEstimate:
    """Average sharpness ``E_δ[L(w+δ)] − L(w)`` (metric M4).

    ``δ_i = ρ |w_i| ξ_i`` (``adaptive``) or ``δ_i = ρ ξ_i`` with ``ξ ~ N(0, I)`` drawn
    from ``generator`` (default: seeded 0); ``num_samples`` forward passes.
    """
    if rho < 0 or num_samples < 1:
        raise ValueError(f"Need rho >= 0 and num_samples >= 1, got {rho}, {num_samples}.")
    generator = generator or default_generator()
    with _at_minimum(model, loss_fn, batches) as (evaluator, params, base, base_loss):
        samples = np.empty(num_samples)
        for i in range(num_samples):
            xi = gaussian_like(params, generator)
            delta = [rho * (b.abs() if adaptive else 1.0) * x for b, x in zip(base, xi)]
            _set(params, base, delta)
            samples[i] = evaluator.value() - base_loss
    stderr = float(np.std(samples, ddof=1) / math.sqrt(num_samples)) if num_samples > 1 else math.nan
    return SharpnessEstimate(float(samples.mean()), base_loss, evaluator.num_passes, stderr, samples)


def sharp_worst(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Sequence[tuple],
    rho: float = 0.5,
    num_steps: int = 20,
    step_size: float | None = None,
    adaptive: bool = True,
    generator: torch.Generator | None = None,
    tiny: float = 1e-12,
) -> SharpnessEstimate:
    """Worst-case sharpness in the (adaptive) L2 ball, ``max_{‖u‖≤ρ} L(w + c⊙u) − L(w)``.

    With ``c = |w| + tiny`` (``adaptive``) or ``c = 1``, and ``u`` the scaled
    perturbation: ``u_0`` is uniform on the sphere ``‖u‖ = ρ`` (from ``generator``),
    then ``num_steps`` projected normalised ascent steps

    .. math:: u ← Π_ρ\\big(u + η\\, c⊙∇L / ‖c⊙∇L‖\\big), \\qquad η = ρ \\text{ by default},

    each one forward+backward pass. The value is the largest loss seen on the path.
    """
    if rho < 0 or num_steps < 1:
        raise ValueError(f"Need rho >= 0 and num_steps >= 1, got {rho}, {num_steps}.")
    generator = generator or default_generator()
    step = rho if step_size is None else step_size
    with _at_minimum(model, loss_fn, batches) as (evaluator, params, base, base_loss):
        scales = [b.abs() + tiny if adaptive else torch.ones_like(b) for b in base]
        u = [rho * t for t in normalize(gaussian_like(params, generator))]
        best = -math.inf
        for _ in range(num_steps):
            _set(params, base, [c * t for c, t in zip(scales, u)])
            loss, grad = evaluator.gradient()
            best = max(best, loss)
            ascent = [c * g for c, g in zip(scales, grad)]
            length = norm(ascent)
            if length == 0.0:
                break
            u = [t + (step / length) * a for t, a in zip(u, ascent)]
            radius = norm(u)
            if radius > rho:
                u = [(rho / radius) * t for t in u]
        _set(params, base, [c * t for c, t in zip(scales, u)])
        best = max(best, evaluator.value())
    return SharpnessEstimate(best - base_loss, base_loss, evaluator.num_passes)


def keskar_eps(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Sequence[tuple],
    eps: float = 1e-3,
    max_iter: int = 10,
    generator: torch.Generator | None = None,
) -> SharpnessEstimate:
    """Keskar et al. (2017) ε-sharpness, ``100 (max_{z∈C_ε} L(x+z) − L(x)) / (1+L(x))``.

    ``C_ε = {z : |z_i| ≤ ε(|x_i|+1)}`` (full space, ``A = I``). ``−L(x+z)`` is minimised
    by SciPy's L-BFGS-B with ``maxiter = max_iter`` from a start uniform in ``C_ε``
    (from ``generator``; a zero start would stall on a zero gradient at a minimum).
    The maximum is the largest loss over all evaluations.
    """
    if not eps > 0 or max_iter < 1:
        raise ValueError(f"Need eps > 0 and max_iter >= 1, got {eps}, {max_iter}.")
    generator = generator or default_generator()
    with _at_minimum(model, loss_fn, batches) as (evaluator, params, base, base_loss):
        bound = (eps * (flatten(base).abs() + 1.0)).double().cpu().numpy()
        start = torch.rand(bound.shape, generator=generator, dtype=torch.float64, device=generator.device)
        z0 = (2.0 * start.cpu().numpy() - 1.0) * bound
        best = [base_loss]

        def negative_loss(z: np.ndarray) -> tuple[float, np.ndarray]:
            _set(params, base, unflatten(torch.from_numpy(z), params))
            loss, grad = evaluator.gradient()
            best[0] = max(best[0], loss)
            return -loss, -flatten(grad).double().cpu().numpy()

        minimize(negative_loss, z0, jac=True, method="L-BFGS-B",
                 bounds=Bounds(-bound, bound), options={"maxiter": max_iter})
    value = 100.0 * (best[0] - base_loss) / (1.0 + base_loss)
    return SharpnessEstimate(value, base_loss, evaluator.num_passes)
