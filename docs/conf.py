"""Sphinx configuration of the ml2bench documentation (``make docs``).

Why these tools: Sphinx with numpydoc reads the docstrings as they are written (numpydoc
format, as in NumPy and SciPy); MyST lets the prose pages stay Markdown, like the README
they came from; pydata-sphinx-theme is the maintained theme of NumPy, SciPy and pandas,
with a built-in search page that works offline; sphinx-argparse documents the CLI from
the parser itself. The reference tables (solver and problem parameters, the layer
diagram) are generated at build time by ``_ext/generated.py`` from the registries and
the imports, so they cannot drift from the code.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE / "_ext"))
os.environ.setdefault("ML2BENCH_NUMERICS", "portable")

project = "ml2bench"
author = "the ml2bench authors"
copyright = "the ml2bench authors, BSD-3-Clause"

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "sphinxarg.ext",
    "generated",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_generated"]
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3

autosummary_generate = True
autodoc_default_options = {"members": True, "undoc-members": False}
autodoc_member_order = "bysource"
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_validation_checks = set()
# Only the examples written in the pages are doctests; docstring examples are not run.
doctest_test_doctest_blocks = ""
# myst.domains: a secondary message (sphinx-argparse's domain cannot resolve "any" references)
# that MyST adds to every unresolved link; the link's own warning (myst.xref_missing) stays.
suppress_warnings = ["myst.header", "myst.domains"]

html_theme = "pydata_sphinx_theme"
html_title = "ml2bench"
html_static_path = ["_static"]
html_css_files = ["ml2bench.css"]
html_js_files = ["selfcheck.js"]
html_theme_options = {
    "navigation_depth": 3,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"index": []}
html_show_sourcelink = False
