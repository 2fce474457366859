r"""Reference solutions of the discrete obstacle problems (independent of the solvers).

The discrete problem (:mod:`ml2bench.problems.obstacle`) is the quadratic program

.. math:: \min_x\ \tfrac12 x^\top A x - b^\top x \quad\text{s.t.}\quad x \ge \psi,

``A`` the finite-difference Laplacian (an M-matrix). Its KKT system
``Ax − b = λ``, ``λ ≥ 0``, ``x ≥ ψ``, ``λᵀ(x − ψ) = 0`` is solved by the **primal–dual
active set method** (Hintermüller, Ito & Kunisch 2002; Bergounioux, Ito & Kunisch 1999),
a semismooth Newton method for ``λ − max(0, λ + c(ψ − x)) = 0``:

.. math::

    \mathcal A_k = \{i : \lambda_i + c(\psi_i - x_i) > 0\},\quad \mathcal I_k = \text{rest},\\
    x_{\mathcal A_k} = \psi_{\mathcal A_k},\quad
    A_{\mathcal I\mathcal I} x_{\mathcal I} = b_{\mathcal I} - A_{\mathcal I\mathcal A}\psi_{\mathcal A},
    \quad \lambda = Ax - b,\ \lambda_{\mathcal I} = 0,

until the active set repeats (finite termination for M-matrices, HIK 2002 Thm. 3.1);
each step is one sparse direct solve (SciPy's SuperLU). The result is checked against
the KKT conditions to :data:`KKT_TOL` (relative to ``‖b‖ + ‖Aψ‖`` and ``max|ψ|``).

The 2D reference is cached like the PDE references
(:mod:`ml2bench.problems.burgers_reference`): ``$ML2BENCH_CACHE`` or
``~/.cache/ml2bench/reference``, written atomically with a SHA-256 checksum of ``x``; a
file that is unreadable, holds other parameters or fails its checksum is recomputed.

:func:`exact_solution_1d` is the closed-form continuous solution of the 1D case
(``f = 0``, concave parabolic obstacle), used to measure the discretisation error.

References
----------
M. Hintermüller, K. Ito, K. Kunisch, *The primal-dual active set strategy as a
semismooth Newton method*, SIAM J. Optim. 13(3), 2002;
M. Bergounioux, K. Ito, K. Kunisch, SIAM J. Control Optim. 37(4), 1999;
D. Kinderlehrer, G. Stampacchia, *An Introduction to Variational Inequalities and Their
Applications*, Academic Press, 1980 (the 1D obstacle problem, Ch. II).
"""

from __future__ import annotations

import hashlib
import math
import zipfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ml2bench.problems.burgers_reference import _save_atomically, default_reference_cache_dir

__all__ = ["KKT_TOL", "cached_reference", "checksum", "exact_solution_1d", "kkt_residual",
           "laplacian", "primal_dual_active_set"]

#: Relative KKT residual the reference must meet.
KKT_TOL = 1e-10
#: Bump when the cached file's content or layout changes.
_CACHE_FORMAT_VERSION = 1


def laplacian(n: int, dim: int) -> sp.csr_matrix:
    """The FD Laplacian ``−Δ_h`` on ``n`` (``n × n``) interior points of the unit
    interval (square), zero Dirichlet values, ``h = 1/(n+1)``, row-major in 2D."""
    h = 1.0 / (n + 1)
    t = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]) / h**2
    if dim == 1:
        return sp.csr_matrix(t)
    eye = sp.identity(n)
    return sp.csr_matrix(sp.kron(t, eye) + sp.kron(eye, t))


def kkt_residual(A, b: np.ndarray, psi: np.ndarray, x: np.ndarray) -> float:
    """Largest relative violation of the KKT conditions at ``x``: primal feasibility
    ``min(x − ψ, 0)``, dual feasibility ``min(λ, 0)`` and complementarity
    ``min(λ, x − ψ)``, with ``λ = Ax − b`` (scaled by ``‖λ‖∞``-scale and ``max|ψ|``)."""
    lam = A @ x - b
    gap = x - psi
    scale_lam = max(1.0, float(np.abs(b).max()), float(np.abs(A @ psi).max()))
    scale_x = max(1.0, float(np.abs(psi).max()))
    comp = np.minimum(lam / scale_lam, gap / scale_x)
    return float(max(np.abs(np.minimum(gap, 0)).max() / scale_x,
                     np.abs(np.minimum(lam, 0)).max() / scale_lam, np.abs(comp).max()))


