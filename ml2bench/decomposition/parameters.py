"""Parameter decompositions: subdomains of the flat parameter vector (APTS_P, SPQN).

Entries are numbered in :mod:`ml2bench.parameters` order (``model.parameters()``
flattened). A model is seen as *layers*:

* ResNet-ODE models (:class:`~ml2bench.models.resnet_ode.ResNetODE`,
  :class:`~ml2bench.models.conv_resnet_ode.ConvResNetODE`, every model with a
  ``stacked()`` method): block ``k`` is row ``k`` of every block-stacked parameter
  (``block_weight[k]``, ``block_bias[k]``); the non-stacked parameters before the first
  stacked one are the *opening* layer, those after it the *classifier*;
* other models: each submodule that owns parameters is one block (no opening or
  classifier).

Two decompositions:

* **layer-wise** (:meth:`ParameterDecomposition.layerwise`): the ``K`` blocks are cut
  into ``D`` contiguous groups (sizes ``⌈K/D⌉`` first, then ``⌊K/D⌋``); the opening layer
  joins the first group, the classifier the last. With an overlap fraction ``ω`` each
  group also takes ``o = round(ω ⌊K/D⌋)`` blocks on each side from its neighbours
  (``[s n − o, (s+1) n + o)`` of the SPQN trainers, Kopaničáková et al., SISC 46
  (2024)); ``overlap_blocks=o`` gives that integer overlap directly (the SPQN
  trainers' ``overlap_width``, in layers) instead of the fraction;
* **tensor-wise** (:meth:`ParameterDecomposition.tensorwise`): the parameter tensors
  are shuffled by one seeded permutation and split into ``D`` contiguous chunks (sizes
  ``⌈T/D⌉`` first), each subdomain owning its tensors whole — the random split of
  DD4ML's APTS_P (``utility/apts_utils.py``: ``broadcast_shuffle``, ``split_indices``).

Each subdomain ``d`` is an index set ``I_d`` (sorted) on the flat vector, with the
restriction ``R_d``, extension ``R_dᵀ x_d + (I − R_dᵀR_d) base`` and partition-of-unity
weights of :class:`~ml2bench.decomposition.base.IndexDecomposition`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ml2bench.decomposition.base import (IndexDecomposition, balanced_bounds, check_overlap,
                                         check_subdomains)
from ml2bench.errors import UserError

#: A piece of a layer: ``(parameter index, row)``; ``row`` None means the whole tensor,
#: otherwise row ``row`` of a block-stacked tensor.
Piece = tuple[int, "int | None"]


@dataclass(frozen=True)
class Layers:
    """A model's parameters grouped into opening, blocks and classifier (pieces)."""

    opening: list
    blocks: list
    classifier: list


def model_layers(model: nn.Module) -> Layers:
    """The layers of ``model`` (module docstring)."""
    named = list(model.named_parameters())
    stacked_of = getattr(model, "stacked", None)
    if stacked_of is None:
        groups: dict[str, list] = {}
        for i, (name, _) in enumerate(named):
            groups.setdefault(name.rpartition(".")[0], []).append((i, None))
        return Layers([], list(groups.values()), [])
    stacked = list(stacked_of())
    if len(stacked) != len(named):
        raise ValueError("model.stacked() must have one entry per parameter")
    rows = {named[i][1].shape[0] for i, s in enumerate(stacked) if s}
    if len(rows) != 1:
        raise ValueError("the block-stacked parameters must share one leading block axis")
    num_blocks = rows.pop()
    first = stacked.index(True)
    opening = [(i, None) for i in range(first) if not stacked[i]]
    classifier = [(i, None) for i in range(first, len(named)) if not stacked[i]]
    blocks = [[(i, k) for i, s in enumerate(stacked) if s] for k in range(num_blocks)]
    return Layers(opening, blocks, classifier)


