"""Time in a ResNet-ODE: Euler steps over ``[0, T]``, initial block weights, regularisers.

A ResNet with ``K`` blocks is the forward-Euler discretisation of
``dy/dt = σ(W(t) y + b(t))`` on ``[0, T]`` with block ``k`` holding ``θ_k = θ(t_k)``.
Every level of a depth hierarchy must discretise the *same* ODE on exactly
``[0, T]`` (problems.md §B, "level consistency"):

* cell-centred (``t_k = (k + ½)h``, ``h = T/K``): ``K`` steps of size ``h``;
* vertex-centred (``t_k = k h``, ``h = T/(K−1)``): ``K`` steps whose sizes are the
  trapezoidal weights ``h·(½, 1, …, 1, ½)``. Step ``k ≥ 1`` covers
  ``[(k−½)h, (k+½)h]`` around its node ``t_k``; the first and last cover half a cell.
  The sizes sum to ``T`` (K steps of size ``h`` would integrate to ``T + h``, so
  levels of different ``K`` would discretise different ODEs).

Regularisers of the block parameters ``θ_k`` (stacked on a leading block axis):

* ``time_derivative`` — Haber & Ruthotto's smoothness term
  ``R(θ) = ½ Σ_{k=0}^{K−2} h ‖(θ_{k+1} − θ_k)/h‖²``, the quadrature of
  ``½∫₀ᵀ ‖θ'(t)‖² dt`` (Meganet's ``opTimeDer`` with ``tikhonovReg``);
* ``tikhonov`` — ``R(θ) = ½ Σ_k w_k ‖θ_k‖²`` with the Euler step sizes ``w_k`` as
  quadrature weights of ``½∫₀ᵀ ‖θ(t)‖² dt`` (version 1 of the problems: it leaves the
  oscillatory-in-time directions unpenalised).

Initial block weights (``block_init``):

* ``smooth`` — one block drawn with PyTorch's fan-in rule, scaled by ``init_scale`` and
  repeated over time (constant ``θ(t)``, as Meganet's swiss-roll example starts from
  ``repmat``); then ``P Π θ₀ = θ₀`` exactly on every level;
* ``independent`` — every block drawn independently (white noise in time; version 1).

References
----------
E. Haber and L. Ruthotto, "Stable architectures for deep neural networks", Inverse
Problems 34 (2018) 014004. Meganet.m (github:XtractOpen/Meganet.m),
``examples/EResNN_Peaks.m`` (α = 5e-6 on a time-derivative regulariser, initial
weights ``0.1·initTheta``, commits 81213c2–00326f7) and
``examples/EResNN_SwissRollResNN.m`` (regulariser weight ``h·α``).
"""

from __future__ import annotations

from typing import Sequence

import torch

from ml2bench.models.init import uniform_fan_in

REGULARIZERS = ("time_derivative", "tikhonov")
BLOCK_INITS = ("smooth", "independent")


def node_spacing(T: float, num_blocks: int, centering: str) -> float:
    """Spacing ``h`` of the time nodes: ``T/K`` (``"cell"``) or ``T/(K−1)`` (``"vertex"``).

    Raises ``ValueError`` for an unknown centering or a vertex-centred net with one block.
    """
    if centering == "cell":
        return T / num_blocks
    if centering == "vertex":
        if num_blocks < 2:
            raise ValueError("a vertex-centred ResNet-ODE needs at least 2 blocks")
        return T / (num_blocks - 1)
    raise ValueError(f"unknown centering {centering!r}; valid: cell, vertex")


def euler_steps(T: float, num_blocks: int, centering: str) -> list[float]:
    """Forward-Euler step sizes of the ``K`` blocks; they sum to ``T`` exactly.

    Cell-centred: ``h`` each. Vertex-centred: the trapezoidal weights
    ``h·(½, 1, …, 1, ½)`` with ``h = T/(K−1)`` (see the module docstring).
    """
    h = node_spacing(T, num_blocks, centering)
    steps = [h] * num_blocks
    if centering == "vertex":
        steps[0] = steps[-1] = h / 2
    return steps


def block_parameter(shape: tuple[int, ...], fan_in: int, num_blocks: int, block_init: str,
                    init_scale: float, **init) -> torch.Tensor:
    """Initial stacked block parameter of shape ``(K, *shape)``.

    ``U(−1/√fan_in, 1/√fan_in)·init_scale``; ``smooth``: one draw repeated over the ``K``
    blocks, ``independent``: ``K`` draws. ``init`` holds ``generator``, ``dtype``, ``device``.
    """
    if block_init == "smooth":
        one = uniform_fan_in(shape, fan_in, **init)
        values = one.unsqueeze(0).repeat(num_blocks, *([1] * len(shape)))
    elif block_init == "independent":
        values = uniform_fan_in((num_blocks, *shape), fan_in, **init)
    else:
        raise ValueError(f"unknown block_init {block_init!r}; valid: {', '.join(BLOCK_INITS)}")
    return values * init_scale if init_scale != 1.0 else values


def time_derivative_penalty(blocks: Sequence[torch.Tensor], h: float) -> torch.Tensor:
    """``½ Σ_k h ‖(θ_{k+1} − θ_k)/h‖² = (1/2h) Σ_k ‖θ_{k+1} − θ_k‖²`` over stacked tensors."""
    total = sum((b[1:] - b[:-1]).pow(2).sum() for b in blocks)
    return total / (2.0 * h)


def time_integral_penalty(blocks: Sequence[torch.Tensor], steps: Sequence[float]) -> torch.Tensor:
    """``½ Σ_k w_k ‖θ_k‖²`` with quadrature weights ``w_k`` (the Euler step sizes)."""
    weights = torch.as_tensor(steps, dtype=blocks[0].dtype, device=blocks[0].device)
    per_block = sum(b.pow(2).flatten(1).sum(1) for b in blocks)
    return 0.5 * (weights * per_block).sum()


def regularizer_value(kind: str, blocks: Sequence[torch.Tensor], shared: Sequence[torch.Tensor],
                      h: float, steps: Sequence[float], block_scale: float = 1.0,
                      shared_scale: float = 1.0) -> torch.Tensor:
    """The model's regulariser ``b·R_kind(θ_blocks) + s·½ Σ ‖θ_shared‖²``.

    The shared term (opening layer and classifier) is the small weight decay that
    Haber & Ruthotto and Meganet put beside the time-derivative term. ``b`` and ``s``
    (``block_scale``, ``shared_scale``) weigh the two terms relative to the task's
    ``reg_weight`` (:func:`ml2bench.problems.resnet_toy.regulariser_weights`); a scale of
    exactly 1 is not multiplied, so the tied default computes bit for bit what version 2
    computed.
    """
    if kind == "time_derivative":
        block_term = time_derivative_penalty(blocks, h)
    elif kind == "tikhonov":
        block_term = time_integral_penalty(blocks, steps)
    else:
        raise ValueError(f"unknown regularizer {kind!r}; valid: {', '.join(REGULARIZERS)}")
    shared_term = 0.5 * sum(p.pow(2).sum() for p in shared)
    if block_scale != 1.0:
        block_term = block_scale * block_term
    if shared_scale != 1.0:
        shared_term = shared_scale * shared_term
    return block_term + shared_term
