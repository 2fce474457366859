"""Plugins: solvers and problem families installed by other packages.

A package adds components through two entry-point groups (``importlib.metadata``)::

    [project.entry-points."ml2bench.solvers"]
    my_sgd = "my_optimizer:PolyakSGD"          # a Solver subclass, name = "my_sgd"

    [project.entry-points."ml2bench.problems"]
    my_family = "my_problems.family:MyFamily"  # a ProblemFamily subclass, family = "my_family"

The entry point's value is the ``"module:Class"`` of a built-in catalogue
:class:`~ml2bench.catalogue.Entry`, and its description is the distribution's
one-line ``Summary`` (``description`` in ``pyproject.toml``), so listing reads names and
descriptions without importing the plugin (nor torch). A problem plugin's specs are
TOML files, written like ``problems/NAME.toml``, in a ``problems/`` folder next to the
family's module file; they are found without importing the module either.

The entry points are read with :mod:`importlib.metadata` and kept in an index in the
cache directory (``$ML2BENCH_CACHE/entry-points.idx``), keyed by the directories of
``sys.path`` and their modification times: installing or removing a distribution
changes its directory's time, so the index is read again from the installed
metadata; otherwise ``ml2bench list`` need not import :mod:`importlib.metadata` (about
15 ms of the 60 ms a listing may take). The index is safe to delete.

Reading the entry points checks what it can without importing: the value's syntax, that
the module exists, and that the name is not taken (a built-in keeps its name; of two
plugins with one name the first found keeps it). A plugin that fails these checks is
reported by :func:`warning_lines` in one line naming its distribution. The class is imported
when a run builds it (:meth:`Plugin.load`), and then checked against the contract of the
built-ins (subclass, name, declared parameters); a plugin that fails there is a
one-line :class:`~ml2bench.errors.UserError`. The built-ins never depend on a plugin.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ml2bench.catalogue import Entry
from ml2bench.errors import UserError
from ml2bench.files import cache_directory, write_text

#: Entry-point groups by kind of component.
GROUPS = {"solver": "ml2bench.solvers", "problem family": "ml2bench.problems"}


@dataclass(frozen=True)
class Plugin(Entry):
    """A catalogue entry read from an installed distribution's entry point.

    ``dist`` is the distribution's name; ``defect`` (non-empty) says why the plugin
    cannot be used, found without importing it.
    """

    dist: str = ""
    defect: str = ""

    @property
    def where(self) -> str:
        """``plugin DIST (NAME = module:Class)``, the way messages name a plugin."""
        return f"plugin {self.dist} ({self.name} = {self.target})"

    def broken(self, reason: str) -> UserError:
        """The one-line error of a plugin that cannot be used."""
        return UserError(f"{self.where} is broken: {reason}")

    def load(self):
        """Import and return the plugin's class; any failure is a one-line UserError."""
        if self.defect:
            raise self.broken(self.defect)
        try:
            return super().load()
        except Exception as error:  # noqa: BLE001 - whatever a plugin's import raises
            raise self.broken(_reason(error)) from None


def _reason(error: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def module_spec(module: str):
    """The import spec of ``module`` found without importing it or its parents (None:
    not installed); ``importlib.util.find_spec`` would import the parent packages."""
    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)
        for part in rest:
            if spec is None or spec.submodule_search_locations is None:
                return None
            spec = importlib.machinery.PathFinder.find_spec(
                part, list(spec.submodule_search_locations))
    except (ImportError, ValueError):
        return None
    return spec


class EntryPointRecord(NamedTuple):
    """What listing needs of one entry point: distribution, name, value, summary."""

    dist: str
    name: str
    value: str
    summary: str


INDEX_NAME = "entry-points.idx"
INDEX_FORMAT = 1


def _path_fingerprint() -> list:
    """The directories of ``sys.path`` with their modification times (ns)."""
    fingerprint = []
    for entry in sys.path:
        path = os.path.abspath(entry or os.curdir)
        try:
            fingerprint.append([path, os.stat(path).st_mtime_ns])
        except OSError:
            fingerprint.append([path, None])
    return fingerprint


def _installed_entry_points() -> dict[str, list[EntryPointRecord]]:
    """Every group of :data:`GROUPS` from the installed distributions' metadata."""
    import importlib.metadata

    found: dict[str, list[EntryPointRecord]] = {}
    for group in GROUPS.values():
        records = []
        for ep in importlib.metadata.entry_points(group=group):
            dist = ep.dist.name if ep.dist is not None else "?"
            summary = (ep.dist.metadata.get("Summary") or "") if ep.dist is not None else ""
            records.append(EntryPointRecord(dist, ep.name, ep.value.strip(), summary.strip()))
        found[group] = sorted(records, key=lambda r: (r.dist, r.name))
    return found


