"""Reference parts of the documentation generated from the code at build time.

On ``builder-inited`` this writes ``docs/_generated/`` (ignored by git, excluded from
the page sources; the committed pages ``{include}`` its files):

* ``solvers.md`` — every built-in solver's declared parameters
  (:class:`ml2bench.labels.Param`: default, admissible range, tuning search space,
  description), from the solver catalogue and registry;
* ``problems.md`` — every problem spec (``problems/*.toml``) with its family's declared
  parameters and the spec's defaults and quick overrides;
* ``layers.svg``, ``layers.md`` — the import-layer diagram and table of
  ``tools/import_layers.py`` (the graph ``tests/test_import_layers.py`` checks).

Nothing is run but imports and attribute reads: the build stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "_generated"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _value(value) -> str:
    from ml2bench.labels import format_value
    return "None" if value is None else format_value(value)


def describe_search(param) -> str:
    """The tuning space of a parameter in words (empty: not searched)."""
    space = param.search
    if space is None:
        return ""
    if space.kind == "choice":
        return "choice {" + ", ".join(_value(c) for c in space.choices) + "}"
    kind = space.kind.replace("_", "-")
    return f"{kind} [{_value(space.low)}, {_value(space.high)}]"


def param_table(params: dict, defaults: dict | None = None, quick: dict | None = None) -> str:
    """A Markdown table of declared parameters; ``defaults``/``quick`` add a spec's values."""
    quick_column = quick is not None
    head = ["parameter", "default"] + (["quick"] if quick_column else []) + \
        ["admissible values", "search space", "description"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, param in params.items():
        default = (defaults or {}).get(key, param.default)
        row = [f"`{key}`", f"`{_value(default)}`"]
        if quick_column:
            row.append(f"`{_value(quick[key])}`" if key in quick else "")
        admissible = param.describe_range() + (" or None" if param.nullable else "")
        row += [_cell(admissible), _cell(describe_search(param)), _cell(param.help)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def solvers_page() -> str:
    """Every built-in solver: description, class, reference and parameter table."""
    from ml2bench.solvers.catalogue import SOLVERS
    from ml2bench.solvers.registry import solver_class

    parts = []
    for name, entry in sorted(SOLVERS.items()):
        cls = solver_class(name)
        module, _, qualname = entry.target.partition(":")
        parts.append(f"(solver-{name})=\n## `{name}`\n\n{cls.description}.\n\n"
                     f"Class {{py:class}}`{module}.{qualname}`, version {cls.version}."
                     + (f" Reference: {_cell(cls.reference)}." if cls.reference else "")
                     + "\n\n" + param_table(cls.params) + "\n")
    return "".join(parts)


def problems_page() -> str:
    """Every problem spec: description, family, and its parameters with the spec's values."""
    from ml2bench.problems.registry import COMMON_PARAMS, family_class, load_specs

    parts = []
    for name, spec in sorted(load_specs().items()):
        family = family_class(spec.family)
        params = {**COMMON_PARAMS, **family.params}
        parts.append(f"(problem-{name})=\n## `{name}`\n\n{_cell(spec.description)}\n\n"
                     f"Family `{spec.family}` ({{py:class}}`{family.__module__}."
                     f"{family.__qualname__}`), spec version {spec.version}, target metric "
                     f"`{family.metric}`; spec file `problems/{name}.toml`.\n\n"
                     + param_table(params, spec.defaults, spec.quick) + "\n")
    return "".join(parts)


def write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` unless the file holds it already (keeps incremental builds quick)."""
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def generate(app=None) -> None:
    """Write every generated file into ``docs/_generated/``."""
    sys.path.insert(0, str(ROOT / "tools"))
    import import_layers

    OUT.mkdir(exist_ok=True)
    write_if_changed(OUT / "solvers.md", solvers_page())
    write_if_changed(OUT / "problems.md", problems_page())
    write_if_changed(OUT / "layers.svg", import_layers.layer_svg())
    write_if_changed(OUT / "layers.md", import_layers.part_table())


def setup(app):
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
