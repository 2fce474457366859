"""Convergence plots: training loss and test metric against work, time or epochs.

One figure per problem; per solver label a colour from the colour-blind-safe Okabe–Ito
palette and the line style and marker of its family (baseline, trust region,
multilevel, domain decomposition: :mod:`ml2bench.report.families`), so that families
are told apart without colour; one legend below the panels, outside the data.

For each solver the seeds' curves are linearly interpolated onto a common x grid (the
union of their checkpoint positions, thinned to at most :data:`MAX_GRID_POINTS`); a
seed contributes only between its first and last checkpoint (no extrapolation). The
line is the median over the seeds present at each x, the shaded band their min–max
range.

Panels: the training loss; the test metric (``test_acc``, linear scale, or
``test_rel_l2``, log scale); and, for problems whose target is on another metric (the
quadratic: ``grad_norm_rel``), a third panel with that metric. The target threshold
is a dashed horizontal line on the panel of its metric.

Loss scale: logarithmic when every plotted loss is positive. When the problem's exact
minimum ``f*`` is known (the convex quadratic, whose energy ``½xᵀAx − bᵀx`` is negative
near its minimum: :meth:`ProblemFamily.optimal_loss`), the loss panel shows the gap
``f − f*`` on a log scale, so that convergence is visible over all its decades (points
where the gap is not positive, i.e. at round-off level, are left out). Otherwise a
loss that is not positive everywhere gets a symmetric log scale (``symlog``: linear
within ±``linthresh``, logarithmic beyond, with ``linthresh`` the smallest non-zero
``|loss|``, at least 1e-6·max ``|loss|``).

The line is the median over seeds, which for two seeds is their mean; the figure's
title says which it is.

Figures are built with :class:`matplotlib.figure.Figure` on the Agg canvas (no pyplot
state, no display needed; matplotlib is imported only when a figure is drawn) and
written atomically. :func:`plot_all` redraws a PNG only when its inputs changed: the
digest of the rows it is drawn from is kept in the PNG (a text chunk).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ml2bench.files import atomic_save
from ml2bench.report.families import solver_name, solver_styles
from ml2bench.report.leaderboard import (SKIPPED, parse_params, problem_labels, problem_metric,
                                         target_of)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

X_LABELS = {"work_units": "work units (full fine-level gradients)",
            "time_s": "solver wall time [s]", "epoch": "epochs"}
Y_LABELS = {"train_loss": "training loss", "test_acc": "test accuracy",
            "test_rel_l2": "test relative L2 error", "grad_norm_rel": "‖∇L‖ / ‖∇L₀‖",
            "loss_gap": "training loss − exact minimum (f − f*)"}
MAX_GRID_POINTS = 400
#: Bumped when the drawing changes, so that cached PNGs are redrawn.
PLOT_VERSION = 4


def optimal_loss(problem: str, problem_params) -> float | None:
    """The exact minimum ``f*`` of ``problem``'s objective with these parameters, if the
    problem family knows it (None otherwise, or if the problem is not registered)."""
    try:
        from ml2bench.problems.registry import family_class, load_specs

        family = family_class(load_specs()[problem].family)()
        value = family.optimal_loss(parse_params(problem_params))
    except Exception:  # unknown problem, parameters missing from hand-made frames
        return None
    return None if value is None or not np.isfinite(value) else float(value)


def slug(name: str) -> str:
    """A file-name-safe form of ``name`` (``[a-z0-9._-]``, other runs of chars → ``-``)."""
    text = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.")
    return text or "problem"


def seed_curve(run: pd.DataFrame, x: str, y: str) -> tuple[np.ndarray, np.ndarray]:
    """Finite ``(x, y)`` points of one run, sorted by x, one point per x (the last).

    Parameters
    ----------
    run : pandas.DataFrame
        The rows of one run.
    x, y : str
        Column names.

    Returns
    -------
    xs, ys : numpy.ndarray
    """
    if y not in run or x not in run:
        return np.empty(0), np.empty(0)
    frame = run.sort_values(["step", x] if "step" in run else [x], kind="stable")
    xs = frame[x].to_numpy(dtype=float)
    ys = frame[y].to_numpy(dtype=float)
    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[keep], ys[keep]
    if len(xs) == 0:
        return xs, ys
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    last = np.append(xs[1:] != xs[:-1], True)  # last point of each run of equal x
    return xs[last], ys[last]


def common_grid(curves: list[tuple[np.ndarray, np.ndarray]],
                max_points: int = MAX_GRID_POINTS) -> np.ndarray:
    """Union of the curves' x positions (evenly thinned to ``max_points`` if larger)."""
    xs = [c[0] for c in curves if len(c[0])]
    if not xs:
        return np.empty(0)
    grid = np.unique(np.concatenate(xs))
    if len(grid) > max_points:
        grid = np.unique(np.concatenate([np.linspace(grid[0], grid[-1], max_points),
                                         [c[-1] for c in xs]]))
    return grid


