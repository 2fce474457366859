"""Linear algebra on parameter-shaped vectors (lists of tensors).

A *vector* is a list of tensors matching the shapes, dtypes and devices of the
trainable parameters of a model (``requires_grad``, in ``model.parameters()`` order).
Every function here returns new tensors and never modifies its inputs. The
conversions to and from flat vectors (``flatten``, ``unflatten``, ``clone``,
``restore_``, ``trainable_parameters``) are those of :mod:`ml2bench.parameters`.

Inner products accumulate in float64, ``<u, v> = Σ_i Σ_j u_ij v_ij``, so that the
Lanczos and Hutchinson kernels keep their accuracy on float32 models.
"""

from __future__ import annotations

import math
from typing import Protocol, Sequence

import torch

Vector = list[torch.Tensor]


class VectorOperator(Protocol):
    """A symmetric linear map on parameter-shaped vectors.

    ``template`` gives the shapes, dtypes and devices of the vectors it acts on;
    ``matvec(v)`` returns ``A v`` as a new vector.
    """

    template: Sequence[torch.Tensor]

    def matvec(self, vector: Sequence[torch.Tensor]) -> Vector:  # pragma: no cover
        """``A v`` as a new parameter-shaped vector (``vector`` is not modified)."""
        ...


def zeros_like(vector: Sequence[torch.Tensor]) -> Vector:
    """The zero vector with the shapes of ``vector``."""
    return [torch.zeros_like(t) for t in vector]


def dot(u: Sequence[torch.Tensor], v: Sequence[torch.Tensor]) -> float:
    """Euclidean inner product ``Σ u_i v_i`` accumulated in float64."""
    if len(u) != len(v):
        raise ValueError(f"Vectors have {len(u)} and {len(v)} tensors; they must match.")
    total = torch.zeros((), dtype=torch.float64)
    for a, b in zip(u, v):
        total = total + torch.sum(a.detach() * b.detach(), dtype=torch.float64).cpu()
    return float(total)


def norm(v: Sequence[torch.Tensor]) -> float:
    """Euclidean norm ``‖v‖ = sqrt(<v, v>)``."""
    return math.sqrt(max(dot(v, v), 0.0))


def scale(alpha: float, x: Sequence[torch.Tensor]) -> Vector:
    """The vector ``α x``."""
    return [alpha * t for t in x]


def axpy(alpha: float, x: Sequence[torch.Tensor], y: Sequence[torch.Tensor]) -> Vector:
    """The vector ``y + α x`` (BLAS axpy, out of place)."""
    return [b + alpha * a for a, b in zip(x, y)]


def normalize(v: Sequence[torch.Tensor]) -> Vector:
    """``v / ‖v‖``; raises ``ValueError`` for the zero vector."""
    length = norm(v)
    if length == 0.0:
        raise ValueError("Cannot normalise the zero vector.")
    return scale(1.0 / length, v)


def numel(template: Sequence[torch.Tensor]) -> int:
    """Total number of entries ``P`` of a vector."""
    return sum(t.numel() for t in template)


def default_generator(seed: int = 0) -> torch.Generator:
    """A CPU generator seeded with ``seed``: the global RNG is never consumed."""
    return torch.Generator().manual_seed(seed)


def gaussian_like(template: Sequence[torch.Tensor], generator: torch.Generator) -> Vector:
    """Standard normal entries drawn from ``generator`` (on its device), moved to the
    devices and dtypes of ``template``."""
    dev = generator.device
    return [
        torch.randn(t.shape, generator=generator, device=dev, dtype=torch.float64).to(
            dtype=t.dtype, device=t.device
        )
        for t in template
    ]


def rademacher_like(template: Sequence[torch.Tensor], generator: torch.Generator) -> Vector:
    """Independent ±1 entries (probability ½ each) drawn from ``generator``."""
    dev = generator.device
    return [
        (2 * torch.randint(0, 2, t.shape, generator=generator, device=dev) - 1).to(
            dtype=t.dtype, device=t.device
        )
        for t in template
    ]
