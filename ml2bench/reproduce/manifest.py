"""The claims manifest ``paper/claims.toml``: dataclasses, parsing and validation.

One ``[[claim]]`` table per published claim::

    [[claim]]
    id = "M1"                      # short id, unique
    kind = "mesh_independence"     # how our value is computed (ml2bench.reproduce.claims)
    title, authors, venue, year, arxiv, location, claim, source, notes
    protocol = "paper"             # "paper": the source's own protocol (batching, epochs,
                                   # baselines, cost unit); "ml2bench": ml2bench's own,
                                   # stricter reading (equal work units), reported beside
                                   # the paper's under the id "<paper id>-wu"
    protocol_text = "..."          # the protocol in one line (shown in claims.md)
    metric = "..."                 # the metric's exact definition
    verdict_rule = "..."           # the rule in words; the code applies [claim.tolerance]
    [claim.tolerance]              # numbers the rule uses
    [claim.analysis]               # what the kind needs (roles of the solvers, targets)
    [[claim.published]]            # quantity, value, text (one per published value)
    [claim.quick] / [claim.full]   # problems, solvers, seeds, budget, ..., cost
    [claim.result.<scale>]         # written by `ml2bench reproduce` (delimited block)

A malformed manifest is a one-line :class:`~ml2bench.errors.UserError`. The registries
are consulted only by :func:`check_runnable` (it imports torch).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ml2bench.errors import UserError

#: How a claim's published value was read (``ml2bench hypothesis``: no paper states it;
#: the claim is ml2bench's own, e.g. M2).
SOURCES = ("first-hand", "second-hand", "not read", "ml2bench hypothesis")
#: The scales every claim has.
SCALES = ("quick", "full")
#: Claim kinds and the module of :mod:`ml2bench.reproduce.claims` that computes them.
KINDS = ("mesh_independence", "pinn_schwarz", "accuracy_parity", "speedup", "fixed_schedule",
         "external")
#: Whose protocol a claim entry measures (``protocol`` key): the source's own, or
#: ml2bench's stricter equal-work reading, reported beside it, never instead of it.
PROTOCOLS = ("paper", "ml2bench")
#: Verdicts a run can give.
VERDICTS = ("reproduced", "partly", "not reproduced", "not run")
REQUIRED = ("id", "kind", "title", "authors", "venue", "year", "location", "claim",
            "source", "metric", "verdict_rule")


@dataclass(frozen=True)
class Published:
    """One published value: what it measures, the value and the paper's words."""

    quantity: str
    value: object
    text: str = ""
    key: str = ""


@dataclass(frozen=True)
class ScaleConfig:
    """The runs that test a claim at one scale.

    ``problems`` × ``solvers`` × ``seeds`` through the runner with the given run
    options; ``stand_in`` says why this scale is not the paper's setting (e.g. the
    bundled digits for MNIST); ``max_epochs`` a budget in epochs beside ``budget`` (a
    protocol that fixes the epochs, e.g. APTS_D's 100); ``data`` the command that fetches the data the scale
    needs; ``cost`` the expected (or measured) cost in words; ``study`` the external
    study an ``external`` claim calls instead of a sweep.
    """

    problems: tuple[str, ...] = ()
    solvers: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0,)
    budget: float | None = None
    checkpoint_every: float | None = None
    stop_at_target: bool = True
    max_time: float | None = None
    max_epochs: float | None = None
    stand_in: str = ""
    data: str = ""
    cost: str = ""
    study: str = ""


@dataclass(frozen=True)
class Claim:
    """One published claim of the manifest (see the module docstring)."""

    id: str
    kind: str
    title: str
    authors: str
    venue: str
    year: int
    arxiv: str
    location: str
    claim: str
    source: str
    notes: str
    metric: str
    verdict_rule: str
    tolerance: dict
    analysis: dict
    published: tuple[Published, ...]
    scales: dict[str, ScaleConfig]
    result: dict = field(default_factory=dict)
    protocol: str = "paper"
    protocol_text: str = ""

    @property
    def family(self) -> str:
        """The id of the paper's claim: ``T2`` for ``T2`` and its stricter reading ``T2-wu``."""
        return self.id.split("-")[0]

    @property
    def citation(self) -> str:
        """``authors, venue (year), arXiv id``."""
        arxiv = f", arXiv {self.arxiv}" if self.arxiv else ""
        return f"{self.authors}, {self.venue} ({self.year}){arxiv}"

    def published_value(self, key: str):
        """The published value with machine key ``key`` (None if absent or not a number)."""
        for item in self.published:
            if item.key == key and isinstance(item.value, (int, float)) \
                    and not isinstance(item.value, bool):
                return float(item.value)
        return None

    def published_text(self) -> str:
        """The published values in one line (``quantity: value``; ``;``-separated)."""
        return "; ".join(f"{p.quantity}: {p.value}" for p in self.published)


def _err(where: str, message: str) -> UserError:
    return UserError(f"claims manifest {where}: {message}")


