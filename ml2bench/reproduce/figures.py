"""Each claim's figure in the paper's form: the same axes and quantities, our curves,
the published values marked. Written to ``paper/figures/<ID>.<scale>.png`` with
matplotlib's Agg canvas (imported only when a figure is drawn).

* ``mesh_independence``: cycles to ``‖g‖ ≤ 1e-8‖g₀‖`` against n (log₂ axis), the
  published flat behaviour as a shaded band around the coarsest count;
* ``pinn_schwarz``: relative L2 error against work units per PDE, one curve per solver,
  the published L-BFGS error as a horizontal line;
* ``accuracy_parity``: validation accuracy against epochs, published accuracies as
  horizontal lines;
* ``speedup``: validation accuracy against the claim's x (work units or time) for the
  method and its baseline, the target line, and the published ratio against ours as an
  annotation;
* ``external``: work units to target against K on log–log axes with fitted slopes.
"""

from __future__ import annotations

import math
from pathlib import Path

from ml2bench.reproduce.claims.common import problem_param


def _figure(width: float = 6.0, height: float = 4.0, cols: int = 1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width * cols, height))
    FigureCanvasAgg(fig)
    return fig, [fig.add_subplot(1, cols, i + 1) for i in range(cols)]


def _finish(fig, claim, scale: str, path: Path, note: str = "") -> Path:
    title = f"{claim.id} ({scale}): {claim.title}"
    fig.suptitle(title + (f"\n{note}" if note else ""), fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return path


def draw(claim, runs, outcome, scale: str, path: str | Path) -> Path | None:
    """Draw the figure of ``claim`` into ``path``; returns it (None if nothing to draw).

    Parameters
    ----------
    claim : ml2bench.reproduce.manifest.Claim
        The claim (its kind picks the figure).
    runs : list of ml2bench.reproduce.runs.Run
        Its runs with their rows (curves).
    outcome : ml2bench.reproduce.claims.Outcome
        Its evaluation (values and series).
    scale : str
        ``quick`` or ``full`` (shown in the title).
    path : str or Path
        PNG file to write.

    Returns
    -------
    pathlib.Path or None
    """
    kinds = {"mesh_independence": _mesh, "pinn_schwarz": _pinn,
             "accuracy_parity": _accuracy, "speedup": _speedup, "fixed_schedule": _schedule,
             "external": _external}
    return kinds[claim.kind](claim, runs, outcome, scale, Path(path))


def _mesh(claim, runs, outcome, scale, path):
    fig, (ax,) = _figure()
    cycles = outcome.values["cycles"]
    cap = 0.0
    for solver, per_n in cycles.items():
        ns = [int(n) for n in per_n]
        ys = [c for c in per_n.values()]
        reached = [(n, y) for n, y in zip(ns, ys) if y is not None]
        single = solver in outcome.series.get("single_level", [])
        style = "--" if single else "-"
        if reached:
            ax.plot(*zip(*reached), style, marker="o", label=solver)
            cap = max(cap, max(y for _, y in reached))
        missed = [n for n, y in zip(ns, ys) if y is None]
        if missed:
            runs_of = {int(problem_param(r.rows, "n")): int(r.rows["step"].max())
                       for r in runs if r.solver == solver and r.rows is not None}
            ax.plot(missed, [runs_of.get(n, 0) for n in missed], "x", color="gray",
                    label=f"{solver}: not reached (last step)")
    base = [per_n[min(per_n, key=int)] for s, per_n in cycles.items()
            if s in outcome.series.get("multilevel", []) and per_n[min(per_n, key=int)]]
    if base:
        lo = min(base)
        spread = claim.tolerance.get("cycle_spread", 2)
        ax.axhspan(lo - 0.5, lo + spread + 0.5, color="tab:green", alpha=0.12,
                   label=f"published: flat (coarsest count +{spread:g})")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("grid size n")
    column = outcome.series.get("column", "grad_norm_rel")
    target = f"{outcome.series.get('gtol', 1e-8):g}"
    ax.set_ylabel("cycles (steps) to ‖g‖ ≤ 1e-8 ‖g₀‖" if column == "grad_norm_rel"
                  else f"cycles (steps) to {column} ≤ {target}")
    ax.legend(fontsize=7)
    return _finish(fig, claim, scale, path)


def _curves(ax, runs, x: str, y: str):
    """One line per run, a colour and a legend entry per solver label (seeds alike)."""
    seen = set()
    for run in runs:
        if run.rows is None:
            continue
        rows = run.rows.dropna(subset=[y])
        ax.plot(rows[x], rows[y], color=_color(ax, run.solver),
                label=None if run.solver in seen else run.solver,
                alpha=1.0 if run.solver not in seen else 0.5)
        seen.add(run.solver)


def _color(ax, key):
    colors = ax.__dict__.setdefault("_colors", {})
    if key not in colors:
        colors[key] = f"C{len(colors) % 10}"
    return colors[key]


def _pinn(claim, runs, outcome, scale, path):
    problems = list(dict.fromkeys(r.problem for r in runs))
    fig, axes = _figure(4.2, 3.6, len(problems))
    for ax, problem in zip(axes, problems):
        x = claim.analysis.get("x", "work_units")
        _curves(ax, [r for r in runs if r.problem == problem], x, "test_rel_l2")
        key = problem.split("[")[0]
        published = claim.published_value(f"lbfgs_error.{key}")
        if published is not None:
            ax.axhline(published, color="k", ls=":", label="published L-BFGS error")
        else:
            ax.text(0.02, 0.02, "published L-BFGS error: not read", transform=ax.transAxes,
                    fontsize=7, color="gray")
        ax.set_yscale("log")
        ax.set_xlabel("work units (fine gradient evaluations)" if x == "work_units" else
                      "parallel work units (critical path over subdomains)")
        ax.set_ylabel("relative L2 error")
        ax.set_title(key, fontsize=9)
        ax.legend(fontsize=7)
    return _finish(fig, claim, scale, path)


def _accuracy(claim, runs, outcome, scale, path):
    fig, (ax,) = _figure()
    _curves(ax, runs, "epoch", "test_acc")
    for item in claim.published:
        if isinstance(item.value, (int, float)) and item.key.startswith("accuracy."):
            ax.axhline(item.value, ls=":", color="gray", lw=1)
            ax.annotate(f"published {item.key.split('.', 1)[1]}: {item.value:g}",
                        (0, item.value), fontsize=6, va="bottom")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    ax.legend(fontsize=7)
    return _finish(fig, claim, scale, path)


def _speedup(claim, runs, outcome, scale, path):
    problems = list(dict.fromkeys(r.problem for r in runs))
    x = claim.analysis.get("x", "work_units")
    fig, axes = _figure(4.5, 3.6, len(problems))
    published = claim.published_value("speedup")
    for ax, problem in zip(axes, problems):
        _curves(ax, [r for r in runs if r.problem == problem], x, "test_acc")
        per = outcome.values.get("per_problem", {}).get(problem, {})
        target = per.get("target")
        if target is not None:
            ax.axhline(target, color="k", ls=":", lw=1, label=f"target {target:g}")
        ours = per.get("speedup")
        text = f"ours: {per.get('bound', '')}{ours:.2g}×" if ours is not None and \
            math.isfinite(ours) else "ours: —"
        if published is not None:
            text = f"published: {claim.analysis.get('published_relation', '>')} " \
                   f"{published:g}×\n" + text
        ax.text(0.02, 0.98, text, transform=ax.transAxes, ha="left", va="top",
                fontsize=8, bbox={"facecolor": "white", "alpha": 0.8})
        ax.set_xlabel({"work_units": "work units", "time_s": "training time (s)",
                       "epoch": "epoch"}.get(x, x))
        ax.set_ylabel("validation accuracy")
        ax.set_title(problem, fontsize=8)
        ax.legend(fontsize=7, loc="lower right")
    return _finish(fig, claim, scale, path)


def _schedule(claim, runs, outcome, scale, path):
    problems = list(dict.fromkeys(r.problem for r in runs))
    x = claim.analysis.get("x", "work_units")
    fig, axes = _figure(4.5, 3.6, len(problems))
    for ax, problem in zip(axes, problems):
        _curves(ax, [r for r in runs if r.problem == problem], x, "test_acc")
        entry = outcome.values.get(problem.split("[")[0], {})
        if "reduction" in entry:
            ax.text(0.02, 0.98, f"published: cost −40 % or more\nours: cost "
                    f"−{100 * entry['reduction']:.0f} % at equal epochs",
                    transform=ax.transAxes, ha="left", va="top", fontsize=8,
                    bbox={"facecolor": "white", "alpha": 0.8})
        ax.set_xlabel("work units" if x == "work_units" else x)
        ax.set_ylabel("validation accuracy")
        ax.set_title(problem, fontsize=8)
        ax.legend(fontsize=7, loc="lower right")
    return _finish(fig, claim, scale, path)


def _external(claim, runs, outcome, scale, path):
    wu = outcome.values.get("wu") or {}
    if not wu:
        return None
    import numpy as np
    fig, (ax,) = _figure()
    for solver, per_k in wu.items():
        ks = sorted((float(k), float(v)) for k, v in per_k.items()
                    if v is not None and math.isfinite(float(v)))
        if not ks:
            continue
        kx, ky = zip(*ks)
        slope = outcome.values.get("exponents", {}).get(solver)
        label = f"{solver}" + (f" (slope {slope:.2f})" if slope is not None else "")
        ax.plot(kx, ky, marker="o", label=label)
        if len(kx) > 1:
            p = np.polyfit(np.log(kx), np.log(ky), 1)
            ax.plot(kx, np.exp(np.polyval(p, np.log(kx))), ":", color="gray")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("depth K (residual blocks)")
    ax.set_ylabel("work units to target")
    ax.legend(fontsize=7)
    return _finish(fig, claim, scale, path)
