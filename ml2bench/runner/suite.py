"""Suites (``problems/suites/NAME.toml``) and the command-line selection helpers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ml2bench.errors import UserError
from ml2bench.labels import format_label, parse_label
from ml2bench.problems.registry import read_toml, spec_directory


@dataclass
class Suite:
    """Problems × solvers × seeds, with an optional budget and quick flag."""

    name: str
    problems: list[str]
    solvers: list[str]
    seeds: list[int] = field(default_factory=lambda: [0])
    budget: float | None = None
    quick: bool = False
    metrics: list[str] = field(default_factory=list)
    description: str = ""


def suite_directory() -> Path:
    """Where the built-in suites live (``problems/suites``)."""
    return spec_directory() / "suites"


def available_suites() -> dict[str, Path]:
    """Suite names → files in :func:`suite_directory`."""
    directory = suite_directory()
    return {p.stem: p for p in sorted(directory.glob("*.toml"))} if directory.is_dir() else {}


def load_suite(name_or_path: str) -> Suite:
    """A suite by name (``quick``) or by path (``my_suite.toml``)."""
    path = Path(name_or_path)
    if not path.suffix == ".toml" or not path.exists():
        suites = available_suites()
        if name_or_path not in suites:
            raise UserError(f"unknown suite {name_or_path!r}; valid suites: "
                            f"{', '.join(suites)} (or a path to a .toml file)")
        path = suites[name_or_path]
    data = read_toml(path)
    return Suite(name=path.stem, **validate_suite(data, path))


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _is_labels(value) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(v, str) and v.strip() for v in value)


#: Most seeds one sweep may name. Every seed is a full run of each problem × solver, and
#: benchmark statistics settle within tens of seeds, so more than this is a typo (e.g.
#: ``0-1000000`` for ``0-10``); without the limit such a sweep would only build its run
#: list for minutes before failing.
MAX_SEEDS = 1000

#: Largest seed: every generator seeded from it accepts it (``torch.Generator``,
#: NumPy), also after the derived seeds ml2bench computes from it.
MAX_SEED = 2**31 - 1


#: Suite keys: what each must be (for the error message) and its check.
SUITE_KEYS = {
    "problems": ("a non-empty list of problem labels, e.g. [\"peaks_resnet\"]", _is_labels),
    "solvers": ("a non-empty list of solver labels, e.g. [\"sgd\", \"rmtr[levels=3]\"]",
                _is_labels),
    "seeds": (f"a non-empty list of distinct non-negative integers, e.g. [0, 1] (at most "
              f"{MAX_SEEDS} seeds, each at most {MAX_SEED})",
              lambda v: isinstance(v, list) and 0 < len(v) <= MAX_SEEDS
              and all(_is_int(s) and 0 <= s <= MAX_SEED for s in v) and len(set(v)) == len(v)),
    "budget": ("a positive number of work units, e.g. 5.0", lambda v: _is_number(v) and v > 0),
    "quick": ("true or false", lambda v: isinstance(v, bool)),
    "metrics": ("a list of metric names, e.g. [\"hess_max\", \"sharp_avg\"]",
                lambda v: isinstance(v, list) and all(isinstance(m, str) for m in v)),
    "description": ("a string", lambda v: isinstance(v, str)),
}


def validate_suite(data: dict, path: Path | str) -> dict:
    """The fields of a suite file, each checked for its type and range.

    Raises :class:`UserError` naming the file, the key, the value given and what is
    valid (``seeds = "0-1"``, ``quick = "yes"``, ``budget = "abc"`` are all refused).
    """
    unknown = sorted(set(data) - set(SUITE_KEYS))
    if unknown:
        raise UserError(f"suite {path}: unknown key {unknown[0]!r}; valid keys: "
                        f"{', '.join(sorted(SUITE_KEYS))}")
    for key in ("problems", "solvers"):
        if key not in data:
            raise UserError(f"suite {path} needs the key {key!r}: {SUITE_KEYS[key][0]}")
    for key, value in data.items():
        valid, check = SUITE_KEYS[key]
        if not check(value):
            raise UserError(f"suite {path}: {key} = {_toml_text(value)} is invalid; "
                            f"{key} must be {valid}")
    fields = {k: data[k] for k in SUITE_KEYS if k in data}
    if "budget" in fields:
        fields["budget"] = float(fields["budget"])
    return fields


def _toml_text(value) -> str:
    """A value as TOML would spell it (for error messages)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_text(v) for v in value) + "]"
    return str(value)


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` → [0..4], ``"0,2,5"`` → [0, 2, 5], ``"3"`` → [3].

    Linear in the number of seeds, which is checked (at most :data:`MAX_SEEDS`, each in
    ``0 … MAX_SEED``) before any range is expanded; a seed given twice is refused.
    """
    ranges: list[tuple[int, int]] = []
    try:
        for part in text.split(","):
            low, dash, high = part.strip().partition("-")
            low, high = int(low), int(high if dash else low)
            if high < low:
                raise ValueError
            ranges.append((low, high))
    except ValueError:
        raise UserError(f"cannot parse seeds {text!r}: expected e.g. 0-4, 0,1,2 or 3") from None
    if any(low < 0 or high > MAX_SEED for low, high in ranges):
        raise UserError(f"seeds must be integers from 0 to {MAX_SEED}, got {text!r}")
    count = sum(high - low + 1 for low, high in ranges)
    if count > MAX_SEEDS:
        raise UserError(f"seeds {text!r} are {count} seeds; at most {MAX_SEEDS} per sweep "
                        "(each seed is a full run of every problem × solver)")
    seeds = [seed for low, high in ranges for seed in range(low, high + 1)]
    seen: set[int] = set()
    for seed in seeds:
        if seed in seen:
            raise UserError(f"seed {seed} is given twice in {text!r}; each seed runs once")
        seen.add(seed)
    return seeds


def with_quick(label: str) -> str:
    """``label`` with ``quick=true`` added unless it sets ``quick`` itself."""
    name, params = parse_label(label)
    params.setdefault("quick", True)
    return format_label(name, params)
