"""On-disk cache of measured per-level costs.

Counting FLOPs (:func:`ml2bench.hierarchy.cost.measure_level_costs`) takes seconds on
a deep hierarchy, and its result depends only on what the task is built from. The costs
are therefore measured once per *problem, version, resolved parameters and device type*
(plus the torch version, whose FLOP formulas may change, the :class:`LevelCost` field
names and :data:`FORMAT`, so that a new field or a new layout invalidates old entries)
and kept in one small JSON file per key:

``$ML2BENCH_CACHE/<problem>-v<version>-<sha256 of the key>.json``
(default directory ``~/.cache/ml2bench/costs``).

Files are written atomically and hold their full key; an entry that is missing,
unreadable, corrupt or of another key is measured again (never an error), and the
directory is safe to delete at any time. Caching applies while a :func:`cost_scope`
names the problem being built (the runner and ``ml2bench describe`` do); a task built
outside one measures its costs as before.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Iterator

from ml2bench.files import cache_directory

#: Version of the cache's file layout; bump it when the layout changes.
FORMAT = 1

_SCOPE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("ml2bench_cost_scope",
                                                                     default=None)


@contextlib.contextmanager
def cost_scope(problem: str, version: int, params: dict[str, Any],
               device_type: str) -> Iterator[None]:
    """Within this block, level costs are cached under the given problem identity."""
    token = _SCOPE.set({"problem": problem, "version": int(version), "params": params,
                        "device_type": device_type})
    try:
        yield
    finally:
        _SCOPE.reset(token)


def cache_key(scope: dict, cost_type: type, torch_version: str) -> dict:
    """The full key of an entry (stored in the file, hashed into its name)."""
    return {"format": FORMAT, **scope, "torch_version": torch_version,
            "fields": [f.name for f in dataclasses.fields(cost_type)]}


def entry_path(key: dict) -> Path:
    """The cache file of ``key``: a SHA-256 prefix of its canonical JSON."""
    text = json.dumps(key, sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()[:20]
    return cache_directory() / f"{key['problem']}-v{key['version']}-{digest}.json"


def _canonical(key: dict) -> dict:
    """The key as it reads back from JSON (tuples become lists, etc.)."""
    return json.loads(json.dumps(key, sort_keys=True, default=str))


def read_entry(key: dict, cost_type: type, levels: int) -> list | None:
    """The cached costs of ``key`` (``levels`` of them), or None if absent or unusable."""
    path = entry_path(key)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["key"] != _canonical(key) or len(data["costs"]) != levels:
            return None
        return [cost_type(**{k: float(v) for k, v in entry.items()}) for entry in data["costs"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def write_entry(key: dict, costs: list) -> None:
    """Store ``costs`` under ``key`` atomically; a failing write only skips caching."""
    from ml2bench.files import write_text

    data = {"key": _canonical(key), "costs": [dataclasses.asdict(c) for c in costs]}
    try:
        write_text(entry_path(key), json.dumps(data, indent=1, sort_keys=True) + "\n")
    except OSError:
        pass


def cached(measure: Callable[[], list], cost_type: type, levels: int,
           torch_version: str) -> list:
    """``measure()``'s costs, read from the cache when a scope names the problem."""
    scope = _SCOPE.get()
    if scope is None:
        return measure()
    key = cache_key(scope, cost_type, torch_version)
    costs = read_entry(key, cost_type, levels)
    if costs is None:
        costs = measure()
        write_entry(key, costs)
    return costs
