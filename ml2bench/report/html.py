"""The report folder: leaderboard, convergence figures, flatness, per-level diagnostics,
the environment of every number, and an HTML index of it all.

:func:`write_report` reads a results folder and writes into ``out_dir``::

    index.html        every section below (relative links, inline CSS, no network)
    leaderboard.md    leaderboard.csv   leaderboard.tex   (= ``ml2bench table``)
    flatness.md       flatness.csv      flatness.tex      (if there are flatness results)
    levels.csv        per-level diagnostics of multilevel runs (if any)
    environments.csv  the distinct environments and the runs of each
    <problem>-work_units.png   <problem>-time_s.png   (one pair per problem)
    profiles/         performance profiles: profile_<measure>.png, scores.{md,csv,tex}

The runs are those the leaderboard ranks (with a tuning record, the final runs of the
chosen configurations, not the trials). Sections of ``index.html``, in order:
leaderboard, performance profiles (:func:`profiles_section`), convergence, flatness,
per-level diagnostics (:mod:`ml2bench.report.levels`), environments
(:mod:`ml2bench.report.environment`). The page's one inline script is a self-check: after
``load`` it writes ``images k/n loaded`` (and the sources of broken ones) into
``<pre id="check">``, which a browser test reads.

Every file is written atomically (temporary file, then ``os.replace``). All text
taken from the results (problem and solver labels, statuses) is HTML-escaped.
"""

from __future__ import annotations

import datetime
import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ml2bench.errors import UserError
from ml2bench.files import write_text
from ml2bench.report.environment import environments
from ml2bench.report.leaderboard import FLATNESS_METRICS, leaderboard, problem_labels
from ml2bench.report.levels import level_tables, levels_long
from ml2bench.report.plots import plot_all
from ml2bench.report.profiles import (R_MAX, measure_tables, profile_notes, score_table,
                                      write_profiles)
from ml2bench.report.tables import cells, format_table, is_numeric_column
from ml2bench.runner.store import ResultsStore
from ml2bench.runner.tuning import without_trials

