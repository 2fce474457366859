"""Extreme Hessian eigenvalues by Lanczos with full reorthogonalisation.

After ``m`` steps from a unit start vector ``q_1``, Lanczos gives an orthonormal basis
``Q_m = [q_1 … q_m]`` of the Krylov space and the symmetric tridiagonal
``T_m = Q_mᵀ A Q_m`` (diagonal ``α_j``, off-diagonal ``β_j``) with

.. math::

    A Q_m = Q_m T_m + β_m q_{m+1} e_mᵀ .

The Ritz values ``θ_i`` (eigenvalues of ``T_m``, computed by the *symmetric*
``scipy.linalg.eigh_tridiagonal`` — never a general ``eig``) approximate the extreme
eigenvalues of ``A``; the Ritz pair ``(θ_i, Q_m s_i)`` has residual
``‖A y_i − θ_i y_i‖ = |β_m s_{m,i}|`` (Parlett 1998, §13.1), and iteration stops when
that bound is ``≤ tol·|θ_i|`` for the ``k`` wanted values. Every new vector is
orthogonalised twice against the whole basis (classical Gram–Schmidt, "twice is
enough"), so no ghost eigenvalues appear.

``which="LA"`` gives the largest *algebraic* eigenvalues and ``"SA"`` the smallest —
power iteration (PyHessian) would return the largest magnitude, e.g. −30 rather than
20 on an indefinite spectrum.

References
----------
Lanczos, C. (1950). An iteration method for the solution of the eigenvalue problem.
Parlett, B. N. (1998). The Symmetric Eigenvalue Problem. SIAM.
Golub, G. H. & Van Loan, C. F. (2013). Matrix Computations, §10.1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

from ml2bench.flatness.hvp import as_linear_operator
from ml2bench.parameters import flatten, unflatten
from ml2bench.flatness.vectors import (
    Vector,
    VectorOperator,
    default_generator,
    gaussian_like,
    numel,
)

WHICH = ("LA", "SA")


@dataclass
class LanczosResult:
    """Extreme Ritz values of an operator.

    Attributes
    ----------
    values : np.ndarray
        The ``k`` wanted Ritz values, most extreme first (descending for ``"LA"``,
        ascending for ``"SA"``).
    residuals : np.ndarray
        Residual bounds ``|β_m s_{m,i}|`` (NaN when unknown, e.g. from ``eigsh``).
    num_hvps : int
        Operator applications used.
    converged : bool
        Whether every residual met ``tol·|θ_i|`` (or the Krylov space became invariant).
    vectors : list of Vector or None
        Ritz vectors ``Q_m s_i`` when requested.
    """

    values: np.ndarray
    residuals: np.ndarray
    num_hvps: int
    converged: bool
    vectors: list[Vector] | None = None


def lanczos_iterations(
    op: VectorOperator, start: Sequence[torch.Tensor], max_steps: int
) -> Iterator[tuple[list[float], list[float], torch.Tensor]]:
    """Run Lanczos with full reorthogonalisation, yielding after every step.

    Yields ``(alphas, betas, basis)``: after step ``m``, ``alphas`` has ``m`` entries,
    ``betas`` has ``m`` (the last is ``β_m = ‖r_m‖``, the coupling to the next vector)
    and ``basis[:m]`` holds ``q_1 … q_m`` as flat rows (the buffer grows by doubling,
    so memory follows the steps actually taken). Stops early, after yielding, when
    ``β_m`` vanishes (the Krylov space is invariant; the Ritz values are exact).
    """
    template = list(op.template)
    max_steps = min(max_steps, numel(template))
    q = flatten(start)
    basis = torch.zeros((min(max_steps, 16), q.numel()), dtype=q.dtype, device=q.device)
    basis[0] = q / torch.linalg.vector_norm(q)
    alphas: list[float] = []
    betas: list[float] = []
    scale, tiny = 0.0, torch.finfo(q.dtype).eps * 10.0
    for m in range(max_steps):
        w = flatten(op.matvec(unflatten(basis[m], template))).to(q.dtype)
        scale = max(scale, float(torch.linalg.vector_norm(w)))
        alphas.append(float(torch.dot(w, basis[m])))
        active = basis[: m + 1]
        for _ in range(2):  # full reorthogonalisation (classical Gram-Schmidt, twice)
            w = w - active.T @ (active @ w)
        betas.append(float(torch.linalg.vector_norm(w)))
        yield alphas, betas, basis
        if betas[-1] <= tiny * max(scale, 1e-300) or m + 1 == max_steps:
            return
        if m + 1 == basis.shape[0]:
            grown = torch.zeros((min(2 * basis.shape[0], max_steps), q.numel()),
                                dtype=q.dtype, device=q.device)
            grown[: m + 1] = basis
            basis = grown
        basis[m + 1] = w / betas[-1]


def _wanted(theta: np.ndarray, which: str, k: int) -> np.ndarray:
    """Indices of the ``k`` wanted Ritz values, most extreme first."""
    order = np.argsort(theta)
    return order[::-1][:k] if which == "LA" else order[:k]


def _check(which: str, k: int, tol: float, max_iter: int) -> None:
    if which not in WHICH:
        raise ValueError(f"which must be one of {WHICH}, got {which!r}.")
    if k < 1 or max_iter < 1:
        raise ValueError(f"k and max_iter must be at least 1, got k={k}, max_iter={max_iter}.")
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol}.")


def lanczos_extreme(
    op: VectorOperator,
    which: str = "LA",
    k: int = 1,
    tol: float = 1e-3,
    max_iter: int = 100,
    generator: torch.Generator | None = None,
    return_vectors: bool = False,
) -> LanczosResult:
    """The ``k`` largest (``"LA"``) or smallest (``"SA"``) eigenvalues of ``op``.

    Parameters
    ----------
    op : VectorOperator
        Symmetric operator, e.g. a :class:`~ml2bench.flatness.hvp.HessianOperator`.
    which : {"LA", "SA"}
        Largest or smallest *algebraic* eigenvalues.
    k : int
        Number of eigenvalues.
    tol : float
        Stop when ``|β_m s_{m,i}| ≤ tol·|θ_i|`` for all wanted ``i``.
    max_iter : int
        Maximum Lanczos steps (= HVPs); capped at the dimension ``P``.
    generator : torch.Generator, optional
        Draws the Gaussian start vector; default a fresh generator seeded 0.
    return_vectors : bool
        Also return the Ritz vectors.
    """
    _check(which, k, tol, max_iter)
    generator = generator or default_generator()
    start = gaussian_like(op.template, generator)
    converged = False
    for alphas, betas, basis in lanczos_iterations(op, start, max_iter):
        theta, s = eigh_tridiagonal(np.array(alphas), np.array(betas[:-1]))
        idx = _wanted(theta, which, k)
        res = np.abs(betas[-1] * s[-1, idx])
        if len(idx) == k and np.all(res <= tol * np.abs(theta[idx])):
            converged = True
            break
    steps = len(alphas)
    converged = converged or _exhausted(steps, op, betas[-1], theta, basis.dtype)
    vectors = None
    if return_vectors:
        coeffs = torch.as_tensor(s[:, idx], dtype=basis.dtype, device=basis.device)
        flat = basis[:steps].T @ coeffs
        vectors = [unflatten(flat[:, i], op.template) for i in range(len(idx))]
    return LanczosResult(theta[idx], res, steps, converged, vectors)


def _exhausted(
    steps: int, op: VectorOperator, beta: float, theta: np.ndarray, dtype: torch.dtype
) -> bool:
    """Lanczos spanned the whole space or hit an invariant subspace (``β_m ≈ 0``):
    the Ritz values are then exact eigenvalues."""
    if steps >= numel(op.template):
        return True
    return beta <= 100 * torch.finfo(dtype).eps * max(float(np.abs(theta).max()), 1e-300)


def hess_max(op: VectorOperator, tol: float = 1e-3, max_iter: int = 100,
             generator: torch.Generator | None = None) -> LanczosResult:
    """Largest algebraic Hessian eigenvalue ``λ_max`` (metric M1)."""
    return lanczos_extreme(op, "LA", 1, tol, max_iter, generator)


def hess_min(op: VectorOperator, tol: float = 1e-3, max_iter: int = 100,
             generator: torch.Generator | None = None) -> LanczosResult:
    """Smallest algebraic Hessian eigenvalue ``λ_min`` (metric M1)."""
    return lanczos_extreme(op, "SA", 1, tol, max_iter, generator)


def eigsh_extreme(
    op: VectorOperator,
    which: str = "LA",
    k: int = 1,
    tol: float = 1e-3,
    max_iter: int | None = None,
    generator: torch.Generator | None = None,
) -> LanczosResult:
    """Extreme eigenvalues by ARPACK (``scipy.sparse.linalg.eigsh``, implicitly
    restarted Lanczos) on the float64 ``LinearOperator`` view of ``op``.

    ``tol`` is ARPACK's relative accuracy; ``max_iter`` its restart limit. Requires
    ``k < P``.
    """
    _check(which, k, tol, max_iter or 1)
    generator = generator or default_generator()
    linear = as_linear_operator(op)
    counter = {"n": 0}

    def counted(x: np.ndarray) -> np.ndarray:
        counter["n"] += 1
        return linear.matvec(x)

    counted_op = LinearOperator(linear.shape, matvec=counted, dtype=np.float64)
    v0 = flatten(gaussian_like(op.template, generator)).double().cpu().numpy()
    try:
        values = eigsh(counted_op, k=k, which=which, tol=tol, v0=v0,
                       maxiter=max_iter, return_eigenvectors=False)
        converged = True
    except ArpackNoConvergence as err:
        values, converged = err.eigenvalues, False
    values = np.sort(values)[::-1] if which == "LA" else np.sort(values)
    return LanczosResult(values, np.full(len(values), np.nan), counter["n"], converged)
