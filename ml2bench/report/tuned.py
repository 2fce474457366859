"""Tuned entries in the leaderboard (the record of :mod:`ml2bench.tuning`).

When a results folder holds ``tuning.json``, ``ml2bench table``

- leaves the tuning trials out (their runs are listed in the record; the final runs
  of the chosen configurations on fresh seeds are the leaderboard's entries);
- marks the tuned entries: a ``tuned`` column with the budget ``trials×studies``
  (empty for entries that were not tuned);
- prints a header above the table (Markdown: text lines; LaTeX: ``%`` comments; CSV:
  none, the column says it): the ruleset, and per solver its search space and budget.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from ml2bench.errors import UserError
from ml2bench.labels import format_value

#: The tuning record in a results folder (written by :func:`ml2bench.tuning.write_record`).
RECORD_NAME = "tuning.json"


def record_path(out: str | Path) -> Path:
    """``OUT/tuning.json``."""
    return Path(out) / RECORD_NAME


def load_record(out: str | Path) -> list[dict]:
    """The entries of ``OUT/tuning.json`` (empty if there is none).

    Raises :class:`UserError` if the file exists but cannot be read.
    """
    path = record_path(out)
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return list(data["entries"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"cannot read the tuning record {path} ({error}); run the same "
                        "`ml2bench tune` command again to rewrite it, or delete it") from None


def without_trials(runs, out: str | Path):
    """``runs`` without the tuning trials recorded in ``OUT/tuning.json`` (unchanged if
    there is no record): the entries every view ranks are the final runs of the chosen
    configurations, on fresh seeds."""
    record = load_record(out)
    if not record or runs.empty:
        return runs
    return runs[~runs["run_id"].isin(trial_runs(record))]


def _seeds_text(seeds: Sequence[int]) -> str:
    seeds = sorted(seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


def budget_text(entry: dict) -> str:
    """The tuning budget of a record entry, ``trials×studies`` (e.g. ``4×1``)."""
    return f"{entry['trials']}×{len(entry['studies'])}"


def trial_runs(entries: Sequence[dict]) -> set[str]:
    """Run ids of the tuning trials (left out of the leaderboard), final runs excepted."""
    trials = {rid for e in entries for c in e.get("configurations", ()) for rid in c["runs"]}
    return trials - set(final_marks(entries))


def final_marks(entries: Sequence[dict]) -> dict[str, str]:
    """Run id of every final run → the budget its configuration was tuned with."""
    return {rid: budget_text(e) for e in entries for rid in e.get("final_runs", ())}


def header_lines(entries: Sequence[dict]) -> list[str]:
    """Text above the leaderboard: the ruleset, then one line per solver with its search
    space and budget (problems listed when the same solver was tuned differently)."""
    if not entries:
        return []
    first = entries[0]
    lines = ["Tuned entries (column tuned = trials×studies): AlgoPerf external-tuning ruleset "
             "(arXiv:2306.07179), the same quasi-random (Halton, seed "
             f"{format_value(first['search_seed'])}) trial budget for every solver; study "
             f"seeds {_seeds_text(first['studies'])}; score = median over studies of the "
             "best trial's WU to target (inf if not reached); the chosen configuration "
             f"re-run on seeds {_seeds_text(first.get('final_seeds', ()))}."]
    groups: dict[tuple, list[str]] = {}
    for entry in entries:
        key = (entry["solver"], entry["search_space"], budget_text(entry),
               format_value(entry["budget"]), entry["search_seed"],
               tuple(entry["studies"]), tuple(entry.get("final_seeds", ())))
        groups.setdefault(key, []).append(entry["problem"])
    solvers = [key[0] for key in groups]
    for (solver, space, budget, wu, seed, studies, finals), problems in groups.items():
        where = f" on {', '.join(problems)}" if solvers.count(solver) > 1 else ""
        extra = "" if (seed, list(studies), list(finals)) == (
            first["search_seed"], first["studies"], first.get("final_seeds", [])) else (
            f", search seed {seed}, study seeds {_seeds_text(studies)}, "
            f"final seeds {_seeds_text(finals)}")
        lines.append(f"- {solver}{where}: {budget} trials×studies at {wu} WU per run{extra}; "
                     f"search space: {space}")
    return lines


def header_text(entries: Sequence[dict], fmt: str) -> str:
    """:func:`header_lines` for format ``fmt``: Markdown lines and a blank line, LaTeX
    comment lines, nothing for CSV."""
    lines = header_lines(entries)
    if not lines or fmt == "csv":
        return ""
    if fmt == "latex":
        return "".join(f"% {line}\n" for line in lines)
    return "\n".join(lines) + "\n\n"
