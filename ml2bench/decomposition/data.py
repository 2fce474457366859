"""Data decomposition: ``D`` shards of the training set (APTS_D's subdomains).

One seeded permutation ``π`` of the ``N`` samples is cut into ``D`` contiguous chunks
``C_d`` of sizes ``⌊N/D⌋`` or ``⌈N/D⌉`` (the larger ones first). With an overlap
fraction ``ω ∈ [0, 1)`` each shard also takes the first ``m = round(ω ⌊N/D⌋)`` samples
of the next chunk, circularly (the last shard takes them from the first chunk), so that
consecutive shards share ``m`` samples and every shard has ``|C_d| + m`` samples — the
overlapping sampler of DD4ML (``dataloaders.py``: ``overlap_sz = round(overlap ·
batch_size)``, last overlaps first). With one shard there is nothing to overlap
(``m = 0``).

A sample's multiplicity is the number of shards that hold it (1 or 2 when
``m ≤ ⌊N/D⌋``); the partition-of-unity weights ``w_i = 1/m_i`` make a weighted sum of
per-shard sums the full sum, ``Σ_d Σ_{i∈S_d} w_i f_i = Σ_i f_i``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ml2bench.decomposition.base import (IndexDecomposition, balanced_bounds, check_overlap,
                                         check_subdomains)


class DataDecomposition(IndexDecomposition):
    """``D`` shards of ``range(num_samples)``, deterministic per seed (module docstring).

    Parameters
    ----------
    num_samples : int
        ``N``, the training-set size.
    subdomains : int
        ``D`` (``1 ≤ D ≤ N``).
    overlap : float, optional
        ``ω ∈ [0, 1)``: consecutive shards share ``round(ω ⌊N/D⌋)`` samples.
    seed : int, optional
        Seeds the permutation (a private ``torch.Generator``).

    Attributes
    ----------
    shards : list of LongTensor
        The sample indices of each shard (``indices``), in permutation order.
    overlap_size : int
        ``m``, the samples each shard shares with the next.

    Raises
    ------
    UserError
        ``D < 1``, ``D > N`` or ``ω ∉ [0, 1)``.
    """

    def __init__(self, num_samples: int, subdomains: int, overlap: float = 0.0,
                 seed: int = 0) -> None:
        check_subdomains(subdomains, int(num_samples), "training samples")
        self.overlap = check_overlap(overlap)
        self.seed = int(seed)
        n = int(num_samples)
        permutation = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed))
        self.overlap_size = 0 if subdomains == 1 else round(self.overlap * (n // subdomains))
        bounds = balanced_bounds(n, subdomains)
        shards = []
        for d, (start, stop) in enumerate(bounds):
            next_start = bounds[(d + 1) % subdomains][0]
            extra = permutation[next_start:next_start + self.overlap_size]
            shards.append(torch.cat([permutation[start:stop], extra]))
        super().__init__(n, shards)

    @property
    def shards(self) -> list[Tensor]:
        """Sample indices per shard."""
        return self.indices

    @property
    def chunks(self) -> list[Tensor]:
        """The disjoint part ``C_d`` of each shard (the shard without the ``m`` samples
        it shares with the next): a partition of ``range(num_samples)``."""
        return [shard[:shard.numel() - self.overlap_size] for shard in self.indices]

    def fractions(self) -> list[float]:
        """``|S_d| / N`` per shard: the work units of a full-shard gradient, in units of
        a full gradient (their sum is ``1 + D m / N`` with overlap)."""
        return [size / self.size for size in self.sizes()]

    def __repr__(self) -> str:
        return (f"DataDecomposition(num_samples={self.size}, subdomains={self.num_subdomains}, "
                f"overlap={self.overlap}, seed={self.seed})")
