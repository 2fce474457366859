"""The import direction of the library: cli → runner/report → solvers/flatness →
accounting → hierarchy/models/problems/data. A module may import its own layer or a
lower one, never a higher one; checked on every ``import`` statement, including the
ones inside functions."""

import ast
from pathlib import Path

import ml2bench

ROOT = Path(ml2bench.__file__).parent

#: Layer of each top-level part of the package (higher imports lower).
LAYERS = {
    "cli": 5, "__main__": 5,
    "reproduce": 4.7,
    "studies": 4.5,
    "runner": 4, "report": 4, "testing": 4,
    "solvers": 3, "flatness": 3,
    "accounting": 2,
    "problems": 1, "hierarchy": 1, "decomposition": 1, "models": 1, "data": 1,
    "parameters": 0, "parallel": 0, "numerics": 0, "hessian": 0, "catalogue": 0, "plugins": 0, "labels": 0, "errors": 0, "files": 0, "__init__": 0,
}


def part_of(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "__init__"


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {m for m in found if m == "ml2bench" or m.startswith("ml2bench.")}


MODULES = sorted(p for p in ROOT.rglob("*.py"))


def test_every_part_has_a_layer():
    parts = {p.relative_to(ROOT).parts[0].removesuffix(".py") for p in MODULES}
    assert parts <= set(LAYERS), parts - set(LAYERS)


def test_imports_go_down_the_layers():
    """One test over every module; the message names each offending module and import."""
    offenders = {}
    for path in MODULES:
        own = path.relative_to(ROOT).parts[0].removesuffix(".py")
        upward = [m for m in sorted(imported_modules(path))
                  if m.count(".") and LAYERS[part_of(m)] > LAYERS[own]]
        if upward:
            offenders[str(path.relative_to(ROOT))] = upward
    assert not offenders, "modules importing higher layers:\n" + "\n".join(
        f"  {name}: {upward}" for name, upward in offenders.items())


def test_nothing_below_the_runner_imports_the_runner():
    below = [p for p in MODULES if LAYERS[p.relative_to(ROOT).parts[0].removesuffix(".py")] < 4]
    offenders = [str(p.relative_to(ROOT)) for p in below
                 if any(m.startswith("ml2bench.runner") for m in imported_modules(p))]
    assert offenders == []
