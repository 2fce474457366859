"""Training-dynamics metrics (M8) logged at every checkpoint of a run.

``eos``
    ``eos_hess_max``: ``λ_max`` of the finest model's data-loss Hessian on ``D_H``
    (Lanczos ``'LA'``, capped at ``max_iter`` HVPs, default 20), and
    ``eos_threshold = (2 + 2β)/η`` from the learning rate the solver reported at its
    last step (``info_lr``) and its heavy-ball momentum β (``info_momentum`` if
    reported, else the solver's ``momentum`` hyperparameter, else 0). For adaptive
    methods (Adam) the raw ``λ_max`` is not the quantity that meets this threshold
    (the preconditioned one is); the columns are logged all the same.
    ``eos_ratio = eos_hess_max / eos_threshold`` (≈ 1 at the edge of stability).
``noise_scale``
    ``noise_b_simple = tr Σ / |G|²`` (McCandlish et al. 2018) from gradient norms of
    ``repeats`` batches of the task's batch size ``B_b`` and of ``B_s = B_b/8``,
    drawn from the training set by a generator seeded with the run seed and step
    (a resumed run draws the same batches), plus ``noise_grad_sq``, ``noise_trace_sigma``.

This is logging: the runner times it into ``eval_time_s``, it never goes through the
ledger, and the model, its buffers, flags and the global RNG are left unchanged.
A failure gives NaN columns, never a failed run.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from ml2bench.flatness.dynamics import eos_threshold, gradient_noise_scale
from ml2bench.flatness.hvp import HessianOperator
from ml2bench.flatness.lanczos import hess_max
from ml2bench.flatness.protocol import ProtocolConfig, data_loss_fn, evaluation_batches
from ml2bench.flatness.names import dynamics_names
from ml2bench.flatness.state import full_precision, preserved_state
from ml2bench.problems.base import Task

EOS_COLUMNS = ("eos_hess_max", "eos_threshold", "eos_ratio", "eos_hvps")
NOISE_COLUMNS = ("noise_b_simple", "noise_grad_sq", "noise_trace_sigma")


def solver_momentum(info: dict, solver) -> float:
    """Heavy-ball momentum of the solver: ``info_momentum``, else its ``momentum``
    hyperparameter, else 0."""
    value = info.get("info_momentum")
    if value is None:
        value = getattr(solver, "hparams", {}).get("momentum")
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 0.0
    return value if 0.0 <= value < 1.0 else 0.0


class CheckpointDynamics:
    """Computes the M8 columns of a checkpoint row.

    Parameters
    ----------
    task : Task
        Its finest model is measured.
    names : sequence of str
        Requested metric names; only ``eos`` and ``noise_scale`` matter here.
    seed : int
        Seeds ``D_H``, the Lanczos start and the noise-scale batches.
    max_iter : int
        Lanczos cap of ``eos`` (HVPs per checkpoint).
    repeats : int
        Batches per size for ``noise_scale``.
    config : ProtocolConfig, optional
        ``D_H`` size and batch size.
    """

    def __init__(self, task: Task, names: Sequence[str], seed: int, max_iter: int = 20,
                 repeats: int = 4, config: ProtocolConfig | None = None) -> None:
        self.task = task
        self.names = dynamics_names(names)
        self.seed = seed
        self.max_iter = max_iter
        self.repeats = repeats
        self.config = config or ProtocolConfig()
        self.loss_fn = data_loss_fn(task)
        self._batches: list[tuple] | None = None

    @property
    def batches(self) -> list[tuple]:
        """``D_H`` (built on first use)."""
        if self._batches is None:
            cfg = self.config
            self._batches = evaluation_batches(self.task, self.seed, cfg.subset_size,
                                               cfg.batch_size)
        return self._batches

    def columns(self, step: int, info: dict, solver) -> dict:
        """The dynamics columns of the checkpoint at ``step`` (``info``: the solver's
        ``info_*`` columns of its last step)."""
        out: dict = {}
        model = self.task.model
        with preserved_state(model), full_precision():
            if "eos" in self.names:
                out.update(self._guarded(EOS_COLUMNS, self._eos, info, solver))
            if "noise_scale" in self.names:
                out.update(self._guarded(NOISE_COLUMNS, self._noise, step))
        return out

    @staticmethod
    def _guarded(names: Sequence[str], compute, *args) -> dict:
        try:
            return compute(*args)
        except Exception:  # logging must not kill a run (e.g. a non-finite iterate)
            return {name: math.nan for name in names}

    def _eos(self, info: dict, solver) -> dict:
        op = HessianOperator(self.task.model, self.loss_fn, self.batches, self.config.hvp_method)
        result = hess_max(op, self.config.lanczos_tol, self.max_iter,
                          torch.Generator().manual_seed(self.seed))
        top = float(result.values[0])
        lr = info.get("info_lr")
        threshold = math.nan
        if lr is not None and math.isfinite(lr) and lr > 0:
            threshold = eos_threshold(lr, solver_momentum(info, solver))
        return {"eos_hess_max": top, "eos_threshold": threshold,
                "eos_ratio": top / threshold if threshold == threshold else math.nan,
                "eos_hvps": op.num_hvps}

    def _noise(self, step: int) -> dict:
        total = self.task.num_train
        big = min(self.task.batch_size, total)
        small = max(1, big // 8)
        if small >= big:
            return {name: math.nan for name in NOISE_COLUMNS}
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + step)

        def draw(size: int) -> list[tuple]:
            return [self.task.batch(torch.randperm(total, generator=generator)[:size]
                                    .to(self.task.train[0].device))
                    for _ in range(self.repeats)]

        small_batches, big_batches = draw(small), draw(big)
        result = gradient_noise_scale(self.task.model, self.loss_fn, small_batches, big_batches)
        return {"noise_b_simple": result.b_simple, "noise_grad_sq": result.grad_sq_norm,
                "noise_trace_sigma": result.trace_sigma}