def primal_dual_active_set(A, b: np.ndarray, psi: np.ndarray, c: float = 1.0,
                           max_iter: int = 500) -> tuple[np.ndarray, int]:
    """Solve ``min ½xᵀAx − bᵀx, x ≥ ψ`` by the primal–dual active set method.

    Starts from the unconstrained solution's active set; returns ``(x, iterations)``.
    Raises RuntimeError if the active set has not settled after ``max_iter`` steps.
    """
    A = sp.csr_matrix(A)
    n = A.shape[0]
    x = spla.spsolve(A.tocsc(), b)
    lam = np.zeros(n)
    active_prev = None
    for iteration in range(1, max_iter + 1):
        active = lam + c * (psi - x) > 0
        if active_prev is not None and np.array_equal(active, active_prev):
            return x, iteration - 1
        inactive = ~active
        x = psi.copy()
        if inactive.any():
            rhs = b[inactive] - A[inactive][:, active] @ psi[active]
            x[inactive] = spla.spsolve(A[inactive][:, inactive].tocsc(), rhs)
        lam = A @ x - b
        lam[inactive] = 0.0
        active_prev = active
    raise RuntimeError(f"primal-dual active set did not settle in {max_iter} iterations")


def checksum(x: np.ndarray) -> str:
    """SHA-256 of ``x`` as little-endian float64."""
    return hashlib.sha256(np.ascontiguousarray(x, dtype="<f8").tobytes()).hexdigest()


def exact_solution_1d(grid: np.ndarray, height: float, curvature: float) -> np.ndarray:
    r"""Closed-form solution of ``−u'' ≥ 0, u ≥ ψ, u(0) = u(1) = 0`` (complementarity)
    with ``ψ(x) = c − k(x − ½)²`` (``c = height``, ``k = curvature``, ``ψ(0) < 0``).

    ``f = 0``: off the contact set ``u`` is linear and leaves the obstacle tangentially
    (``u ∈ C¹``). By symmetry the contact set is ``[a, 1 − a]``, ``a = ½ − t``, where the
    line through the origin touches ``ψ``: ``ψ(a) = aψ'(a)``, i.e. ``kt² − kt + c = 0``,

    .. math:: t = \frac{k - \sqrt{k^2 - 4kc}}{2k},\qquad
              u(x) = \begin{cases} 2kt\,x & x \le a\\ \psi(x) & a \le x \le 1 - a\\
              2kt\,(1 - x) & x \ge 1 - a.\end{cases}

    Requires ``k > 4c`` (``t`` real and ``< ½``, so ``ψ(0) = c − k/4 < 0``).
    """
    k, c = float(curvature), float(height)
    if not k > 4 * c > 0:
        raise ValueError(f"closed form needs curvature > 4·height > 0, got k={k}, c={c}")
    t = (k - math.sqrt(k * k - 4 * k * c)) / (2 * k)
    a = 0.5 - t
    slope = 2 * k * t
    psi = c - k * (grid - 0.5) ** 2
    return np.where(grid <= a, slope * grid, np.where(grid >= 1 - a, slope * (1 - grid), psi))


def _cache_path(directory: Path, key: str) -> Path:
    return directory / f"obstacle_v{_CACHE_FORMAT_VERSION}_{key}.npz"


def cached_reference(key: str, A, b: np.ndarray, psi: np.ndarray,
                     cache_dir: str | Path | None = None) -> np.ndarray:
    """The PDAS solution for ``(A, b, ψ)``, read from (or written to) the cache.

    ``key`` names the problem and its parameters (part of the file name); the file also
    stores ``b`` and ``ψ``'s checksums, so a stale file is never used.
    """
    directory = Path(cache_dir).expanduser() if cache_dir else default_reference_cache_dir()
    path = _cache_path(directory, key)
    inputs = checksum(np.concatenate([b, psi, [A.shape[0], A.nnz]]))
    try:
        with np.load(path, allow_pickle=False) as data:
            x, digest, stored = data["x"], str(data["checksum"]), str(data["inputs"])
        if stored == inputs and checksum(x) == digest and x.shape == b.shape:
            return x
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        pass
    x, _ = primal_dual_active_set(A, b, psi)
    residual = kkt_residual(A, b, psi, x)
    if residual > KKT_TOL:
        raise RuntimeError(f"obstacle reference: KKT residual {residual:.2e} > {KKT_TOL:g}")
    _save_atomically(path, x=x, checksum=np.array(checksum(x)), inputs=np.array(inputs))
    return x
