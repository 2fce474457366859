r"""Dense ResNet-ODE classification of the Haber–Ruthotto toy sets (and two spirals).

``ellipses_resnet``, ``swissroll_resnet``, ``peaks_resnet``, ``spirals_resnet``: opening
layer ``tanh(W_in x + b_in)``, ``K`` residual blocks ``y ← y + h tanh(W_k y + b_k)`` on
``[0, T]`` (step sizes summing to ``T`` on every level), linear classifier, softmax
cross-entropy; regulariser

.. math::

    α\,R(θ_{\text{blocks}}) + \frac{λ}{2}\bigl(‖θ_{\text{in}}‖² + ‖θ_{\text{out}}‖²\bigr)

with Haber & Ruthotto's time-derivative term ``R`` on the blocks (weight ``α``, the
parameter ``reg``) and a weight decay ``λ`` (``weight_decay``) on the opening layer and
classifier, block weights initialised constant in time (:mod:`ml2bench.models.ode_time`);
depth hierarchy 65/33/17/9/5 by default (problems.md §B; Haber & Ruthotto 2018). Version
2 of the problems tied the two weights (``λ = α``, one knob ``reg``); ``weight_decay``
left at its default keeps that tie, bit for bit, and the identity of those runs.
"""

from __future__ import annotations

import numpy as np
import torch

from ml2bench.errors import UserError
from ml2bench.hierarchy.depth import coarse_depths
from ml2bench.labels import Param
from ml2bench.models.ode_time import BLOCK_INITS, REGULARIZERS
from ml2bench.models.resnet_ode import ACTIVATIONS, ResNetODE
from ml2bench.problems import generators
from ml2bench.problems.base import Target, Task
from ml2bench.problems.classification import classification_metrics, cross_entropy
from ml2bench.problems.hierarchies import depth_hierarchy
from ml2bench.problems.registry import ProblemFamily, register_family

RESNET_PARAMS = {
    "width": Param(8, "hidden width", low=1),
    "blocks": Param(65, "residual blocks on the finest level", low=2),
    "levels": Param(5, "levels of the depth hierarchy", low=1),
    "T": Param(5.0, "final time of the ODE", low=0.0, low_open=True),
    "activation": Param("tanh", "activation", choices=tuple(ACTIVATIONS)),
    "centering": Param("vertex", "depth discretisation", choices=("vertex", "cell")),
    "restriction_scale": Param(1.0, "c in R = c·Pᵀ", low=0.0, low_open=True),
    "reg": Param(5e-6, "regulariser weight α (the time-smoothness term of the blocks; "
                 "also the weight decay of the shared layers unless weight_decay is given)",
                 low=0.0),
    "regularizer": Param("time_derivative", "block term of the regulariser",
                         choices=REGULARIZERS),
    "block_init": Param("smooth", "initial block weights: constant in time or per block",
                        choices=BLOCK_INITS),
    "init_scale": Param(0.1, "factor on the initial block weights", low=0.0),
}

#: The keyword arguments of the ResNet-ODE models that come from the problem parameters.
ODE_MODEL_PARAMS = ("regularizer", "block_init", "init_scale")


