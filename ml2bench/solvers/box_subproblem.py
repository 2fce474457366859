r"""Box-constrained quadratic subproblem (the ℓ∞ trust-region step of ``rmtr[region=box]``).

Approximately solves

.. math::

    \min_{s}\ m(s) = g^\top s + \tfrac12 s^\top B s
    \quad\text{s.t.}\quad \ell \le s \le u,\qquad \ell \le 0 \le u,

where ``B`` (symmetric, not necessarily definite) is only available through
``matvec(v) = B v``. With ``ℓ = max(L − x, −Δ)`` and ``u = min(U − x, Δ)`` this is the
ℓ∞ trust-region subproblem of a level with inherited bounds ``[L, U]`` (Gratton, Mouffe,
Toint & Weber-Mendonça 2008).

The method alternates, as GPCG (Moré & Toraldo 1991) and TRON (Lin & Moré 1999) do,

1. a **projected-gradient (Cauchy) step** from the current ``s`` along the path
   ``s(α) = proj_[ℓ,u](s − α r)``, ``r = g + Bs`` the model gradient: on its first
   segment (up to the first breakpoint ``α₁``) the model is the quadratic
   ``m(s − α r̂) = m(s) − α r̂ᵀr̂ + ½ α² r̂ᵀB r̂`` (``r̂`` the projected gradient), whose
   minimiser ``α* = r̂ᵀr̂ / r̂ᵀBr̂`` is taken if ``α* ≤ α₁``; otherwise the projected
   search tries ``α = α*`` (``α = α_max``, the last breakpoint, on nonpositive
   curvature) and halves ``α`` until the sufficient-decrease condition
   ``m(s(α)) − m(s) ≤ μ₀ rᵀ(s(α) − s)`` holds, falling back to ``α₁`` (exact, the
   model decreases on ``[0, α₁]``);
2. **subspace conjugate gradients** on the free variables ``F = {i : ℓᵢ < sᵢ < uᵢ}``
   (those at a bound stay fixed): CG on ``B_FF w = −r_F`` from ``w = 0``; a CG step that
   would leave the box, or meets nonpositive curvature, is truncated at the first bound
   it reaches (which joins the active set), and the method returns to 1.

It stops when the projected gradient ``‖r̂‖ ≤ tol`` (``tol = rtol·‖g‖``), after
``max_iter`` products with ``B``, or when a sweep makes no progress. The model gradient
``r = g + Bs`` is updated with the products already computed (``B(s + τp) = Bs + τBp``),
and ``m(s) = ½ sᵀ(g + r)`` needs no further product. Every phase decreases the model, so
the result decreases it at least as much as the generalized Cauchy point.

References
----------
J. J. Moré, G. Toraldo, *On the solution of large quadratic programming problems with
bound constraints*, SIAM J. Optim. 1(1), 1991 (GPCG);
C.-J. Lin, J. J. Moré, *Newton's method for large bound-constrained optimization
problems*, SIAM J. Optim. 9(4), 1999 (TRON: projected search, subspace CG);
A. R. Conn, N. I. M. Gould, Ph. L. Toint, *Trust-Region Methods*, SIAM, 2000, §12.1
(generalized Cauchy point) and §17.2;
S. Gratton, M. Mouffe, Ph. L. Toint, M. Weber-Mendonça, *A recursive ℓ∞-trust-region
method for bound-constrained nonlinear optimization*, IMA J. Numer. Anal. 28(4), 2008.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ml2bench.solvers.tr_subproblem import MatVec, SubproblemResult

__all__ = ["box_subproblem", "projected_gradient"]

#: Sufficient-decrease constant of the projected search (Lin & Moré 1999).
MU0 = 0.01


def _dot(a: Tensor, b: Tensor) -> float:
    return float(torch.dot(a, b))


def projected_gradient(r: Tensor, s: Tensor, lower: Tensor, upper: Tensor) -> Tensor:
    r"""The projected gradient of the model at a feasible ``s``.

    .. math:: \hat r_i = \begin{cases} \min(r_i, 0) & s_i = \ell_i,\\
              \max(r_i, 0) & s_i = u_i,\\ r_i & \text{otherwise,}\end{cases}

    (a variable at both bounds, ``ℓᵢ = uᵢ``, has ``r̂ᵢ = 0``); ``s`` is a stationary
    point of the box-constrained model iff ``r̂ = 0``.

    Parameters
    ----------
    r : Tensor
        Model gradient ``g + Bs``.
    s, lower, upper : Tensor
        Feasible point and the bounds ``ℓ ≤ s ≤ u``.

    Returns
    -------
    Tensor
        ``r̂`` (same shape as ``r``).
    """
    at_lower, at_upper = s <= lower, s >= upper
    out = r.clone()
    out[at_lower] = torch.clamp(r[at_lower], max=0.0)
    out[at_upper] = torch.clamp(r[at_upper], min=0.0)
    out[at_lower & at_upper] = 0.0
    return out


def _breakpoints(s: Tensor, direction: Tensor, lower: Tensor, upper: Tensor) -> Tensor:
    """Step ``α ≥ 0`` at which each coordinate of ``s + α·direction`` hits its bound
    (``inf`` for a zero component)."""
    inf = torch.full_like(s, math.inf)
    up = torch.where(direction > 0, (upper - s) / direction, inf)
    down = torch.where(direction < 0, (lower - s) / direction, inf)
    return torch.clamp(torch.minimum(up, down), min=0.0)


def box_subproblem(g: Tensor, matvec: MatVec, lower: Tensor, upper: Tensor, *,
                   max_iter: int | None = None, rtol: float = 1e-6,
                   max_sweeps: int | None = None) -> SubproblemResult:
    r"""Approximate minimiser of ``gᵀs + ½ sᵀBs`` over the box ``ℓ ≤ s ≤ u``.

    Projected-gradient (Cauchy) steps alternated with conjugate gradients on the free
    variables, truncated at the bounds (module docstring; Moré & Toraldo 1991, Lin &
    Moré 1999). For a strictly convex model and enough products it returns the exact
    minimiser (to ``rtol``).

    Parameters
    ----------
    g : Tensor
        Gradient (flat 1-D tensor).
    matvec : callable
        ``v ↦ B v`` for a symmetric ``B``.
    lower, upper : Tensor
        Bounds with ``lower ≤ 0 ≤ upper`` (entries may be ``∓inf``; with nonpositive
        curvature along the projected gradient and no finite breakpoint the search
        stops there).
    max_iter : int, optional
        Maximum products with ``B`` (default ``10·g.numel()``).
    rtol : float
        Stop when ``‖r̂‖ ≤ rtol·‖g‖`` (``r̂`` the projected gradient).
    max_sweeps : int, optional
        Maximum (Cauchy step + subspace CG) sweeps; ``1`` is the projected Cauchy point
        followed by CG on its face up to the first new bound (the analogue of
        Steihaug's stop at the boundary); default: until ``rtol`` or ``max_iter``.

    Returns
    -------
    SubproblemResult
        A step with ``lower ≤ s ≤ upper`` exactly in floating point (every update of
        ``s`` is a projection onto the box, so rounding cannot leave it);
        ``predicted_reduction = m(0) − m(s) ≥ 0``; ``hit_boundary``: some variable is at a
        bound; ``negative_curvature``: a direction with ``pᵀBp ≤ 0`` was met;
        ``iterations``: Cauchy steps plus CG iterations; ``num_matvecs``.

    References
    ----------
    Moré & Toraldo, SIAM J. Optim. 1 (1991); Lin & Moré, SIAM J. Optim. 9 (1999);
    Conn, Gould & Toint (2000), §12.1.
    """
    g = g.detach()
    lower, upper = lower.to(g), upper.to(g)
    if bool((lower > 0).any()) or bool((upper < 0).any()):
        raise ValueError("the box must contain s = 0 (lower ≤ 0 ≤ upper)")
    if max_iter is None:
        max_iter = 10 * g.numel()
    s = torch.zeros_like(g)
    r = g.clone()  # model gradient g + B s
    g_norm = float(torch.linalg.vector_norm(g))
    tol = rtol * g_norm
    matvecs = iterations = 0
    negcurv = False
    sweeps = 0
    while matvecs < max_iter and (max_sweeps is None or sweeps < max_sweeps):
        sweeps += 1
        pg = projected_gradient(r, s, lower, upper)
        pg_norm2 = _dot(pg, pg)
        if math.sqrt(pg_norm2) <= tol:
            break
        # 1. Cauchy step along the projected-gradient path
        direction = -pg
        Bd = matvec(direction)
        matvecs += 1
        iterations += 1
        curvature = _dot(direction, Bd)
        breaks = _breakpoints(s, direction, lower, upper)
        first = float(breaks.min())
        finite = breaks[torch.isfinite(breaks)]
        last = float(finite.max()) if finite.numel() else math.inf
        alpha = pg_norm2 / curvature if curvature > 0.0 else last
        negcurv = negcurv or curvature <= 0.0
        if not math.isfinite(alpha):
            break  # unbounded along the projected gradient: leave s as it is
        taken = False
        while alpha > first and matvecs < max_iter:
            projected = torch.clamp(s + alpha * direction, lower, upper)
            step = projected - s
            Bstep = matvec(step)
            matvecs += 1
            change = _dot(r, step) + 0.5 * _dot(step, Bstep)
            if change <= MU0 * _dot(r, step):  # s + step may round off the box: take the
                s, r, taken = projected, r + Bstep, True  # projected point itself
                break
            alpha = 0.5 * alpha
        if not taken:  # exact on the first segment: the model decreases on [0, α₁]
            alpha = min(alpha, first)
            s = torch.clamp(s + alpha * direction, lower, upper)
            r = r + alpha * Bd
        # 2. conjugate gradients on the free variables, truncated at the bounds
        free = (s > lower) & (s < upper)
        rf = torch.where(free, r, torch.zeros_like(r))
        rr = _dot(rf, rf)
        p = -rf
        while matvecs < max_iter and math.sqrt(rr) > tol:
            Bp = matvec(p)
            matvecs += 1
            iterations += 1
            kappa = _dot(p, Bp)
            limit = float(_breakpoints(s, p, lower, upper).min())
            if kappa <= 0.0:
                negcurv = True
                if math.isfinite(limit):
                    s = torch.clamp(s + limit * p, lower, upper)
                    r = r + limit * Bp
                break
            alpha = rr / kappa
            if alpha >= limit:  # a bound is reached: it becomes active
                s = torch.clamp(s + limit * p, lower, upper)
                r = r + limit * Bp
                break
            s = torch.clamp(s + alpha * p, lower, upper)  # α < limit: a clamp of rounding
            r = r + alpha * Bp
            rf = torch.where(free, r, torch.zeros_like(r))
            rr_next = _dot(rf, rf)
            p = -rf + (rr_next / rr) * p
            rr = rr_next
    predicted = -0.5 * _dot(s, g + r)
    at_bound = bool(((s <= lower) | (s >= upper)).any()) and bool(s.abs().max() > 0)
    if not predicted > 0.0:  # rounding: never report a step that does not decrease m
        return SubproblemResult(torch.zeros_like(g), 0.0, False, negcurv, iterations, matvecs)
    return SubproblemResult(s, predicted, at_bound, negcurv, iterations, matvecs)
