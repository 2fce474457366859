"""Reference problems with known Hessians, for tests and sanity checks.

The quadratic ``L(θ) = ½ (θ − θ*)ᵀ A (θ − θ*)`` has gradient ``A(θ − θ*)``, Hessian
``A`` everywhere, and therefore exactly known spectra, traces, sharpness values and
loss slices (metrics.md, analytic test 1). It ignores the data; any batches work.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def symmetric_matrix(
    eigenvalues: Sequence[float], generator: torch.Generator, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """``A = Q diag(λ) Qᵀ`` with ``Q`` a random orthogonal matrix (QR of a Gaussian,
    column signs fixed so that ``Q`` is Haar-distributed)."""
    lam = torch.as_tensor(eigenvalues, dtype=dtype)
    size = lam.numel()
    gauss = torch.randn(size, size, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(gauss)
    q = (q * torch.sign(torch.diagonal(r))).to(dtype)
    return (q * lam) @ q.T


class QuadraticModel(nn.Module):
    """One parameter vector ``θ`` (initialised to ``theta``) and fixed ``A``, ``θ*``."""

    def __init__(self, matrix: torch.Tensor, minimizer: torch.Tensor, theta: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("matrix", matrix.clone())
        self.register_buffer("minimizer", minimizer.clone())
        self.theta = nn.Parameter(theta.clone())

    def forward(self) -> torch.Tensor:
        delta = self.theta - self.minimizer
        return 0.5 * delta @ (self.matrix @ delta)


def quadratic_loss(model: QuadraticModel, batch: tuple) -> torch.Tensor:
    """``loss_fn`` for :class:`QuadraticModel`: the data in ``batch`` is ignored."""
    return model()


def dummy_batches(num_samples: int = 1, batch_size: int = 1) -> list[tuple[torch.Tensor]]:
    """Batches of zeros, for data-free losses such as :func:`quadratic_loss`."""
    data = torch.zeros(num_samples, 1)
    return [(chunk,) for chunk in torch.split(data, batch_size)]


def quadratic_hessian(matrix: torch.Tensor, theta: torch.Tensor | None = None):
    """The :class:`~ml2bench.flatness.hvp.HessianOperator` of ``½ θᵀAθ`` with ``A =
    matrix`` (``θ* = 0``, ``θ`` zeros unless given): its exact Hessian is ``A`` at any
    ``θ``, a reference for the spectral metrics."""
    from ml2bench.flatness.hvp import HessianOperator

    size = matrix.shape[0]
    zeros = torch.zeros(size, dtype=matrix.dtype)
    model = QuadraticModel(matrix, zeros, zeros if theta is None else theta)
    return HessianOperator(model, quadratic_loss, dummy_batches())


class BlockQuadraticModel(nn.Module):
    """The quadratic of :class:`QuadraticModel` with ``θ`` split into several
    parameters of the given ``shapes`` (``θ`` is their row-major concatenation), for
    block-restricted curvature."""

    def __init__(
        self,
        matrix: torch.Tensor,
        minimizer: torch.Tensor,
        theta: torch.Tensor,
        shapes: Sequence[tuple[int, ...]],
    ) -> None:
        super().__init__()
        self.register_buffer("matrix", matrix.clone())
        self.register_buffer("minimizer", minimizer.clone())
        sizes = [int(torch.Size(s).numel()) for s in shapes]
        if sum(sizes) != theta.numel():
            raise ValueError(f"Shapes hold {sum(sizes)} entries, theta has {theta.numel()}.")
        chunks = torch.split(theta.clone(), sizes)
        self.blocks = nn.ParameterList(
            [nn.Parameter(c.reshape(s)) for c, s in zip(chunks, shapes)]
        )

    def forward(self) -> torch.Tensor:
        delta = torch.cat([p.reshape(-1) for p in self.blocks]) - self.minimizer
        return 0.5 * delta @ (self.matrix @ delta)
