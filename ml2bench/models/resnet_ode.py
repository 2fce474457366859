"""Dense ResNet seen as the forward-Euler discretisation of an ODE.

``y₀ = σ(W_in x + b_in)``, ``y_{k+1} = y_k + h σ(W_k y_k + b_k)`` for ``k = 0..K−1``,
output ``W_out y_K + b_out``, with ``h = T/(K−1)`` (vertex-centred) or ``h = T/K``
(cell-centred). Block parameters are stacked on a leading block axis so that the depth
transfers interpolate them in time (Haber & Ruthotto, Inverse Problems 34 (2018);
Gaedke-Merzhäuser, Kopaničáková & Krause, ESAIM Proc. 71 (2021)).
"""

from __future__ import annotations

import torch
from torch import nn

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
        Step size ``h = T/(K−1)`` or ``T/K``.
    activation : str
        One of ``tanh``, ``relu``, ``sigmoid``, ``softplus``.
    generator : torch.Generator
        Seeds the initialisation.
    """

    def __init__(self, in_features: int, width: int, out_features: int, num_blocks: int,
                 T: float, *, centering: str = "vertex", activation: str = "tanh",
                 generator: torch.Generator, dtype: torch.dtype = torch.float32,
                 device: str | torch.device = "cpu") -> None:
        super().__init__()
        self.num_blocks = num_blocks
        self.T = T
        self.centering = centering
        self.activation = activation
        self._act = ACTIVATIONS[activation]
        self.h = T / (num_blocks - 1) if centering == "vertex" else T / num_blocks
        init = dict(generator=generator, dtype=dtype, device=device)
        self.opening_weight = nn.Parameter(uniform_fan_in((width, in_features), in_features, **init))
        self.opening_bias = nn.Parameter(uniform_fan_in((width,), in_features, **init))
        self.block_weight = nn.Parameter(uniform_fan_in((num_blocks, width, width), width, **init))
        self.block_bias = nn.Parameter(uniform_fan_in((num_blocks, width), width, **init))
        self.classifier_weight = nn.Parameter(uniform_fan_in((out_features, width), width, **init))
        self.classifier_bias = nn.Parameter(uniform_fan_in((out_features,), width, **init))

    def stacked(self) -> list[bool]:
        """Per parameter: is its leading axis the block axis?"""
        return [False, False, True, True, False, False]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden state ``y_K`` after the last block."""
        y = self._act(x @ self.opening_weight.T + self.opening_bias)
        for k in range(self.num_blocks):
            y = y + self.h * self._act(y @ self.block_weight[k].T + self.block_bias[k])
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x) @ self.classifier_weight.T + self.classifier_bias

    def regularization(self) -> torch.Tensor:
        """Tikhonov term ``½(h Σ_k ‖θ_k‖² + ‖θ_in‖² + ‖θ_out‖²)`` (a quadrature in time,
        so that all levels of a depth hierarchy regularise the same integral)."""
        blocks = self.block_weight.pow(2).sum() + self.block_bias.pow(2).sum()
        shared = sum(p.pow(2).sum() for p in (self.opening_weight, self.opening_bias,
                                              self.classifier_weight, self.classifier_bias))
        return 0.5 * (self.h * blocks + shared)