def band(curves: list[tuple[np.ndarray, np.ndarray]], grid: np.ndarray
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, min and max over the curves interpolated onto ``grid``.

    Each curve is interpolated linearly inside its own x range and is missing (NaN)
    outside it; at x values where no curve is present all three are NaN.

    Returns
    -------
    median, low, high : numpy.ndarray
        Same length as ``grid``.
    """
    stack = np.full((max(len(curves), 1), len(grid)), np.nan)
    for row, (xs, ys) in enumerate(curves):
        if len(xs) == 0:
            continue
        inside = (grid >= xs[0]) & (grid <= xs[-1])
        stack[row, inside] = np.interp(grid[inside], xs, ys)
    present = np.isfinite(stack).any(axis=0)
    median, low, high = (np.full(len(grid), np.nan) for _ in range(3))
    if present.any():
        median[present] = np.nanmedian(stack[:, present], axis=0)
        low[present] = np.nanmin(stack[:, present], axis=0)
        high[present] = np.nanmax(stack[:, present], axis=0)
    return median, low, high


def _set_scale(ax, column: str, values: np.ndarray) -> str:
    """Choose the y scale of a panel (see the module docstring); returns its name."""
    values = values[np.isfinite(values)]
    if column == "test_acc" or len(values) == 0:
        return "linear"
    if (values > 0).all():
        ax.set_yscale("log")
        return "log"
    if column != "train_loss":
        return "linear"
    magnitudes = np.abs(values[values != 0])
    top = magnitudes.max() if len(magnitudes) else 1.0
    linthresh = max(magnitudes.min() if len(magnitudes) else 1.0, 1e-6 * top)
    ax.set_yscale("symlog", linthresh=linthresh)
    return "symlog"


def _draw_panel(ax, runs: pd.DataFrame, x: str, column: str, colours: dict,
                target: tuple[str, float, bool] | None) -> None:
    """One panel: per solver the median line and min–max band, then the target line."""
    plotted = []
    groups = dict(tuple(runs.groupby("solver_label", sort=True)))
    for solver in [label for label in colours if label in groups]:  # family order
        group = groups[solver]
        curves = [seed_curve(run, x, column) for _, run in group.groupby("run_id")]
        grid = common_grid(curves)
        median, low, high = band(curves, grid)
        if not np.isfinite(median).any():
            continue
        seeds = sum(1 for c in curves if len(c[0]))
        style = colours[solver]
        ax.plot(grid, median, label=f"{solver} (n={seeds})", markersize=5,
                markevery=max(1, len(grid) // 8), **style)
        ax.fill_between(grid, low, high, color=style["color"], alpha=0.15, linewidth=0)
        plotted.append(np.concatenate([low, high]))
    if target is not None and np.isfinite(target[1]):
        sign = "≥" if target[2] else "≤"
        ax.axhline(target[1], color="black", linestyle="--", linewidth=1,
                   label=f"target {sign} {target[1]:g}")
        plotted.append(np.array([target[1]]))
    _set_scale(ax, column, np.concatenate(plotted) if plotted else np.empty(0))
    ax.set_xlabel(X_LABELS.get(x, x))
    ax.set_ylabel(Y_LABELS.get(column, column))
    ax.set_title(Y_LABELS.get(column, column))
    ax.grid(True, which="major", alpha=0.3)


def problem_figure(df_problem: pd.DataFrame, x: str = "work_units",
                   title: str | None = None) -> Figure:
    """The figure of one problem (not saved): loss and metric panels against ``x``.

    Parameters
    ----------
    df_problem : pandas.DataFrame
        Long results rows of one problem (all solvers and seeds). Skipped runs are
        left out.
    x : {"work_units", "time_s", "epoch"}
        Column on the horizontal axis.
    title : str, optional
        Figure title (default: the problem name).

    Returns
    -------
    matplotlib.figure.Figure
        Axes in order: training loss, test metric, then the target metric when it is
        not the test metric. Each panel has one line per solver plus, on the target
        metric's panel, one dashed target line.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if x not in X_LABELS:
        raise ValueError(f"unknown x axis {x!r}; valid: {', '.join(X_LABELS)}")
    skipped = df_problem.groupby("run_id")["status"].transform(lambda s: (s == SKIPPED).any())
    runs = df_problem[~skipped.astype(bool)]
    first = df_problem.iloc[0]
    metric = problem_metric(first["problem"], df_problem)
    target = target_of(first["problem"], first.get("problem_params"), metric)
    loss = "train_loss"
    f_star = optimal_loss(first["problem"], first.get("problem_params"))
    if f_star is not None and "train_loss" in runs:
        gap = runs["train_loss"].astype(float) - f_star
        runs = runs.assign(loss_gap=gap.where(gap > 0))
        loss = "loss_gap"
    columns = [loss, metric] + ([target[0]] if target[0] != metric else [])
    fig = Figure(figsize=(5.2 * len(columns), 5.0), layout="constrained")
    FigureCanvasAgg(fig)
    names = df_problem.drop_duplicates("solver_label").set_index("solver_label")["solver"] \
        if "solver" in df_problem else pd.Series(dtype=object)
    colours = solver_styles({label: str(names.get(label, solver_name(label)))
                             for label in df_problem["solver_label"].unique()})
    for ax, column in zip(fig.subplots(1, len(columns), squeeze=False)[0], columns):
        _draw_panel(ax, runs, x, column, colours, target if column == target[0] else None)
    _legend_below(fig)
    if runs.empty:
        fig.axes[0].text(0.5, 0.5, "no runs to plot (all skipped)", ha="center",
                         transform=fig.axes[0].transAxes)
    seeds = runs.groupby("solver_label")["run_id"].nunique() if not runs.empty else pd.Series()
    fig.suptitle(f"{title or first['problem']}\n{seed_summary(seeds)}", fontsize="medium")
    return fig


def _legend_below(fig: Figure) -> None:
    """One legend for all panels, below them (outside the data): every solver and the
    target line, each once, in the panels' order."""
    handles, labels = {}, []
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            key = label.split(" (n=")[0]
            if key not in handles:
                handles[key] = handle
                labels.append(label)
    if handles:
        fig.legend(list(handles.values()), labels, loc="outside lower center",
                   ncols=min(4, len(labels)), fontsize="small", frameon=False)


def seed_summary(seeds_per_solver: pd.Series) -> str:
    """What the line and band are, given the number of seeds of each solver."""
    most = int(seeds_per_solver.max()) if len(seeds_per_solver) else 0
    if most <= 1:
        return "one seed per solver"
    if most == 2:
        return "line = mean of the 2 seeds (their median), band = their range"
    return "line = median over seeds, band = min–max"


def save_figure(fig: Figure, path: str | Path, dpi: int = 110,
                metadata: dict[str, str] | None = None) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically (temporary file, then ``os.replace``);
    ``metadata`` becomes PNG text chunks."""
    return atomic_save(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi,
                                                     metadata=metadata))


def plot_problem(df_problem: pd.DataFrame, x: str = "work_units",
                 path: str | Path = "problem.png", title: str | None = None) -> Path:
    """Draw :func:`problem_figure` and save it as a PNG at ``path`` (atomically).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    return save_figure(problem_figure(df_problem, x, title), path)


def plot_all(df: pd.DataFrame, out_dir: str | Path, x: str = "work_units") -> list[Path]:
    """One PNG per problem (per parameter variant, see ``problem_labels``) in ``out_dir``.

    Parameters
    ----------
    df : pandas.DataFrame
        Long results table.
    out_dir : str or Path
        Created if needed.
    x : {"work_units", "time_s", "epoch"}

    Returns
    -------
    list of pathlib.Path
        ``out_dir/<slug of the problem label>-<x>.png``, in problem-label order.
    """
    if df.empty:
        return []
    labels = problem_labels(df)
    paths = []
    for label in sorted(labels.unique()):
        path = Path(out_dir) / f"{slug(label)}-{x}.png"
        rows = df[labels == label]
        digest = inputs_digest(rows, x, label)
        if png_text(path, INPUTS_KEY) != digest:
            save_figure(problem_figure(rows, x, label), path, metadata={INPUTS_KEY: digest})
        paths.append(path)
    return paths


#: PNG text key under which :func:`plot_all` records the digest of a figure's inputs.
INPUTS_KEY = "ml2bench-inputs"


def png_text(path: str | Path, key: str) -> str | None:
    """The value of the PNG text chunk ``key`` of ``path`` (None if absent or no PNG).

    Reads the chunks before the image data only, without an imaging library.
    """
    try:
        with open(path, "rb") as handle:
            if handle.read(8) != b"\x89PNG\r\n\x1a\n":
                return None
            while True:
                head = handle.read(8)
                if len(head) < 8:
                    return None
                length, kind = int.from_bytes(head[:4], "big"), head[4:]
                if kind in (b"IDAT", b"IEND"):
                    return None
                data = handle.read(length + 4)[:length]
                if kind == b"tEXt" and data.split(b"\0", 1)[0] == key.encode("latin-1"):
                    return data.split(b"\0", 1)[1].decode("latin-1")
    except OSError:
        return None


def inputs_digest(rows: pd.DataFrame, x: str, title: str) -> str:
    """SHA-256 of everything a figure is drawn from (rows, axis, title, drawing version)."""
    keys = [k for k in ("run_id", "step") if k in rows]
    ordered = rows.sort_values(keys, kind="stable") if keys else rows
    ordered = ordered[sorted(ordered.columns)].reset_index(drop=True)
    digest = hashlib.sha256(f"{PLOT_VERSION}|{x}|{title}|".encode())
    digest.update(pd.util.hash_pandas_object(ordered.astype(str), index=False).to_numpy()
                  .tobytes())
    return digest.hexdigest()