class ParameterDecomposition(IndexDecomposition):
    """Subdomains of a model's flat parameter vector; build with :meth:`layerwise` or
    :meth:`tensorwise`.

    Attributes
    ----------
    kind : {"layer", "tensor"}
        How it was built.
    pieces : list of list of (int, int or None)
        Per subdomain, the parameter tensors (``row`` None) or rows of block-stacked
        tensors it owns.
    shapes : list of torch.Size
        The shapes of the model's parameters (the layout of the flat vector).
    labels : list of str
        A short description of each subdomain (``opening+blocks 0-15``, ``tensors 2,5``).
    """

    def __init__(self, model: nn.Module, pieces: list[list], kind: str,
                 labels: list[str]) -> None:
        params = list(model.parameters())
        self.kind = kind
        self.shapes = [p.shape for p in params]
        self.offsets = [0]
        for p in params:
            self.offsets.append(self.offsets[-1] + p.numel())
        self.pieces = [sorted(set(group), key=lambda piece: (piece[0], piece[1] or 0))
                       for group in pieces]
        self.labels = labels
        indices = [torch.cat([self.piece_indices(piece) for piece in group])
                   for group in self.pieces]
        super().__init__(self.offsets[-1], [torch.sort(i).values for i in indices])

    def piece_indices(self, piece: Piece) -> torch.Tensor:
        """Flat indices of one piece."""
        i, row = piece
        start, stop = self.offsets[i], self.offsets[i + 1]
        if row is None:
            return torch.arange(start, stop)
        width = (stop - start) // self.shapes[i][0]
        return torch.arange(start + row * width, start + (row + 1) * width)

    @classmethod
    def layerwise(cls, model: nn.Module, subdomains: int, overlap: float = 0.0,
                  overlap_blocks: int | None = None) -> "ParameterDecomposition":
        """Contiguous groups of blocks, opening with the first, classifier with the last.

        ``overlap_blocks`` (an integer ``o ≥ 0``), when given, is the number of blocks
        each group takes on each side from its neighbours and replaces ``overlap``.

        Raises
        ------
        UserError
            ``subdomains < 1``, more subdomains than blocks, ``overlap ∉ [0, 1)`` or
            ``overlap_blocks < 0``.
        """
        layers = model_layers(model)
        num_blocks = len(layers.blocks)
        check_subdomains(subdomains, num_blocks, "residual blocks")
        overlap = check_overlap(overlap)
        if overlap_blocks is None:
            extra = round(overlap * (num_blocks // subdomains))
        elif isinstance(overlap_blocks, int) and overlap_blocks >= 0:
            extra = overlap_blocks
        else:
            raise UserError(f"overlap_blocks must be an integer >= 0, got {overlap_blocks!r}")
        pieces, labels = [], []
        for d, (start, stop) in enumerate(balanced_bounds(num_blocks, subdomains)):
            lo, hi = max(0, start - extra), min(num_blocks, stop + extra)
            group = [piece for block in layers.blocks[lo:hi] for piece in block]
            label = f"blocks {lo}-{hi - 1}"
            if d == 0 and layers.opening:
                group, label = layers.opening + group, "opening+" + label
            if d == subdomains - 1 and layers.classifier:
                group, label = group + layers.classifier, label + "+classifier"
            pieces.append(group)
            labels.append(label)
        decomposition = cls(model, pieces, "layer", labels)
        decomposition.overlap, decomposition.overlap_blocks = overlap, extra
        return decomposition

    @classmethod
    def tensorwise(cls, model: nn.Module, subdomains: int,
                   seed: int = 0) -> "ParameterDecomposition":
        """The parameter tensors, shuffled by a seeded permutation, in ``D`` contiguous
        chunks (DD4ML's APTS_P split).

        Raises
        ------
        UserError
            ``subdomains < 1`` or more subdomains than parameter tensors.
        """
        num_tensors = len(list(model.parameters()))
        check_subdomains(subdomains, num_tensors, "parameter tensors")
        permutation = torch.randperm(num_tensors,
                                     generator=torch.Generator().manual_seed(int(seed)))
        pieces, labels = [], []
        for start, stop in balanced_bounds(num_tensors, subdomains):
            owned = sorted(int(i) for i in permutation[start:stop])
            pieces.append([(i, None) for i in owned])
            labels.append("tensors " + ",".join(map(str, owned)))
        decomposition = cls(model, pieces, "tensor", labels)
        decomposition.overlap, decomposition.seed = 0.0, int(seed)
        return decomposition

    def __repr__(self) -> str:
        return (f"ParameterDecomposition({self.kind}, size={self.size}, "
                f"subdomains={self.labels})")
