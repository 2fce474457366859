"""Seeded parameter initialisation (explicit ``torch.Generator``, never the global RNG)."""

from __future__ import annotations

import math

import torch


def uniform_fan_in(shape: tuple[int, ...], fan_in: int, generator: torch.Generator,
                   dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
    """``U(−1/√fan_in, 1/√fan_in)`` (PyTorch's default for Linear/Conv), seeded."""
    bound = 1.0 / math.sqrt(fan_in)
    values = torch.rand(shape, generator=generator, dtype=dtype) * (2 * bound) - bound
    return values.to(device)
