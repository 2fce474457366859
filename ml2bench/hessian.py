r"""The one Hessian-vector-product kernel: double backward through a linearised gradient.

For a scalar objective ``f(θ)`` (one batch, current parameters ``θ₀``), Pearlmutter's
(1994) identity

.. math::

    H v = ∇^2 f(θ_0)\, v = \frac{∂}{∂θ}\,\langle ∇f(θ), v\rangle \Big|_{θ_0}
        = J_{∇f}(θ_0)^{\mathsf T} v

is evaluated by reverse-over-reverse differentiation in two stages:

1. **linearise** — one forward and one backward pass with ``create_graph=True``,
   which records the graph of ``θ ↦ ∇f(θ)`` at ``θ₀`` (:class:`LinearisedGradient`);
2. **product** — one vector–Jacobian product through that graph,
   ``autograd.grad(∇f, θ, grad_outputs=v, retain_graph=True)``
   (:meth:`LinearisedGradient.product`); the graph is kept, so every further product
   at the same point and batch costs only this stage.

A Krylov solver (Steihaug–CG, Lanczos) applies ``H`` many times at one point: it pays
the linearisation once. The one-shot product :func:`hessian_vector_product` is both
stages for a single vector. The work ledger charges the first product of a
linearisation as kind ``hvp`` and each following one as ``hvp_more``, both measured
with the FLOP counter (:mod:`ml2bench.hierarchy.cost`).

Users: :class:`ml2bench.accounting.oracle.Oracle` (solvers), the FLOP measurement in
:mod:`ml2bench.hierarchy.cost` and :class:`ml2bench.flatness.hvp.HessianOperator`
(flatness metrics). This module imports only :mod:`torch`.

References
----------
B. A. Pearlmutter, Fast exact multiplication by the Hessian, Neural Computation 6(1),
147–160, 1994.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

__all__ = ["LinearisedGradient", "hessian_vector_product", "parameter_versions"]


def parameter_versions(tensors: Sequence[Tensor]) -> tuple:
    """A key that changes whenever one of ``tensors`` is modified in place or replaced.

    ``(id, data_ptr, _version)`` per tensor: the version counter is bumped by every
    in-place operation (``copy_``, ``add_``, optimiser steps, ``load_vector``), the
    address changes when ``.data`` is reassigned. Writes through ``.data`` (which
    bypass the version counter) are not seen.
    """
    return tuple((id(t), t.data_ptr(), t._version) for t in tensors)


class LinearisedGradient:
    r"""The gradient ``θ ↦ ∇f(θ)`` linearised at the current parameters.

    Construction runs ``f`` once and differentiates it with ``create_graph=True``;
    :meth:`product` then returns ``∇²f(θ₀) v`` by one backward pass through the
    retained graph (Pearlmutter 1994):

    .. math:: ∇^2 f(θ_0)\, v = J_{∇f}(θ_0)^{\mathsf T} v .

    Parameters
    ----------
    objective : callable
        ``objective() -> scalar tensor``, evaluated once at the current parameters. It
        may differentiate with respect to its inputs itself (PINNs): it runs with
        gradients enabled.
    params : sequence of Tensor
        The parameters ``θ`` (leaves with ``requires_grad``).

    Attributes
    ----------
    value : Tensor
        ``f(θ₀)``, detached.
    gradient : list of Tensor
        ``∇f(θ₀)``, detached (zeros for parameters ``f`` does not depend on).
    num_products : int
        Products computed so far.

    Notes
    -----
    The graph (activations of the forward and backward pass) stays in memory until
    :meth:`release` or until the object is garbage-collected. Parameters must not be
    changed while it is used: :attr:`is_current` tells whether they still hold the
    values it was linearised at, and :meth:`product` raises otherwise.
    """

    def __init__(self, objective: Callable[[], Tensor], params: Sequence[Tensor]) -> None:
        self.params = list(params)
        with torch.enable_grad():
            loss = objective()
            grads = torch.autograd.grad(loss, self.params, create_graph=True, allow_unused=True)
        self.value = loss.detach()
        self.gradient = [torch.zeros_like(p) if g is None else g.detach()
                         for g, p in zip(grads, self.params)]
        # only components that depend on θ contribute to J^T v (a constant one has J = 0)
        self._index = [i for i, g in enumerate(grads) if g is not None and g.requires_grad]
        self._outputs: list[Tensor] | None = [grads[i] for i in self._index]
        self._key = parameter_versions(self.params)
        self.num_products = 0

    @property
    def is_current(self) -> bool:
        """Whether the graph is alive and the parameters are those it was built at."""
        return self._outputs is not None and parameter_versions(self.params) == self._key

    def product(self, vector: Sequence[Tensor], retain_graph: bool = True) -> list[Tensor]:
        """``∇²f(θ₀) v`` (detached, shaped like the parameters); ``v`` is not modified.

        Parameters
        ----------
        vector : sequence of Tensor
            ``v``, one tensor per parameter (same shapes and dtypes).
        retain_graph : bool
            Keep the graph for further products (default); ``False`` frees it (a
            one-shot product), after which the object cannot be used again.

        Raises
        ------
        RuntimeError
            If the graph was released or the parameters changed since linearisation.
        """
        if self._outputs is None:
            raise RuntimeError("the linearisation was released")
        if parameter_versions(self.params) != self._key:
            raise RuntimeError("the parameters changed since the gradient was linearised")
        vector = list(vector)
        if len(vector) != len(self.params):
            raise ValueError(f"vector has {len(vector)} tensors, params {len(self.params)}")
        self.num_products += 1
        if not self._outputs:  # the gradient does not depend on θ: H = 0
            result = [torch.zeros_like(p) for p in self.params]
        else:
            with torch.enable_grad():
                result = torch.autograd.grad(
                    self._outputs, self.params, grad_outputs=[vector[i] for i in self._index],
                    retain_graph=retain_graph, allow_unused=True, materialize_grads=True)
            result = [h.detach() for h in result]
        if not retain_graph:
            self.release()
        return result

    def release(self) -> None:
        """Drop the graph (frees its memory); further products raise."""
        self._outputs = None


def hessian_vector_product(objective: Callable[[], Tensor], params: Sequence[Tensor],
                           vector: Sequence[Tensor]) -> list[Tensor]:
    r"""One-shot ``∇²f(θ) v`` by double backward (Pearlmutter 1994).

    ``LinearisedGradient(objective, params).product(vector, retain_graph=False)``:
    one forward pass, one backward pass with ``create_graph=True`` and one backward
    pass through the gradient's graph,

    .. math:: ∇^2 f(θ)\, v = \frac{∂}{∂θ}\,\langle ∇f(θ), v\rangle .

    Parameters
    ----------
    objective : callable
        ``objective() -> scalar tensor`` at the current parameters.
    params : sequence of Tensor
        The parameters ``θ``.
    vector : sequence of Tensor
        ``v``, shaped like ``params``.

    Returns
    -------
    list of Tensor
        ``H v``, detached.
    """
    return LinearisedGradient(objective, params).product(vector, retain_graph=False)
