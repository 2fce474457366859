"""The layers of the ml2bench package as its imports have them.

One source for two readers: ``tests/test_import_layers.py`` checks that every import
goes down the layers and that neither the parts nor the modules import each other in a
circle; the documentation's architecture page draws the diagram from the same graph
(``docs/_ext/generated.py`` calls :func:`layer_svg` and :func:`part_table` at build
time), so the picture cannot drift from the code.

Every ``import`` statement counts, including the ones inside functions and under
``TYPE_CHECKING``: a lazy import is still a dependency.

Run ``python tools/import_layers.py`` to print the part graph and any circle.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "ml2bench"

#: Layer of each top-level part of the package (a part may import its own layer or a
#: lower one). Names of a layer, top to bottom, are in :data:`LAYER_NAMES`.
LAYERS = {
    "cli": 5, "__main__": 5,
    "reproduce": 4.7,
    "studies": 4.5,
    "tuning": 4.4,
    "report": 4.2,
    "runner": 4, "testing": 4,
    "solvers": 3, "flatness": 3,
    "accounting": 2,
    "problems": 1, "hierarchy": 1, "decomposition": 1, "models": 1, "data": 1,
    "parameters": 0, "parallel": 0, "numerics": 0, "hessian": 0, "catalogue": 0,
    "plugins": 0, "labels": 0, "errors": 0, "files": 0, "__init__": 0,
}

#: What each layer is for (the diagram's row captions).
LAYER_NAMES = {
    5: "command line",
    4.7: "reproduce published claims",
    4.5: "studies",
    4.4: "tuning (runs sweeps, scores with the report)",
    4.2: "report (reads the results store)",
    4: "runner (sweeps, store, executors)",
    3: "solvers and flatness metrics",
    2: "work accounting",
    1: "problems, hierarchies, models, data",
    0: "foundations (parameters, numerics, labels, errors)",
}


def module_name(path: Path) -> str:
    """``ml2bench/flatness/names.py`` → ``ml2bench.flatness.names``."""
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str:
    """The top-level part of a module name (``ml2bench`` itself is ``__init__``)."""
    return module.split(".")[1] if module.count(".") else "__init__"


def imported_modules(path: Path) -> set[str]:
    """Every ``ml2bench`` module that ``path`` imports, anywhere in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # ``from ml2bench.x import y`` imports the submodule y when there is one
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {m for m in found if m == "ml2bench" or m.startswith("ml2bench.")}


def modules() -> list[Path]:
    """Every source file of the package."""
    return sorted(ROOT.rglob("*.py"))


def _ancestor(package: str, module: str) -> bool:
    return module.startswith(package + ".")


@lru_cache(maxsize=1)
def module_graph() -> dict[str, frozenset[str]]:
    """Module → the package's modules it imports (only names that are modules).

    An import of a module's own enclosing package (``from ml2bench.hierarchy import
    interpolation`` inside ``ml2bench.hierarchy.grid``) is left out: the package is
    being initialised when its submodule runs, so that edge orders nothing.
    """
    names = {module_name(p): p for p in modules()}
    return {name: frozenset(m for m in imported_modules(path)
                            if m in names and m != name and not _ancestor(m, name))
            for name, path in names.items()}


def part_graph() -> dict[str, set[str]]:
    """Part → the other parts it imports."""
    graph: dict[str, set[str]] = {part_of(m): set() for m in module_graph()}
    for module, targets in module_graph().items():
        graph[part_of(module)].update(part_of(t) for t in targets if part_of(t) != part_of(module))
    return graph


def cycles(graph) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan's algorithm),
    each sorted; empty when the graph has no circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def part_table() -> str:
    """A Markdown table: each part, its layer, the parts it imports."""
    graph = part_graph()
    lines = ["| layer | part | imports |", "| --- | --- | --- |"]
    for part in sorted(graph, key=lambda p: (-LAYERS[p], p)):
        targets = ", ".join(f"`{t}`" for t in sorted(graph[part], key=lambda p: (-LAYERS[p], p)))
        lines.append(f"| {LAYERS[part]:g} | `{part}` | {targets or '—'} |")
    return "\n".join(lines) + "\n"


def layer_svg() -> str:
    """The layer diagram as SVG: one row per layer (highest on top, rows centred), a box
    per part, a line from each part down to every part it imports (an arc under the row
    for a part of the same layer). Imports of the foundations (layer 0), which every
    layer uses, are left out of the drawing to keep it legible; :func:`part_table` lists
    every import."""
    graph = part_graph()
    rows = sorted({LAYERS[p] for p in graph}, reverse=True)
    members = {row: sorted(p for p in graph if LAYERS[p] == row) for row in rows}
    box_w, box_h, gap, row_h, caption_w = 96, 26, 10, 78, 300
    widest = max(len(m) for m in members.values()) * (box_w + gap)
    width = caption_w + widest + 20
    height = len(rows) * row_h + 40
    where: dict[str, tuple[float, float]] = {}
    body: list[str] = []
    for i, row in enumerate(rows):
        y = 20 + i * row_h
        body.append(f'<text x="10" y="{y + 17}" class="caption">{row:g} · '
                    f'{escape(LAYER_NAMES.get(row, ""))}</text>')
        start = caption_w + (widest - len(members[row]) * (box_w + gap)) / 2
        for j, part in enumerate(members[row]):
            where[part] = (start + j * (box_w + gap), y)
    edges = []
    for part in sorted(graph):
        x0, y0 = where[part]
        for target in sorted(graph[part]):
            if LAYERS[target] == 0 and LAYERS[part] != 0:
                continue
            x1, y1 = where[target]
            title = f"<title>{escape(part)} imports {escape(target)}</title>"
            if y1 == y0:   # same layer: an arc under the row
                mid = (x0 + x1) / 2 + box_w / 2
                edges.append(f'<path d="M{x0 + box_w / 2:g},{y0 + box_h:g} Q{mid:g},'
                             f'{y0 + box_h + 28:g} {x1 + box_w / 2:g},{y1 + box_h:g}" '
                             f'class="edge" fill="none">{title}</path>')
            else:
                edges.append(f'<line x1="{x0 + box_w / 2:g}" y1="{y0 + box_h:g}" '
                             f'x2="{x1 + box_w / 2:g}" y2="{y1:g}" class="edge">{title}</line>')
    boxes = [f'<g><rect x="{x:g}" y="{y:g}" width="{box_w}" height="{box_h}" rx="4" class="part"/>'
             f'<text x="{x + box_w / 2:g}" y="{y + 17:g}" class="name">{escape(part)}</text></g>'
             for part, (x, y) in sorted(where.items())]
    note = (f'<text x="10" y="{height - 8}" class="caption">Lines: imports between the '
            "layers above the foundations (every layer may import the foundations; the "
            "table lists every import).</text>")
    style = ("<style>.part{fill:#eef3fb;stroke:#35609b}.edge{stroke:#8896a8;stroke-width:1;"
             "stroke-opacity:.6}.name{font:12px sans-serif;text-anchor:middle}"
             ".caption{font:12px sans-serif;fill:#333}</style>")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:g}" height="{height}" '
            f'viewBox="0 0 {width:g} {height}" role="img" aria-label="ml2bench import layers">'
            f'{style}{"".join(body)}{"".join(edges)}{"".join(boxes)}{note}</svg>\n')


if __name__ == "__main__":
    print(part_table())
    print("part circles:", cycles(part_graph()) or "none")
    print("module circles:", cycles(module_graph()) or "none")
