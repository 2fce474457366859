"""Flat parameter vectors: the one set of helpers that convert between a model's
parameter list and a single 1-D tensor.

The order is ``model.parameters()`` (that of
:func:`torch.nn.utils.parameters_to_vector`). Solvers that work on flat vectors (trust
region, RMTR, MG/OPT), the flatness metrics (lists of parameter-shaped tensors) and the
hierarchy's transfers all use these functions; none of them tracks autograd history.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters with ``requires_grad``, in ``model.parameters()`` order."""
    return [p for p in model.parameters() if p.requires_grad]


def flatten(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenation of the flattened, detached tensors (one 1-D tensor)."""
    return torch.cat([t.detach().reshape(-1) for t in tensors])


def unflatten(flat: Tensor, template: Sequence[Tensor]) -> list[Tensor]:
    """Split a 1-D tensor into tensors shaped (and typed, placed) like ``template``.

    The pieces are views of ``flat`` when dtype and device already match.

    Raises
    ------
    ValueError
        If ``flat`` and ``template`` differ in their number of entries.
    """
    out, start = [], 0
    for t in template:
        stop = start + t.numel()
        out.append(flat[start:stop].reshape(t.shape).to(dtype=t.dtype, device=t.device))
        start = stop
    if start != flat.numel():
        raise ValueError(f"Flat vector has {flat.numel()} entries, template {start}.")
    return out


def clone(tensors: Sequence[Tensor]) -> list[Tensor]:
    """Detached copies of ``tensors`` (e.g. ``clone(model.parameters())``)."""
    return [t.detach().clone() for t in tensors]


@torch.no_grad()
def restore_(targets: Sequence[Tensor], saved: Sequence[Tensor]) -> None:
    """Copy ``saved`` into ``targets`` in place (bit-exact; no arithmetic, no autograd)."""
    for target, value in zip(targets, saved):
        target.copy_(value)


def copy_params_into(model: nn.Module, values: Sequence[Tensor]) -> None:
    """Overwrite ``model``'s parameters with the tensors ``values``."""
    restore_(list(model.parameters()), values)


def model_vector(model: nn.Module) -> Tensor:
    """A detached copy of ``model``'s parameters as one flat vector."""
    return flatten(list(model.parameters())).clone()


def load_vector(model: nn.Module, vector: Tensor) -> None:
    """Copy a flat vector into ``model``'s parameters (no aliasing, no autograd)."""
    params = list(model.parameters())
    restore_(params, unflatten(vector, params))
