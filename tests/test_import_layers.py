"""The import direction of the library: cli → reproduce → studies → tuning → report →
runner → solvers/flatness → accounting → problems/hierarchy/models/data → foundations.
A module may import its own layer or a lower one, never a higher one; checked on every
``import`` statement, including the ones inside functions. Neither the parts nor the
modules import each other in a circle. The layers and the graph live in
``tools/import_layers.py``, which also draws the documentation's architecture diagram."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from import_layers import (LAYER_NAMES, LAYERS, ROOT, cycles, imported_modules,  # noqa: E402
                           module_graph, modules, part_graph, part_of)

MODULES = modules()


def test_the_graph_reads_this_checkout():
    import ml2bench
    assert Path(ml2bench.__file__).parent.resolve() == ROOT


def test_every_part_has_a_layer_and_every_layer_a_name():
    parts = {p.relative_to(ROOT).parts[0].removesuffix(".py") for p in MODULES}
    assert parts <= set(LAYERS), parts - set(LAYERS)
    assert set(LAYERS.values()) <= set(LAYER_NAMES)


def test_imports_go_down_the_layers():
    """One test over every module; the message names each offending module and import."""
    offenders = {}
    for path in MODULES:
        own = path.relative_to(ROOT).parts[0].removesuffix(".py")
        upward = [m for m in sorted(imported_modules(path))
                  if m.count(".") and m.split(".")[1] in LAYERS
                  and LAYERS[part_of(m)] > LAYERS[own]]
        if upward:
            offenders[str(path.relative_to(ROOT))] = upward
    assert not offenders, "modules importing higher layers:\n" + "\n".join(
        f"  {name}: {upward}" for name, upward in offenders.items())


def test_nothing_below_the_runner_imports_the_runner():
    below = [p for p in MODULES if LAYERS[p.relative_to(ROOT).parts[0].removesuffix(".py")] < 4]
    offenders = [str(p.relative_to(ROOT)) for p in below
                 if any(m.startswith("ml2bench.runner") for m in imported_modules(p))]
    assert offenders == []


def test_no_two_parts_import_each_other():
    """E.g. the runner's tuning importing the report while the report imported the runner."""
    assert cycles(part_graph()) == []


def test_no_modules_import_each_other_in_a_circle():
    """E.g. flatness.protocol → run_metrics → checkpoints → protocol (lazy imports count)."""
    assert cycles(module_graph()) == []


def test_the_circle_finder_finds_circles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
