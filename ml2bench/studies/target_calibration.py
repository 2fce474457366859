"""Targets that measure something: each problem's time-to-target threshold calibrated
from reference runs by one written rule, in the spirit of AlgoPerf.

AlgoPerf (Dahl et al., arXiv 2306.07179, §4.3) sets each workload's target from its
*reference* algorithms — the baselines, not the methods being judged — as a metric those
algorithms reach within the budget, so that a target is demanding but reachable. ml2bench's
rule (version :data:`RULE_VERSION`), for one problem at one scale (``quick`` or ``full``):

1. run every reference solver (:data:`REFERENCE_SOLVERS`: the single-level baselines,
   trust region and projected gradient, default hyperparameters, each where it
   supports the problem) on
   the calibration seeds with the problem's budget ``B`` and no stop at the target, in
   the portable numerics (:mod:`ml2bench.numerics`);
2. per run, the best value of the target metric evaluated at or before ``φ·B``
   (:data:`FRACTION`: half the budget, so that a faster method has room to show it and
   a slower one can still arrive);
3. per reference solver, its *guaranteed level*: the worst of those values over the seeds
   (a target every seed reaches, not a lucky seed's);
4. the target is the best guaranteed level over the reference solvers, rounded to
   :data:`SIGNIFICANT` significant digits towards easier (down for an accuracy, up for an
   error), so that the reference solver that set it reaches it in every calibration seed
   by ``φ·B``.

A floor that no solver passes (e.g. an approximation error the model cannot go below) is
respected by construction: the target is a value some reference run reached.
``ml2bench calibrate`` runs the rule, prints the reference runs and writes the target
with its provenance (``[calibration.quick]`` / ``[calibration.full]`` tables) into the
problem spec.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pandas as pd

from ml2bench.errors import UserError
from ml2bench.labels import format_label, parse_label
from ml2bench.report.leaderboard import parse_params, problem_metric, target_of
from ml2bench.runner.store import ResultsStore
from ml2bench.runner.sweep import expand, run_sweep

#: Version of the rule (recorded with every calibrated target).
RULE_VERSION = 1
#: The reference solvers, with default hyperparameters: the single-level baselines, the
#: single-level trust region (Newton–CG, the classical method a multilevel trust region
#: is measured against) and the projected baseline (spectral projected gradient, the one
#: reference that runs on bound-constrained problems); the multilevel and DD methods are
#: what is judged. A reference that does not support a problem is skipped there.
REFERENCE_SOLVERS = ("sgd", "adam", "adamw", "lbfgs", "tr", "pgd")
#: The fraction ``φ`` of the budget by which the reference must reach the target.
FRACTION = 0.5
#: Significant digits of a calibrated target.
SIGNIFICANT = 3
#: The scales a problem is calibrated at (``quick``: its quick size).
SCALES = ("quick", "full")


@dataclass
class Calibration:
    """The calibrated target of one problem at one scale, with its reference runs."""

    problem: str
    scale: str
    metric: str
    higher_is_better: bool
    seeds: list[int]
    fraction: float
    budget: float
    #: best metric by ``fraction·budget`` per (solver, seed)
    runs: pd.DataFrame = field(repr=False)
    #: guaranteed level (worst seed) per reference solver
    levels: dict[str, float] = field(default_factory=dict)
    reference: str = ""
    reached: float = math.nan
    target: float = math.nan

    def provenance(self) -> dict:
        """The ``[calibration.<scale>]`` table written into the spec."""
        return {"rule": RULE_VERSION, "metric": self.metric, "target": self.target,
                "reference": self.reference, "reached": self.reached,
                "fraction": self.fraction, "budget": self.budget, "seeds": self.seeds,
                "numerics": "portable"}

    def table(self) -> str:
        """The reference runs as a text table (rows: solvers; columns: seeds)."""
        wide = self.runs.pivot(index="solver", columns="seed", values="best")
        lines = [f"{self.problem} ({self.scale}, budget {self.budget:g} WU): best "
                 f"{self.metric} by {self.fraction:g}·budget = {self.fraction * self.budget:g} WU"]
        header = ["solver", *(f"seed {s}" for s in wide.columns), "guaranteed (worst seed)"]
        rows = [[solver, *(f"{v:.4g}" for v in wide.loc[solver]), f"{self.levels[solver]:.4g}"]
                for solver in wide.index]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        lines.append("  ".join(h.rjust(w) for h, w in zip(header, widths)))
        lines.extend("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows)
        sign = ">=" if self.higher_is_better else "<="
        lines.append(f"target: {self.metric} {sign} {self.target:g} (set by {self.reference}, "
                     f"which reaches {self.reached:.4g} in every seed; rule {RULE_VERSION})")
        return "\n".join(lines)


def round_towards_easier(value: float, higher_is_better: bool,
                         digits: int = SIGNIFICANT) -> float:
    """``value`` to ``digits`` significant digits, rounded down for a metric to maximise
    and up for one to minimise (the rounded target is never harder than ``value``)."""
    if not math.isfinite(value) or value == 0.0:
        return value
    scale = 10.0 ** (digits - 1 - math.floor(math.log10(abs(value))))
    rounded = (math.floor if higher_is_better else math.ceil)(value * scale) / scale
    # the division may round across ``value``; step one unit of the last digit away
    if (rounded > value) if higher_is_better else (rounded < value):
        rounded += (-1.0 if higher_is_better else 1.0) / scale
    return float(f"{rounded:.{digits}g}")


def best_by(rows: pd.DataFrame, metric: str, higher: bool, limit: float) -> float:
    """The best ``metric`` over the evaluated rows with ``work_units ≤ limit`` (NaN if
    none has a value)."""
    values = rows.loc[rows["work_units"] <= limit, metric].dropna()
    if values.empty:
        return math.nan
    return float(values.max() if higher else values.min())


def problem_label(problem: str, scale: str) -> str:
    """The run label of ``problem`` at ``scale`` (``quick``: with ``quick=true``)."""
    if scale not in SCALES:
        raise UserError(f"unknown scale {scale!r}; valid: {', '.join(SCALES)}")
    name, params = parse_label(problem)
    if scale == "quick":
        params.setdefault("quick", True)
    return format_label(name, params)


def calibrate(problems: Sequence[str], scale: str, seeds: Sequence[int], out: str,
              fraction: float = FRACTION, jobs: int = 1,
              progress: bool = True) -> list[Calibration]:
    """Run the reference solvers and apply the rule (module docstring) to each problem.

    Finished reference runs in ``out`` are reused (the sweep skips them).
    """
    if not 0.0 < fraction <= 1.0:
        raise UserError(f"--fraction must be in (0, 1], got {fraction:g}")
    labels = [problem_label(p, scale) for p in problems]
    specs = expand(labels, REFERENCE_SOLVERS, seeds, stop_at_target=False)
    report = run_sweep(specs, out, jobs=jobs, progress=progress)
    if report.failed:
        raise UserError(f"{len(report.failed)} reference runs failed ({report.failed[0]}); "
                        f"see the error column of their results in {out}")
    df = ResultsStore(out).load_runs()
    df = df[df["solver"].isin(REFERENCE_SOLVERS) & df["seed"].isin(list(seeds))
            & df["problem_label"].isin([label_of(spec_label) for spec_label in labels])]
    skipped = df.loc[df["status"] == "skipped", "run_id"].unique()  # unsupported there
    df = df[~df["run_id"].isin(skipped)]
    return [_apply_rule(group, problem, scale, list(seeds), fraction)
            for problem, group in df.groupby("problem", sort=False)]


def label_of(label: str) -> str:
    """The canonical problem label the results store under ``label``."""
    from ml2bench.problems.registry import resolve_problem
    from ml2bench.runner.prepare import canonical_problem_label

    spec, _, values = resolve_problem(label)
    return canonical_problem_label(spec, values)


def _apply_rule(df: pd.DataFrame, problem: str, scale: str, seeds: list[int],
                fraction: float) -> Calibration:
    first = df.iloc[0]
    params = first["problem_params"]
    metric, _, higher = target_of(problem, params, problem_metric(problem, df))
    budget = float(parse_params(params)["budget"])
    runs = pd.DataFrame([{"solver": solver_label, "seed": int(seed),
                          "best": best_by(rows, metric, higher, fraction * budget)}
                         for (solver_label, seed), rows in df.groupby(["solver_label", "seed"])])
    calibration = Calibration(problem, scale, metric, higher, seeds, fraction, budget, runs)
    for solver, rows in runs.groupby("solver"):
        values = rows["best"]
        worst = values.min() if higher else values.max()
        calibration.levels[solver] = math.nan if values.isna().any() else float(worst)
    finite = {s: v for s, v in calibration.levels.items() if math.isfinite(v)}
    if not finite:
        raise UserError(f"{problem}: no reference run evaluated {metric} by "
                        f"{fraction:g}·budget; nothing to calibrate on")
    reference = (max if higher else min)(finite, key=finite.get)
    calibration.reference, calibration.reached = reference, finite[reference]
    calibration.target = round_towards_easier(calibration.reached, higher)
    return calibration


# -- writing the spec ----------------------------------------------------------------
def write_target(path: Path, calibration: Calibration) -> None:
    """Set ``target`` in the spec's ``[quick]`` (quick) or ``[params]`` (full) table and
    replace its ``[calibration.<scale>]`` table by the new provenance.

    Text edits, so the spec's comments stay; the result is checked to parse to the
    written values.
    """
    import tomllib

    text = path.read_text()
    section = "quick" if calibration.scale == "quick" else "params"
    text = _set_key(text, section, "target", _toml_value(calibration.target))
    text = _drop_table(text, f"calibration.{calibration.scale}")
    lines = [f"\n[calibration.{calibration.scale}]",
             "# written by `ml2bench calibrate` (ml2bench.studies.target_calibration); "
             "rerun it rather than editing"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in calibration.provenance().items()]
    text = text.rstrip("\n") + "\n" + "\n".join(lines) + "\n"
    if tomllib.loads(text)[section]["target"] != calibration.target:
        raise RuntimeError(f"{path}: the edited spec does not parse to target "
                           f"{calibration.target:g}; left unchanged")
    path.write_text(text)


def _toml_value(value) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "nan"
    return str(value)


_HEADER = re.compile(r"^\s*\[([^\]]+)\]\s*(#.*)?$")


def _tables(lines: list[str]) -> list[tuple[str, int, int]]:
    """``(name, first line, end line)`` of every table (its header to the next one)."""
    starts = [(m.group(1).strip(), i) for i, line in enumerate(lines)
              if (m := _HEADER.match(line))]
    return [(name, start, starts[k + 1][1] if k + 1 < len(starts) else len(lines))
            for k, (name, start) in enumerate(starts)]


def _set_key(text: str, table: str, key: str, value: str) -> str:
    """``key = value`` in ``[table]`` (replaced in place, else added at its end; the table
    is created at the end of the file if missing)."""
    lines = text.splitlines()
    for name, start, end in _tables(lines):
        if name != table:
            continue
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for i in range(start + 1, end):
            if pattern.match(lines[i]):
                lines[i] = f"{key} = {value}"
                return "\n".join(lines) + "\n"
        last = end
        while last > start + 1 and not lines[last - 1].strip():
            last -= 1
        lines.insert(last, f"{key} = {value}")
        return "\n".join(lines) + "\n"
    return text.rstrip("\n") + f"\n\n[{table}]\n{key} = {value}\n"


def _drop_table(text: str, table: str) -> str:
    """``text`` without ``[table]`` and its lines."""
    lines = text.splitlines()
    for name, start, end in _tables(lines):
        if name == table:
            del lines[start:end]
            break
    return "\n".join(lines).rstrip("\n") + "\n"
