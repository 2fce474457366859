r"""Bias-corrected Adam moments on a flat parameter vector, shared by ``mgopt``'s ``adam``
smoother and ``apts_d``'s ``adam`` local solver.

Kingma & Ba, *Adam: a method for stochastic optimization*, ICLR 2015, Algorithm 1: at
step ``t`` (counted from 1) with gradient ``g``,

.. math::

    m \leftarrow \beta_1 m + (1 - \beta_1) g, \qquad
    v \leftarrow \beta_2 v + (1 - \beta_2) g^2, \qquad
    \Delta x = \eta\, \frac{m / (1 - \beta_1^t)}{\sqrt{v / (1 - \beta_2^t)} + \varepsilon},

with ``β = (0.9, 0.999)`` and ``ε = 1e-8`` (``torch.optim.Adam``'s defaults, and DD4ML's
``TRAdam``'s).
"""

from __future__ import annotations

import torch
from torch import Tensor

#: ``(β₁, β₂)``.
BETAS = (0.9, 0.999)
#: ``ε`` of the denominator.
EPS = 1e-8


def adam_update(first: Tensor | None, second: Tensor | None, steps: int, g: Tensor,
                lr: float) -> tuple[Tensor, Tensor, Tensor]:
    """The moments after step ``steps`` (``≥ 1``) with gradient ``g`` and the update
    ``Δx`` to subtract (module docstring); ``first``/``second`` ``None`` start at zero.

    Returns
    -------
    first, second, update : Tensor
    """
    beta1, beta2 = BETAS
    if first is None:
        first, second = torch.zeros_like(g), torch.zeros_like(g)
    first = first.mul(beta1).add(g, alpha=1 - beta1)
    second = second.mul(beta2).addcmul(g, g, value=1 - beta2)
    m_hat = first / (1 - beta1**steps)
    v_hat = second / (1 - beta2**steps)
    return first, second, lr * m_hat / (v_hat.sqrt() + EPS)
