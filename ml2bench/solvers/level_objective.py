r"""The objective of one level as a function of a flat parameter vector.

Multilevel solvers (RMTR, MG/OPT) and the single-level trust region work on flat
vectors ``x`` (``torch.nn.utils.parameters_to_vector`` order). A
:class:`LevelObjective` evaluates

.. math:: h_l(z) = f_l(z) + \langle v, z - z_0 \rangle

(``v = 0``, ``h_l = f_l`` on the finest level) on one batch through the counted
:class:`~ml2bench.accounting.oracle.Oracle`: it writes ``z`` into the level's model, then
asks the oracle for the value, the gradient or a Hessian-vector product, so every
evaluation is charged to the work ledger at the level's measured cost. The linear term
costs nothing and does not change the Hessian.

:func:`coherent_objective` builds the coarse objective with **first-order coherence**
(Gratton, Sartenaer & Toint 2008; Nash 2000):

.. math::

    z_0 = \Pi x,\qquad
    h_{l+1}(z) = f_{l+1}(z) + \langle R\nabla h_l(x) - \nabla f_{l+1}(z_0), z - z_0\rangle,

so that ``∇h_{l+1}(z_0) = R ∇h_l(x)`` exactly. :class:`FlatTransfer` applies a
hierarchy's parameter-list transfer to flat vectors (unflatten → transfer → flatten).

References
----------
S. Gratton, A. Sartenaer, Ph. L. Toint, SIAM J. Optim. 19(1), 2008;
S. G. Nash, Optim. Methods Softw. 14, 2000;
A. Kopaničáková, R. Krause, SIAM J. Sci. Comput. 45(3), 2023.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ml2bench.hierarchy.base import Transfer
from ml2bench.accounting.oracle import Oracle
from ml2bench.parameters import flatten, load_vector, model_vector, unflatten


@dataclass
class Point:
    """An iterate with its objective value and (optionally) gradient."""

    x: Tensor
    value: float
    grad: Tensor | None = None


class PointObjective:
    """Points of an objective that has ``value(x)`` and ``value_and_grad(x)``: what the
    trust-region kernel asks of every objective it steps on."""

    def evaluate(self, x: Tensor, with_grad: bool = True) -> Point:
        """A :class:`Point` at ``x`` (gradient only if ``with_grad``)."""
        if with_grad:
            return Point(x, *self.value_and_grad(x))
        return Point(x, self.value(x))

    def ensure_grad(self, point: Point) -> Point:
        """``point`` with its gradient (evaluated if missing)."""
        return point if point.grad is not None else self.evaluate(point.x)


class LevelObjective(PointObjective):
    r"""``h(z) = f_l(z) + ⟨shift, z − anchor⟩`` on one level and one batch.

    Parameters
    ----------
    oracle : Oracle
        The counted oracle (the only way to evaluate).
    level : int
        Hierarchy level (0 the finest).
    batch : tuple
        The batch every evaluation uses (the same one for a step and its ratio test).
    shift, anchor : Tensor, optional
        The linear term ``v`` and the point ``z₀`` (both or neither).
    """

    def __init__(self, oracle: Oracle, level: int, batch: tuple,
                 shift: Tensor | None = None, anchor: Tensor | None = None) -> None:
        if (shift is None) != (anchor is None):
            raise ValueError("shift and anchor must be given together")
        self.oracle, self.level, self.batch = oracle, level, batch
        self.shift, self.anchor = shift, anchor

    @property
    def model(self) -> nn.Module:
        """The level's model (the objective writes its iterates there)."""
        return self.oracle.model(self.level)

    def _linear(self, x: Tensor) -> float:
        if self.shift is None:
            return 0.0
        return float(torch.dot(self.shift, x - self.anchor))

    def value(self, x: Tensor) -> float:
        """``h(x)``; charged as one forward pass on the level."""
        load_vector(self.model, x)
        return float(self.oracle.loss(self.batch, self.level)) + self._linear(x)

    def value_and_grad(self, x: Tensor) -> tuple[float, Tensor]:
        """``(h(x), ∇h(x))``; charged as one gradient on the level."""
        load_vector(self.model, x)
        loss, grads = self.oracle.loss_and_grad(self.batch, self.level)
        grad = flatten(grads)
        if self.shift is not None:
            grad = grad + self.shift
        return float(loss) + self._linear(x), grad

    def hvp(self, x: Tensor, vector: Tensor) -> Tensor:
        """``∇²h(x) v = ∇²f_l(x) v``; charged as one HVP on the level."""
        load_vector(self.model, x)
        params = list(self.model.parameters())
        return flatten(self.oracle.hvp(self.batch, unflatten(vector, params),
                                       self.level))

    def hessian(self, x: Tensor):
        """The matrix-vector product ``v ↦ ∇²h(x) v`` (for the subproblem solvers).

        The first product linearises the gradient at ``x`` (charged ``hvp``), the
        following ones reuse that linearisation (charged ``hvp_more``; see
        :class:`~ml2bench.accounting.oracle.CountedHessian`). The linearisation lives
        as long as the returned closure: one per subproblem solve.
        """
        operator = self.oracle.hessian(self.batch, self.level)
        params = list(self.model.parameters())

        def matvec(vector: Tensor) -> Tensor:
            if not operator.is_current:  # first product, or the model has moved since
                load_vector(self.model, x)
            return flatten(operator(unflatten(vector, params)))

        return matvec


