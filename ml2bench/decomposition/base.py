"""Index decompositions: subdomains as index sets, with a partition of unity.

A decomposition of ``{0, …, n−1}`` (the entries of the flat parameter vector, or the
training samples) into ``D`` possibly overlapping subdomains is given by the index sets
``I_d``, i.e. by the restrictions ``R_d ∈ {0,1}^{|I_d|×n}`` with ``(R_d x)_j = x_{I_d[j]}``.
Entry ``i`` has *multiplicity* ``m_i = #{d : i ∈ I_d}`` (≥ 1: the subdomains cover
everything) and the partition-of-unity weights ``w_i = 1/m_i`` give

.. math:: \\sum_{d=1}^{D} R_d^{\\mathsf T} (w_d \\odot R_d x) = x, \\qquad w_d = R_d w,

the simplest (Boolean-multiplicity) partition of unity of Dolean, Jolivet & Nataf,
*An Introduction to Domain Decomposition Methods*, SIAM 2015, §1.3 (eq. (1.25) there,
``Σ_d R_dᵀ D_d R_d = I``).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from ml2bench.errors import UserError


def check_subdomains(subdomains: int, available: int, what: str) -> None:
    """One-line :class:`UserError` unless ``1 <= subdomains <= available``."""
    if not isinstance(subdomains, int) or subdomains < 1:
        raise UserError(f"the number of subdomains must be an integer >= 1, got {subdomains!r}")
    if subdomains > available:
        raise UserError(f"{subdomains} subdomains but only {available} {what}; "
                        f"use at most {available} subdomains")


def check_overlap(overlap: float) -> float:
    """One-line :class:`UserError` unless ``0 <= overlap < 1``."""
    try:
        value = float(overlap)
    except (TypeError, ValueError):
        raise UserError(f"overlap must be a number in [0, 1), got {overlap!r}") from None
    if not 0.0 <= value < 1.0:
        raise UserError(f"overlap must be in [0, 1), got {overlap!r}")
    return value


def balanced_bounds(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous ranges covering ``range(n)``, sizes ``⌈n/parts⌉`` for the first
    ``n mod parts`` and ``⌊n/parts⌋`` for the rest (DD4ML's ``split_indices``)."""
    q, r = divmod(n, parts)
    bounds = []
    for d in range(parts):
        start = d * q + min(d, r)
        bounds.append((start, start + q + (1 if d < r else 0)))
    return bounds


class IndexDecomposition:
    """Subdomains ``I_1 … I_D`` of ``range(size)`` with restriction, extension and the
    partition of unity ``w = 1/multiplicity`` (module docstring).

    Parameters
    ----------
    size : int
        ``n``, the number of entries decomposed.
    indices : sequence of LongTensor
        ``I_d`` per subdomain (no repeated entry within one subdomain); together they
        must cover ``range(size)``.
    """

    def __init__(self, size: int, indices: Sequence[Tensor]) -> None:
        self.size = int(size)
        self.indices = [torch.as_tensor(i, dtype=torch.long).reshape(-1) for i in indices]
        counts = torch.zeros(self.size, dtype=torch.long)
        for index in self.indices:
            if index.numel() and (int(index.min()) < 0 or int(index.max()) >= self.size):
                raise ValueError("subdomain index out of range")
            if torch.unique(index).numel() != index.numel():
                raise ValueError("a subdomain lists an entry twice")
            counts[index] += 1
        if self.size and int(counts.min()) == 0:
            raise ValueError("the subdomains do not cover every entry")
        self.multiplicity = counts
        self.weights = 1.0 / counts.to(torch.float64)

    @property
    def num_subdomains(self) -> int:
        """``D``."""
        return len(self.indices)

    def __len__(self) -> int:
        return self.num_subdomains

    def sizes(self) -> list[int]:
        """``|I_d|`` per subdomain."""
        return [int(i.numel()) for i in self.indices]

    def _index(self, d: int, device) -> Tensor:
        return self.indices[d].to(device)

    def restrict(self, x: Tensor, d: int) -> Tensor:
        """``R_d x`` (the entries of ``x`` in subdomain ``d``, in ``I_d`` order)."""
        return x[self._index(d, x.device)]

    def extend(self, x_d: Tensor, d: int, base: Tensor | None = None) -> Tensor:
        """``R_dᵀ x_d + (I − R_dᵀ R_d) base``: ``base`` (zero if None) with subdomain
        ``d``'s entries replaced by ``x_d``; a new tensor."""
        out = (torch.zeros(self.size, dtype=x_d.dtype, device=x_d.device) if base is None
               else base.detach().clone())
        out[self._index(d, out.device)] = x_d
        return out

    def unity_weights(self, d: int, like: Tensor | None = None) -> Tensor:
        """``w_d = R_d w``, ``w = 1/multiplicity`` (in ``like``'s dtype and device)."""
        w = self.weights[self.indices[d]]
        return w if like is None else w.to(dtype=like.dtype, device=like.device)

    def assemble(self, parts: Sequence[Tensor], weighted: bool = True) -> Tensor:
        """``Σ_d R_dᵀ (w_d ⊙ x_d)`` (or without the weights): the partition-of-unity
        sum of local vectors; ``assemble([restrict(x, d) …]) == x``."""
        out = torch.zeros(self.size, dtype=parts[0].dtype, device=parts[0].device)
        for d, part in enumerate(parts):
            value = part * self.unity_weights(d, part) if weighted else part
            out.index_add_(0, self._index(d, out.device), value)
        return out
