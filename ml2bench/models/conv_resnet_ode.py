"""Convolutional ResNet seen as the forward-Euler discretisation of an ODE.

The network maps an image ``x`` with ``c_in`` channels to class scores:

.. math::

    y_0 &= \\sigma(W_{in} * x + b_{in}),\\\\
    y_{k+1} &= y_k + h_k\\, \\sigma(W_k * y_k + b_k), \\qquad k = 0, \\dots, K-1,\\\\
    z &= W_{out}\\, \\mathrm{vec}(\\mathrm{pool}(y_K)) + b_{out},

where ``*`` is a 3×3 convolution with zero padding 1 (so the state keeps its size
``C × H × W`` through all blocks), ``h_k = h = T/K`` (cell-centred, the default for
image ResNets: block ``k`` sits at the cell ``[kh, (k+1)h]``) or the trapezoidal
weights ``h·(½, 1, …, 1, ½)`` with ``h = T/(K−1)`` (vertex-centred); the steps sum to
``T`` on every level (:mod:`ml2bench.models.ode_time`, which also holds the initial
block weights and the regularisers). The block weights ``W_k ∈ R^{C×C×3×3}`` and
biases ``b_k ∈ R^C`` are *stacked* into parameters of shape ``(K, C, C, 3, 3)`` and ``(K, C)``, so the depth
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

from ml2bench.models import ode_time
from ml2bench.models.init import uniform_fan_in
from ml2bench.models.resnet_ode import ACTIVATIONS

POOLINGS = ("avg2", "global")


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
    regularizer, block_init, init_scale : optional
        As for :class:`~ml2bench.models.resnet_ode.ResNetODE`.
    dtype, device : optional
        Where and in which precision the parameters live.
    """

    def __init__(self, in_channels: int, channels: int, num_classes: int, num_blocks: int,
                 T: float, image_size: int, *, centering: str = "cell",
                 activation: str = "relu", pooling: str = "avg2",
                 generator: torch.Generator, dtype: torch.dtype = torch.float32,
                 device: str | torch.device = "cpu", regularizer: str = "time_derivative",
                 block_init: str = "smooth", init_scale: float = 1.0) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}")
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; valid: {', '.join(POOLINGS)}")
        self.num_blocks, self.T, self.centering = num_blocks, T, centering
        self.activation, self.pooling = activation, pooling
        self._act = ACTIVATIONS[activation]
        self.regularizer = regularizer
        self.h = ode_time.node_spacing(T, num_blocks, centering)
        self.steps = ode_time.euler_steps(T, num_blocks, centering)
        c, k = channels, num_blocks
        features = c if pooling == "global" else c * (image_size // 2) ** 2
        init = dict(generator=generator, dtype=dtype, device=device)
        self.opening_weight = nn.Parameter(uniform_fan_in((c, in_channels, 3, 3), 9 * in_channels,
                                                          **init))
        self.opening_bias = nn.Parameter(uniform_fan_in((c,), 9 * in_channels, **init))
        block = dict(num_blocks=k, block_init=block_init, init_scale=init_scale, **init)
        self.block_weight = nn.Parameter(ode_time.block_parameter((c, c, 3, 3), 9 * c, **block))
        self.block_bias = nn.Parameter(ode_time.block_parameter((c,), 9 * c, **block))
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
            y = y + self.steps[k] * self._act(F.conv2d(y, self.block_weight[k], self.block_bias[k],
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
        """Block term (``time_derivative`` or ``tikhonov``) plus ``½(‖θ_in‖² + ‖θ_out‖²)``."""
        return ode_time.regularizer_value(
            self.regularizer, (self.block_weight, self.block_bias),
            (self.opening_weight, self.opening_bias, self.classifier_weight,
             self.classifier_bias), self.h, self.steps)

    def extra_repr(self) -> str:
        c = self.block_bias.shape[1]
        return (f"channels={c}, blocks={self.num_blocks}, T={self.T}, h={self.h:g}, "
                f"centering={self.centering}, activation={self.activation}, "
                f"pooling={self.pooling}")
