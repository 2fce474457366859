"""Gradients with respect to one parameter subdomain, and their measured cost.

``∇_d f = R_d ∇f`` is computed by ``torch.autograd.grad`` with respect to the
subdomain's parameters only, so the backward pass stops at the subdomain's first layer
and skips the weight gradients of the layers it does not own. Block-stacked parameters
(``block_weight[k]`` of the ResNet-ODE models) are one leaf tensor, and a backward to
that leaf would compute the weight gradient of every block; :class:`SubdomainView`
therefore presents each stacked parameter to the model as separate rows — leaves that
require a gradient for the owned blocks, constants for the others — for as long as the
view is entered.

:func:`subdomain_costs` measures, with the FLOP counter of
:mod:`ml2bench.hierarchy.cost`, ``FLOPs(∇_d f) / FLOPs(∇f)`` on a batch: the factor
by which a subdomain gradient is cheaper than a full gradient on the same batch. It is
measured, not assumed: the forward pass is never saved and the backward through the
layers after the subdomain still propagates input gradients.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from ml2bench.decomposition.parameters import ParameterDecomposition
from ml2bench.hierarchy.cost import count_flops

Objective = Callable[[nn.Module, tuple], Tensor]


def _unwrap(value):
    """``value`` with every :class:`_Rows` (also inside lists, tuples, dicts) stacked."""
    if isinstance(value, _Rows):
        return value._whole()
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


class _Rows(torch.Tensor):
    """A block-stacked parameter seen as its rows: ``t[k]`` is row ``k``'s own tensor
    (a leaf when the subdomain owns block ``k``); every other operation sees the rows
    stacked (differentiably)."""

    @staticmethod
    def __new__(cls, rows: list[Tensor]):
        view = torch.stack([r.detach() for r in rows]).as_subclass(cls)
        view._rows = rows
        view._stacked = None
        return view

    def _whole(self) -> Tensor:
        if self._stacked is None:  # the rows are plain tensors: no recursion
            self._stacked = torch.stack(self._rows)
        return self._stacked

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if (func is torch.Tensor.__getitem__ and isinstance(args[0], _Rows)
                and isinstance(args[1], int)):
            return args[0]._rows[args[1]]
        return func(*_unwrap(args), **_unwrap(kwargs))  # plain tensors: no recursion


class SubdomainView:
    """Within ``with``: ``model`` differentiable with respect to subdomain ``d`` only.

    Parameters it does not own are replaced by detached copies, partly owned
    block-stacked ones by :class:`_Rows`; everything is restored on exit.

    Attributes
    ----------
    inputs : list of Tensor
        The leaves to differentiate with respect to (whole parameters or rows).
    """

    def __init__(self, model: nn.Module, decomposition: ParameterDecomposition,
                 d: int) -> None:
        self.model, self.decomposition, self.d = model, decomposition, d
        self.inputs: list[Tensor] = []
        self._pieces: list = []  # the piece of each input
        self._saved: list = []

    def __enter__(self) -> "SubdomainView":
        owned: dict[int, set] = {}
        for i, row in self.decomposition.pieces[self.d]:
            owned.setdefault(i, set()).add(row)
        self.inputs, self._pieces, self._saved = [], [], []
        for i, (name, param) in enumerate(self.model.named_parameters()):
            rows = owned.get(i, set())
            if None in rows or (rows and len(rows) == param.shape[0]):
                self.inputs.append(param)
                self._pieces.append((i, None))
                continue
            if rows:
                parts = [param[k].detach().requires_grad_(k in rows)
                         for k in range(param.shape[0])]
                replacement = _Rows(parts)
                for k in sorted(rows):
                    self.inputs.append(parts[k])
                    self._pieces.append((i, k))
            else:
                replacement = param.detach()
            prefix, _, leaf = name.rpartition(".")
            module = self.model.get_submodule(prefix)
            self._saved.append((module, leaf, module._parameters[leaf]))
            module._parameters[leaf] = replacement
        return self

    def __exit__(self, *exc) -> None:
        for module, leaf, param in reversed(self._saved):
            module._parameters[leaf] = param
        self._saved = []

    def gather(self, grads: list[Tensor | None]) -> Tensor:
        """``R_d ∇f`` from the gradients of :attr:`inputs` (None counts as zero)."""
        dec = self.decomposition
        first = next((g for g in grads if g is not None), self.inputs[0])
        full = torch.zeros(dec.size, dtype=first.dtype, device=first.device)
        for piece, grad in zip(self._pieces, grads):
            if grad is not None:
                full[dec.piece_indices(piece).to(full.device)] = grad.reshape(-1)
        return dec.restrict(full, self.d)


def subdomain_loss_and_grad(model: nn.Module, objective: Objective, batch: tuple,
                            decomposition: ParameterDecomposition,
                            d: int) -> tuple[Tensor, Tensor]:
    """The objective and ``R_d ∇f`` (uncounted; the oracle charges it)."""
    with SubdomainView(model, decomposition, d) as view, torch.enable_grad():
        loss = objective(model, batch)
        grads = torch.autograd.grad(loss, view.inputs, allow_unused=True)
        return loss.detach(), view.gather(list(grads))


def subdomain_costs(model: nn.Module, objective: Objective, batch: tuple,
                    decomposition: ParameterDecomposition) -> list[float]:
    """``FLOPs(R_d ∇f) / FLOPs(∇f)`` per subdomain on ``batch``, by the FLOP counter."""
    params = list(model.parameters())

    def full():
        with torch.enable_grad():
            torch.autograd.grad(objective(model, batch), params)

    reference = count_flops(full)
    if reference <= 0:
        raise RuntimeError("the FLOP counter saw no work in the full gradient")
    return [count_flops(lambda: subdomain_loss_and_grad(model, objective, batch,
                                                        decomposition, d)) / reference
            for d in range(decomposition.num_subdomains)]
