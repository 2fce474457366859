"""State hygiene: a metric leaves the model exactly as it found it.

Two context managers:

* :func:`evaluation_mode` switches every submodule to ``eval()`` (no dropout, batch
  norm uses its running statistics and does not update them), saves the global torch
  RNG states, disables TF32 matrix products and convolutions on GPU, and on exit
  restores each submodule's own ``training`` flag, the RNG states and the TF32
  switches. Unlike PyHessian it is entered per evaluation, never in a constructor.
* :func:`preserved_state` additionally snapshots every parameter and buffer
  (including batch-norm running statistics and ``num_batches_tracked``) and copies the
  snapshots back on exit — bit-exact, even when the body raised. Metrics that perturb
  the weights (finite differences, sharpness, landscapes) run inside it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


def _rng_states() -> tuple[torch.Tensor, list[torch.Tensor] | None]:
    cuda = None
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda = torch.cuda.get_rng_state_all()
    return torch.get_rng_state(), cuda


def _set_rng_states(states: tuple[torch.Tensor, list[torch.Tensor] | None]) -> None:
    cpu, cuda = states
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state_all(cuda)


@contextmanager
def full_precision() -> Iterator[None]:
    """Disable TF32 for CUDA matrix products and cuDNN convolutions in the body
    (TF32 keeps 10 mantissa bits: too coarse for curvature); restore after."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul
        torch.backends.cudnn.allow_tf32 = cudnn


@contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run the body with ``model.eval()`` and :func:`full_precision`; restore training
    flags and RNG states after.

    Each submodule's flag is restored individually, so a model that mixes train and
    eval submodules (e.g. frozen batch norm) comes back unchanged.
    """
    flags = [(module, module.training) for module in model.modules()]
    rng = _rng_states()
    model.eval()
    try:
        with full_precision():
            yield model
    finally:
        for module, flag in flags:
            module.training = flag
        _set_rng_states(rng)


@contextmanager
def preserved_state(model: nn.Module) -> Iterator[nn.Module]:
    """:func:`evaluation_mode` plus a bit-exact snapshot of parameters and buffers.

    On exit every parameter and buffer is overwritten with its saved copy (``copy_``,
    no arithmetic), so perturb-and-undo rounding cannot leak into the model.
    """
    tensors = list(model.parameters()) + list(model.buffers())
    with torch.no_grad():
        saved = [t.detach().clone() for t in tensors]
    try:
        with evaluation_mode(model):
            yield model
    finally:
        with torch.no_grad():
            for t, s in zip(tensors, saved):
                t.copy_(s)
