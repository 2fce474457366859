"""Spectral density of the Hessian by stochastic Lanczos quadrature (metric M3).

For a unit probe ``v`` and ``m`` Lanczos steps started at ``v`` (tridiagonal ``T_m``
with eigen-decomposition ``T_m = S diag(θ) Sᵀ``), Gauss quadrature gives

.. math::

    vᵀ f(A) v ≈ \\sum_{k=1}^m τ_k^2 f(θ_k), \\qquad τ_k = S_{1k},

exact for polynomials of degree ``< 2m``; the weights of each run sum to
``‖S_{1,:}‖² = 1``. With normalised Rademacher probes ``E[vᵀ f(A) v] = tr f(A) / P``,
so averaging ``n_v`` runs estimates the spectral measure ``(1/P) Σ_i δ(t − λ_i)`` by
nodes ``θ_k`` with weights ``τ_k² / n_v``. The density is that measure smoothed by a
Gaussian of width ``σ = (θ_max − θ_min)/m``.

Old PyHessian releases used ``τ_k`` instead of ``τ_k²`` and ``eig`` instead of ``eigh``
on ``T``; here both are the symmetric, squared forms.

Reported summaries
------------------
negative mass
    ``Σ w_k`` over nodes ``θ_k < −zero_tol · max|θ|``: the estimated fraction of
    negative eigenvalues, ignoring the numerically-zero bulk.
outlier count
    Per run, the sorted nodes are split into clusters at every gap larger than
    ``gap_fraction · (θ_max − θ_min)``. The cluster carrying the most weight is the
    bulk; every node of another cluster whose total weight is below
    ``outlier_mass`` is an outlier (an isolated eigenvalue carries weight ``≈ 1/P``,
    whereas a second bulk — e.g. one of two equal clusters — carries a finite share
    and is not counted) provided its Ritz residual bound ``|β_m s_{m,k}|`` is smaller
    than its distance to every node of the other clusters, which certifies an
    eigenvalue separated from them (this discards the unconverged, weightless Ritz
    values Lanczos may place inside a spectral gap). The reported count is the median over runs. A repeated
    eigenvalue counts once (one Krylov space cannot see its multiplicity). These are
    the well-separated top eigenvalues of Ghorbani et al. (2019) and Papyan (2019).

References
----------
Golub, G. H. & Meurant, G. (2010). Matrices, Moments and Quadrature with Applications.
Ubaru, S., Chen, J. & Saad, Y. (2017). Fast estimation of tr(f(A)) via stochastic
Lanczos quadrature. SIAM J. Matrix Anal. Appl.
Ghorbani, B., Krishnan, S. & Xiao, Y. (2019). An investigation into neural net
optimization via Hessian eigenvalue density. ICML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal

from ml2bench.flatness.lanczos import lanczos_iterations
from ml2bench.flatness.vectors import (
    VectorOperator,
    default_generator,
    normalize,
    rademacher_like,
)


@dataclass
class SpectralDensity:
    """Quadrature nodes and weights of the spectral measure, and their smoothing.

    Attributes
    ----------
    run_nodes, run_weights, run_residuals : list of np.ndarray
        Ritz values ``θ_k``, weights ``τ_k²`` (summing to 1) and residual bounds
        ``|β_m s_{m,k}|`` of each run.
    grid, density : np.ndarray
        The smoothed density ``φ(t) = (1/n_v) Σ_runs Σ_k τ_k² N(t; θ_k, σ²)``.
    sigma : float
        Gaussian width ``σ``.
    negative_mass : float
        Weight of clearly negative nodes (see module docstring).
    num_outliers : int
        Outliers beyond a gap (see module docstring).
    num_hvps : int
        Operator applications used.
    """

    run_nodes: list[np.ndarray]
    run_weights: list[np.ndarray]
    run_residuals: list[np.ndarray]
    grid: np.ndarray
    density: np.ndarray
    sigma: float
    negative_mass: float
    num_outliers: int
    num_hvps: int
    nodes: np.ndarray = field(init=False)
    weights: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        runs = len(self.run_nodes)
        self.nodes = np.concatenate(self.run_nodes)
        self.weights = np.concatenate(self.run_weights) / runs

    def moment(self, order: int) -> float:
        """``Σ_k w_k θ_k^j``, an estimate of ``tr(A^j) / P``."""
        return float(np.sum(self.weights * self.nodes**order))


def quadrature_run(
    op: VectorOperator, probe, num_steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes ``θ_k``, weights ``τ_k²`` and Ritz residual bounds ``|β_m s_{m,k}|`` of one
    Lanczos quadrature started at ``probe``."""
    for alphas, betas, _ in lanczos_iterations(op, probe, num_steps):
        pass
    theta, s = eigh_tridiagonal(np.array(alphas), np.array(betas[:-1]))
    return theta, s[0, :] ** 2, np.abs(betas[-1] * s[-1, :])


