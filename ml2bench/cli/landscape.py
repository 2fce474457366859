"""``ml2bench landscape``: loss-landscape figures of the final models of finished runs.

Reads ``DIR/runs`` (which runs finished, and how) and ``DIR/models`` (their saved final
models), rebuilds each task on the CPU from the run's problem label and seed, and
draws into ``DIR/landscape/``, on the protocol's evaluation subset ``D_H`` and the
data loss without regularisation (design/metrics.md, M3 and M7):

``slice1d``
    ``L(θ + α d)`` along 3 filter-normalised random directions (direction seeds 0, 1,
    2), ``--points`` values of ``α ∈ [−1, 1]`` (default 51).
``slice2d``
    ``L(θ + α d₁ + β d₂)`` contours on a ``(points // 2)²`` grid (default 25 × 25).
``interpolate``
    ``L((1−α)θ_A + αθ_B)`` for ``α ∈ [−0.5, 1.5]`` between every pair of solvers' minima
    of the same problem and seed, with the barrier annotated.
``density``
    The SLQ spectral density of the Hessian (5 probes, ``--slq-steps`` steps), log y.

Figures are written atomically (temporary file, then rename) with Matplotlib's Agg
canvas; no display is needed. The arguments are declared in
:mod:`ml2bench.cli.landscape_args`, which the parser imports without this module.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ml2bench.cli.landscape_args import KINDS, add_landscape_parser  # noqa: F401
from ml2bench.errors import UserError
from ml2bench.files import atomic_save
from ml2bench.flatness.hvp import HessianOperator
from ml2bench.flatness.landscape import (
    filter_normalized_direction,
    interpolate,
    random_slices_1d,
    slice_2d,
)
from ml2bench.flatness.protocol import data_loss_fn, evaluation_batches
from ml2bench.flatness.slq import spectral_density
from ml2bench.parameters import trainable_parameters

EXCLUDED_STATUSES = ("failed", "skipped", "diverged")


@dataclass
class SavedRun:
    """A finished run with a saved final model."""

    run_id: str
    problem: str
    problem_label: str
    solver: str
    solver_label: str
    seed: int
    state: dict


def run_landscape_command(args) -> int:
    """Draw the requested figures; prints one path per figure. Returns 0."""
    if args.points < 3:
        raise UserError(f"--points must be at least 3, got {args.points}")
    if args.subset < 1 or args.slq_steps < 1:
        raise UserError("--subset and --slq-steps must be positive integers")
    from ml2bench.problems.registry import make_task

    kinds = KINDS if args.kind == "all" else (args.kind,)
    target = Path(args.out) / "landscape"
    groups: dict[str, list[SavedRun]] = {}
    for run in select_runs(args.out, args.problem, args.solvers, args.seed):
        groups.setdefault(run.problem_label, []).append(run)
    for label, runs in groups.items():
        task = make_task(label, runs[0].seed, "cpu")
        batches = evaluation_batches(task, runs[0].seed, args.subset)
        painter = Painter(task, batches, target, args.points, args.slq_steps)
        stems = unique_stems(runs)
        for run in runs:
            for kind in kinds:
                if kind != "interpolate":
                    print(painter.draw(kind, run, stems[run.run_id]))
        if "interpolate" in kinds:
            for a, b in itertools.combinations(runs, 2):
                print(painter.interpolation(a, b, stems[a.run_id], stems[b.run_id]))
    return 0


def select_runs(out: str, problem: str | None, solvers: str | None,
                seed: int | None) -> list[SavedRun]:
    """Finished runs with saved models, filtered (one clear UserError otherwise)."""
    from ml2bench.runner.store import ResultsStore

    store = ResultsStore(out)
    frame = store.load_runs()
    if frame.empty:
        raise UserError(f"no runs in {out}/runs; run e.g. `ml2bench run --problem P --solver S "
                        f"--out {out}` first")
    finals = frame.groupby("run_id", sort=True).tail(1)
    finals = finals[~finals["status"].isin(EXCLUDED_STATUSES)]
    runs = []
    for row in finals.itertuples(index=False):
        state = store.load_model(row.run_id, row.config_hash)
        if state is not None:
            runs.append(SavedRun(row.run_id, row.problem, state["problem_label"], row.solver,
                                 row.solver_label, int(row.seed), state))
    if not runs:
        raise UserError(f"no saved final models in {out}/models for the finished runs in "
                        f"{out}/runs; run them again with this version of ml2bench")
    return _filtered(runs, problem, solvers, seed)


def _filtered(runs: list[SavedRun], problem: str | None, solvers: str | None,
              seed: int | None) -> list[SavedRun]:
    if problem is not None:
        valid = sorted({r.problem for r in runs} | {r.problem_label for r in runs})
        if problem not in valid:
            raise UserError(f"no saved runs of problem {problem!r}; valid problems: "
                            f"{', '.join(valid)}")
        runs = [r for r in runs if problem in (r.problem, r.problem_label)]
    if solvers is not None:
        wanted = [s.strip() for s in solvers.split(",") if s.strip()]
        valid = sorted({r.solver for r in runs} | {r.solver_label for r in runs})
        for name in wanted:
            if name not in valid:
                raise UserError(f"no saved runs of solver {name!r}; valid solvers: "
                                f"{', '.join(valid)}")
        runs = [r for r in runs if r.solver in wanted or r.solver_label in wanted]
    seeds = sorted({r.seed for r in runs})
    if seed is None:
        seed = seeds[0]
    elif seed not in seeds:
        raise UserError(f"no saved runs with seed {seed}; valid seeds: "
                        f"{', '.join(map(str, seeds))}")
    return [r for r in runs if r.seed == seed]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("_")


def unique_stems(runs: list[SavedRun]) -> dict[str, str]:
    """File stems ``problem__solver__s<seed>`` (plus the run hash where ambiguous)."""
    stems = {r.run_id: f"{_slug(r.problem_label)}__{_slug(r.solver_label)}__s{r.seed}"
             for r in runs}
    counts: dict[str, int] = {}
    for stem in stems.values():
        counts[stem] = counts.get(stem, 0) + 1
    return {rid: stem if counts[stem] == 1 else f"{stem}__{rid.rsplit('__', 1)[-1]}"
            for rid, stem in stems.items()}


def _trainable_state(task, state: dict) -> list[torch.Tensor]:
    """Load ``state`` into the task's model; return copies of its trainable parameters."""
    task.model.load_state_dict(state["state_dict"])
    return [p.detach().clone() for p in trainable_parameters(task.model)]


