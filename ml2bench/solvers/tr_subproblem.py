r"""Trust-region subproblem kernels on flat 1-D tensors.

Pure functions (no global state, any dtype and device) for the quadratic model

.. math::

    m(s) = g^\top s + \tfrac12 s^\top B s, \qquad \|s\|_2 \le \Delta,

where ``B`` is only available through a matrix-vector product ``matvec(v) = B v``:

* :func:`steihaug_cg` -- Steihaug--Toint truncated conjugate gradients;
* :func:`cauchy_point` -- the Cauchy point (model minimiser along ``-g``);
* :func:`boundary_tau` -- the positive root of ``‖s + τ p‖ = Δ``;
* :func:`trust_region_update` -- acceptance test and radius update from the ratio ρ;
* :func:`model_reduction` -- ``m(0) − m(s)`` from ``g``, ``s`` and ``Bs``.

Every subproblem solver returns a :class:`SubproblemResult` whose
``predicted_reduction`` is ``m(0) − m(s) ≥ 0`` (the model has no constant term).
The gradient is detached, so steps carry no autograd graph (``matvec`` may still use
autograd internally, e.g. a Hessian-vector product).

References
----------
.. [1] T. Steihaug, "The conjugate gradient method and trust regions in large scale
   optimization", SIAM J. Numer. Anal. 20(3), 1983.
.. [2] Ph. L. Toint, "Towards an efficient sparsity exploiting Newton method for
   minimization", in Sparse Matrices and Their Uses, Academic Press, 1981.
.. [3] J. Nocedal, S. J. Wright, *Numerical Optimization*, 2nd ed., Springer, 2006:
   Algorithm 4.1 (radius update), Algorithm 4.2 / eq. (4.12) (Cauchy point),
   Algorithm 7.2 (CG–Steihaug).
.. [4] S. Gratton, A. Sartenaer, Ph. L. Toint, "Recursive trust-region methods for
   multiscale nonlinear optimization", SIAM J. Optim. 19(1), 2008.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

MatVec = Callable[[Tensor], Tensor]

__all__ = [
    "MatVec",
    "SubproblemResult",
    "boundary_tau",
    "cauchy_point",
    "model_reduction",
    "steihaug_cg",
    "trust_region_update",
]


@dataclass
class SubproblemResult:
    """Approximate solution of a trust-region subproblem.

    Attributes
    ----------
    step : Tensor
        The step ``s`` (same shape, dtype and device as the gradient).
    predicted_reduction : float
        ``m(0) − m(s) = −(gᵀs + ½ sᵀBs) ≥ 0``, the denominator of the ratio ρ.
    hit_boundary : bool
        Whether ``‖s‖ = Δ`` (the step was truncated by the trust region).
    negative_curvature : bool
        Whether a direction ``p`` with ``pᵀBp ≤ 0`` was met (or, for an exact solver,
        whether ``B`` has a negative eigenvalue).
    iterations : int
        Iterations of the solver (CG iterations, Newton iterations on the secular
        equation, ...).
    num_matvecs : int
        Products with ``B`` used (Hessian-vector products for CG on ``B = H``).
    """

    step: Tensor
    predicted_reduction: float
    hit_boundary: bool
    negative_curvature: bool
    iterations: int
    num_matvecs: int


def _dot(a: Tensor, b: Tensor) -> float:
    return float(torch.dot(a.detach(), b.detach()))


def _norm(x: Tensor) -> float:
    return float(torch.linalg.vector_norm(x.detach()))


def _check_radius(radius: float) -> None:
    if not (radius > 0.0 and math.isfinite(radius)):
        raise ValueError(f"The trust-region radius must be positive and finite, got {radius}.")


def model_reduction(g: Tensor, s: Tensor, Bs: Tensor) -> float:
    r"""Predicted reduction ``m(0) − m(s) = −(gᵀs + ½ sᵀBs)``.

    Parameters
    ----------
    g, s, Bs : Tensor
        Gradient, step and the product ``B s`` (flat 1-D tensors).

    Returns
    -------
    float
        The decrease of the quadratic model; positive for a descent step.
    """
    return -(_dot(g, s) + 0.5 * _dot(s, Bs))


def _boundary_roots(s: Tensor, p: Tensor, radius: float) -> tuple[float, float]:
    """Both roots ``τ− ≤ 0 ≤ τ+`` of ``‖s + τp‖ = Δ`` for ``‖s‖ ≤ Δ``, computed stably.

    With ``a = pᵀp``, ``b = sᵀp``, ``c = sᵀs − Δ² ≤ 0`` the roots are
    ``(−b ± √(b² − ac)) / a``; the one that would suffer cancellation is obtained from
    the product of the roots ``τ+ τ− = c / a`` instead.
    """
    a = _dot(p, p)
    if not a > 0.0:
        raise ValueError("The direction p must be nonzero to reach the trust-region boundary.")
    b = _dot(s, p)
    c = min(_dot(s, s) - radius * radius, 0.0)  # ‖s‖ ≤ Δ up to rounding
    sq = math.sqrt(max(b * b - a * c, 0.0))
    if b >= 0.0:
        neg = (-b - sq) / a
        pos = -c / (b + sq) if b + sq > 0.0 else 0.0
    else:
        pos = (-b + sq) / a
        neg = c / (sq - b)
    return neg, pos


def boundary_tau(s: Tensor, p: Tensor, radius: float) -> float:
    r"""Positive root ``τ ≥ 0`` of ``‖s + τ p‖ = Δ``.

    Parameters
    ----------
    s : Tensor
        Current point, assumed inside the region (``‖s‖ ≤ Δ``; a point slightly
        outside through rounding is treated as on the boundary, ``τ = 0``).
    p : Tensor
        Nonzero direction.
    radius : float
        Trust-region radius ``Δ > 0``.

    Returns
    -------
    float
        ``τ = (−sᵀp + √((sᵀp)² − pᵀp (sᵀs − Δ²))) / pᵀp``, evaluated as
        ``−c / (b + √(b² − ac))`` when ``b = sᵀp ≥ 0`` to avoid cancellation.
    """
    _check_radius(radius)
    return _boundary_roots(s, p, radius)[1]


def _result(step, m_value, boundary, negcurv, iters, nmv) -> SubproblemResult:
    return SubproblemResult(step, -m_value, boundary, negcurv, iters, nmv)


def steihaug_cg(
    g: Tensor,
    matvec: MatVec,
    radius: float,
    *,
    rtol: float | None = None,
    max_iter: int | None = None,
) -> SubproblemResult:
    r"""Steihaug--Toint truncated conjugate gradients (Nocedal & Wright, Alg. 7.2).

    Approximately solves ``min gᵀs + ½ sᵀBs`` s.t. ``‖s‖ ≤ Δ`` by CG on ``Bs = −g``
    started at ``s₀ = 0``:

    .. math::

        &r_0 = g,\ p_0 = -g;\quad \text{for } j = 0, 1, \dots:\\
        &\quad \kappa_j = p_j^\top B p_j;\ \text{if } \kappa_j \le 0:
            \text{return } s_j + \tau p_j,\ \|s_j+\tau p_j\| = \Delta
            \ (\text{root with the lower model value});\\
        &\quad \alpha_j = r_j^\top r_j / \kappa_j;\ \text{if } \|s_j + \alpha_j p_j\| \ge \Delta:
            \text{return } s_j + \tau p_j,\ \tau \ge 0,\ \|s_j + \tau p_j\| = \Delta;\\
        &\quad s_{j+1} = s_j + \alpha_j p_j,\ r_{j+1} = r_j + \alpha_j B p_j;\
            \text{if } \|r_{j+1}\| \le \epsilon: \text{return } s_{j+1};\\
        &\quad p_{j+1} = -r_{j+1} + (r_{j+1}^\top r_{j+1} / r_j^\top r_j)\, p_j.

    The default tolerance is ``ε = min(0.5, √‖g‖)·‖g‖`` (superlinear local
    convergence of the outer Newton-type method); ``rtol`` replaces it by
    ``ε = rtol·‖g‖``. The iterates increase monotonically in norm and in model
    decrease, so the result decreases the model at least as much as the Cauchy
    point (Steihaug 1983, Thm. 2.1).

    On negative curvature both boundary roots along ``p_j`` are compared and the one
    with the lower model value is taken (N&W Alg. 7.2); since ``p_j`` is a descent
    direction of the model at ``s_j`` this is the positive root in practice.

    The model value is accumulated without extra products:
    ``m(s_j + α p_j) = m(s_j) + α r_jᵀp_j + ½ α² κ_j``, i.e. ``−½ α_j r_jᵀr_j`` per
    interior step.

    Parameters
    ----------
    g : Tensor
        Gradient (flat 1-D tensor, any floating dtype and device).
    matvec : callable
        ``v ↦ B v`` for a symmetric ``B`` (need not be definite).
    radius : float
        Trust-region radius ``Δ > 0``.
    rtol : float, optional
        Fixed relative residual tolerance ``‖r‖ ≤ rtol·‖g‖`` (``rtol ≥ 0``).
    max_iter : int, optional
        Maximum CG iterations (= products with ``B``); default ``g.numel()``.

    Returns
    -------
    SubproblemResult
        ``iterations == num_matvecs`` is the number of products with ``B``.

    References
    ----------
    Steihaug (1983); Toint (1981); Nocedal & Wright (2006), Algorithm 7.2.
    """
    _check_radius(radius)
    if rtol is not None and not rtol >= 0.0:
        raise ValueError(f"rtol must be nonnegative, got {rtol}.")
    if max_iter is None:
        max_iter = g.numel()
    if max_iter < 0:
        raise ValueError(f"max_iter must be nonnegative, got {max_iter}.")
    g = g.detach()
    s = torch.zeros_like(g)
    g_norm = _norm(g)
    if g_norm == 0.0:
        return _result(s, 0.0, False, False, 0, 0)
    tol = (rtol if rtol is not None else min(0.5, math.sqrt(g_norm))) * g_norm
    r = g.clone()
    p = -r
    rr = g_norm * g_norm
    m_value = 0.0
    for it in range(max_iter):
        Bp = matvec(p)
        kappa = _dot(p, Bp)
        if kappa <= 0.0:
            rp = _dot(r, p)
            tau_neg, tau = _boundary_roots(s, p, radius)
            if tau_neg * rp + 0.5 * tau_neg * tau_neg * kappa < tau * rp + 0.5 * tau * tau * kappa:
                tau = tau_neg
            m_value += tau * rp + 0.5 * tau * tau * kappa
            return _result(s.add_(p, alpha=tau), m_value, True, True, it + 1, it + 1)
        alpha = rr / kappa
        s_next = s + alpha * p
        if _norm(s_next) >= radius:
            rp = _dot(r, p)
            tau = boundary_tau(s, p, radius)
            m_value += tau * rp + 0.5 * tau * tau * kappa
            return _result(s.add_(p, alpha=tau), m_value, True, False, it + 1, it + 1)
        s = s_next
        m_value -= 0.5 * alpha * rr
        r.add_(Bp, alpha=alpha)
        rr_next = _dot(r, r)
        if math.sqrt(rr_next) <= tol:
            return _result(s, m_value, False, False, it + 1, it + 1)
        p.mul_(rr_next / rr).sub_(r)
        rr = rr_next
    return _result(s, m_value, False, False, max_iter, max_iter)


def cauchy_point(g: Tensor, matvec: MatVec, radius: float) -> SubproblemResult:
    r"""Cauchy point (Nocedal & Wright, Alg. 4.2 and eq. (4.12)).

    .. math::

        s^C = -\tau \frac{\Delta}{\|g\|} g,\qquad
        \tau = \begin{cases} 1 & g^\top B g \le 0,\\
        \min\!\big(\|g\|^3 / (\Delta\, g^\top B g),\ 1\big) & \text{otherwise.}\end{cases}

    Parameters
    ----------
    g : Tensor
        Gradient (flat 1-D tensor).
    matvec : callable
        ``v ↦ B v``; called once.
    radius : float
        Trust-region radius ``Δ > 0``.

    Returns
    -------
    SubproblemResult
        ``hit_boundary`` iff ``τ = 1``; ``negative_curvature`` iff ``gᵀBg ≤ 0``;
        ``predicted_reduction = τΔ‖g‖ − ½ (τΔ/‖g‖)² gᵀBg``.
    """
    _check_radius(radius)
    g = g.detach()
    g_norm = _norm(g)
    if g_norm == 0.0:
        return _result(torch.zeros_like(g), 0.0, False, False, 0, 0)
    gBg = _dot(g, matvec(g))
    if gBg <= 0.0:
        tau = 1.0
    else:
        tau = min(g_norm**3 / (radius * gBg), 1.0)
    t = tau * radius / g_norm
    m_value = -t * g_norm * g_norm + 0.5 * t * t * gBg
    return _result(g * (-t), m_value, tau == 1.0, gBg <= 0.0, 1, 1)


def _check_update_parameters(radius, eta1, eta2, shrink, expand, max_radius, min_radius):
    if not 0.0 <= eta1 <= eta2 <= 1.0:
        raise ValueError(f"Need 0 <= eta1 <= eta2 <= 1, got eta1={eta1}, eta2={eta2}.")
    if not 0.0 < shrink < 1.0:
        raise ValueError(f"shrink must lie in (0, 1), got {shrink}.")
    if not expand >= 1.0:
        raise ValueError(f"expand must be at least 1, got {expand}.")
    if not 0.0 < min_radius <= max_radius:
        raise ValueError(
            f"Need 0 < min_radius <= max_radius, got min_radius={min_radius}, "
            f"max_radius={max_radius}."
        )
    if not radius > 0.0:
        raise ValueError(f"The trust-region radius must be positive, got {radius}.")


def trust_region_update(
    radius: float,
    rho: float,
    step_norm: float,
    *,
    eta1: float = 0.25,
    eta2: float = 0.75,
    shrink: float = 0.5,
    expand: float = 2.0,
    max_radius: float,
    min_radius: float = 1e-6,
    boundary_fraction: float = 0.99,
) -> tuple[float, bool]:
    r"""Acceptance test and radius update of a basic trust-region iteration.

    .. math::

        \text{accept} \iff \rho > \eta_1,\qquad
        \Delta^+ = \begin{cases}
            \max(\text{shrink}\cdot\Delta,\ \Delta_{\min}) & \rho \le \eta_1
                \text{ or } \rho \text{ is NaN},\\
            \min(\text{expand}\cdot\Delta,\ \Delta_{\max}) & \rho > \eta_2
                \text{ and } \|s\| \ge 0.99\,\Delta,\\
            \Delta & \text{otherwise.}
        \end{cases}

    The radius shrinks on every rejection, including the tie ``ρ = η₁`` (keeping the
    radius there would repeat the same rejected step). A step counts as having hit
    the boundary when ``‖s‖ ≥ boundary_fraction·Δ`` (default 0.99: CG and exact
    solvers land on the boundary up to rounding, while an interior Newton step of
    nearly full length is also allowed to expand the region). Expansion never
    reduces a radius that already exceeds ``max_radius``; the result is never below
    ``min_radius``. ``ρ = +∞`` (actual decrease with zero predicted decrease) is
    accepted, ``ρ = NaN`` or ``−∞`` rejected.

    Parameters
    ----------
    radius : float
        Current radius ``Δ > 0``.
    rho : float
        Ratio of actual to predicted reduction.
    step_norm : float
        ``‖s‖`` of the trial step.
    eta1, eta2 : float
        Acceptance and very-successful thresholds, ``0 ≤ η₁ ≤ η₂ ≤ 1``.
    shrink, expand : float
        Radius factors, ``0 < shrink < 1 ≤ expand``.
    max_radius, min_radius : float
        Bounds ``0 < Δ_min ≤ Δ_max``.
    boundary_fraction : float
        Fraction of ``Δ`` above which the step counts as on the boundary.

    Returns
    -------
    new_radius : float
    accepted : bool

    References
    ----------
    Nocedal & Wright (2006), Algorithm 4.1; Gratton, Sartenaer & Toint (2008), the
    RMTR radius update (same thresholds, applied on every level).
    """
    _check_update_parameters(radius, eta1, eta2, shrink, expand, max_radius, min_radius)
    accepted = bool(rho > eta1)  # False for NaN
    if not accepted:
        new_radius = shrink * radius
    elif rho > eta2 and step_norm >= boundary_fraction * radius:
        new_radius = max(radius, min(expand * radius, max_radius))
    else:
        new_radius = radius
    return max(new_radius, min_radius), accepted
