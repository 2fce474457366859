"""Problem families, TOML problem specs and the registry that ties them together.

A *family* is a Python class that knows how to build a task (e.g. all dense
ResNet-ODE classification problems). A *spec* ``problems/NAME.toml`` names a family,
carries a ``version``, a description, default values for the family's parameters
(``[params]``) and the overrides applied when ``quick=true`` (``[quick]``). A label such
as ``peaks_resnet[levels=3,quick=true]`` selects a spec and overrides parameters.

Families are found through the torch-free catalogue
(:mod:`ml2bench.problems.catalogue`), any registered at run time with
:func:`register_family`, and the plugins of installed packages (entry-point group
``ml2bench.problems``, see :mod:`ml2bench.plugins`), whose specs are the TOML files in a
``problems/`` folder next to the family's module; a family's module is imported on first
use, so reading and listing the specs imports no torch.

A spec may declare ``threads_pay = true`` (top level): its runs measurably gain from
more than one intra-op thread (``benchmarks/threads.py``), so a run of it gets
``cores // jobs`` threads instead of one (see :mod:`ml2bench.runner.threads`).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ml2bench import plugins
from ml2bench.errors import UserError
from ml2bench.labels import (Param, ParamSet, did_you_mean, format_label, parse_label,
                             unknown_name_error)
from ml2bench.problems.catalogue import FAMILIES as CATALOGUE

if TYPE_CHECKING:
    import torch

    from ml2bench.problems.base import Task

#: Parameters every family accepts.
COMMON_PARAMS: dict[str, Param] = {
    "quick": Param(False, "use the spec's [quick] sizes"),
    "batch_size": Param(128, "default mini-batch size", low=1),
    "budget": Param(10.0, "default budget in work units", low=0.0, low_open=True),
    "target": Param(0.9, "time-to-target threshold on the problem's metric"),
    "dtype": Param("float32", "floating-point type", choices=("float32", "float64")),
}

#: The ``batch_overlap`` parameter of the families whose papers overlap mini-batches
#: (the image classifiers of APTS_D, arXiv 2502.05133; see
#: :class:`ml2bench.problems.base.BatchSampler`). Not common: other families' labels and
#: run ids stay as they were.
BATCH_OVERLAP = Param(0.0, "overlap ratio r of the mini-batches: each batch adds ⌊r·B⌋ "
                           "samples of every other batch of its epoch (0: disjoint)",
                      low=0.0, high=0.99)


class ProblemFamily:
    """Base class of problem families: declares parameters, builds tasks."""

    family: ClassVar[str] = ""
    metric: ClassVar[str] = "test_acc"
    params: ClassVar[dict[str, Param]] = {}
    #: Parameters added after results were stored: left out of the resolved values (and
    #: so of a run's identity, :func:`ml2bench.runner.prepare.prepare`) while they are
    #: at their default, so that the runs stored before keep their identity. The
    #: family's code reads them with :meth:`value`.
    omitted_at_default: ClassVar[tuple[str, ...]] = ()

    def value(self, values: dict[str, Any], key: str) -> Any:
        """``values[key]``, or the declared default of a parameter left out of the
        resolved values at its default (:attr:`omitted_at_default`)."""
        return values[key] if key in values else self.params[key].default

    def make_task(self, name: str, values: dict[str, Any], seed: int,
                  device: torch.device) -> Task:  # pragma: no cover - abstract
        """A task of problem ``name`` with resolved parameters ``values``: data drawn with
        ``seed``, models and hierarchy on ``device``."""
        raise NotImplementedError

    def check_params(self, name: str, values: dict[str, Any]) -> None:
        """Raise :class:`UserError` if the parameter values are inconsistent (e.g. more
        levels than the depth allows); called before a sweep starts."""

    def num_levels(self, values: dict[str, Any]) -> int:
        """Levels of the task's hierarchy, known from the parameters without building it
        (the ``levels`` parameter of families that declare one, else 1)."""
        return int(values.get("levels", 1))

    def optimal_loss(self, values: dict[str, Any]) -> float | None:
        """The exact minimum ``f*`` of the training objective when it is known (None:
        unknown); plots then show ``f − f*`` on a log scale."""
        return None

    def check_available(self, name: str, values: dict[str, Any]) -> None:
        """Raise :class:`UserError` if something the task needs (data files) is missing.

        Called before a sweep starts, so that a missing data set fails fast.
        """


#: Families registered so far (their modules imported); see :func:`family_class`.
FAMILIES: dict[str, type[ProblemFamily]] = {}


def register_family(cls: type[ProblemFamily]) -> type[ProblemFamily]:
    """Class decorator adding a family to :data:`FAMILIES`."""
    FAMILIES[cls.family] = cls
    return cls


def family_plugins() -> dict[str, plugins.Plugin]:
    """The installed problem-family plugins by name (read, not imported)."""
    return plugins.discover("problem family", CATALOGUE)


def family_class(name: str) -> type[ProblemFamily]:
    """The family class ``name``, importing its module (catalogue or plugin) on first use."""
    if name not in FAMILIES:
        if name in CATALOGUE:
            CATALOGUE[name].load()
        elif name in family_plugins():
            return load_plugin(family_plugins()[name])
        else:
            raise unknown_name_error("problem family", name, _family_names())
    return FAMILIES[name]


def _family_names() -> set[str]:
    return {*CATALOGUE, *FAMILIES, *(n for n, p in family_plugins().items() if not p.defect)}


def load_plugin(plugin: plugins.Plugin) -> type[ProblemFamily]:
    """Import a problem-family plugin, check it like a built-in family and register it."""
    cls = plugin.load()
    if not (isinstance(cls, type) and issubclass(cls, ProblemFamily)):
        raise plugin.broken(f"{plugin.target} is not a subclass of "
                            "ml2bench.problems.registry.ProblemFamily")
    plugins.check_params(plugin, cls, cls.family)
    FAMILIES[cls.family] = cls
    return cls


@dataclass(frozen=True)
class ProblemSpec:
    """A parsed ``problems/NAME.toml``."""

    name: str
    version: int
    family: str
    description: str
    defaults: dict = field(default_factory=dict)
    quick: dict = field(default_factory=dict)
    path: str = ""
    threads_pay: bool = False

    def declared(self) -> dict[str, Param]:
        """The family's parameters with this spec's defaults."""
        declared = {**COMMON_PARAMS, **family_class(self.family).params}
        return {k: replace(p, default=self.defaults.get(k, p.default)) for k, p in declared.items()}

    def check(self) -> None:
        """Raise :class:`UserError` for a key of ``[params]`` or ``[quick]`` that the
        family does not declare (naming the valid ones and the closest) or a value out of
        its declared range — on loading, before any run starts."""
        declared = {**COMMON_PARAMS, **family_class(self.family).params}
        for table, values in (("params", self.defaults), ("quick", self.quick)):
            owner = f"problem spec {self.path or self.name} [{table}]"
            for key, value in values.items():
                if key not in declared:
                    raise UserError(f"{owner}: unknown parameter {key!r} of family "
                                    f"{self.family}; valid parameters: "
                                    f"{', '.join(sorted(declared))}{did_you_mean(key, declared)}")
                declared[key].validate(owner, key, value)

    def resolve(self, given: dict[str, Any]) -> dict[str, Any]:
        """Validated parameter values: spec defaults, then quick overrides, then ``given``
        (the spec's own values checked first, :meth:`check`)."""
        self.check()
        declared = self.declared()
        checked = ParamSet.validate(self.name, declared, given).values
        if checked["quick"]:
            quick = {k: v for k, v in self.quick.items() if k not in given}
            checked = ParamSet.validate(self.name, declared, {**quick, **given}).values
        for key in family_class(self.family).omitted_at_default:
            if key in checked and checked[key] == declared[key].default:
                del checked[key]
        return checked

    def label(self, given: dict[str, Any]) -> str:
        """Canonical label: the name with the explicitly given parameters."""
        return format_label(self.name, given)


def spec_directory() -> Path:
    """Where the problem specs live: ``$ML2BENCH_PROBLEMS`` or the repository's ``problems/``."""
    env = os.environ.get("ML2BENCH_PROBLEMS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "problems"


def read_toml(path: Path) -> dict:
    """Parse a TOML file; a syntax error becomes one sentence naming file and line."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"malformed TOML in {path}: {error}") from None
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror}") from None


#: The top-level keys of a problem spec ``problems/NAME.toml``: what each must be. The one
#: place to extend when a spec gains a field (a key not here is refused on loading, with
#: the closest valid key suggested).
SPEC_KEYS: dict[str, str] = {
    "name": "the problem's name, a string",
    "version": "a positive integer, bumped when a change changes results",
    "family": "the name of a problem family",
    "description": "a string",
    "params": "a table of the family's parameters (their defaults for this problem)",
    "quick": "a table of parameters that quick=true overrides",
    "threads_pay": "true or false",
    "calibration": "tables [calibration.quick] / [calibration.full]: the provenance of the "
                   "targets, written by `ml2bench calibrate`",
}

#: The checks of :data:`SPEC_KEYS` beyond being known (keys without one take any value).
_SPEC_CHECKS = {
    "name": lambda v: isinstance(v, str) and bool(v.strip()),
    "version": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
    "family": lambda v: isinstance(v, str),
    "description": lambda v: isinstance(v, str),
    "params": lambda v: isinstance(v, dict),
    "quick": lambda v: isinstance(v, dict),
    "threads_pay": lambda v: isinstance(v, bool),
    "calibration": lambda v: isinstance(v, dict) and set(v) <= {"quick", "full"}
    and all(isinstance(t, dict) for t in v.values()),
}


def check_spec_keys(data: dict, path: Path | str) -> None:
    """Raise :class:`UserError` for an unknown top-level key of a spec file (naming the
    valid ones and the closest), a missing required key or a value of the wrong kind."""
    for key in data:
        if key not in SPEC_KEYS:
            raise UserError(f"problem spec {path}: unknown key {key!r}; valid keys: "
                            f"{', '.join(SPEC_KEYS)}{did_you_mean(key, SPEC_KEYS)}")
    for key in ("name", "version", "family"):
        if key not in data:
            raise UserError(f"problem spec {path} lacks the required key {key!r} "
                            f"({SPEC_KEYS[key]})")
    for key, value in data.items():
        if key in _SPEC_CHECKS and not _SPEC_CHECKS[key](value):
            raise UserError(f"problem spec {path}: {key} = {value!r} is invalid; {key} must be "
                            f"{SPEC_KEYS[key]}")


def load_spec(path: Path) -> ProblemSpec:
    """Read and check one problem spec file (its keys; the parameter values are checked
    against the family's declarations by :meth:`ProblemSpec.check`, before any run)."""
    data = read_toml(path)
    check_spec_keys(data, path)
    if data["family"] not in _family_names():
        raise unknown_name_error("problem family", data["family"], _family_names())
    return ProblemSpec(name=data["name"], version=data["version"], family=data["family"],
                       description=data.get("description", ""), defaults=data.get("params", {}),
                       quick=data.get("quick", {}), path=str(path),
                       threads_pay=data.get("threads_pay", False))


def load_specs(directory: Path | None = None) -> dict[str, ProblemSpec]:
    """All specs in ``directory`` (default: :func:`spec_directory`, then the specs of
    the problem plugins), keyed by name."""
    if directory is None:
        return {**_read_specs(spec_directory()), **plugin_specs()[0]}
    return _read_specs(directory)


def plugin_specs() -> tuple[dict[str, ProblemSpec], list[str]]:
    """The specs shipped by problem plugins, and one line per plugin that is refused or
    broken or ships a malformed spec (a spec named like an existing one is refused)."""
    builtin = _read_specs(spec_directory())
    found = family_plugins()
    lines = plugins.warning_lines("problem family", CATALOGUE)
    specs: dict[str, ProblemSpec] = {}
    for name, plugin in found.items():
        folder = None if plugin.defect else plugins.spec_folder(plugin)
        if folder is None:
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                data = read_toml(path)
                if data.get("family") != name:
                    continue
                spec = load_spec(path)
            except UserError as error:
                lines.append(plugin.broken(str(error)).args[0])
                continue
            if spec.name in builtin or spec.name in specs:
                lines.append(f"{plugin.where} is refused: problem {spec.name!r} exists "
                             "already, which keeps the name")
            else:
                specs[spec.name] = spec
    return specs, lines


def _read_specs(directory: Path) -> dict[str, ProblemSpec]:
    if not directory.is_dir():
        raise UserError(f"problem spec directory {directory} does not exist; "
                        "set ML2BENCH_PROBLEMS to the folder holding NAME.toml specs")
    paths = sorted(directory.glob("*.toml"))
    key = (str(directory), tuple((str(p), p.stat().st_mtime_ns) for p in paths))
    if key not in _SPEC_CACHE:  # a sweep resolves every run's problem: parse files once
        specs = {}
        for path in paths:
            spec = load_spec(path)
            specs[spec.name] = spec
        _SPEC_CACHE.clear()
        _SPEC_CACHE[key] = specs
    return dict(_SPEC_CACHE[key])


#: The specs last read, keyed by folder and the files' modification times.
_SPEC_CACHE: dict[tuple, dict[str, ProblemSpec]] = {}


def resolve_problem(label: str) -> tuple[ProblemSpec, dict[str, Any], dict[str, Any]]:
    """Parse a problem label: its spec, the given parameters and all resolved values."""
    name, given = parse_label(label)
    specs = load_specs()
    if name not in specs:
        raise unknown_name_error("problem", name, specs)
    spec = specs[name]
    return spec, given, spec.resolve(given)


def family_of(spec: ProblemSpec) -> ProblemFamily:
    """An instance of the family that builds ``spec``'s tasks (its module imported on
    first use, also in a freshly spawned worker process)."""
    return family_class(spec.family)()


def make_task(label: str, seed: int = 0, device: str | torch.device = "cpu") -> Task:
    """Instantiate the problem ``label`` with ``seed`` on ``device`` (its level costs
    read from the cost cache when measured before)."""
    import torch

    from ml2bench.hierarchy.cost_cache import cost_scope

    spec, _, values = resolve_problem(label)
    device = torch.device(device)
    with cost_scope(spec.name, spec.version, values, device.type):
        return family_of(spec).make_task(spec.name, values, seed, device)
