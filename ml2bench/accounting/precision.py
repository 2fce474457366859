r"""Reduced precision of the objective evaluations: autocast and fp16 loss scaling.

A run's ``precision`` (``--precision``, :class:`~ml2bench.runner.spec.RunSpec`) is one of

* native (``None``; ``fp32``/``fp64`` are spelled as the problem's ``dtype`` parameter,
  see :func:`ml2bench.runner.prepare.prepare`): models, data and every evaluation in
  the problem's dtype, no autocast — the behaviour of runs without the option;
* ``bf16`` / ``fp16``: *mixed precision*. The parameters stay in float32 (the master
  weights: every solver iterate, optimiser state and memory lives in them), and the
  counted oracle (:class:`~ml2bench.accounting.oracle.Oracle`, the one place where
  solvers evaluate the objective) runs the model's forward pass under
  ``torch.autocast(device_type, dtype)``. Autocast rounds the inputs of its
  low-precision ops (matmul, linear, convolutions) to the low dtype; reductions and
  losses run in float32, and the backward pass differentiates through the casts, so
  gradients and Hessian-vector products arrive in the parameters' dtype (float32).
  The oracle returns the objective value as a float32 tensor too.

Consequently the quantities that decide a step — trust-region ratios ``ρ``, actual and
predicted reductions, the L-SR1 and MG/OPT L-BFGS memories (``s``, ``y``, ``sᵀy``),
line-search values, ``torch.optim.LBFGS``'s memory (kept in the parameters' dtype) — are
float32 tensors or Python floats (double): none of them is ever bf16/fp16.

``fp16`` has a narrow exponent range (max 65504, smallest normal 6e-5), so gradients
of small losses underflow. :class:`Precision` applies dynamic loss scaling in the
manner of :class:`torch.amp.GradScaler`: the objective is multiplied by the scale
``S`` before differentiation and the gradient (or Hessian-vector product) divided by
``S`` in float32. An evaluation whose result is not finite although its loss is, is an
overflow: it is discarded (its work units stay charged — the work was done, as a
GradScaler-skipped step's is), ``S`` is multiplied by ``backoff_factor`` and the
evaluation is repeated (so a solver never receives, and never steps with, an overflowed
gradient). After ``growth_interval`` consecutive finite evaluations ``S`` grows by
``growth_factor``. If the loss itself is not finite, scaling cannot help: the result is
returned as it is (the run's divergence rule decides). ``bf16`` has float32's exponent
range and needs no scaling.

Logging evaluations (``train_loss``, test metrics, ``grad_norm``) and flatness metrics
do not go through the oracle: they evaluate the float32 master weights in float32, so
all precisions are measured by one yardstick.
"""

from __future__ import annotations

import contextlib
from typing import Sequence

import torch

#: The autocast dtypes of the reduced precisions.
AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """The evaluation precision of an oracle: autocast dtype and fp16 loss scale.

    Parameters
    ----------
    name : {None, "bf16", "fp16"}
        ``None``: native (no autocast, no scaling).
    device_type : str
        ``cpu`` or ``cuda`` (the autocast device type).
    init_scale, growth_factor, backoff_factor, growth_interval
        Dynamic loss scaling of ``fp16`` (the defaults of :class:`torch.amp.GradScaler`).
    min_scale : float
        Below this scale an overflow is no longer retried (the result is returned).

    Attributes
    ----------
    scale : float
        The current loss scale (1 unless ``fp16``).
    skipped : int
        Evaluations discarded because of an overflow.
    """

    def __init__(self, name: str | None = None, device_type: str = "cpu", *,
                 init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000,
                 min_scale: float = 2.0 ** -24) -> None:
        if name is not None and name not in AUTOCAST:
            raise ValueError(f"unknown reduced precision {name!r}; valid: {sorted(AUTOCAST)}")
        self.name = name
        self.device_type = device_type
        self.dtype = AUTOCAST.get(name)
        self.scaled = name == "fp16"
        self.scale = float(init_scale) if self.scaled else 1.0
        self.growth_factor, self.backoff_factor = growth_factor, backoff_factor
        self.growth_interval, self.min_scale = growth_interval, min_scale
        self.growth_tracker = 0
        self.skipped = 0

    def autocast(self):
        """The autocast context of the forward passes (a null context when native)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def accept(self, loss: torch.Tensor, result: Sequence[torch.Tensor]) -> bool:
        """Update the loss scale after a scaled evaluation; ``False``: discard and repeat.

        Always ``True`` without scaling, for a non-finite loss (scaling cannot help) and
        once the scale would fall below ``min_scale``.
        """
        if not self.scaled:
            return True
        finite = all(bool(torch.isfinite(t).all()) for t in result)
        if finite or not bool(torch.isfinite(loss).all()):
            self.growth_tracker += 1
            if self.growth_tracker >= self.growth_interval:
                self.scale *= self.growth_factor
                self.growth_tracker = 0
            return True
        self.skipped += 1
        self.growth_tracker = 0
        if self.scale * self.backoff_factor < self.min_scale:
            return True
        self.scale *= self.backoff_factor
        return False

    def unscale(self, tensors: Sequence[torch.Tensor], scale: float) -> list[torch.Tensor]:
        """``tensors / scale`` (unchanged when ``scale`` is 1)."""
        if scale == 1.0:
            return list(tensors)
        return [t / scale for t in tensors]

    def state_dict(self) -> dict:
        """The loss-scaling state (saved with a run's resumable state)."""
        return {"scale": self.scale, "growth_tracker": self.growth_tracker,
                "skipped": self.skipped}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.scale = float(state["scale"])
        self.growth_tracker = int(state["growth_tracker"])
        self.skipped = int(state["skipped"])

    def __repr__(self) -> str:
        scale = f", scale={self.scale:g}" if self.scaled else ""
        return f"Precision({self.name or 'native'}{scale})"