def _scale(where: str, name: str, table) -> ScaleConfig:
    if not isinstance(table, dict):
        raise _err(where, f"[claim.{name}] must be a table")
    known = set(ScaleConfig.__dataclass_fields__)
    unknown = sorted(set(table) - known)
    if unknown:
        raise _err(where, f"[claim.{name}] has unknown key(s) {unknown} (valid: "
                          f"{sorted(known)})")
    values = dict(table)
    for key in ("problems", "solvers", "seeds"):
        if key in values:
            if not isinstance(values[key], list):
                raise _err(where, f"[claim.{name}] {key} must be a list")
            values[key] = tuple(values[key])
    if not values.get("study") and (not values.get("problems") or not values.get("solvers")):
        raise _err(where, f"[claim.{name}] needs problems and solvers (or a study)")
    if not all(isinstance(s, int) and s >= 0 for s in values.get("seeds", (0,))):
        raise _err(where, f"[claim.{name}] seeds must be non-negative integers")
    return ScaleConfig(**values)


def parse_claim(table: dict, index: int) -> Claim:
    """One ``[[claim]]`` table as a :class:`Claim` (UserError if malformed)."""
    where = f"claim #{index + 1}" + (f" ({table['id']})" if "id" in table else "")
    missing = [key for key in REQUIRED if key not in table]
    if missing:
        raise _err(where, f"missing key(s) {missing}")
    if table["kind"] not in KINDS:
        raise _err(where, f"unknown kind {table['kind']!r} (valid: {', '.join(KINDS)})")
    if table["source"] not in SOURCES:
        raise _err(where, f"source must be one of {', '.join(SOURCES)}, got "
                          f"{table['source']!r}")
    if table.get("protocol", "paper") not in PROTOCOLS:
        raise _err(where, f"protocol must be one of {', '.join(PROTOCOLS)}, got "
                          f"{table['protocol']!r}")
    published = table.get("published", [])
    if not published:
        raise _err(where, "no [[claim.published]] value")
    values = []
    for item in published:
        if "quantity" not in item or "value" not in item:
            raise _err(where, "every [[claim.published]] needs quantity and value")
        values.append(Published(item["quantity"], item["value"], item.get("text", ""),
                                item.get("key", "")))
    scales = {}
    for name in SCALES:
        if name not in table:
            raise _err(where, f"no [claim.{name}] configuration")
        scales[name] = _scale(where, name, table[name])
    return Claim(id=table["id"], kind=table["kind"], title=table["title"],
                 authors=table["authors"], venue=table["venue"], year=table["year"],
                 arxiv=table.get("arxiv", ""), location=table["location"],
                 claim=table["claim"], source=table["source"], notes=table.get("notes", ""),
                 metric=table["metric"], verdict_rule=table["verdict_rule"],
                 tolerance=dict(table.get("tolerance", {})),
                 analysis=dict(table.get("analysis", {})), published=tuple(values),
                 scales=scales, result=dict(table.get("result", {})),
                 protocol=table.get("protocol", "paper"),
                 protocol_text=table.get("protocol_text", ""))


def parse_manifest(text: str) -> list[Claim]:
    """The claims of a manifest's text, validated (UserError on the first problem)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"claims manifest is not valid TOML: {error}") from None
    tables = data.get("claim")
    if not isinstance(tables, list) or not tables:
        raise UserError("claims manifest has no [[claim]] entries")
    claims = [parse_claim(table, i) for i, table in enumerate(tables)]
    ids = [c.id for c in claims]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise UserError(f"claims manifest: repeated claim id(s) {repeated}")
    return claims


def load_manifest(path: str | Path) -> list[Claim]:
    """The claims of the manifest file ``path`` (UserError if missing or malformed)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no claims manifest at {path}")
    return parse_manifest(path.read_text(encoding="utf-8"))


def select(claims: list[Claim], ids: list[str]) -> list[Claim]:
    """The claims named in ``ids`` (all if empty), in manifest order; a paper's id also
    selects its stricter reading (``T2`` selects ``T2`` and ``T2-wu``). UserError for an
    unknown id, listing the valid ones."""
    if not ids:
        return list(claims)
    known = {c.id.lower() for c in claims} | {c.family.lower() for c in claims}
    unknown = [i for i in ids if i.lower() not in known]
    if unknown:
        raise UserError(f"unknown claim {unknown[0]!r} (valid: "
                        f"{', '.join(c.id for c in claims)})")
    wanted = {i.lower() for i in ids}
    return [c for c in claims if c.id.lower() in wanted or c.family.lower() in wanted]


def check_runnable(claim: Claim, scale: str) -> None:
    """Resolve every problem and solver of the claim's ``scale`` with the registries
    (UserError naming the claim if one does not resolve). Imports torch."""
    from ml2bench.problems.registry import resolve_problem
    from ml2bench.solvers.registry import make_solver

    config = claim.scales[scale]
    try:
        for problem in config.problems:
            resolve_problem(problem)
        for solver in config.solvers:
            make_solver(solver)
    except UserError as error:
        raise UserError(f"claim {claim.id} ({scale}): {error}") from None