def save_figure(figure: Figure, path: Path) -> Path:
    """Write a figure as PNG atomically."""
    FigureCanvasAgg(figure)
    return atomic_save(path, lambda tmp: figure.savefig(tmp, format="png", dpi=120))


class Painter:
    """Computes and draws the figures of one task (one problem label and seed)."""

    def __init__(self, task, batches: list[tuple], target: Path, points: int,
                 slq_steps: int) -> None:
        self.task, self.batches, self.target = task, batches, target
        self.points, self.slq_steps = points, slq_steps
        self.loss_fn = data_loss_fn(task)

    def draw(self, kind: str, run: SavedRun, stem: str) -> Path:
        """One figure of ``kind`` (``slice1d``, ``slice2d``, ``density``) of ``run``."""
        _trainable_state(self.task, run.state)
        figure = Figure(figsize=(5.5, 4.2))
        axes = figure.add_subplot()
        getattr(self, f"_{kind}")(axes, run)
        axes.set_title(f"{run.problem_label} · {run.solver_label} · seed {run.seed}", fontsize=9)
        figure.tight_layout()
        return save_figure(figure, self.target / f"{stem}__{kind}.png")

    def _slice1d(self, axes, run: SavedRun) -> None:
        curves = random_slices_1d(self.task.model, self.loss_fn, self.batches,
                                  seeds=(0, 1, 2), num_points=self.points)
        for seed, curve in enumerate(curves):
            axes.plot(curve.alphas, curve.losses, label=f"direction {seed}")
        axes.axvline(0.0, color="grey", lw=0.6, ls=":")
        axes.set_xlabel("α (filter-normalised direction)")
        axes.set_ylabel("data loss on D_H")
        axes.legend(fontsize=8)

    def _slice2d(self, axes, run: SavedRun) -> None:
        generator = torch.Generator().manual_seed(run.seed)
        first = filter_normalized_direction(self.task.model, generator)
        second = filter_normalized_direction(self.task.model, generator)
        grid = np.linspace(-1.0, 1.0, max(3, self.points // 2))
        result = slice_2d(self.task.model, self.loss_fn, self.batches, (first, second), grid, grid)
        losses = np.log10(np.maximum(result.losses, 1e-12))
        filled = axes.contourf(grid, grid, losses.T, levels=20, cmap="viridis")
        axes.contour(grid, grid, losses.T, levels=20, colors="k", linewidths=0.3)
        axes.plot([0.0], [0.0], "r+", ms=10)
        axes.figure.colorbar(filled, ax=axes, label="log10 data loss")
        axes.set_xlabel("α (direction 1)")
        axes.set_ylabel("β (direction 2)")

    def _density(self, axes, run: SavedRun) -> None:
        op = HessianOperator(self.task.model, self.loss_fn, self.batches)
        result = spectral_density(op, 5, self.slq_steps,
                                  generator=torch.Generator().manual_seed(run.seed))
        axes.semilogy(result.grid, np.maximum(result.density, 1e-12))
        axes.set_xlabel("Hessian eigenvalue")
        axes.set_ylabel("density (SLQ)")
        axes.text(0.98, 0.95, f"negative mass {result.negative_mass:.3g}\n"
                  f"outliers {result.num_outliers}", transform=axes.transAxes,
                  ha="right", va="top", fontsize=8)

    def interpolation(self, a: SavedRun, b: SavedRun, stem_a: str, stem_b: str) -> Path:
        """Loss along the segment between the minima of ``a`` and ``b``, barrier noted."""
        params_b = _trainable_state(self.task, b.state)
        params_a = _trainable_state(self.task, a.state)
        alphas = np.linspace(-0.5, 1.5, self.points)
        result = interpolate(self.task.model, self.loss_fn, self.batches, params_a, params_b,
                             alphas)
        figure = Figure(figsize=(5.5, 4.2))
        axes = figure.add_subplot()
        axes.plot(result.alphas, result.losses, label="L((1−α)θ_A + αθ_B)")
        axes.plot([0.0, 1.0], [result.loss_a, result.loss_b], "k--", lw=0.8, label="chord")
        for x in (0.0, 1.0):
            axes.axvline(x, color="grey", lw=0.6, ls=":")
        axes.set_xlabel(f"α  (A = {a.solver_label}, B = {b.solver_label})")
        axes.set_ylabel("data loss on D_H")
        axes.set_title(f"{a.problem_label} · seed {a.seed} · barrier {result.barrier:.3g}",
                       fontsize=9)
        axes.legend(fontsize=8)
        figure.tight_layout()
        name = f"{stem_a}__vs__{stem_b.split('__', 1)[-1]}__interpolate.png"
        return save_figure(figure, self.target / name)