#: The x axes of the figures the report contains, in display order.
REPORT_X = ("work_units", "time_s")
#: Folder of a results folder (and of the report) holding performance profiles.
PROFILES = "profiles"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.skipped td { color: #999; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.note { color: #555; font-size: 0.9em; }
nav a { margin-right: 1em; }
"""

#: The self-check: which images loaded, written into ``#check`` after ``load``.
_CHECK = """<script>
window.addEventListener("load", function () {
  var images = document.images, loaded = 0, broken = [];
  for (var i = 0; i < images.length; i++) {
    if (images[i].complete && images[i].naturalWidth > 0) { loaded++; }
    else { broken.push(images[i].getAttribute("src")); }
  }
  document.getElementById("check").textContent = "images " + loaded + "/" + images.length
    + " loaded" + (broken.length ? "; broken: " + broken.join(", ") : "");
});
</script>"""


@dataclass(frozen=True)
class Section:
    """One section of ``index.html``: its anchor, heading and HTML body."""

    anchor: str
    title: str
    body: str


def table_html(frame: pd.DataFrame, digits: int = 3, table_id: str | None = None) -> str:
    """An HTML ``<table>`` of ``frame`` (escaped cells, numbers right-aligned).

    Parameters
    ----------
    frame : pandas.DataFrame
    digits : int
        Significant digits of floats.
    table_id : str, optional
        The ``id`` attribute of the table.

    Returns
    -------
    str
    """
    headers, rows = cells(frame, digits)
    numeric = [is_numeric_column(frame, c) for c in frame.columns]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        status = row[list(frame.columns).index("status")] if "status" in frame else ""
        css = ' class="skipped"' if status.startswith("skipped") else ""
        tds = "".join(f'<td class="num">{html.escape(v)}</td>' if num else
                      f"<td>{html.escape(v)}</td>" for v, num in zip(row, numeric))
        body.append(f"<tr{css}>{tds}</tr>")
    ident = f' id="{html.escape(table_id, quote=True)}"' if table_id else ""
    return (f"<table{ident}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
            + "\n".join(body) + "\n</tbody>\n</table>")


def _image(src: str, alt: str) -> str:
    src, alt = html.escape(src, quote=True), html.escape(alt, quote=True)
    return f'<a href="{src}"><img src="{src}" alt="{alt}"></a>'


def leaderboard_section(board: pd.DataFrame) -> Section:
    """The leaderboard (the numbers of ``ml2bench table``) with links to its files."""
    return Section("leaderboard", "Leaderboard", "\n".join([
        '<p class="note">Medians over seeds (over two seeds the median is their mean; '
        "seeds = how many). WU to target and time to target: median over the seeds "
        "that reached the target (reached = k/n). 1 WU = one full fine-level gradient "
        "over the training set. Skipped rows give the solver's reason. The same table: "
        '<a href="leaderboard.md">Markdown</a>, <a href="leaderboard.csv">CSV</a> '
        '(full precision), <a href="leaderboard.tex">LaTeX</a>.</p>',
        table_html(board, table_id="leaderboard-table")]))


def convergence_section(figures: dict[str, list[str]]) -> Section:
    """Per problem label, its convergence figures (paths relative to the page)."""
    parts = []
    for label, images in figures.items():
        parts.append(f'<h3 id="{html.escape("fig-" + label, quote=True)}">'
                     f"{html.escape(label)}</h3>")
        parts += [_image(image, f"{label}: {image}") for image in images]
    return Section("convergence", "Convergence", "\n".join(parts))


def profiles_section(df: pd.DataFrame, out_dir: str | Path) -> Section | None:
    """The performance profiles of the runs (:mod:`ml2bench.report.profiles`), computed
    here so that the report is complete without a prior ``ml2bench profile``: the three
    profile PNGs and the score table (md, csv, tex) in ``out_dir/profiles``. None if no
    solver has a score."""
    tables = measure_tables(df)
    scores = score_table(tables, R_MAX)
    if scores.empty:
        return None
    folder = Path(out_dir) / PROFILES
    images = [f"{PROFILES}/{path.name}" for path in write_profiles(tables, folder, R_MAX)]
    _write_table(folder, "scores", scores)
    parts = ['<p class="note">Dolan–Moré profiles over the problems: ρ(τ) is the share of '
             "problems on which a solver is within a factor τ of the best one; B is "
             "AlgoPerf's integrated score, the mean of ρ over τ in [1, r<sub>max</sub>] "
             "(1: best everywhere). " + html.escape(" · ".join(profile_notes(tables, R_MAX)))
             + ' The scores: <a href="profiles/scores.csv">CSV</a>.</p>',
             table_html(scores, table_id="profiles-scores")]
    parts += [_image(src, f"profile: {src}") for src in images]
    return Section("profiles", "Performance profiles", "\n".join(parts))


def flatness_table(df: pd.DataFrame, flatness: pd.DataFrame) -> pd.DataFrame | None:
    """``problem, solver, seeds`` and the flatness medians of ``ml2bench table
    --flatness``; None if no flatness metric was computed."""
    board = leaderboard(df, flatness)
    metrics = [m for m in FLATNESS_METRICS if m in board]
    return board[["problem", "solver", "seeds", *metrics]] if metrics else None


def flatness_section(table: pd.DataFrame) -> Section:
    """The flatness medians per (problem, solver)."""
    return Section("flatness", "Flatness", "\n".join([
        '<p class="note">End-of-run metrics of the minimum each run found, medians over '
        'seeds (the columns of <code>ml2bench table --flatness</code>): '
        '<a href="flatness.csv">CSV</a>.</p>', table_html(table, table_id="flatness-table")]))


def levels_section(tables: dict[str, pd.DataFrame]) -> Section:
    """One table per multilevel solver: per (problem, level), medians over cycles."""
    parts = ['<p class="note">What every level did in the cycle before each checkpoint '
             "(solver diagnostics <code>info_*_l&lt;level&gt;</code>, level 0 the finest), "
             "medians over the logged cycles of all seeds; cycles = how many. Coarse share "
             "of level l: the share of the decrease of level l−1 in a cycle that came from "
             "level l's corrections. All rows: <a href=\"levels.csv\">CSV</a>.</p>"]
    for solver, table in tables.items():
        parts += [f"<h3>{html.escape(solver)}</h3>",
                  table_html(table, table_id=f"levels-{solver}")]
    return Section("levels", "Per-level diagnostics", "\n".join(parts))


def environment_section(table: pd.DataFrame) -> Section:
    """The distinct environments and which runs each produced (git commits shortened to
    12 characters; ``environments.csv`` has them in full)."""
    shown = table.assign(**{"git commit": table["git commit"].map(lambda c: str(c)[:12])})
    return Section("environment", "Environment", "\n".join([
        '<p class="note">Every number above comes from the runs listed here: software '
        "version, git commit, torch, device, thread count and host of each distinct "
        "environment, with the start times of its runs (full commit hashes: "
        '<a href="environments.csv">CSV</a>).</p>',
        table_html(shown, table_id="environment-table")]))


def render_html(board: pd.DataFrame, figures: dict[str, list[str]], title: str,
                source: str = "", sections: list[Section] | None = None) -> str:
    """The text of ``index.html``.

    Parameters
    ----------
    board : pandas.DataFrame
        The leaderboard (used when ``sections`` is omitted).
    figures : dict of str to list of str
        Per problem label, the image paths relative to the HTML file (used when
        ``sections`` is omitted).
    title : str
        Page title.
    source : str
        Where the results came from (shown in the header).
    sections : list of Section, optional
        The sections in order; default: the leaderboard and the convergence figures.

    Returns
    -------
    str
    """
    if sections is None:
        sections = [leaderboard_section(board), convergence_section(figures)]
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    nav = " ".join(f'<a href="#{html.escape(s.anchor, quote=True)}">{html.escape(s.title)}</a>'
                   for s in sections)
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f"<title>{html.escape(title)}</title>", f"<style>{_STYLE}</style>", "</head>",
             "<body>", f"<h1>{html.escape(title)}</h1>",
             f'<p class="note">Results: {html.escape(source)} · generated {stamp}</p>',
             f"<nav>{nav}</nav>"]
    for section in sections:
        parts += [f'<section id="{html.escape(section.anchor, quote=True)}">',
                  f"<h2>{html.escape(section.title)}</h2>", section.body, "</section>"]
    parts += ['<pre id="check" class="note">images: not checked (scripts off)</pre>', _CHECK,
              "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _write_table(out: Path, stem: str, table: pd.DataFrame,
                 formats: tuple[str, ...] = ("md", "csv", "latex")) -> None:
    suffix = {"md": "md", "csv": "csv", "latex": "tex"}
    for fmt in formats:
        write_text(out / f"{stem}.{suffix[fmt]}", format_table(table, fmt))


def write_report(store_root: str | Path, out_dir: str | Path,
                 x_axes: tuple[str, ...] = REPORT_X, unreadable: list[str] | None = None
                 ) -> Path:
    """Write the report folder (see the module docstring) to ``out_dir``.

    Parameters
    ----------
    store_root : str or Path
        A results folder (``runs/*.parquet``, optionally ``flatness/*.parquet`` and
        ``profiles/``).
    out_dir : str or Path
        Report folder, created if needed (may be the results folder itself).
    x_axes : tuple of str
        X axes of the figures (one PNG per problem and axis).
    unreadable : list of str, optional
        If given, results files that cannot be read are skipped and described here;
        else the first one raises :class:`UserError`.

    Returns
    -------
    pathlib.Path
        The path of ``index.html``.

    Raises
    ------
    UserError
        If the results folder holds no finished runs.
    """
    store = ResultsStore(store_root)
    df = without_trials(store.load_runs(unreadable), store_root)
    if df.empty:
        raise UserError(f"no results in {Path(store_root) / 'runs'}; run `ml2bench run "
                        f"--out {store_root}` first")
    out = Path(out_dir)
    board = leaderboard(df)
    _write_table(out, "leaderboard", board)
    sections = [leaderboard_section(board)]
    profiles = profiles_section(df, out)
    sections += [profiles] if profiles else []
    sections.append(convergence_section(_figures(df, out, x_axes)))
    flatness = flatness_table(df, store.load_flatness(unreadable))
    if flatness is not None:
        _write_table(out, "flatness", flatness)
        sections.append(flatness_section(flatness))
    levels = level_tables(df)
    if levels:
        _write_table(out, "levels", levels_long(levels), ("csv",))
        sections.append(levels_section(levels))
    envs = environments(df)
    _write_table(out, "environments", envs, ("csv",))
    sections.append(environment_section(envs))
    page = render_html(board, {}, "ml2bench report", str(store_root), sections)
    return write_text(out / "index.html", page)


def _figures(df: pd.DataFrame, out: Path, x_axes: tuple[str, ...]) -> dict[str, list[str]]:
    """Write the convergence PNGs; per problem label, their names."""
    labels = sorted(problem_labels(df).unique())
    figures: dict[str, list[str]] = {label: [] for label in labels}
    for x in x_axes:
        for label, path in zip(labels, plot_all(df, out, x)):
            figures[label].append(path.name)
    return figures
