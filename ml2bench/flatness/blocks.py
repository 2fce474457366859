"""Curvature restricted to a block of parameters (metric M9).

For a block ``d`` (a subdomain of a domain decomposition, or the parameters of one
level or layer) with restriction ``R_d`` (selecting the block's entries), the block
Hessian is ``H_d = R_d H R_dᵀ``: its products are ``H_d v = R_d H (R_dᵀ v)`` — one full
HVP with ``v`` zero outside the block, restricted to the block. The operator lives on
the block's entries only, so its spectrum is that of ``H_d`` (no spurious zeros from
the complement) and ``tr H_d = Σ_{i∈d} H_ii``.

A block is given either as a list of parameter indices (positions in the list of
trainable parameters) or as one mask per parameter (a boolean tensor of the
parameter's shape, or ``None`` to exclude the parameter).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import torch

from ml2bench.flatness.lanczos import hess_max, hess_min
from ml2bench.flatness.trace import hutchinson_trace
from ml2bench.flatness.vectors import Vector, VectorOperator

Block = Union[Sequence[int], Sequence[Union[torch.Tensor, None]]]


def block_masks(template: Sequence[torch.Tensor], block: Block) -> list[torch.Tensor | None]:
    """Normalise ``block`` to one boolean mask (or ``None``) per template tensor."""
    if all(isinstance(i, int) and not isinstance(i, bool) for i in block):
        chosen = set(block)
        if not chosen or min(chosen) < 0 or max(chosen) >= len(template):
            raise ValueError(f"Parameter indices {sorted(chosen)} outside 0..{len(template) - 1}.")
        return [torch.ones_like(t, dtype=torch.bool) if i in chosen else None
                for i, t in enumerate(template)]
    if len(block) != len(template):
        raise ValueError(f"Got {len(block)} masks for {len(template)} parameters.")
    masks = []
    for mask, t in zip(block, template):
        if mask is not None and mask.shape != t.shape:
            raise ValueError(f"Mask shape {tuple(mask.shape)} != parameter shape {tuple(t.shape)}.")
        masks.append(None if mask is None else mask.to(device=t.device, dtype=torch.bool))
    if not any(m is not None and bool(m.any()) for m in masks):
        raise ValueError("The block selects no parameter entries.")
    return masks


class RestrictedOperator:
    """``H_d = R_d H R_dᵀ`` acting on the block's entries (1-D tensors, one per
    selected parameter, entries in row-major order)."""

    def __init__(self, op: VectorOperator, block: Block) -> None:
        self.op = op
        self.masks = block_masks(list(op.template), block)
        self.template = [t.detach()[m] for t, m in zip(op.template, self.masks) if m is not None]

    def prolong(self, v: Sequence[torch.Tensor]) -> Vector:
        """``R_dᵀ v``: the block vector extended by zeros."""
        full, parts = [], iter(v)
        for t, m in zip(self.op.template, self.masks):
            out = torch.zeros_like(t)
            if m is not None:
                out[m] = next(parts).to(dtype=t.dtype)
            full.append(out)
        return full

    def restrict(self, full: Sequence[torch.Tensor]) -> Vector:
        """``R_d u``: the block's entries of a full vector."""
        return [u[m] for u, m in zip(full, self.masks) if m is not None]

    def matvec(self, v: Sequence[torch.Tensor]) -> Vector:
        """``R_B H P_B v``: the Hessian restricted to the block's parameters."""
        return self.restrict(self.op.matvec(self.prolong(v)))


@dataclass
class BlockCurvature:
    """``λ_max``, ``λ_min`` and the trace of one block Hessian ``R_d H R_dᵀ``."""

    size: int
    hess_max: float
    hess_min: float
    trace: float
    trace_stderr: float
    num_hvps: int


def block_curvature(
    op: VectorOperator,
    block: Block,
    num_probes: int = 100,
    tol: float = 1e-3,
    max_iter: int = 100,
    generator: torch.Generator | None = None,
) -> BlockCurvature:
    """Extreme eigenvalues (Lanczos, ``which='LA'/'SA'``) and Hutchinson trace of
    ``R_d H R_dᵀ``; all randomness from ``generator`` (default seeded 0)."""
    restricted = RestrictedOperator(op, block)
    generator = generator or torch.Generator().manual_seed(0)
    top = hess_max(restricted, tol, max_iter, generator)
    bottom = hess_min(restricted, tol, max_iter, generator)
    trace = hutchinson_trace(restricted, num_probes, generator)
    return BlockCurvature(
        size=sum(t.numel() for t in restricted.template),
        hess_max=float(top.values[0]),
        hess_min=float(bottom.values[0]),
        trace=trace.trace,
        trace_stderr=trace.stderr,
        num_hvps=top.num_hvps + bottom.num_hvps + trace.num_hvps,
    )


def block_curvatures(
    op: VectorOperator,
    blocks: Sequence[Block],
    num_probes: int = 100,
    tol: float = 1e-3,
    max_iter: int = 100,
    generator: torch.Generator | None = None,
) -> list[BlockCurvature]:
    """:func:`block_curvature` for every block (per subdomain / per level), sharing
    one ``generator``."""
    generator = generator or torch.Generator().manual_seed(0)
    return [block_curvature(op, b, num_probes, tol, max_iter, generator) for b in blocks]