def _entry_points(group: str) -> list[EntryPointRecord]:
    """The entry points of ``group``, from the index if ``sys.path`` is unchanged."""
    index = cache_directory() / INDEX_NAME
    fingerprint = _path_fingerprint()
    try:
        saved = json.loads(index.read_text(encoding="utf-8"))
        if saved["format"] == INDEX_FORMAT and saved["path"] == fingerprint:
            return [EntryPointRecord(*r) for r in saved["groups"][group]]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # missing, unreadable or stale: read the installed metadata
    found = _installed_entry_points()
    try:
        write_text(index, json.dumps({"format": INDEX_FORMAT, "path": fingerprint,
                                      "groups": found}))
    except (OSError, UserError):
        pass  # an unwritable cache only costs the next listing the metadata read
    return found[group]


def _read(kind: str, builtins) -> tuple[dict[str, Plugin], list[str]]:
    """The plugins of ``kind`` (usable or with a defect) and the refused ones' lines."""
    plugins: dict[str, Plugin] = {}
    refused: list[str] = []
    for ep in _entry_points(GROUPS[kind]):
        plugin = Plugin(ep.name, ep.value, ep.summary, dist=ep.dist)
        module, colon, attribute = plugin.target.partition(":")
        if ep.name in builtins:
            refused.append(f"{plugin.where} is refused: {ep.name!r} is a built-in {kind}, "
                           "which keeps the name")
        elif ep.name in plugins:
            refused.append(f"{plugin.where} is refused: {ep.name!r} is taken by "
                           f"{plugins[ep.name].where}")
        elif not colon or not module or not attribute.isidentifier():
            plugins[ep.name] = _with_defect(plugin, "its entry point must name module:Class")
        elif module_spec(module) is None:
            plugins[ep.name] = _with_defect(plugin, f"no module named {module!r}")
        else:
            plugins[ep.name] = plugin
    return plugins, refused


def _with_defect(plugin: Plugin, defect: str) -> Plugin:
    return Plugin(plugin.name, plugin.target, plugin.description, plugin.dist, defect)


_CACHE: dict[str, tuple[dict[str, Plugin], list[str]]] = {}


def discover(kind: str, builtins) -> dict[str, Plugin]:
    """Plugins of ``kind`` (``"solver"`` or ``"problem family"``) by name, the built-in
    names ``builtins`` excluded; read once per process (:func:`refresh` to re-read)."""
    if kind not in _CACHE:
        _CACHE[kind] = _read(kind, builtins)
    return dict(_CACHE[kind][0])


def warning_lines(kind: str, builtins) -> list[str]:
    """One line per plugin of ``kind`` that is refused or broken (known without import)."""
    plugins = discover(kind, builtins)
    return [*_CACHE[kind][1], *(p.broken(p.defect).args[0] for p in plugins.values()
                                if p.defect)]


def refresh() -> None:
    """Forget the plugins read so far (after installing one into a running process)."""
    _CACHE.clear()


def spec_folder(plugin: Plugin) -> Path | None:
    """The ``problems/`` folder next to a problem plugin's module file (None: none)."""
    spec = module_spec(plugin.target.partition(":")[0])
    if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
        return None
    folder = Path(spec.origin).parent / "problems"
    return folder if folder.is_dir() else None


def check_params(plugin: Plugin, cls, declared_name: str) -> None:
    """A plugin class's declared name and parameters (``params``: name → ``Param``,
    each default valid) as the built-ins have them; else the plugin's one-line error."""
    from ml2bench.labels import Param, ParamSet

    if declared_name != plugin.name:
        raise plugin.broken(f"its class declares the name {declared_name!r}, its entry point "
                            f"{plugin.name!r}")
    params = getattr(cls, "params", None)
    if not isinstance(params, dict) or not all(
            isinstance(k, str) and isinstance(p, Param) for k, p in params.items()):
        raise plugin.broken("params must map parameter names to ml2bench.labels.Param")
    try:
        ParamSet.validate(plugin.name, params, {k: p.default for k, p in params.items()})
    except UserError as error:
        raise plugin.broken(f"a default is invalid: {error}") from None
