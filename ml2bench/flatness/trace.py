"""Hessian trace by Hutchinson's estimator and by Hutch++ (metric M2).

Hutchinson (1989): for Rademacher probes ``z`` (independent ±1 entries),
``E[zᵀ A z] = tr A``, so with a **fixed** number ``m`` of probes

.. math::

    \\widehat{\\mathrm{tr}}\\,A = \\frac1m \\sum_{i=1}^m z_iᵀ A z_i ,
    \\qquad \\mathrm{SE} = \\frac{s}{\\sqrt m},

with ``s`` the sample standard deviation of the ``z_iᵀ A z_i``. Since ``z_i² = 1``,
the estimate is exact for a diagonal ``A`` whatever ``m``. PyHessian instead stops on
a 1e-3 relative change of the running mean (≈20 probes, 5–10 % error): not done here.

Hutch++ (Meyer et al. 2021) spends ``m/3`` products on a sketch ``Q = orth(A S)``,
takes ``tr(QᵀAQ)`` exactly and applies Hutchinson to the deflated remainder
``(I − QQᵀ) A (I − QQᵀ)``: error ``O(1/m)`` instead of ``O(1/√m)`` for matrices with
a decaying spectrum.

References
----------
Hutchinson, M. F. (1989). A stochastic estimator of the trace of the influence matrix
for Laplacian smoothing splines. Commun. Stat. Simul. Comput.
Meyer, R. A., Musco, C., Musco, C. & Woodruff, D. P. (2021). Hutch++: optimal
stochastic trace estimation. SOSA.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ml2bench.parameters import flatten, unflatten
from ml2bench.flatness.vectors import (
    VectorOperator,
    default_generator,
    dot,
    numel,
    rademacher_like,
)


@dataclass
class TraceEstimate:
    """A stochastic trace estimate.

    Attributes
    ----------
    trace : float
        Estimate of ``tr H``.
    stderr : float
        Standard error of the estimate (NaN with a single Hutchinson probe).
    trace_per_param : float
        ``trace / P``: the mean eigenvalue.
    num_hvps : int
        Operator applications used.
    samples : np.ndarray
        The per-probe quadratic forms that were averaged.
    """

    trace: float
    stderr: float
    trace_per_param: float
    num_hvps: int
    samples: np.ndarray


def _standard_error(samples: np.ndarray) -> float:
    if len(samples) < 2:
        return math.nan
    return float(np.std(samples, ddof=1) / math.sqrt(len(samples)))


def hutchinson_trace(
    op: VectorOperator, num_probes: int = 100, generator: torch.Generator | None = None
) -> TraceEstimate:
    """Hutchinson estimate of ``tr H`` with ``num_probes`` Rademacher probes.

    Parameters
    ----------
    op : VectorOperator
        Symmetric operator (``HessianOperator`` or a block restriction of it).
    num_probes : int
        Fixed probe count ``m`` (= HVPs); no early stopping.
    generator : torch.Generator, optional
        Source of the probes; default a fresh generator seeded 0.
    """
    if num_probes < 1:
        raise ValueError(f"num_probes must be at least 1, got {num_probes}.")
    generator = generator or default_generator()
    template = list(op.template)
    samples = np.empty(num_probes)
    for i in range(num_probes):
        z = rademacher_like(template, generator)
        samples[i] = dot(z, op.matvec(z))
    mean = float(samples.mean())
    return TraceEstimate(mean, _standard_error(samples), mean / numel(template), num_probes, samples)


def _apply(op: VectorOperator, columns: torch.Tensor) -> torch.Tensor:
    """``A X`` for the flat columns of ``X`` (one product per column)."""
    template = list(op.template)
    outs = [flatten(op.matvec(unflatten(columns[:, j], template))) for j in range(columns.shape[1])]
    return torch.stack(outs, dim=1).to(columns.dtype)


def _rademacher_columns(op: VectorOperator, count: int, generator: torch.Generator) -> torch.Tensor:
    template = list(op.template)
    return torch.stack([flatten(rademacher_like(template, generator)) for _ in range(count)], 1)


def hutchpp_trace(
    op: VectorOperator, num_hvps: int = 102, generator: torch.Generator | None = None
) -> TraceEstimate:
    """Hutch++ estimate of ``tr H`` with about ``num_hvps`` operator products.

    With ``k = num_hvps // 3``: ``Q = orth(H S)`` for Rademacher ``S ∈ R^{P×k}``,
    ``tr H ≈ tr(QᵀHQ) + (1/k) Σ_i g_iᵀ (I−QQᵀ) H (I−QQᵀ) g_i`` for Rademacher ``g_i``.
    ``stderr`` is the standard error of the second (stochastic) term.
    """
    k = num_hvps // 3
    if k < 2:
        raise ValueError(f"Hutch++ needs num_hvps >= 6, got {num_hvps}.")
    generator = generator or default_generator()
    size = numel(op.template)
    k_sketch = min(k, size)
    sketch = _apply(op, _rademacher_columns(op, k_sketch, generator))
    q, _ = torch.linalg.qr(sketch)
    exact = float(torch.trace(q.T @ _apply(op, q)))
    g = _rademacher_columns(op, k, generator).to(q.dtype)
    g = g - q @ (q.T @ g)
    samples = (g * _apply(op, g)).sum(dim=0).double().cpu().numpy()
    estimate = exact + float(samples.mean())
    used = k_sketch * 2 + k
    return TraceEstimate(estimate, _standard_error(samples), estimate / size, used, samples)
