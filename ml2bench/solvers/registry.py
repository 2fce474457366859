"""Looking solvers up by label (``sgd[lr=0.1,momentum=0.9]``).

Names resolve through the torch-free catalogue (:mod:`ml2bench.solvers.catalogue`),
any solver registered at run time with :func:`~ml2bench.solvers.base.register_solver`,
and the plugins of installed packages (entry-point group ``ml2bench.solvers``, see
:mod:`ml2bench.plugins`); a solver's module is imported only when the solver is built.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ml2bench import plugins
from ml2bench.errors import UserError
from ml2bench.labels import parse_label, unknown_name_error
from ml2bench.solvers.catalogue import SOLVERS as CATALOGUE

if TYPE_CHECKING:
    from ml2bench.solvers.base import Solver


def _registered() -> dict:
    """Solvers registered so far (empty while the solver base module is not imported)."""
    base = sys.modules.get("ml2bench.solvers.base")
    return dict(base.SOLVERS) if base is not None else {}


def solver_plugins() -> dict[str, plugins.Plugin]:
    """The installed solver plugins by name (read, not imported; built-in names refused)."""
    return plugins.discover("solver", CATALOGUE)


def plugin_warnings() -> list[str]:
    """One line per solver plugin that is refused or broken (found without importing)."""
    return plugins.warning_lines("solver", CATALOGUE)


def solver_descriptions() -> dict[str, str]:
    """Name → one-line description of every known solver, importing no solver module:
    the built-ins, then the usable plugins, then solvers registered at run time."""
    described = {name: entry.description for name, entry in CATALOGUE.items()}
    for name, plugin in solver_plugins().items():
        if not plugin.defect:
            described[name] = plugin.description
    for name, cls in _registered().items():
        described.setdefault(name, cls.description)
    return described


def solver_class(name: str) -> type[Solver]:
    """The class of solver ``name`` (its module imported on first use)."""
    registered = _registered()
    if name in registered:
        return registered[name]
    if name in CATALOGUE:
        return CATALOGUE[name].load()
    found = solver_plugins()
    if name in found:
        return load_plugin(found[name])
    raise unknown_name_error("solver", name,
                             {*CATALOGUE, *registered,
                              *(n for n, p in found.items() if not p.defect)})


def load_plugin(plugin: plugins.Plugin) -> type[Solver]:
    """Import a solver plugin, check it against the built-ins' contract and register it
    (its ``description``, if it declares none, is the distribution's summary)."""
    from ml2bench.solvers.base import SOLVERS, Solver

    cls = plugin.load()
    if not (isinstance(cls, type) and issubclass(cls, Solver)):
        raise plugin.broken(f"{plugin.target} is not a subclass of ml2bench.solvers.base.Solver")
    plugins.check_params(plugin, cls, cls.name)
    if not cls.__dict__.get("description"):
        cls.description = plugin.description
    SOLVERS[cls.name] = cls
    return cls


def available_solvers() -> dict[str, type[Solver]]:
    """All solvers, importing every catalogued solver module and every usable plugin
    (broken plugins are left out; :func:`plugin_warnings` and a run name them)."""
    for name in CATALOGUE:
        solver_class(name)
    for plugin in solver_plugins().values():
        try:
            load_plugin(plugin)
        except UserError:
            pass
    from ml2bench.solvers.base import SOLVERS
    return SOLVERS


def make_solver(label: str) -> Solver:
    """Construct the solver named by ``label`` with its parameters validated."""
    name, params = parse_label(label)
    return solver_class(name)(**params)
