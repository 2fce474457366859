"""Per-level evaluation costs measured with PyTorch's FLOP counter.

The cost of an evaluation kind on level ``l`` is
``FLOPs(kind, level l, batch) / FLOPs(forward+backward, level 0, batch)`` on the same
sample batch, counted by :class:`torch.utils.flop_counter.FlopCounterMode` (matrix
products and convolutions, forward and backward). Kinds:

* ``forward`` — the objective alone (including any input derivatives a PINN needs);
* ``grad`` — objective and its parameter gradient;
* ``hvp`` — a Hessian-vector product that linearises the gradient: forward, backward
  with ``create_graph`` and one double backward (:class:`~ml2bench.hessian.LinearisedGradient`);
* ``hvp_more`` — a further product through that retained linearisation (one double
  backward, :meth:`~ml2bench.hessian.LinearisedGradient.product`; Pearlmutter 1994).

:func:`level_costs` is what hierarchies call: the measured costs, read from the
on-disk cache (:mod:`ml2bench.hierarchy.cost_cache`) when the problem being built is
known.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from ml2bench.hessian import LinearisedGradient
from ml2bench.hierarchy.base import LevelCost


def _mv_flops(matrix, vector, out_val=None) -> int:
    """A matrix-vector product ``(m, n) @ (n,)``: ``2mn`` FLOPs (``mm``'s rule for one
    column; PyTorch's registry has no entry for ``mv``)."""
    return 2 * matrix.shape[0] * matrix.shape[1]


#: PyTorch's FLOP formulas, completed with the matrix-vector product.
FLOP_FORMULAS = {**flop_registry, torch.ops.aten.mv: _mv_flops}

Objective = Callable[[nn.Module, tuple], torch.Tensor]


class TotalFlopCounter(TorchDispatchMode):
    """Total FLOPs by the formulas of :class:`~torch.utils.flop_counter.FlopCounterMode`.

    Same dispatch logic and ``flop_registry`` as PyTorch's counter (plus ``mv``), without its module
    tracker: the tracker's backward hooks break ``torch.autograd.grad`` with respect to
    inputs, which PINN objectives need (torch 2.13).
    """

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func not in FLOP_FORMULAS and func._overloadpacket not in FLOP_FORMULAS:
            with self:
                decomposed = func.decompose(*args, **kwargs)
            if decomposed is not NotImplemented:
                return decomposed
        out = func(*args, **kwargs)
        formula = FLOP_FORMULAS.get(func._overloadpacket)
        if formula is not None:
            self.total += int(formula(*args, **kwargs, out_val=out))
        return out


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs counted while running ``fn()`` once."""
    with TotalFlopCounter() as counter:
        fn()
    return counter.total


def evaluation_flops(model: nn.Module, objective: Objective, batch: tuple) -> dict[str, int]:
    """FLOPs of one forward, one gradient, one first HVP and one further HVP of
    ``objective`` on ``batch``.

    The first HVP (``hvp``) counts the linearisation of the gradient and its first
    product; ``hvp_more`` counts a second product through the retained graph
    (:class:`~ml2bench.hessian.LinearisedGradient`, Pearlmutter 1994).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    vector = [torch.ones_like(p) for p in params]
    linearised: list[LinearisedGradient] = []

    def forward():
        with torch.enable_grad():
            objective(model, batch)

    def gradient():
        loss = objective(model, batch)
        torch.autograd.grad(loss, params)

    def first_product():
        linearised.append(LinearisedGradient(lambda: objective(model, batch), params))
        linearised[0].product(vector)

    flops = {"forward": count_flops(forward), "grad": count_flops(gradient),
             "hvp": count_flops(first_product)}
    flops["hvp_more"] = count_flops(lambda: linearised[0].product(vector))
    linearised[0].release()
    return flops


def measure_level_costs(models: Sequence[nn.Module], objective: Objective,
                        batch: tuple) -> list[LevelCost]:
    """Relative costs of every level, normalised by the finest level's gradient FLOPs."""
    flops = [evaluation_flops(model, objective, batch) for model in models]
    reference = flops[0]["grad"]
    if reference <= 0:
        raise RuntimeError("the FLOP counter saw no work in the finest gradient; "
                           "the objective must use matrix products or convolutions")
    return [LevelCost(forward=f["forward"] / reference, grad=f["grad"] / reference,
                      hvp=f["hvp"] / reference, hvp_more=f["hvp_more"] / reference)
            for f in flops]


def level_costs(models: Sequence[nn.Module], objective: Objective,
                batch: tuple) -> list[LevelCost]:
    """:func:`measure_level_costs`, cached on disk per problem, version, parameters and
    device type (see :mod:`ml2bench.hierarchy.cost_cache`)."""
    from ml2bench.hierarchy.cost_cache import cached

    return cached(lambda: measure_level_costs(models, objective, batch), LevelCost,
                  len(models), torch.__version__)