def count_outliers(
    nodes: np.ndarray,
    weights: np.ndarray,
    residuals: np.ndarray | None = None,
    gap_fraction: float = 0.1,
    outlier_mass: float = 0.05,
) -> int:
    """Certified nodes in light clusters away from the bulk (module docstring):
    clusters split at gaps ``> gap_fraction·range``, bulk = heaviest cluster, outliers
    = nodes of the other clusters with total weight ``< outlier_mass`` whose residual
    bound (if given) is below their distance to all nodes of other clusters."""
    order = np.argsort(nodes)
    theta, w = nodes[order], weights[order]
    r = np.zeros_like(theta) if residuals is None else residuals[order]
    spread = theta[-1] - theta[0]
    if len(theta) < 2 or spread <= 0:
        return 0
    cuts = np.nonzero(np.diff(theta) > gap_fraction * spread)[0] + 1
    clusters = np.split(np.arange(len(theta)), cuts)
    heaviest = max(range(len(clusters)), key=lambda c: w[clusters[c]].sum())
    count = 0
    for c, idx in enumerate(clusters):
        if c == heaviest or w[idx].sum() >= outlier_mass:
            continue
        others = np.delete(theta, idx)
        distance = np.abs(theta[idx, None] - others[None, :]).min(axis=1)
        count += int(np.sum(r[idx] < distance))
    return count


def gaussian_density(nodes: np.ndarray, weights: np.ndarray, grid: np.ndarray, sigma: float):
    """``φ(t) = Σ_k w_k exp(−(t−θ_k)²/2σ²) / (σ√(2π))`` on ``grid``."""
    z = (grid[:, None] - nodes[None, :]) / sigma
    return (np.exp(-0.5 * z**2) @ weights) / (sigma * math.sqrt(2.0 * math.pi))


def spectral_density(
    op: VectorOperator,
    num_runs: int = 5,
    num_steps: int = 80,
    num_grid: int = 1000,
    generator: torch.Generator | None = None,
    zero_tol: float = 1e-3,
    gap_fraction: float = 0.1,
    outlier_mass: float = 0.05,
) -> SpectralDensity:
    """Stochastic Lanczos quadrature estimate of the Hessian eigenvalue density.

    Parameters
    ----------
    op : VectorOperator
        Symmetric operator.
    num_runs : int
        Probes ``n_v`` (normalised Rademacher vectors).
    num_steps : int
        Lanczos steps ``m`` per run (fewer if the Krylov space becomes invariant).
    num_grid : int
        Grid points of the smoothed density, spanning the nodes ± 5σ.
    generator : torch.Generator, optional
        Source of the probes; default a fresh generator seeded 0.
    zero_tol, gap_fraction, outlier_mass : float
        Thresholds of the negative mass and the outlier rule (module docstring).
    """
    if num_runs < 1 or num_steps < 1:
        raise ValueError(f"num_runs and num_steps must be positive, got {num_runs}, {num_steps}.")
    generator = generator or default_generator()
    runs = []
    for _ in range(num_runs):
        probe = normalize(rademacher_like(op.template, generator))
        runs.append(quadrature_run(op, probe, num_steps))
    nodes = np.concatenate([run[0] for run in runs])
    weights = np.concatenate([run[1] for run in runs]) / num_runs
    scale = float(np.abs(nodes).max())
    sigma = (nodes.max() - nodes.min()) / num_steps or max(scale, 1.0) * 1e-3
    grid = np.linspace(nodes.min() - 5 * sigma, nodes.max() + 5 * sigma, num_grid)
    outliers = [count_outliers(*run, gap_fraction, outlier_mass) for run in runs]
    return SpectralDensity(
        run_nodes=[run[0] for run in runs],
        run_weights=[run[1] for run in runs],
        run_residuals=[run[2] for run in runs],
        grid=grid,
        density=gaussian_density(nodes, weights, grid, sigma),
        sigma=float(sigma),
        negative_mass=float(weights[nodes < -zero_tol * scale].sum()),
        num_outliers=int(round(float(np.median(outliers)))),
        num_hvps=sum(len(run[0]) for run in runs),
    )
