"""The documentation site (``make docs``): generated tables, no hand-written parameter
tables, and the built site in headless Chromium.

Fast tests (default suite): the generated solver and problem tables hold every
registered solver and problem spec with each declared parameter's default, range and
search space; no Markdown page or README carries a hand-written parameter table; the
README's links resolve; the layer diagram names every part.

Slow tests (``make test-docs``, run by ``.ci/run`` after ``make docs``): on the built
site (``docs/_build/html``; built into a temporary folder when absent) every page of
the main sections renders in headless Chromium with a title and content, every image on
it loads (the site's ``selfcheck.js`` reports ``k/n`` after load), every internal link
and anchor resolves, and the search page finds a solver by its name. Skipped, with the
reason, where ``chromium`` is not on ``PATH`` (``.ci/run`` installs it).
"""

from __future__ import annotations

import html.parser
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from headless_chromium import chromium, needs_chromium  # tests/ is on sys.path (conftest)

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _generated():
    spec = importlib.util.spec_from_file_location("docs_generated", DOCS / "_ext" / "generated.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(page: str, heading: str) -> dict[str, list[str]]:
    """The parameter rows under ``## `heading``` of a generated page: key → cells."""
    section = page.split(f"## `{heading}`\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            rows[cells[0].strip("`")] = cells
    return rows


def test_every_solver_and_declared_parameter_is_in_the_generated_table():
    from ml2bench.labels import format_value
    from ml2bench.solvers.catalogue import SOLVERS
    from ml2bench.solvers.registry import solver_class

    generated = _generated()
    page = generated.solvers_page()
    assert set(re.findall(r"^## `(\w+)`$", page, re.M)) == set(SOLVERS)
    for name in SOLVERS:
        declared = solver_class(name).params
        rows = _rows(page, name)
        assert list(rows) == list(declared), name
        for key, param in declared.items():
            default = "None" if param.default is None else format_value(param.default)
            assert rows[key][1] == f"`{default}`", (name, key)
            assert param.describe_range() in rows[key][2], (name, key)
            assert rows[key][3] == generated.describe_search(param), (name, key)
    # a search space, concretely: adam's learning rate
    assert _rows(page, "adam")["lr"][3] == "log-uniform [0.0001, 0.1]"


def test_every_problem_spec_and_its_values_are_in_the_generated_table():
    from ml2bench.labels import format_value
    from ml2bench.problems.registry import load_specs

    page = _generated().problems_page()
    specs = load_specs()
    assert set(re.findall(r"^## `(\w+)`$", page, re.M)) == set(specs)
    for name, spec in specs.items():
        rows = _rows(page, name)
        assert set(rows) == set(spec.declared()), name
        for key, value in spec.defaults.items():
            assert rows[key][1] == f"`{format_value(value)}`", (name, key)
        for key, value in spec.quick.items():
            assert rows[key][2] == f"`{format_value(value)}`", (name, key)


def _markdown_sources() -> list[Path]:
    skip = {"_build", "_generated"}
    pages = [p for p in DOCS.rglob("*.md") if not skip & set(p.relative_to(DOCS).parts)]
    return [ROOT / "README.md", *pages]


def test_no_parameter_table_is_written_by_hand():
    """Parameter tables come from the code (``docs/_generated``); a Markdown table whose
    first header cell is "parameter" in a committed page or the README is hand-written."""
    offenders = [f"{path.relative_to(ROOT)}:{number}"
                 for path in _markdown_sources()
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if re.match(r"^\|\s*`?parameters?`?\s*\|", line, re.I)]
    assert offenders == []


def test_the_hand_written_check_catches_a_table(tmp_path):
    line = "| parameter | default | meaning |"
    assert re.match(r"^\|\s*`?parameters?`?\s*\|", line, re.I)


def test_the_readme_is_short_and_its_links_resolve():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 150
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if not urlparse(t).scheme]
    assert local, "the README links into the docs"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert missing == []


def test_the_layer_diagram_names_every_part():
    sys.path.insert(0, str(ROOT / "tools"))
    import import_layers

    svg = import_layers.layer_svg()
    for part in import_layers.part_graph():
        assert f">{part}</text>" in svg


# --------------------------------------------------------------------------- browser

NEEDS_CHROMIUM = needs_chromium("the docs' browser test")
#: The main sections: every page under these (the API stubs aside) is opened.
SECTIONS = ("index.html", "getting_started.html", "architecture.html", "guide/", "studies/",
            "extending/", "reference/")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The built site: ``$ML2BENCH_DOCS_HTML``, else ``docs/_build/html`` (``make docs``),
    else built now into a temporary folder."""
    given = os.environ.get("ML2BENCH_DOCS_HTML")
    if given:
        return Path(given)
    built = DOCS / "_build" / "html"
    if (built / "index.html").exists():
        return built
    out = tmp_path_factory.mktemp("docs_html")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going",
                           "-q", str(DOCS), str(out)], capture_output=True, text=True,
                          timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def _pages(site: Path) -> list[Path]:
    pages = []
    for path in sorted(site.rglob("*.html")):
        rel = path.relative_to(site).as_posix()
        if rel.startswith("reference/api/"):
            continue
        if any(rel == s or (s.endswith("/") and rel.startswith(s)) for s in SECTIONS):
            pages.append(path)
    return pages


class Dom(html.parser.HTMLParser):
    """The parts of a page the tests read: body attributes, h1 text, article text, links
    and ids."""

    def __init__(self, text: str):
        super().__init__()
        self.body: dict = {}
        self.h1, self.article, self.links, self.ids = "", "", [], set()
        self._in_h1 = self._in_article = 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "body":
            self.body = attrs
        elif tag == "h1":
            self._in_h1 += 1
        elif tag == "article":
            self._in_article += 1
        elif tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])

    def handle_endtag(self, tag):
        if tag == "h1" and self._in_h1:
            self._in_h1 -= 1
        elif tag == "article" and self._in_article:
            self._in_article -= 1

    def handle_data(self, data):
        if self._in_h1:
            self.h1 += data
        if self._in_article:
            self.article += data


@pytest.mark.slow
@NEEDS_CHROMIUM
def test_every_main_page_renders_with_its_images(site, tmp_path):
    pages = _pages(site)
    rel = {p.relative_to(site).as_posix() for p in pages}
    assert {"index.html", "getting_started.html", "guide/work_units.html",
            "extending/plugin_tutorial.html", "studies/index.html",
            "reference/solvers.html", "reference/cli.html", "architecture.html"} <= rel
    images_seen = 0
    for page in pages:
        dom = Dom(chromium(page, tmp_path, "--dump-dom"))
        name = page.relative_to(site).as_posix()
        assert dom.h1.strip(), f"{name}: no title"
        assert len(dom.article.split()) > 20, f"{name}: no content"
        loaded, _, total = dom.body.get("data-images", "").partition("/")
        assert total, f"{name}: the image self-check did not run"
        assert loaded == total, f"{name}: images not loaded: {dom.body.get('data-broken')}"
        images_seen += int(total)
    assert images_seen >= 2   # the layer diagram and the M3 figure at least


@pytest.mark.slow
def test_every_internal_link_and_anchor_resolves(site):
    broken = []
    ids: dict[Path, set] = {}

    def ids_of(path: Path) -> set:
        if path not in ids:
            ids[path] = Dom(path.read_text(encoding="utf-8")).ids
        return ids[path]

    for page in _pages(site):
        for href in Dom(page.read_text(encoding="utf-8")).links:
            url = urlparse(href)
            if url.scheme or href.startswith(("mailto:", "javascript:")):
                continue
            target = (page.parent / unquote(url.path)).resolve() if url.path else page
            if not target.exists():
                broken.append(f"{page.relative_to(site)} -> {href}")
            elif url.fragment and target.suffix == ".html" and url.fragment not in ids_of(target):
                broken.append(f"{page.relative_to(site)} -> {href} (no such anchor)")
    assert broken == []


@pytest.mark.slow
@NEEDS_CHROMIUM
def test_the_search_page_finds_a_solver_by_name(site, tmp_path):
    dom = Dom(chromium((site / "search.html").as_uri() + "?q=mspqn", tmp_path, "--dump-dom"))
    assert "reference/solvers.html#solver-mspqn" in dom.links
    assert any(link.startswith("guide/solvers.html") for link in dom.links)
