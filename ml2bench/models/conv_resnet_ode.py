"""Convolutional ResNet seen as the forward-Euler discretisation of an ODE.

The network maps an image ``x`` with ``c_in`` channels to class scores:

.. math::

    y_0 &= \\sigma(W_{in} * x + b_{in}),\\\\
    y_{k+1} &= y_k + h\\, \\sigma(W_k * y_k + b_k), \\qquad k = 0, \\dots, K-1,\\\\
    z &= W_{out}\\, \\mathrm{vec}(\\mathrm{pool}(y_K)) + b_{out},

where ``*`` is a 3×3 convolution with zero padding 1 (so the state keeps its size
``C × H × W`` through all blocks), ``h = T/K`` (cell-centred, the default for image
ResNets: block ``k`` sits at the cell ``[kh, (k+1)h]``) or ``h = T/(K−1)``
(vertex-centred). The block weights ``W_k ∈ R^{C×C×3×3}`` and biases ``b_k ∈ R^C`` are
*stacked* into parameters of shape ``(K, C, C, 3, 3)`` and ``(K, C)``, so the depth
transfers of :mod:`ml2bench.hierarchy.depth` interpolate them in time unchanged.

Pooling before the classifier (``pooling``):

* ``"avg2"`` (default) — a 2×2 average pool, then flatten: the classifier sees
  ``C·⌊H/2⌋·⌊W/2⌋`` features. With the narrow widths of the benchmark (4–16 channels)
  keeping coarse spatial information is worth several points of accuracy over global
  pooling, at the price of a larger classifier (shared by all levels).
* ``"global"`` — global average pooling to ``C`` features (the classic
  translation-invariant head).

References
----------
E. Haber and L. Ruthotto, "Stable architectures for deep neural networks", Inverse
Problems 34 (2018) 014004.
B. Chang, L. Meng, E. Haber, F. Tung and D. Begert, "Multi-level residual networks
from dynamical systems view", ICLR 2018.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ml2bench.models.init import uniform_fan_in
from ml2bench.models.resnet_ode import ACTIVATIONS

POOLINGS = ("avg2", "global")


def step_size(T: float, num_blocks: int, centering: str) -> float:
    """Forward-Euler step ``h = T/K`` (``"cell"``) or ``h = T/(K−1)`` (``"vertex"``).

    Raises ``ValueError`` for an unknown centering or a vertex-centred net with one block.
    """
    if centering == "cell":
        return T / num_blocks
    if centering == "vertex":
        if num_blocks < 2:
            raise ValueError("a vertex-centred ResNet-ODE needs at least 2 blocks")
        return T / (num_blocks - 1)
    raise ValueError(f"unknown centering {centering!r}; valid: cell, vertex")


class ConvResNetODE(nn.Module):
    """Conv ResNet-ODE with stacked block parameters (see the module docstring).

    Parameters
    ----------
    in_channels : int
        Channels of the input images (1 for MNIST, 3 for CIFAR-10).
    channels : int
        Constant width ``C`` of the residual blocks.
    num_classes : int
        Number of output scores.
    num_blocks : int
        Number of residual blocks ``K``.
    T : float
        Final time of the ODE.
    image_size : int
        Height (= width) of the input images; fixes the classifier size for ``"avg2"``.
    centering : {"cell", "vertex"}, optional
        Step size ``h = T/K`` or ``T/(K−1)``.
    activation : str, optional
        ``relu`` (default), ``tanh``, ``sigmoid`` or ``softplus``.
    pooling : {"avg2", "global"}, optional
        Head: 2×2 average pool and flatten, or global average pooling.
    generator : torch.Generator
        Seeds the initialisation ``U(−1/√fan_in, 1/√fan_in)`` of every parameter
        (PyTorch's default scheme), drawn in the order of :meth:`parameters`.
    dtype, device : optional
        Where and in which precision the parameters live.
    """

    def __init__(self, in_channels: int, channels: int, num_classes: int, num_blocks: int,
                 T: float, image_size: int, *, centering: str = "cell",
                 activation: str = "relu", pooling: str = "avg2",
                 generator: torch.Generator, dtype: torch.dtype = torch.float32,
                 device: str | torch.device = "cpu") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}")
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; valid: {', '.join(POOLINGS)}")
        self.num_blocks, self.T, self.centering = num_blocks, T, centering
        self.activation, self.pooling = activation, pooling
        self._act = ACTIVATIONS[activation]
        self.h = step_size(T, num_blocks, centering)
        c, k = channels, num_blocks
        features = c if pooling == "global" else c * (image_size // 2) ** 2
        init = dict(generator=generator, dtype=dtype, device=device)
        self.opening_weight = nn.Parameter(uniform_fan_in((c, in_channels, 3, 3), 9 * in_channels,
                                                          **init))
        self.opening_bias = nn.Parameter(uniform_fan_in((c,), 9 * in_channels, **init))
        self.block_weight = nn.Parameter(uniform_fan_in((k, c, c, 3, 3), 9 * c, **init))
        self.block_bias = nn.Parameter(uniform_fan_in((k, c), 9 * c, **init))
        self.classifier_weight = nn.Parameter(uniform_fan_in((num_classes, features), features,
                                                             **init))
        self.classifier_bias = nn.Parameter(uniform_fan_in((num_classes,), features, **init))

    def stacked(self) -> list[bool]:
        """Per parameter (in :meth:`parameters` order): is its leading axis the block axis?"""
        return [False, False, True, True, False, False]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The state ``y_K`` after the last block, shape ``(N, C, H, W)``."""
        y = self._act(F.conv2d(x, self.opening_weight, self.opening_bias, padding=1))
        for k in range(self.num_blocks):
            y = y + self.h * self._act(F.conv2d(y, self.block_weight[k], self.block_bias[k],
                                                padding=1))
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``z`` of shape ``(N, num_classes)``."""
        y = self.features(x)
        if self.pooling == "global":
            pooled = y.mean(dim=(2, 3))
        else:
            pooled = F.avg_pool2d(y, 2).flatten(1)
        return F.linear(pooled, self.classifier_weight, self.classifier_bias)

    def regularization(self) -> torch.Tensor:
        """Tikhonov term ``½(h Σ_k ‖θ_k‖² + ‖θ_in‖² + ‖θ_out‖²)``.

        The block term is a quadrature of ``½∫₀ᵀ ‖θ(t)‖² dt``, so every level of a depth
        hierarchy regularises the same integral (Haber & Ruthotto 2018).
        """
        blocks = self.block_weight.pow(2).sum() + self.block_bias.pow(2).sum()
        shared = sum(p.pow(2).sum() for p in (self.opening_weight, self.opening_bias,
                                              self.classifier_weight, self.classifier_bias))
        return 0.5 * (self.h * blocks + shared)

    def extra_repr(self) -> str:
        c = self.block_bias.shape[1]
        return (f"channels={c}, blocks={self.num_blocks}, T={self.T}, h={self.h:g}, "
                f"centering={self.centering}, activation={self.activation}, "
                f"pooling={self.pooling}")