class FlatTransfer:
    """A hierarchy transfer acting on flat vectors of the fine and coarse models.

    ``norm`` is ``‖P‖₂`` estimated by power iteration on ``PᵀP = R P / c`` (30
    iterations, then 1 % added so that it bounds the true norm): RMTR caps the coarse
    radius at ``Δ_l / ‖P‖`` so that the prolongated step stays inside the fine region.
    """

    def __init__(self, transfer: Transfer, fine: nn.Module, coarse: nn.Module) -> None:
        self.transfer = transfer
        self.fine_template = list(fine.parameters())
        self.coarse_template = list(coarse.parameters())
        self._norm: float | None = None

    def prolong(self, coarse: Tensor) -> Tensor:
        """``P z`` (coarse correction → fine correction)."""
        return flatten(self.transfer.prolong(unflatten(coarse, self.coarse_template)))

    def restrict(self, fine: Tensor) -> Tensor:
        """``R g`` (fine gradient → coarse gradient)."""
        return flatten(self.transfer.restrict(unflatten(fine, self.fine_template)))

    def project(self, fine: Tensor) -> Tensor:
        """``Π x`` (fine iterate → initial coarse iterate)."""
        return flatten(self.transfer.project(unflatten(fine, self.fine_template)))

    def norm(self, like: Tensor) -> float:
        """``‖P‖₂`` (upper estimate), computed once; ``like`` fixes dtype and device."""
        if self._norm is None:
            size = sum(p.numel() for p in self.coarse_template)
            grid = torch.arange(size, dtype=like.dtype, device=like.device)
            v = 1.0 + 0.1 * torch.cos(grid)
            scale = self.transfer.adjoint_scale
            estimate = 0.0
            for _ in range(30):
                v = v / torch.linalg.vector_norm(v)
                w = self.restrict(self.prolong(v)) / scale
                estimate = float(torch.dot(v, w))
                v = w
            self._norm = 1.01 * math.sqrt(max(estimate, 0.0))
        return self._norm


def coherent_objective(fine: LevelObjective, point: Point,
                       transfer: FlatTransfer) -> tuple[LevelObjective, Point]:
    r"""The first-order-coherent coarse objective around ``Π x`` and its start point.

    .. math:: h_{l+1}(z) = f_{l+1}(z) + \langle R\nabla h_l(x) - \nabla f_{l+1}(z_0),
              z - z_0\rangle,\qquad z_0 = \Pi x.

    One gradient of ``f_{l+1}`` at ``z₀`` is evaluated (charged on level ``l+1``). The
    returned start point carries ``h_{l+1}(z₀) = f_{l+1}(z₀)`` and the gradient
    ``R∇h_l(x)`` (equal to ``∇h_{l+1}(z₀)`` by construction). The coarse level uses the
    same batch as the fine one.
    """
    restricted = transfer.restrict(point.grad)
    z0 = transfer.project(point.x)
    coarse = LevelObjective(fine.oracle, fine.level + 1, fine.batch)
    value, grad = coarse.value_and_grad(z0)
    shift = restricted - grad
    return (LevelObjective(fine.oracle, fine.level + 1, fine.batch, shift, z0),
            Point(z0, value, restricted))


def flat_transfers(hierarchy, num_levels: int) -> list[FlatTransfer]:
    """Flat-vector transfers between the ``num_levels`` finest levels of ``hierarchy``."""
    levels = hierarchy.levels
    return [FlatTransfer(hierarchy.transfers[l], levels[l].model, levels[l + 1].model)
            for l in range(num_levels - 1)]


def begin_step(oracle, task, sampler, level: int,
               cached: Point | None) -> tuple[LevelObjective, Point, bool]:
    """Draw the next batch and return the level's objective on it, the start point and
    whether the batch is the full training set.

    The start point is the level model's current iterate; on the full batch a cached
    evaluation of the same iterate is reused (no second gradient for the same point).
    """
    full_batch = sampler.full_batch
    objective = LevelObjective(oracle, level, task.batch(sampler.next_indices()))
    x = model_vector(objective.model)
    if full_batch and cached is not None and torch.equal(cached.x, x):
        return objective, cached, full_batch
    return objective, Point(x, math.nan), full_batch
