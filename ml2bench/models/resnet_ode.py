"""Dense ResNet seen as the forward-Euler discretisation of an ODE.

``y₀ = σ(W_in x + b_in)``, ``y_{k+1} = y_k + h_k σ(W_k y_k + b_k)`` for ``k = 0..K−1``,
output ``W_out y_K + b_out``. The step sizes ``h_k`` sum to ``T`` exactly: ``h = T/K``
(cell-centred) or the trapezoidal weights ``h·(½, 1, …, 1, ½)`` with ``h = T/(K−1)``
(vertex-centred); see :mod:`ml2bench.models.ode_time` for them, the initial block
weights and the regularisers. Block parameters are stacked on a leading block axis so that the depth
transfers interpolate them in time (Haber & Ruthotto, Inverse Problems 34 (2018);
Gaedke-Merzhäuser, Kopaničáková & Krause, ESAIM Proc. 71 (2021)).
"""

from __future__ import annotations

import torch
from torch import nn

from ml2bench.models import ode_time
from ml2bench.models.init import uniform_fan_in

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid,
               "softplus": nn.functional.softplus}


class ResNetODE(nn.Module):
    """Dense ResNet-ODE with stacked block parameters.

    Parameters
    ----------
    in_features, width, out_features : int
        Input, hidden and output sizes.
    num_blocks : int
        Number of residual blocks ``K``.
    T : float
        Final time of the ODE.
    centering : {"vertex", "cell"}
        Node spacing ``h = T/(K−1)`` or ``T/K``.
    activation : str
        One of ``tanh``, ``relu``, ``sigmoid``, ``softplus``.
    generator : torch.Generator
        Seeds the initialisation.
    regularizer : {"time_derivative", "tikhonov"}
        Block term of :meth:`regularization` (:func:`ode_time.regularizer_value`).
    block_init : {"smooth", "independent"}
        Initial block weights constant in time or drawn per block.
    init_scale : float
        Factor on the initial block weights (Meganet's peaks example: 0.1).
    reg_scales : (float, float)
        ``(b, s)``: weights of the block term and of the shared weight decay in
        :meth:`regularization`, relative to the task's ``reg_weight`` (default: both 1).
    """

    def __init__(self, in_features: int, width: int, out_features: int, num_blocks: int,
                 T: float, *, centering: str = "vertex", activation: str = "tanh",
                 generator: torch.Generator, dtype: torch.dtype = torch.float32,
                 device: str | torch.device = "cpu", regularizer: str = "time_derivative",
                 block_init: str = "smooth", init_scale: float = 1.0,
                 reg_scales: tuple[float, float] = (1.0, 1.0)) -> None:
        super().__init__()
        self.num_blocks = num_blocks
        self.T = T
        self.centering = centering
        self.activation = activation
        self._act = ACTIVATIONS[activation]
        self.regularizer = regularizer
        self.reg_scales = tuple(reg_scales)
        self.h = ode_time.node_spacing(T, num_blocks, centering)
        self.steps = ode_time.euler_steps(T, num_blocks, centering)
        init = dict(generator=generator, dtype=dtype, device=device)
        block = dict(num_blocks=num_blocks, block_init=block_init, init_scale=init_scale, **init)
        self.opening_weight = nn.Parameter(uniform_fan_in((width, in_features), in_features, **init))
        self.opening_bias = nn.Parameter(uniform_fan_in((width,), in_features, **init))
        self.block_weight = nn.Parameter(ode_time.block_parameter((width, width), width, **block))
        self.block_bias = nn.Parameter(ode_time.block_parameter((width,), width, **block))
        self.classifier_weight = nn.Parameter(uniform_fan_in((out_features, width), width, **init))
        self.classifier_bias = nn.Parameter(uniform_fan_in((out_features,), width, **init))

    def stacked(self) -> list[bool]:
        """Per parameter: is its leading axis the block axis?"""
        return [False, False, True, True, False, False]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden state ``y_K`` after the last block."""
        y = self._act(x @ self.opening_weight.T + self.opening_bias)
        for k in range(self.num_blocks):
            y = y + self.steps[k] * self._act(y @ self.block_weight[k].T + self.block_bias[k])
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x) @ self.classifier_weight.T + self.classifier_bias

    def regularization(self) -> torch.Tensor:
        """``b·`` block term (``time_derivative`` or ``tikhonov``) ``+ s·½(‖θ_in‖² + ‖θ_out‖²)``
        with ``(b, s) = reg_scales``."""
        return ode_time.regularizer_value(
            self.regularizer, (self.block_weight, self.block_bias),
            (self.opening_weight, self.opening_bias, self.classifier_weight,
             self.classifier_bias), self.h, self.steps, *self.reg_scales)
