"""The counted oracle: the only way a solver evaluates the objective.

Every call charges the task's :class:`~ml2bench.accounting.ledger.WorkLedger` with the
evaluation's kind, level and number of samples, so work units cannot be forgotten.
Evaluations act on the current parameters of the level's model.

Hessian-vector products come in two forms: :meth:`Oracle.hvp` (one-shot, kind ``hvp``)
and :meth:`Oracle.hessian`, an operator for Krylov solvers that linearises the
gradient on its first product (kind ``hvp``) and reuses the linearisation for every
following product at the same parameters (kind ``hvp_more``); see
:mod:`ml2bench.hessian`.

The oracle is also the one place of reduced precision: with a
:class:`~ml2bench.accounting.precision.Precision` of ``bf16``/``fp16`` every forward pass
runs under autocast (parameters, gradients, products and returned values stay in the
parameters' dtype) and ``fp16`` evaluations are loss-scaled; see
:mod:`ml2bench.accounting.precision`.

Domain decomposition: :meth:`Oracle.subdomain_loss_and_grad` is the gradient with
respect to one parameter subdomain, charged its FLOP-measured share of a full gradient
(kind ``grad_subdomain``); a gradient on a data shard is an ordinary
:meth:`Oracle.loss_and_grad` on the shard's batch, charged ``(b/N)·cost``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch
from torch import nn

from ml2bench.accounting.ledger import WorkLedger
from ml2bench.accounting.precision import Precision
from ml2bench.decomposition.cost import SubdomainView, subdomain_costs
from ml2bench.decomposition.parameters import ParameterDecomposition
from ml2bench.hessian import LinearisedGradient

if TYPE_CHECKING:  # pragma: no cover
    from ml2bench.problems.base import Task


def batch_size_of(batch: tuple) -> int:
    """Number of samples in a batch (leading dimension of its first tensor)."""
    return int(batch[0].shape[0])


class Oracle:
    """Counted evaluations of a task's objective (data loss + regularisation).

    Parameters
    ----------
    task : Task
        Supplies the hierarchy's models and the objective.
    ledger : WorkLedger
        Receives one charge per evaluation.
    precision : Precision, optional
        Autocast and loss scaling of the evaluations (default: native, none). An ``fp16``
        evaluation discarded for an overflow is charged and repeated.
    """

    def __init__(self, task: "Task", ledger: WorkLedger,
                 precision: Precision | None = None) -> None:
        self.task = task
        self.ledger = ledger
        self.precision = precision if precision is not None else Precision(None)
        self._subdomain_costs: dict[tuple[int, int], tuple] = {}

    #: Samples of the batch on which subdomain costs are measured (the ratio of FLOPs is
    #: the same for every batch size: all counted operations are linear in it).
    COST_SAMPLES = 64

    def model(self, level: int = 0) -> nn.Module:
        """The model of hierarchy level ``level`` (0 the finest)."""
        return self.task.hierarchy.levels[level].model

    def params(self, level: int = 0) -> list[torch.Tensor]:
        """The parameters of level ``level``'s model, in ``parameters()`` order."""
        return [p for p in self.model(level).parameters()]

    def loss(self, batch: tuple, level: int = 0) -> torch.Tensor:
        """Objective value on ``batch`` (detached); charged as a forward pass."""
        self.ledger.charge(level, "forward", batch_size_of(batch))
        with torch.set_grad_enabled(self.task.loss_needs_grad):
            return self._forward(batch, level).detach()

    def _forward(self, batch: tuple, level: int) -> torch.Tensor:
        """The objective on ``batch`` (under autocast when reduced), in the parameters'
        dtype."""
        with self.precision.autocast():
            loss = self.task.objective(self.model(level), batch)
        dtype = next(self.model(level).parameters()).dtype
        return loss if loss.dtype == dtype else loss.to(dtype)

    def loss_and_grad(self, batch: tuple, level: int = 0,
                      set_grad: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Objective value and its parameter gradient; charged as forward+backward.

        With ``set_grad`` the gradient is also stored in each parameter's ``.grad``
        (the closure protocol of :mod:`torch.optim`).
        """
        params = self.params(level)
        while True:  # more than once only when an fp16 evaluation overflows
            self.ledger.charge(level, "grad", batch_size_of(batch))
            scale = self.precision.scale
            with torch.enable_grad():
                loss = self._forward(batch, level)
                grads = list(torch.autograd.grad(loss * scale if scale != 1.0 else loss,
                                                 params))
            grads = self.precision.unscale(grads, scale)
            if self.precision.accept(loss, grads):
                break
        if set_grad:
            for param, grad in zip(params, grads):
                param.grad = grad
        return loss.detach(), grads

    def subdomain_costs(self, decomposition: ParameterDecomposition, level: int = 0,
                        batch: tuple | None = None) -> list[float]:
        """``FLOPs(R_d ∇f_l) / FLOPs(∇f_l)`` per subdomain of ``decomposition`` (of level
        ``level``'s model), measured once per decomposition on the first
        :attr:`COST_SAMPLES` samples of ``batch`` (default: the training set) and cached;
        not charged (like the level costs measured when the hierarchy is built)."""
        cache = self._subdomain_costs
        key = (id(decomposition), level)
        if key not in cache or cache[key][0] is not decomposition:
            model = self.model(level)
            if decomposition.size != sum(p.numel() for p in model.parameters()):
                raise ValueError("the decomposition was not built on this level's model")
            sample = tuple(t[:self.COST_SAMPLES]
                           for t in (self.task.train if batch is None else batch))
            cache[key] = (decomposition, subdomain_costs(model, self.task.objective, sample,
                                                         decomposition))
        return cache[key][1]

    def subdomain_loss_and_grad(self, batch: tuple, decomposition: ParameterDecomposition,
                                d: int, level: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Objective value and ``R_d ∇f`` (flat, in the order of ``decomposition``'s
        index set ``I_d``), by a backward pass that stops at subdomain ``d``'s first layer
        (:class:`~ml2bench.decomposition.cost.SubdomainView`).

        Charged as kind ``grad_subdomain``: ``(b/N) · cost_l[grad] · c_d`` with ``c_d``
        from :meth:`subdomain_costs`.
        """
        cost = self.subdomain_costs(decomposition, level, batch)[d]
        model = self.model(level)
        while True:  # more than once only when an fp16 evaluation overflows
            self.ledger.charge(level, "grad_subdomain", batch_size_of(batch), scale=cost)
            scale = self.precision.scale
            with SubdomainView(model, decomposition, d) as view, torch.enable_grad():
                loss = self._forward(batch, level)
                grads = torch.autograd.grad(loss * scale if scale != 1.0 else loss,
                                            view.inputs, allow_unused=True)
                grads = [torch.zeros_like(x) if g is None else g
                         for x, g in zip(view.inputs, grads)]
                grads = self.precision.unscale(grads, scale)
                flat = view.gather(grads)
            if self.precision.accept(loss, grads):
                return loss.detach(), flat

    def _objective(self, batch: tuple, level: int, scale: float = 1.0):
        if scale == 1.0:
            return lambda: self._forward(batch, level)
        return lambda: self._forward(batch, level) * scale

    def hvp(self, batch: tuple, vector: Sequence[torch.Tensor],
            level: int = 0) -> list[torch.Tensor]:
        """One-shot Hessian-vector product ``∇²f · v`` by double backward (Pearlmutter
        1994, :func:`~ml2bench.hessian.hessian_vector_product`); charged as an ``hvp``."""
        while True:  # more than once only when an fp16 evaluation overflows
            self.ledger.charge(level, "hvp", batch_size_of(batch))
            scale = self.precision.scale
            linear = LinearisedGradient(self._objective(batch, level, scale), self.params(level))
            product = self.precision.unscale(linear.product(vector, retain_graph=False), scale)
            if self.precision.accept(linear.value, product):
                return product

    def hessian(self, batch: tuple, level: int = 0) -> "CountedHessian":
        """The Hessian of the objective on ``batch`` at the level's current parameters,
        as a counted operator that linearises once and reuses the linearisation
        (:class:`CountedHessian`)."""
        return CountedHessian(self, batch, level)


class CountedHessian:
    r"""``v ↦ ∇²f_l(θ) v`` on one batch, linearised on the first product.

    The first product linearises the gradient at the level model's current parameters
    (forward + backward with ``create_graph``, :class:`~ml2bench.hessian.LinearisedGradient`)
    and is charged as kind ``hvp``; every following product is one double backward
    through the retained graph (Pearlmutter 1994),

    .. math:: ∇^2 f(θ_0)\, v = J_{∇f}(θ_0)^{\mathsf T} v,

    charged as kind ``hvp_more``. If the parameters have changed since (in place, e.g.
    by ``load_vector``), the next product linearises again and is charged ``hvp``.

    The graph lives as long as this object (or until :meth:`release`): create one per
    subproblem solve and drop it when the solve ends.

    Parameters
    ----------
    oracle : Oracle
        Charges its ledger.
    batch : tuple
        The batch of every product.
    level : int
        Hierarchy level.

    Attributes
    ----------
    num_linearisations, num_products : int
        Linearisations (= products charged ``hvp``) and products computed.
    """

    def __init__(self, oracle: Oracle, batch: tuple, level: int = 0) -> None:
        self.oracle, self.batch, self.level = oracle, batch, level
        self.num_linearisations = 0
        self.num_products = 0
        self._linear: LinearisedGradient | None = None
        self._scale = 1.0  # the loss scale of the linearisation (fp16)

    @property
    def is_current(self) -> bool:
        """Whether a linearisation exists at the model's current parameters (the next
        product is then charged ``hvp_more``)."""
        return self._linear is not None and self._linear.is_current

    def __call__(self, vector: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """``∇²f_l(θ) v`` at the current parameters, detached; ``v`` is not modified."""
        samples = batch_size_of(self.batch)
        precision = self.oracle.precision
        while True:  # more than once only when an fp16 product overflows
            if self.is_current:
                self.oracle.ledger.charge(self.level, "hvp_more", samples)
            else:
                self.oracle.ledger.charge(self.level, "hvp", samples)
                self._linear = None  # free the old graph before building the new one
                self._scale = precision.scale
                self._linear = LinearisedGradient(
                    self.oracle._objective(self.batch, self.level, self._scale),
                    self.oracle.params(self.level))
                self.num_linearisations += 1
            self.num_products += 1
            product = precision.unscale(self._linear.product(vector), self._scale)
            if precision.accept(self._linear.value, product):
                return product
            self.release()  # linearise again with the smaller scale

    def release(self) -> None:
        """Drop the linearisation (its graph); a later product linearises again."""
        self._linear = None
