r"""Limited-memory SR1 in compact form and its exact trust-region subproblem solver.

With curvature pairs ``(s_i, y_i)``, ``i = 1..k`` (columns of ``S`` and ``Y``) and an
initial matrix ``γI``, the SR1 recursion

.. math::

    B_0 = \gamma I,\qquad
    B_{i} = B_{i-1} + \frac{(y_i - B_{i-1}s_i)(y_i - B_{i-1}s_i)^\top}
                          {(y_i - B_{i-1}s_i)^\top s_i}

has the compact representation (Byrd, Nocedal & Schnabel 1994, Thm. 5.1)

.. math::

    B_k = \gamma I + \Psi M^{-1} \Psi^\top,\qquad
    \Psi = Y - \gamma S,\qquad M = D + L + L^\top - \gamma S^\top S,

where ``SᵀY = L + D + U`` (strictly lower, diagonal, strictly upper parts). The
pivots of ``M`` (its ``LDLᵀ`` factorisation without pivoting) are exactly the SR1
denominators ``sᵢᵀ(yᵢ − B_{i−1}sᵢ)``, which is how the stored pairs are validated.

Functional kernels (flat 1-D tensors, any dtype/device): :func:`compact_middle`,
:func:`lsr1_matvec` and :func:`obs_solve`; :class:`LSR1` is a thin stateful class
holding the pairs.

References
----------
.. [1] R. H. Byrd, J. Nocedal, R. B. Schnabel, "Representations of quasi-Newton
   matrices and their use in limited memory methods", Math. Program. 63, 1994.
.. [2] J. J. Brust, J. B. Erway, R. F. Marcia, "On solving L-SR1 trust-region
   subproblems", Comput. Optim. Appl. 66, 2017 (the orthonormal-basis method, OBS).
.. [3] J. J. Moré, D. C. Sorensen, "Computing a trust region step", SIAM J. Sci.
   Stat. Comput. 4(3), 1983 (Newton on the secular equation, the hard case).
.. [4] J. Nocedal, S. J. Wright, *Numerical Optimization*, 2nd ed., 2006, §6.2 (SR1
   skip rule), §4.3 (exact subproblem solution).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .tr_subproblem import SubproblemResult, model_reduction, steihaug_cg

__all__ = ["LSR1", "compact_middle", "lsr1_matvec", "obs_solve"]

_SCALINGS = ("fixed", "first", "latest")


def _strictly_lower(A: Tensor) -> Tensor:
    """Strictly lower triangular part of a square matrix (``torch.tril(A, -1)``).

    Written with a mask: ``torch.tril`` costs milliseconds on tiny CPU matrices in
    some builds, and this runs on every update.
    """
    idx = torch.arange(A.shape[0], device=A.device)
    return torch.where(idx[:, None] > idx[None, :], A, A.new_zeros(()))


def compact_middle(S: Tensor, Y: Tensor, gamma: float) -> Tensor:
    """Middle matrix ``M = D + L + Lᵀ − γ SᵀS`` of the compact SR1 form.

    Parameters
    ----------
    S, Y : Tensor
        Pairs stored as rows, shape ``(k, n)``, oldest first.
    gamma : float
        Initial scale ``γ`` of ``B₀ = γI``.

    Returns
    -------
    Tensor
        Symmetric ``(k, k)`` matrix; ``B = γI + Ψᵀ M⁻¹ Ψ`` with ``Ψ = Y − γS`` (rows).
    """
    SY = S @ Y.T  # (i, j) = s_iᵀ y_j
    lower = _strictly_lower(SY)
    return lower + lower.T + torch.diag(torch.diagonal(SY)) - gamma * (S @ S.T)


def lsr1_matvec(v: Tensor, gamma: float, psi: Tensor, middle: Tensor) -> Tensor:
    """``B v = γ v + Ψᵀ M⁻¹ (Ψ v)`` for the compact form (``psi`` has rows ``ψᵢ``)."""
    if psi.shape[0] == 0:
        return gamma * v
    w = torch.linalg.solve(middle, (psi @ v).unsqueeze(-1)).squeeze(-1)
    return gamma * v + psi.T @ w


def _compact_eigensystem(gamma: float, psi: Tensor, middle: Tensor) -> tuple[Tensor, Tensor]:
    """Orthonormal ``P∥`` (n×r) and eigenvalues ``λ`` (r) of ``B`` on ``range(Ψ)``.

    Thin QR ``Ψ = QR``; an SVD of the small ``R`` drops numerically dependent
    columns (rank ``r``), then ``R M⁻¹ Rᵀ = V Λ̂ Vᵀ`` gives ``P∥ = QV`` and
    ``λ = Λ̂ + γ``. On the orthogonal complement of ``range(Ψ)``, ``B = γI``.
    """
    k, n = psi.shape
    if k == 0:
        return psi.new_zeros(n, 0), psi.new_zeros(0)
    Q, R = torch.linalg.qr(psi.T)
    U, sv, Wt = torch.linalg.svd(R, full_matrices=False)
    eps = torch.finfo(psi.dtype).eps
    rank = int((sv > max(n, k) * eps * sv[0]).sum()) if sv[0] > 0 else 0
    Q = Q @ U[:, :rank]
    R = sv[:rank, None] * Wt[:rank]
    K = R @ torch.linalg.solve(middle, R.T)
    lam_hat, V = torch.linalg.eigh(0.5 * (K + K.T))
    return Q @ V, lam_hat + gamma


def _norm_at(mu: np.ndarray, c: np.ndarray, t: float) -> tuple[float, np.ndarray]:
    """``‖a(t)‖`` over the entries with ``c ≠ 0`` and the terms ``c²/(μ+t)³``."""
    nz = c != 0.0
    d = mu[nz] + t
    if np.any(d <= 0.0):
        return math.inf, np.zeros(0)
    return float(np.linalg.norm(c[nz] / d)), c[nz] ** 2 / d**3


def _secular_solve(lam: np.ndarray, c: np.ndarray, radius: float, eps: float):
    r"""Solve the subproblem in the eigenbasis: ``min Σ cᵢaᵢ + ½λᵢaᵢ²``, ``‖a‖ ≤ Δ``.

    Works with the shifted eigenvalues ``μ = λ − λ_min ≥ 0`` and the unknown
    ``t = σ + λ_min`` (so ``λᵢ + σ = μᵢ + t`` is formed without cancellation, which
    keeps nearly-hard cases accurate). ``a(t) = −c/(μ + t)``; the constraints
    ``σ ≥ 0`` and ``B + σI ⪰ 0`` read ``t ≥ t_lo = max(0, λ_min)``.

    * ``‖a(t_lo)‖ ≤ Δ`` and ``λ_min ≥ 0``: interior solution, ``σ = 0``;
    * ``‖a(t_lo)‖ ≤ Δ`` and ``λ_min < 0`` (then ``g`` has no component on the lowest
      eigenspace): hard case, ``σ = −λ_min`` and the step is completed to the
      boundary along the eigenvector ``hard_index``;
    * otherwise Newton on ``φ(t) = 1/‖a(t)‖ − 1/Δ``, increasing and concave, so that
      the iterates increase monotonically to the root (Moré & Sorensen 1983) from
      ``t₀ = max(t_lo, maxᵢ |cᵢ|/Δ − μᵢ)``, where ``φ(t₀) ≤ 0``.

    Coefficients below ``10·eps·‖c‖`` on the lowest eigenspace (eigenvalues within
    ``√eps·max|λ|`` of ``λ_min``) count as zero when ``λ_min ≤ 0``.

    Returns ``(interior, a, hard_index, iterations)``.
    """
    lam_min, imin = float(lam.min()), int(np.argmin(lam))
    mu, c = lam - lam_min, c.copy()
    cluster = mu <= math.sqrt(eps) * float(np.abs(lam).max())
    if lam_min <= 0.0 and np.linalg.norm(c[cluster]) <= 10.0 * eps * np.linalg.norm(c):
        c[cluster] = 0.0
    nz = c != 0.0
    t = max(0.0, lam_min)
    norm, _ = _norm_at(mu, c, t)
    if norm <= radius:
        a = np.zeros_like(c)
        a[nz] = -c[nz] / (mu[nz] + t)
        if lam_min >= 0.0:
            return True, a, None, 0
        a[imin] = math.sqrt(max(radius * radius - norm * norm, 0.0))
        return False, a, imin, 0
    t = max(t, float(np.max(np.abs(c[nz]) / radius - mu[nz])))
    iterations, tiny = 0, 4.0 * np.finfo(np.float64).eps
    for iterations in range(1, 101):
        norm, w = _norm_at(mu, c, t)
        if abs(norm - radius) <= tiny * radius:
            break
        step = (1.0 / norm - 1.0 / radius) * norm**3 / float(w.sum())  # φ/φ' ≤ 0
        if not step < 0.0:  # φ(t) ≥ 0 up to rounding: converged from the left
            break
        t -= step
        if -step <= tiny * t:
            break
    a = np.zeros_like(c)
    a[nz] = -c[nz] / (mu[nz] + t)
    return False, a, None, iterations


def _complement_direction(P: Tensor) -> Tensor:
    """A unit vector orthogonal to the orthonormal columns of ``P`` (n×r, r < n)."""
    j = int(torch.argmin((P * P).sum(dim=1)))
    z = torch.zeros(P.shape[0], dtype=P.dtype, device=P.device)
    z[j] = 1.0
    for _ in range(2):  # twice is enough (Kahan–Parlett)
        z = z - P @ (P.T @ z)
    return z / torch.linalg.vector_norm(z)


def obs_solve(
    g: Tensor, radius: float, gamma: float, psi: Tensor, middle: Tensor
) -> SubproblemResult:
    r"""Exact trust-region step for a compact L-SR1 matrix (OBS method).

    Solves ``min gᵀs + ½ sᵀBs`` s.t. ``‖s‖ ≤ Δ`` for ``B = γI + ΨᵀM⁻¹Ψ``
    (Brust, Erway & Marcia 2017, Alg. 1):

    1. thin QR ``Ψᵀ = QR`` (rank-revealed), eigen-decomposition ``R M⁻¹ Rᵀ = VΛ̂Vᵀ``;
       ``B = P∥ diag(Λ̂ + γ) P∥ᵀ + γ (I − P∥P∥ᵀ)`` with ``P∥ = QV``;
    2. ``g∥ = P∥ᵀg``, ``g⊥ = g − P∥g∥``; the subproblem separates into ``r + 1``
       scalar problems with eigenvalues ``λ = (Λ̂ + γ, γ)`` and coefficients
       ``(g∥, ‖g⊥‖)`` (the last one absent if ``r = n``);
    3. ``σ* ≥ max(0, −λ_min)`` from Newton on the secular equation
       ``1/‖s(σ)‖ = 1/Δ`` (Moré & Sorensen), including the hard case;
    4. ``s = −P∥ (g∥/(Λ̂+γ+σ)) − g⊥/(γ+σ)`` (+ ``τ z`` in the hard case).

    The solution satisfies ``(B + σI)s = −g``, ``σ ≥ 0``, ``σ(Δ − ‖s‖) = 0`` and
    ``B + σI ⪰ 0``. Empty memory (``Ψ`` with no rows, ``B = γI``) and ``γ ≤ 0`` are
    handled by the same formulas. Cost: one QR of the ``n×k`` matrix ``Ψᵀ`` plus
    ``O(nk)``.

    Parameters
    ----------
    g : Tensor
        Gradient (flat, length ``n``).
    radius : float
        ``Δ > 0``.
    gamma, psi, middle
        Compact representation (``psi`` of shape ``(k, n)``, ``middle`` ``(k, k)``).

    Returns
    -------
    SubproblemResult
        ``iterations`` counts Newton iterations; ``negative_curvature`` means
        ``λ_min(B) < 0``; ``num_matvecs = 1`` (the model value is evaluated with
        ``B s``).
    """
    if not (radius > 0.0 and math.isfinite(radius)):
        raise ValueError(f"The trust-region radius must be positive and finite, got {radius}.")
    g, n = g.detach(), g.numel()
    psi, middle = psi.to(g), middle.to(g)
    P, lam = _compact_eigensystem(gamma, psi, middle)
    r = P.shape[1]
    g_par = P.T @ g
    g_perp = g - P @ g_par
    perp_norm = float(torch.linalg.vector_norm(g_perp))
    lam_all = lam.detach().double().cpu().numpy()
    c_all = g_par.detach().double().cpu().numpy()
    if r < n:
        lam_all = np.append(lam_all, float(gamma))
        c_all = np.append(c_all, perp_norm)
    interior, a, hard, iterations = _secular_solve(lam_all, c_all, radius, torch.finfo(g.dtype).eps)
    coeff = torch.as_tensor(a, dtype=g.dtype, device=g.device)
    step = P @ coeff[:r]
    if r < n and a[r] != 0.0:
        use_g_perp = hard != r and perp_norm > 0.0
        u = g_perp / perp_norm if use_g_perp else _complement_direction(P)
        step = step + coeff[r] * u
    Bs = lsr1_matvec(step, gamma, psi, middle)
    return SubproblemResult(
        step=step,
        predicted_reduction=model_reduction(g, step, Bs),
        hit_boundary=not interior,
        negative_curvature=bool(lam_all.min() < 0.0),
        iterations=iterations,
        num_matvecs=1,
    )


def _singular(middle: Tensor) -> bool:
    """Whether the LU factorisation that ``torch.linalg.solve`` uses finds ``M`` exactly
    singular in its own dtype (a zero pivot), so that no product with ``B`` is possible."""
    return bool(torch.linalg.lu_factor_ex(middle).info.item() != 0)


def _valid_pairs(S: Tensor, Y: Tensor, gamma: float, skip_tol: float) -> list[int]:
    """Indices of the pairs kept when the SR1 recursion is replayed from ``γI``.

    Pair ``j`` is kept iff ``|sⱼᵀrⱼ| > skip_tol·‖sⱼ‖‖rⱼ‖`` with ``rⱼ = yⱼ − B sⱼ`` and
    ``B`` built from the kept earlier pairs. Everything is evaluated in Gram form
    (``k×k``, float64): ``sⱼᵀrⱼ`` is the Schur-complement pivot of ``M`` and
    ``‖rⱼ‖² = ψⱼᵀψⱼ − 2wᵀΨψⱼ + wᵀΨΨᵀw`` with ``w = M_kept⁻¹ Ψ_kept sⱼ``.
    """
    Z = torch.cat([S, Y]).double()
    G = (Z @ Z.T).cpu()
    k = S.shape[0]
    SS, SY, YY = G[:k, :k], G[:k, k:], G[k:, k:]
    lower = _strictly_lower(SY)
    M = lower + lower.T + torch.diag(torch.diagonal(SY)) - gamma * SS
    PP = YY - gamma * (SY + SY.T) + gamma * gamma * SS  # (ψ_iᵀψ_j)
    kept: list[int] = []
    for j in range(k):
        d, rr = float(M[j, j]), float(PP[j, j])
        if kept:
            b = M[kept, j]
            w = torch.linalg.solve(M[kept][:, kept], b)
            d -= float(b @ w)
            rr += float(w @ PP[kept][:, kept] @ w) - 2.0 * float(PP[kept, j] @ w)
        if abs(d) > skip_tol * math.sqrt(max(float(SS[j, j]), 0.0) * max(rr, 0.0)):
            kept.append(j)
    return kept


class LSR1:
    r"""Limited-memory SR1 approximation ``B = γI + Ψ M⁻¹ Ψᵀ`` (compact form).

    Stores at most ``memory`` pairs ``(s, y)``, oldest first. :meth:`update` applies
    the SR1 skip rule (Nocedal & Wright eq. (6.26))

    .. math:: |s^\top (y - Bs)| \le \text{skip\_tol}\,\|s\|\,\|y - Bs\|
              \ \Rightarrow\ \text{skip the pair}

    with the current ``B`` (``≤`` rather than ``<`` so that ``y = Bs`` is skipped),
    then drops the oldest pair beyond ``memory``. Whenever the set of pairs or ``γ``
    changes other than by appending a checked pair, the remaining pairs are
    re-validated by replaying the recursion from ``γI`` (pivots of ``M``, in float64).
    An update after which ``M`` is still exactly singular in the working precision (its
    LU factorisation finds a zero pivot, as can happen in float32 when the float64 pivot
    is of the order of float32's rounding) is skipped as a whole, so that every product
    with ``B`` stays defined.

    Choice of ``γ`` (``scaling``):

    * ``"fixed"`` (default): ``γ = gamma`` throughout. The compact form then equals
      the dense SR1 recursion started from ``γI`` while no pair has been dropped.
      ``gamma ≤ 0`` is allowed (an indefinite ``B₀``).
    * ``"first"``: ``γ = yᵀy/sᵀy`` from the first accepted pair with ``sᵀy > 0``
      (the L-BFGS scaling, > 0), then frozen; problem-scaled and still fixed.
    * ``"latest"``: ``γ = yᵀy/sᵀy`` of the latest accepted pair with ``sᵀy > 0``.

    Parameters
    ----------
    memory : int
        Maximum number of stored pairs (≥ 1); 5–10 is typical.
    gamma : float
        Initial (or fixed) scale of ``B₀ = γI``; must be finite.
    scaling : {"fixed", "first", "latest"}
        How ``γ`` evolves, see above.
    skip_tol : float
        Relative tolerance of the skip rule (≥ 0).

    References
    ----------
    Byrd, Nocedal & Schnabel (1994); Brust, Erway & Marcia (2017).
    """

    def __init__(
        self, memory: int = 5, *, gamma: float = 1.0, scaling: str = "fixed", skip_tol: float = 1e-8
    ) -> None:
        if not (isinstance(memory, int) and memory >= 1):
            raise ValueError(f"memory must be a positive integer, got {memory!r}.")
        if not math.isfinite(gamma):
            raise ValueError(f"gamma must be finite, got {gamma}.")
        if scaling not in _SCALINGS:
            raise ValueError(f"scaling must be one of {', '.join(_SCALINGS)}, got {scaling!r}.")
        if not skip_tol >= 0.0:
            raise ValueError(f"skip_tol must be nonnegative, got {skip_tol}.")
        self.memory = memory
        self.initial_gamma = float(gamma)
        self.scaling = scaling
        self.skip_tol = float(skip_tol)
        self.reset()

    def reset(self) -> None:
        """Forget all pairs and restore ``γ`` to its initial value."""
        self._gamma = self.initial_gamma
        self._gamma_frozen = False
        self._S: Tensor | None = None
        self._Y: Tensor | None = None
        self._psi: Tensor | None = None
        self._middle: Tensor | None = None
        self.num_accepted = 0
        self.num_skipped = 0

    @property
    def gamma(self) -> float:
        """Current scale ``γ`` of ``B₀ = γI``."""
        return self._gamma

    def __len__(self) -> int:
        return 0 if self._S is None else self._S.shape[0]

    def __repr__(self) -> str:
        return (
            f"LSR1(memory={self.memory}, pairs={len(self)}, gamma={self._gamma:.4g}, "
            f"scaling={self.scaling!r})"
        )

    def _next_gamma(self, s: Tensor, y: Tensor) -> float:
        if self.scaling == "fixed" or (self.scaling == "first" and self._gamma_frozen):
            return self._gamma
        sy = float(torch.dot(s, y))
        if not sy > 0.0:
            return self._gamma
        self._gamma_frozen = True
        return float(torch.dot(y, y)) / sy

    def _refresh(self) -> None:
        if self._S is None or self._S.shape[0] == 0:
            self._S = self._Y = self._psi = self._middle = None
            return
        self._psi = self._Y - self._gamma * self._S
        self._middle = compact_middle(self._S, self._Y, self._gamma)

    def update(self, s: Tensor, y: Tensor) -> bool:
        """Add the pair ``(s, y)`` (``y ≈ ∇f(x+s) − ∇f(x)``); return whether it was stored."""
        if s.ndim != 1 or s.shape != y.shape:
            raise ValueError(
                f"s and y must be 1-D of equal shape, got {tuple(s.shape)} and {tuple(y.shape)}."
            )
        s, y = s.detach(), y.detach()
        if self._S is not None:
            if s.numel() != self._S.shape[1]:
                raise ValueError(f"Expected pairs of length {self._S.shape[1]}, got {s.numel()}.")
            s, y = s.to(self._S), y.to(self._S)
        r = y - self.matvec(s)
        sr = float(torch.dot(s, r))
        bound = self.skip_tol * float(torch.linalg.vector_norm(s) * torch.linalg.vector_norm(r))
        if not abs(sr) > bound:  # also skips NaN
            self.num_skipped += 1
            return False
        s, y = s.clone(), y.clone()
        previous = (self._S, self._Y, self._gamma, self._psi, self._middle)
        S = s[None] if self._S is None else torch.cat([self._S, s[None]])
        Y = y[None] if self._Y is None else torch.cat([self._Y, y[None]])
        gamma = self._next_gamma(s, y)
        changed = S.shape[0] > self.memory or gamma != self._gamma
        S, Y, self._gamma = S[-self.memory :], Y[-self.memory :], gamma
        stored = True
        if changed:
            kept = _valid_pairs(S, Y, gamma, self.skip_tol)
            stored = S.shape[0] - 1 in kept
            S, Y = S[kept], Y[kept]
        self._S, self._Y = S, Y
        self._refresh()
        if self._middle is not None and _singular(self._middle):
            # the pivots were nonzero in float64 but M is singular in the working
            # precision (e.g. float32): the update is skipped, as the skip rule would
            (self._S, self._Y, self._gamma, self._psi, self._middle) = previous
            self.num_skipped += 1
            return False
        if stored:
            self.num_accepted += 1
        else:
            self.num_skipped += 1
        return stored

    def matvec(self, v: Tensor) -> Tensor:
        """``B v``."""
        if self._psi is None:
            return self._gamma * v
        return lsr1_matvec(v, self._gamma, self._psi, self._middle)

    def dense(self, n: int | None = None) -> Tensor:
        """``B`` as a dense ``n×n`` matrix (for tests; ``n`` needed only when empty)."""
        if self._psi is None:
            if n is None:
                raise ValueError("dense() of an empty LSR1 needs the dimension n.")
            return self._gamma * torch.eye(n, dtype=torch.float64)
        eye = torch.eye(self._psi.shape[1], dtype=self._psi.dtype, device=self._psi.device)
        return self._gamma * eye + self._psi.T @ torch.linalg.solve(self._middle, self._psi)

    def solve_obs(self, g: Tensor, radius: float) -> SubproblemResult:
        """Exact subproblem solution, see :func:`obs_solve`."""
        if self._psi is None:
            return obs_solve(g, radius, self._gamma, g.new_zeros(0, g.numel()), g.new_zeros(0, 0))
        return obs_solve(g, radius, self._gamma, self._psi, self._middle)

    def solve_cg(
        self, g: Tensor, radius: float, *, rtol: float | None = None, max_iter: int | None = None
    ) -> SubproblemResult:
        """Steihaug--Toint CG on ``B``, see :func:`~.tr_subproblem.steihaug_cg`."""
        return steihaug_cg(g, self.matvec, radius, rtol=rtol, max_iter=max_iter)

    def state_dict(self) -> dict:
        """Hyperparameters, ``γ``, counters and the pairs (cloned rows ``S``, ``Y``)."""
        return {
            "memory": self.memory,
            "initial_gamma": self.initial_gamma,
            "scaling": self.scaling,
            "skip_tol": self.skip_tol,
            "gamma": self._gamma,
            "gamma_frozen": self._gamma_frozen,
            "S": None if self._S is None else self._S.clone(),
            "Y": None if self._Y is None else self._Y.clone(),
            "num_accepted": self.num_accepted,
            "num_skipped": self.num_skipped,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` (hyperparameters included)."""
        S, Y = state["S"], state["Y"]
        if (S is None) != (Y is None) or (S is not None and (S.shape != Y.shape or S.ndim != 2)):
            raise ValueError("The state's S and Y must be both None or (k, n) tensors alike.")
        if S is not None and S.shape[0] > state["memory"]:
            raise ValueError(f"The state holds {S.shape[0]} pairs, over memory={state['memory']}.")
        if state["scaling"] not in _SCALINGS:
            raise ValueError(f"Unknown scaling {state['scaling']!r} in the state.")
        self.memory = int(state["memory"])
        self.initial_gamma = float(state["initial_gamma"])
        self.scaling = state["scaling"]
        self.skip_tol = float(state["skip_tol"])
        self._gamma = float(state["gamma"])
        self._gamma_frozen = bool(state["gamma_frozen"])
        self._S = None if S is None else S.clone()
        self._Y = None if Y is None else Y.clone()
        self.num_accepted = int(state["num_accepted"])
        self.num_skipped = int(state["num_skipped"])
        self._refresh()