def toy_dataset(name: str, seed: int, num_points: int, train_size: int):
    """``(x_train, y_train, x_test, y_test)`` as numpy arrays for a toy set."""
    rng = np.random.default_rng(seed)
    if name == "ellipses":
        x, y = generators.ellipses(rng, points_per_class=num_points // 2)
        order = rng.permutation(len(y))
        x, y = x[order], y[order]
        cut = int(0.8 * len(y)) if train_size <= 0 else train_size
        return x[:cut], y[:cut], x[cut:], y[cut:]
    if name == "swissroll":
        x, y, is_train = generators.swissroll()
        return x[is_train], y[is_train], x[~is_train], y[~is_train]
    if name == "peaks":
        x, y = generators.peaks(rng, num_points=num_points)
        order = rng.permutation(len(y))
        x, y = x[order], y[order]
        return x[:train_size], y[:train_size], x[train_size:], y[train_size:]
    if name == "spirals":
        x, y = generators.two_spirals(rng, points_per_class=num_points // 2)
        order = rng.permutation(len(y))
        x, y = x[order], y[order]
        return x[:train_size], y[:train_size], x[train_size:], y[train_size:]
    raise UserError(f"unknown toy data set {name!r}; valid: ellipses, swissroll, peaks, spirals")


def regulariser_weights(values: dict) -> tuple[float, tuple[float, float]]:
    """The task's ``reg_weight`` and the model's ``reg_scales`` for ``α`` and ``λ``.

    The objective is ``data + reg_weight·(b·R + s·½‖θ_shared‖²)`` with ``(b, s) =
    reg_scales``; for ``α·R + λ·½‖θ_shared‖²``: ``reg_weight = α`` (``λ`` if ``α = 0``),
    ``b = α/reg_weight``, ``s = λ/reg_weight``. ``weight_decay`` absent or None means
    ``λ = α`` (version 2's single knob): ``(α, (1, 1))``, which the model does not
    multiply, so the numbers are version 2's bit for bit.

    Parameters
    ----------
    values : dict
        Resolved problem parameters (``reg``; optionally ``weight_decay``).

    Returns
    -------
    (float, (float, float))
        ``reg_weight`` and ``(b, s)``.
    """
    alpha = float(values["reg"])
    decay = values.get("weight_decay")
    if decay is None or float(decay) == alpha:
        return alpha, (1.0, 1.0)
    weight = alpha if alpha > 0 else float(decay)
    return weight, (alpha / weight, float(decay) / weight)


def check_depth(name: str, values: dict) -> None:
    """UserError if ``blocks`` cannot be coarsened into ``levels`` levels."""
    try:
        coarse_depths(values["blocks"], values["levels"], values["centering"])
    except ValueError as error:
        raise UserError(f"{name}: {error}") from None


def resnet_hierarchy(name: str, values: dict, in_features: int, out_features: int,
                     generator: torch.Generator, objective, sample_batch, device):
    """The depth hierarchy of a dense ResNet-ODE problem (user errors made readable)."""
    dtype = getattr(torch, values["dtype"])
    _, scales = regulariser_weights(values)

    def make_model(blocks: int) -> ResNetODE:
        return ResNetODE(in_features, values["width"], out_features, blocks, values["T"],
                         centering=values["centering"], activation=values["activation"],
                         generator=generator, dtype=dtype, device=device, reg_scales=scales,
                         **{k: values[k] for k in ODE_MODEL_PARAMS})

    check_depth(name, values)
    return depth_hierarchy(make_model, values["blocks"], values["levels"], values["centering"],
                           objective, sample_batch, values["restriction_scale"])


class ResNetFamily(ProblemFamily):
    """Families whose model is a ResNet-ODE with a depth hierarchy."""

    def check_params(self, name, values):
        check_depth(name, values)


@register_family
class ToyResNetClassification(ResNetFamily):
    family = "resnet_classification"
    metric = "test_acc"
    params = {
        **RESNET_PARAMS,
        "dataset": Param("peaks", "toy data set",
                         choices=("ellipses", "swissroll", "peaks", "spirals")),
        "num_points": Param(8000, "points generated (peaks, ellipses, spirals)", low=10),
        "train_size": Param(5000, "training points (peaks, spirals; ellipses: 0 = 80 %)",
                            low=0),
        "weight_decay": Param(None, "weight decay λ of the opening layer and classifier "
                              "(None: λ = reg, version 2's single knob)", type=float, low=0.0,
                              nullable=True),
    }
    omitted_at_default = ("weight_decay",)

    def make_task(self, name, values, seed, device):
        dtype = getattr(torch, values["dtype"])
        x_tr, y_tr, x_te, y_te = toy_dataset(values["dataset"], seed, values["num_points"],
                                             values["train_size"])
        as_x = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
        as_y = lambda a: torch.as_tensor(a, dtype=torch.long, device=device)  # noqa: E731
        train, test = (as_x(x_tr), as_y(y_tr)), (as_x(x_te), as_y(y_te))
        num_classes = int(max(y_tr.max(), y_te.max())) + 1
        generator = torch.Generator().manual_seed(seed)
        sample = tuple(t[:64] for t in train)
        hierarchy = resnet_hierarchy(name, values, 2, num_classes, generator, cross_entropy,
                                     sample, device)
        return Task(problem=name, train=train, test=test, hierarchy=hierarchy,
                    data_loss=cross_entropy, test_metrics=classification_metrics,
                    metric=self.metric, batch_size=values["batch_size"], budget=values["budget"],
                    target=Target(self.metric, values["target"]),
                    reg_weight=regulariser_weights(values)[0], device=device, dtype=dtype)
