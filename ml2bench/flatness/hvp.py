"""Matrix-free Hessian-vector products of the full-data loss.

For the size-weighted loss ``L(θ) = Σ_b (n_b/N) L_b(θ)`` over the evaluation batches
(see :mod:`~ml2bench.flatness.evaluation`),

.. math::

    H v = ∇^2 L(θ)\\, v = \\sum_b \\frac{n_b}{N}\\, ∇^2 L_b(θ)\\, v ,

computed by one of

``double_backward``
    Pearlmutter (1994) by reverse-over-reverse with the kernel of
    :mod:`ml2bench.hessian`: ``g = autograd.grad(L_b, θ, create_graph=True)``
    (linearise), then ``autograd.grad(g, θ, grad_outputs=v, retain_graph=True)``
    (product). With ``reuse_graph`` (default) each batch is linearised once per
    parameter point and every further product (all of a Lanczos run) is only the
    second stage.
``forward_over_reverse``
    ``torch.func.jvp(torch.func.grad(L_b), (θ,), (v,))`` on a
    :func:`torch.func.functional_call` of the model — the directional derivative of
    the gradient (Pearlmutter's R-operator).
``finite_difference``
    Central differences of full-data gradients,
    ``Hv ≈ (∇L(θ+εv) − ∇L(θ−εv)) / (2ε)`` with
    ``ε = ε_mach^{1/3} (1+‖θ‖) / ‖v‖`` (Nocedal & Wright 2006, §8.1), for models
    whose kernels lack double backward (flash attention, cuDNN RNN). The parameters
    are restored by copying saved tensors back, never by subtracting ``εv``.

``torch.autograd.functional.hvp`` (≈4× a gradient) is deliberately not used.

References
----------
Pearlmutter, B. A. (1994). Fast exact multiplication by the Hessian. Neural Comput.
Yao, Z. et al. (2020). PyHessian: neural networks through the lens of the Hessian.
"""

from __future__ import annotations

import time
import warnings
from typing import Sequence

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator
from torch import nn

from ml2bench.flatness.evaluation import (
    BatchedLoss,
    LossFn,
    accumulate,
)
from ml2bench.flatness.state import evaluation_mode
from ml2bench.flatness.vectors import Vector, VectorOperator, norm, numel, zeros_like
from ml2bench.hessian import LinearisedGradient, hessian_vector_product, parameter_versions
from ml2bench.parameters import flatten, restore_, unflatten

METHODS = ("double_backward", "forward_over_reverse", "finite_difference")


class _LossModule(nn.Module):
    """``forward(batch) = loss_fn(model, batch)``, so ``functional_call`` can swap the
    model's parameters even when ``loss_fn`` reads them directly."""

    def __init__(self, model: nn.Module, loss_fn: LossFn) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batch: tuple) -> torch.Tensor:
        return self.loss_fn(self.model, batch)


def hvp_double_backward(
    model: nn.Module, loss_fn: LossFn, batch: tuple, params: Sequence[torch.Tensor], v: Vector
) -> Vector:
    """One-shot ``∇²L_b v`` of one batch by reverse-over-reverse differentiation
    (:func:`ml2bench.hessian.hessian_vector_product`, Pearlmutter 1994)."""
    return hessian_vector_product(lambda: loss_fn(model, batch), params, v)


def hvp_forward_over_reverse(
    model: nn.Module, loss_fn: LossFn, batch: tuple, params: Sequence[torch.Tensor], v: Vector
) -> Vector:
    """``∇²L_b v`` of one batch as the forward derivative of ``torch.func.grad``.

    The batch's floating-point tensors enter the ``jvp`` with explicit zero tangents:
    left implicit, PyTorch represents them by immutable ``ZeroTensor``s that some
    double-backward formulas modify in place (``F.mse_loss``, pytorch/pytorch#123996).
    """
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    wrapper = _LossModule(model, loss_fn)
    floating = [i for i, t in enumerate(batch) if torch.is_tensor(t) and t.is_floating_point()]

    def loss_at(theta: dict[str, torch.Tensor], *data: torch.Tensor) -> torch.Tensor:
        parts = list(batch)
        for i, tensor in zip(floating, data):
            parts[i] = tensor
        renamed = {"model." + n: t for n, t in theta.items()}
        return torch.func.functional_call(wrapper, renamed, (tuple(parts),))

    primals = ({n: p.detach() for n, p in named}, *[batch[i] for i in floating])
    tangents = (
        {n: u.to(dtype=p.dtype) for (n, p), u in zip(named, v)},
        *[torch.zeros_like(batch[i]) for i in floating],
    )
    with warnings.catch_warnings():  # torch's own jvp decompositions call torch.jit.script
        warnings.filterwarnings("ignore", "`torch.jit.script`", DeprecationWarning)
        _, hv = torch.func.jvp(torch.func.grad(loss_at, argnums=0), primals, tangents)
    return [hv[n].detach() for n, _ in named]


