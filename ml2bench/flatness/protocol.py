"""The end-of-run flatness protocol of ``design/metrics.md`` applied to a :class:`Task`.

Every metric is measured on

* the **finest-level model** ``task.model`` at its current parameters;
* one frozen evaluation subset ``D_H`` of the training set: ``min(N, 5000)`` samples
  chosen by a ``torch.Generator`` seeded with the run's seed (so every solver of a
  problem and seed sees the same ``D_H``), kept in index order and split into batches
  of 1024 (the last one may be shorter; batches are weighted by their size);
* the **data loss without regularisation** (``task.data_loss``); the regulariser the
  solver minimised besides it is reported separately as ``reg_value`` =
  ``reg_weight · model.regularization()``;
* ``eval()`` mode with TF32 disabled, parameters, buffers, flags and the global RNG
  restored bit-exactly afterwards.

:data:`METRICS` maps the metric names accepted by ``ml2bench run --metrics`` to the
functions that fill a result row. Every row has ``train_loss`` (data loss on ``D_H``),
``reg_value``, ``param_norm`` (``‖θ‖``), ``num_params`` and ``dh_size``; every metric
``m`` adds its cost ``m_hvps``, ``m_passes`` (full passes over ``D_H``) and
``m_seconds``, and the row ends with the totals ``total_hvps``, ``total_passes``,
``total_seconds``. None of this is solver work: no ledger is involved.

The names ``eos`` and ``noise_scale`` are *dynamics* metrics (M8), logged at every
checkpoint by :mod:`~ml2bench.flatness.checkpoints`, not here.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from ml2bench.errors import UserError
from ml2bench.flatness.blocks import RestrictedOperator
from ml2bench.flatness.evaluation import BatchedLoss, LossFn
from ml2bench.flatness.hvp import HessianOperator
from ml2bench.flatness.lanczos import hess_max, hess_min
from ml2bench.flatness.names import END_OF_RUN_METRICS, end_of_run_names
from ml2bench.flatness.sharpness import keskar_eps, sharp_avg, sharp_worst
from ml2bench.flatness.slq import spectral_density
from ml2bench.flatness.state import full_precision, preserved_state
from ml2bench.flatness.trace import hutchinson_trace, hutchpp_trace
from ml2bench.parameters import trainable_parameters
from ml2bench.flatness.vectors import norm
from ml2bench.problems.base import Task


@dataclass(frozen=True)
class ProtocolConfig:
    """Defaults of the protocol (design/metrics.md, "The metric set").

    Attributes
    ----------
    subset_size, batch_size : int
        ``|D_H| = min(N, subset_size)``, split into batches of ``batch_size``.
    hvp_method : str
        :class:`~ml2bench.flatness.hvp.HessianOperator` method.
    lanczos_tol : float
        Relative Ritz residual ``|β_m s_m| ≤ tol·|θ|`` for ``hess_max``/``hess_min``.
    max_iter_max, max_iter_min : int
        Lanczos step caps (= HVPs). ``λ_min`` of a trained network is small compared
        with the spread of the spectrum, so its relative accuracy needs more steps.
    trace_probes, trace_method : int, str
        Hutchinson (``"hutchinson"``) or Hutch++ (``"hutchpp"``) with that many HVPs.
    slq_runs, slq_steps : int
        Stochastic Lanczos quadrature probes ``n_v`` and steps ``m``.
    sharp_avg_rhos, sharp_avg_samples : tuple of float, int
        Adaptive average sharpness radii (the first one is the headline ``sharp_avg``).
    sharp_worst_rho, sharp_worst_steps : float, int
        Adaptive worst-case sharpness radius and ascent steps.
    keskar_eps, keskar_iter : float, int
        Keskar et al. box size and L-BFGS-B iterations.
    block_probes, block_max_iter, max_block_groups : int
        M9: Hutchinson probes and Lanczos cap per block; residual blocks are merged
        into at most ``max_block_groups`` contiguous groups.
    """

    subset_size: int = 5000
    batch_size: int = 1024
    hvp_method: str = "double_backward"
    lanczos_tol: float = 1e-3
    max_iter_max: int = 100
    max_iter_min: int = 200
    trace_probes: int = 100
    trace_method: str = "hutchinson"
    slq_runs: int = 5
    slq_steps: int = 80
    sharp_avg_rhos: tuple[float, ...] = (0.05, 0.1)
    sharp_avg_samples: int = 32
    sharp_worst_rho: float = 0.5
    sharp_worst_steps: int = 20
    keskar_eps: float = 1e-3
    keskar_iter: int = 10
    block_probes: int = 20
    block_max_iter: int = 50
    max_block_groups: int = 16


def evaluation_batches(task: Task, seed: int, subset_size: int = 5000,
                       batch_size: int = 1024) -> list[tuple]:
    """The frozen evaluation subset ``D_H`` of ``task.train``, split into batches.

    ``min(N, subset_size)`` indices drawn without replacement by a CPU generator seeded
    with ``seed``, sorted (a fixed order), then cut into batches of ``batch_size``.
    """
    if subset_size < 1 or batch_size < 1:
        raise ValueError(f"subset_size and batch_size must be positive, got {subset_size}, "
                         f"{batch_size}.")
    total = task.num_train
    count = min(total, subset_size)
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(total, generator=generator)[:count].sort().values
    subset = tuple(t[chosen.to(t.device)] for t in task.train)
    return [tuple(t[start:start + batch_size] for t in subset)
            for start in range(0, count, batch_size)]


def data_loss_fn(task: Task) -> LossFn:
    """``task.data_loss`` (no regularisation); with gradients enabled for objectives
    that differentiate the network with respect to its inputs (PINNs)."""
    if not task.loss_needs_grad:
        return task.data_loss

    def loss(model: nn.Module, batch: tuple) -> torch.Tensor:
        with torch.enable_grad():
            return task.data_loss(model, batch)

    return loss


@dataclass
class MetricContext:
    """What a metric function needs: the model, loss, ``D_H`` and the configuration."""

    model: nn.Module
    loss_fn: LossFn
    batches: list[tuple]
    config: ProtocolConfig
    seed: int

    def operator(self) -> HessianOperator:
        """A fresh Hessian operator on ``D_H`` (its counters are this metric's cost)."""
        return HessianOperator(self.model, self.loss_fn, self.batches, self.config.hvp_method)

    def generator(self) -> torch.Generator:
        """A CPU generator seeded with the run seed: a metric's value does not depend on
        which other metrics were requested."""
        return torch.Generator().manual_seed(self.seed)


#: A metric fills columns and reports its cost: ``(values, hvps, passes)``.
MetricFn = Callable[[MetricContext], tuple[dict, int, int]]


def _lanczos_columns(name: str, result) -> dict:
    return {name: float(result.values[0]), f"{name}_residual": float(result.residuals[0]),
            f"{name}_converged": bool(result.converged)}


def metric_hess_max(ctx: MetricContext) -> tuple[dict, int, int]:
    """M1: largest Hessian eigenvalue (Lanczos ``'LA'``, full reorthogonalisation)."""
    op = ctx.operator()
    cfg = ctx.config
    result = hess_max(op, cfg.lanczos_tol, cfg.max_iter_max, ctx.generator())
    return _lanczos_columns("hess_max", result), op.num_hvps, op.num_passes


def metric_hess_min(ctx: MetricContext) -> tuple[dict, int, int]:
    """M1: smallest (algebraic) Hessian eigenvalue (Lanczos ``'SA'``)."""
    op = ctx.operator()
    cfg = ctx.config
    result = hess_min(op, cfg.lanczos_tol, cfg.max_iter_min, ctx.generator())
    return _lanczos_columns("hess_min", result), op.num_hvps, op.num_passes


def metric_hess_trace(ctx: MetricContext) -> tuple[dict, int, int]:
    """M2: Hessian trace with its standard error and ``trace/P`` (fixed probe count)."""
    op = ctx.operator()
    cfg = ctx.config
    if cfg.trace_method == "hutchpp":
        estimate = hutchpp_trace(op, cfg.trace_probes, ctx.generator())
    else:
        estimate = hutchinson_trace(op, cfg.trace_probes, ctx.generator())
    values = {"hess_trace": estimate.trace, "hess_trace_se": estimate.stderr,
              "hess_trace_per_param": estimate.trace_per_param}
    return values, op.num_hvps, op.num_passes


def metric_spectral_density(ctx: MetricContext) -> tuple[dict, int, int]:
    """M3: SLQ spectral density summarised by its negative mass and outlier count."""
    op = ctx.operator()
    cfg = ctx.config
    density = spectral_density(op, cfg.slq_runs, cfg.slq_steps, generator=ctx.generator())
    values = {"spectral_neg_mass": density.negative_mass,
              "spectral_outliers": int(density.num_outliers),
              "spectral_min": float(density.nodes.min()),
              "spectral_max": float(density.nodes.max())}
    return values, op.num_hvps, op.num_passes


def _rho_suffix(rho: float) -> str:
    return f"rho{rho:g}"


def metric_sharp_avg(ctx: MetricContext) -> tuple[dict, int, int]:
    """M4: adaptive average sharpness for every ρ of the configuration.

    The first ρ (0.05 by default) gives ``sharp_avg``/``sharp_avg_se``; each further ρ
    gives ``sharp_avg_rho<ρ>``/``sharp_avg_rho<ρ>_se`` (e.g. ``sharp_avg_rho0.1``).
    """
    cfg = ctx.config
    values, passes = {}, 0
    for i, rho in enumerate(cfg.sharp_avg_rhos):
        est = sharp_avg(ctx.model, ctx.loss_fn, ctx.batches, rho, cfg.sharp_avg_samples,
                        generator=ctx.generator())
        name = "sharp_avg" if i == 0 else f"sharp_avg_{_rho_suffix(rho)}"
        values.update({name: est.value, f"{name}_se": est.stderr})
        passes += est.num_passes
    return values, 0, passes


def metric_sharp_worst(ctx: MetricContext) -> tuple[dict, int, int]:
    """M5: adaptive worst-case sharpness by projected ascent from a random start."""
    cfg = ctx.config
    est = sharp_worst(ctx.model, ctx.loss_fn, ctx.batches, cfg.sharp_worst_rho,
                      cfg.sharp_worst_steps, generator=ctx.generator())
    return {"sharp_worst": est.value}, 0, est.num_passes


def metric_keskar_eps(ctx: MetricContext) -> tuple[dict, int, int]:
    """M6: Keskar et al. (2017) ε-sharpness (L-BFGS-B on the box)."""
    cfg = ctx.config
    est = keskar_eps(ctx.model, ctx.loss_fn, ctx.batches, cfg.keskar_eps, cfg.keskar_iter,
                     generator=ctx.generator())
    return {"keskar_eps": est.value}, 0, est.num_passes


def contiguous_groups(count: int, max_groups: int) -> list[range]:
    """``range(count)`` cut into contiguous groups of ``ceil(count / max_groups)``
    indices (the last may be shorter): at most ``max_groups`` groups."""
    size = max(1, math.ceil(count / max(1, max_groups)))
    return [range(a, min(a + size, count)) for a in range(0, count, size)]


def _block_key(name: str, by_prefix: bool) -> str:
    head = name.split(".")[0]
    return head.split("_")[0] if by_prefix else head


def parameter_blocks(model: nn.Module, max_groups: int = 16) -> list[tuple[str, list]]:
    """M9 blocks as ``(name, masks)`` with one mask (or ``None``) per trainable parameter,
    in parameter order.

    Models with ``stacked()`` (ResNet-ODEs: block parameters on a leading block axis)
    give one block per group of residual blocks (``res03``, or ``res00_04`` when more
    than ``max_groups`` blocks are grouped), masked along that axis, and one block per
    name prefix of the other parameters (``opening``, ``classifier``). Other models
    give one block per top-level submodule or parameter (``conv1``, ``fc``, ``x``).
    """
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    stacked = list(model.stacked()) if hasattr(model, "stacked") else []
    if len(stacked) != len(named):
        stacked = [False] * len(named)
    blocks: dict[str, list] = {}
    for i, (name, param) in enumerate(named):
        if stacked[i]:
            if not any(k.startswith("res") for k in blocks):
                blocks.update(_residual_blocks(named, stacked, max_groups))
            continue
        key = _block_key(name, any(stacked))
        blocks.setdefault(key, [None] * len(named))[i] = torch.ones_like(param, dtype=torch.bool)
    return list(blocks.items())


def _residual_blocks(named: list, stacked: list[bool], max_groups: int) -> dict[str, list]:
    """One block per group of residual blocks (masks along the leading block axis)."""
    depth = next(p.shape[0] for (_, p), s in zip(named, stacked) if s)
    out = {}
    for group in contiguous_groups(depth, max_groups):
        key = f"res{group[0]:02d}" if len(group) == 1 else f"res{group[0]:02d}_{group[-1]:02d}"
        masks = []
        for (_, p), s in zip(named, stacked):
            mask = None
            if s:
                mask = torch.zeros_like(p, dtype=torch.bool)
                mask[group.start:group.stop] = True
            masks.append(mask)
        out[key] = masks
    return out


def metric_block_curvature(ctx: MetricContext) -> tuple[dict, int, int]:
    """M9: ``λ_max`` and Hutchinson trace of every block Hessian ``R_d H R_dᵀ``.

    Columns ``block_<name>_hess_max``, ``block_<name>_trace``,
    ``block_<name>_trace_se`` and ``block_<name>_size`` (see :func:`parameter_blocks`).
    """
    op = ctx.operator()
    cfg = ctx.config
    generator = ctx.generator()
    values = {}
    for name, masks in parameter_blocks(ctx.model, cfg.max_block_groups):
        restricted = RestrictedOperator(op, masks)
        top = hess_max(restricted, cfg.lanczos_tol, cfg.block_max_iter, generator)
        trace = hutchinson_trace(restricted, cfg.block_probes, generator)
        values.update({f"block_{name}_hess_max": float(top.values[0]),
                       f"block_{name}_trace": trace.trace,
                       f"block_{name}_trace_se": trace.stderr,
                       f"block_{name}_size": sum(t.numel() for t in restricted.template)})
    return values, op.num_hvps, op.num_passes


#: End-of-run metrics: name → function filling the row.
METRICS: dict[str, MetricFn] = {
    "hess_max": metric_hess_max,
    "hess_min": metric_hess_min,
    "hess_trace": metric_hess_trace,
    "spectral_density": metric_spectral_density,
    "sharp_avg": metric_sharp_avg,
    "sharp_worst": metric_sharp_worst,
    "keskar_eps": metric_keskar_eps,
    "block_curvature": metric_block_curvature,
}
assert tuple(METRICS) == END_OF_RUN_METRICS, "names.END_OF_RUN_METRICS is out of date"
def _base_columns(task: Task, ctx: MetricContext) -> dict:
    """``train_loss`` on ``D_H``, ``reg_value``, ``param_norm``, sizes."""
    params = trainable_parameters(ctx.model)
    train_loss = BatchedLoss(ctx.model, ctx.loss_fn, ctx.batches).value()
    reg = 0.0
    if task.reg_weight and hasattr(ctx.model, "regularization"):
        with torch.no_grad():
            reg = task.reg_weight * float(ctx.model.regularization())
    return {"train_loss": train_loss, "reg_value": reg, "reg_weight": float(task.reg_weight),
            "param_norm": norm(params), "num_params": sum(p.numel() for p in params),
            "dh_size": sum(int(b[0].shape[0]) for b in ctx.batches)}


def compute_flatness(task: Task, names: Sequence[str], seed: int = 0,
                     config: ProtocolConfig | None = None) -> dict:
    """One result row: the requested end-of-run metrics of ``task.model`` and their cost.

    Parameters
    ----------
    task : Task
        Its finest model is measured at its current parameters, which (with buffers,
        training flags and the global RNG) are left bit-identical.
    names : sequence of str
        Metric names (:data:`METRICS`; dynamics names are ignored here).
    seed : int
        Seeds ``D_H`` and every metric's random vectors.
    config : ProtocolConfig, optional

    Raises
    ------
    UserError
        Unknown metric name.
    ValueError
        Non-finite parameters (a diverged iterate has no minimum to measure).
    """
    wanted = end_of_run_names(names)
    cfg = config or ProtocolConfig()
    model = task.model
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        raise ValueError("the final parameters are not finite (diverged run)")
    batches = evaluation_batches(task, seed, cfg.subset_size, cfg.batch_size)
    ctx = MetricContext(model, data_loss_fn(task), batches, cfg, seed)
    row: dict = {}
    totals = {"hvps": 0, "passes": 0, "seconds": 0.0}
    with preserved_state(model), full_precision():
        start = time.perf_counter()
        row.update(_base_columns(task, ctx))
        _add_cost(row, totals, "base", 0, 1, time.perf_counter() - start)
        for name in wanted:
            start = time.perf_counter()
            values, hvps, passes = METRICS[name](ctx)
            row.update(values)
            _add_cost(row, totals, name, hvps, passes, time.perf_counter() - start)
    row.update({f"total_{k}": v for k, v in totals.items()})
    return row


def _add_cost(row: dict, totals: dict, name: str, hvps: int, passes: int,
              seconds: float) -> None:
    row.update({f"{name}_hvps": int(hvps), f"{name}_passes": int(passes),
                f"{name}_seconds": float(seconds)})
    totals["hvps"] += int(hvps)
    totals["passes"] += int(passes)
    totals["seconds"] += float(seconds)


def flatness_row(task: Task, names: Sequence[str], seed: int, identity: dict,
                 config: ProtocolConfig | None = None) -> dict:
    """``identity`` plus :func:`compute_flatness`; a failure becomes ``flatness_error``
    (the run's results stay valid and the row still marks the flatness as done)."""
    row = dict(identity)
    try:
        row.update(compute_flatness(task, names, seed, config))
        row["flatness_error"] = ""
    except UserError:
        raise
    except Exception as exc:  # e.g. a diverged iterate; recorded, not fatal
        row["flatness_error"] = f"{type(exc).__name__}: {exc}"
    return row
