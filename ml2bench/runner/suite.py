"""Suites (``problems/suites/NAME.toml``) and the command-line selection helpers."""

from __future__ import annotations

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
    for key in ("problems", "solvers"):
        if not isinstance(data.get(key), list) or not data[key]:
            raise UserError(f"suite {path} needs a non-empty list {key!r}")
    known = {"problems", "solvers", "seeds", "budget", "quick", "metrics", "description"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserError(f"suite {path}: unknown key {unknown[0]!r}; valid keys: "
                        f"{', '.join(sorted(known))}")
    return Suite(name=path.stem, problems=list(data["problems"]), solvers=list(data["solvers"]),
                 seeds=[int(s) for s in data.get("seeds", [0])], budget=data.get("budget"),
                 quick=bool(data.get("quick", False)), metrics=list(data.get("metrics", [])),
                 description=data.get("description", ""))


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` → [0..4], ``"0,2,5"`` → [0, 2, 5], ``"3"`` → [3]."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                low, high = (int(p) for p in part.split("-", 1))
                if high < low:
                    raise ValueError
                seeds.extend(range(low, high + 1))
            else:
                seeds.append(int(part))
    except ValueError:
        raise UserError(f"cannot parse seeds {text!r}: expected e.g. 0-4, 0,1,2 or 3") from None
    if any(s < 0 for s in seeds):
        raise UserError(f"seeds must be non-negative integers, got {text!r}")
    return seeds


def with_quick(label: str) -> str:
    """``label`` with ``quick=true`` added unless it sets ``quick`` itself."""
    name, params = parse_label(label)
    params.setdefault("quick", True)
    return format_label(name, params)