_BATCH_KERNELS = {
    "double_backward": hvp_double_backward,
    "forward_over_reverse": hvp_forward_over_reverse,
}


class HessianOperator:
    """The Hessian of the full-data evaluation loss as a matrix-free operator.

    Parameters
    ----------
    model : nn.Module
        Differentiated w.r.t. its ``requires_grad`` parameters (``model.parameters()``
        order). Evaluated in ``eval()``; flags, RNG state, parameters and buffers are
        left as found after every call.
    loss_fn : callable
        ``loss_fn(model, batch) -> scalar``: mean data loss, no regularisation.
    batches : sequence of tuple
        The frozen evaluation subset ``D_H``; batch ``b`` is weighted ``n_b / N``.
    method : {"double_backward", "forward_over_reverse", "finite_difference"}
    fd_eps : float, optional
        Finite differences only: relative step, ``ε = fd_eps (1+‖θ‖)/‖v‖``;
        default ``ε_mach^{1/3}`` of the parameter dtype.
    reuse_graph : bool
        ``double_backward`` only. If true (default), the gradient of every batch is
        linearised once (forward + backward with ``create_graph``,
        :class:`~ml2bench.hessian.LinearisedGradient`) and each product is one double
        backward through the retained graphs, ``H v = Σ_b (n_b/N) J_{∇L_b}^T v``
        (Pearlmutter 1994): the first product costs as before, the following ones about
        two gradients instead of three. The linearisation is rebuilt when the
        parameters or buffers change (in place or by reassignment; detected by their
        version counters) and dropped by :meth:`reset`. **Memory:** the graphs of all
        batches of ``D_H`` (the activations of a create-graph backward over up to 5000
        samples) stay alive as long as the operator and its parameters are unchanged.
        If false, every product is one-shot (linearise, multiply, free).

    Attributes
    ----------
    num_hvps : int
        Hessian-vector products computed (:meth:`matvec` calls).
    num_linearisations : int
        Passes over ``batches`` that linearised the gradient (``reuse_graph`` only;
        ``num_hvps - num_linearisations`` products reused a linearisation).
    num_passes : int
        Full passes over ``batches`` (an autograd HVP, a loss or a gradient is one
        pass; a finite-difference HVP is two gradient passes).
    seconds : float
        Wall time spent in :meth:`matvec`.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        batches: Sequence[tuple],
        method: str = "double_backward",
        fd_eps: float | None = None,
        reuse_graph: bool = True,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"Unknown HVP method {method!r}; choose one of {METHODS}.")
        if fd_eps is not None and not fd_eps > 0:
            raise ValueError(f"fd_eps must be positive, got {fd_eps}.")
        self.model = model
        self.method = method
        self.fd_eps = fd_eps
        self.evaluator = BatchedLoss(model, loss_fn, batches)
        self.reuse_graph = bool(reuse_graph)
        self.num_hvps = 0
        self.num_linearisations = 0
        self.seconds = 0.0
        self._hvp_passes = 0
        self._linearised: list[LinearisedGradient] | None = None
        self._linearised_key: tuple | None = None

    def reset(self) -> None:
        """Drop the retained linearisation (frees its graphs); the next product of the
        ``double_backward`` method linearises again."""
        self._linearised = None
        self._linearised_key = None

    def _state_key(self, params: Sequence[torch.Tensor]) -> tuple:
        return parameter_versions(list(params) + list(self.model.buffers()))

    @property
    def template(self) -> list[nn.Parameter]:
        """The parameters whose shapes the operator's vectors take."""
        return self.evaluator.params

    @property
    def num_passes(self) -> int:
        """Full passes over the evaluation batches so far (losses, gradients, products)."""
        return self.evaluator.num_passes + self._hvp_passes

    def loss(self) -> float:
        """Full-data loss ``L(θ)``."""
        return self.evaluator.value()

    def grad(self) -> Vector:
        """Full-data gradient ``∇L(θ)``."""
        return self.evaluator.gradient()[1]

    def matvec(self, v: Sequence[torch.Tensor]) -> Vector:
        """``H v`` as a new parameter-shaped vector; ``v`` is not modified."""
        params = self.template
        if len(v) != len(params):
            raise ValueError(f"Vector has {len(v)} tensors, the model {len(params)} parameters.")
        v = [u.detach().to(dtype=p.dtype, device=p.device) for u, p in zip(v, params)]
        start = time.perf_counter()
        if self.method == "finite_difference":
            result = self._matvec_finite_difference(params, v)
        else:
            result = self._matvec_autograd(params, v)
        self.num_hvps += 1
        self.seconds += time.perf_counter() - start
        return result

    def _matvec_autograd(self, params: list[nn.Parameter], v: Vector) -> Vector:
        if self.method == "double_backward" and self.reuse_graph:
            return self._matvec_reused(params, v)
        kernel = _BATCH_KERNELS[self.method]
        total = None
        ev = self.evaluator
        with evaluation_mode(self.model):
            for weight, batch in zip(ev.weights, ev.batches):
                total = accumulate(total, weight, kernel(self.model, ev.loss_fn, batch, params, v))
        self._hvp_passes += 1
        return total

    def _matvec_reused(self, params: list[nn.Parameter], v: Vector) -> Vector:
        ev = self.evaluator
        with evaluation_mode(self.model):
            if self._linearised is None or self._linearised_key != self._state_key(params):
                self._linearised = None  # free the old graphs first
                self._linearised = [
                    LinearisedGradient(lambda batch=batch: ev.loss_fn(self.model, batch), params)
                    for batch in ev.batches]
                self._linearised_key = self._state_key(params)
                self.num_linearisations += 1
            total = None
            for weight, linear in zip(ev.weights, self._linearised):
                total = accumulate(total, weight, linear.product(v))
        self._hvp_passes += 1
        return total

    def _matvec_finite_difference(self, params: list[nn.Parameter], v: Vector) -> Vector:
        v_norm = norm(v)
        if v_norm == 0.0:
            return zeros_like(params)
        rel = self.fd_eps or torch.finfo(params[0].dtype).eps ** (1.0 / 3.0)
        eps = rel * (1.0 + norm(params)) / v_norm
        saved = [p.detach().clone() for p in params]
        try:
            grads = []
            for sign in (1.0, -1.0):
                with torch.no_grad():
                    for p, s, u in zip(params, saved, v):
                        p.copy_(s + (sign * eps) * u)
                grads.append(self.evaluator.gradient()[1])
        finally:
            restore_(params, saved)
        return [(gp - gm) / (2.0 * eps) for gp, gm in zip(*grads)]

    def as_linear_operator(self) -> LinearOperator:
        """This operator as a SciPy ``LinearOperator`` on flat float64 vectors."""
        return as_linear_operator(self)


def as_linear_operator(op: VectorOperator) -> LinearOperator:
    """Wrap a :class:`VectorOperator` as a symmetric SciPy ``LinearOperator``.

    Vectors are the concatenated flattened parameters (``model.parameters()`` order)
    as float64 NumPy arrays; results are converted back to float64.
    """
    template = list(op.template)
    size = numel(template)

    def matvec(x: np.ndarray) -> np.ndarray:
        flat = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64).reshape(-1))
        out = flatten(op.matvec(unflatten(flat, template)))
        return out.to(device="cpu", dtype=torch.float64).numpy().reshape(np.shape(x))

    return LinearOperator((size, size), matvec=matvec, rmatvec=matvec, dtype=np.float64)


def dense_matrix(op: VectorOperator) -> torch.Tensor:
    """The ``P × P`` matrix of ``op`` built column by column, ``A e_j`` (float64, CPU).

    Costs ``P`` matrix-vector products: for tests and tiny models only.
    """
    template = list(op.template)
    size = numel(template)
    columns = []
    for j in range(size):
        unit = torch.zeros(size, dtype=torch.float64)
        unit[j] = 1.0
        columns.append(flatten(op.matvec(unflatten(unit, template))).double().cpu())
    return torch.stack(columns, dim=1)
