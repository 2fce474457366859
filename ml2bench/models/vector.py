"""A model that is just a parameter vector (for quadratic/convex test problems)."""

from __future__ import annotations

import torch
from torch import nn


class VectorModel(nn.Module):
    """Holds one parameter vector ``x``; the objective reads it directly."""

    def __init__(self, x0: torch.Tensor) -> None:
        super().__init__()
        self.x = nn.Parameter(x0.clone())

    def forward(self) -> torch.Tensor:
        """The parameter vector itself."""
        return self.x

    def regularization(self) -> torch.Tensor:
        """No regulariser: the quadratic objective is the whole objective (zero)."""
        return self.x.new_zeros(())
