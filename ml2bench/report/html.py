"""The report folder: leaderboard tables, convergence figures and an HTML index.

:func:`write_report` reads a results folder and writes into ``out_dir``::

    leaderboard.md   leaderboard.csv   leaderboard.tex
    profile_work_units.png   profile_time_s.png   profile_peak_mem_mb.png
                     performance profiles over the problems (:mod:`profiles`)
    <problem>-work_units.png   <problem>-time_s.png   (one pair per problem)
    index.html       the tables and the figures (relative links, inline CSS, no scripts)

Every file is written atomically (temporary file, then ``os.replace``). All text
taken from the results (problem and solver labels, statuses) is HTML-escaped.
"""

from __future__ import annotations

import datetime
import html
from pathlib import Path

import pandas as pd

from ml2bench.errors import UserError
from ml2bench.files import write_text
from ml2bench.report.leaderboard import leaderboard, problem_labels
from ml2bench.report.plots import plot_all
from ml2bench.report.profiles import (R_MAX, measure_tables, profile_notes, score_table,
                                      write_profiles)
from ml2bench.report.tables import cells, format_table, is_numeric_column
from ml2bench.runner.store import ResultsStore

#: The x axes of the figures the report contains, in display order.
REPORT_X = ("work_units", "time_s")

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.skipped td { color: #999; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.note { color: #555; font-size: 0.9em; }
"""


def table_html(frame: pd.DataFrame, digits: int = 3) -> str:
    """An HTML ``<table>`` of ``frame`` (escaped cells, numbers right-aligned).

    Parameters
    ----------
    frame : pandas.DataFrame
    digits : int
        Significant digits of floats.

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
    return (f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
            + "\n".join(body) + "\n</tbody>\n</table>")


def render_html(board: pd.DataFrame, figures: dict[str, list[str]], title: str,
                source: str = "",
                profiles: tuple[pd.DataFrame, list[str], list[str]] | None = None) -> str:
    """The text of ``index.html``.

    Parameters
    ----------
    board : pandas.DataFrame
        The leaderboard.
    figures : dict of str to list of str
        Per problem label, the image paths relative to the HTML file.
    title : str
        Page title.
    source : str
        Where the results came from (shown in the header).
    profiles : tuple, optional
        The performance profiles section: the score table
        (:func:`ml2bench.report.profiles.score_table`), its image paths relative to the
        HTML file and its note lines. Left out if None.

    Returns
    -------
    str
    """
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f"<title>{html.escape(title)}</title>", f"<style>{_STYLE}</style>", "</head>",
             "<body>", f"<h1>{html.escape(title)}</h1>",
             f'<p class="note">Results: {html.escape(source)} · generated {stamp} · '
             'tables: <a href="leaderboard.md">Markdown</a>, <a href="leaderboard.csv">CSV</a>, '
             '<a href="leaderboard.tex">LaTeX</a></p>',
             "<h2>Leaderboard</h2>",
             '<p class="note">Medians over seeds (over two seeds the median is their mean; '
             "seeds = how many). WU to target and time to target: median over the seeds "
             "that reached the target (reached = k/n). 1 WU = one full fine-level gradient "
             "over the training set. Skipped rows give the solver's reason.</p>",
             table_html(board)]
    if profiles is not None:
        scores, images, notes = profiles
        parts += ["<h2>Performance profiles</h2>",
                  '<p class="note">Dolan–Moré profiles over the problems: ρ(τ) is the share '
                  "of problems on which a solver is within a factor τ of the best one; B is "
                  "AlgoPerf's integrated score, the mean of ρ over τ in [1, r<sub>max</sub>] "
                  "(1: best everywhere). "
                  + html.escape(" · ".join(notes)) + "</p>", table_html(scores)]
        parts += [_image(src, "performance profile") for src in images]
    parts.append("<h2>Convergence</h2>")
    for label, images in figures.items():
        anchor = html.escape(label, quote=True)
        parts.append(f'<h3 id="{anchor}">{html.escape(label)}</h3>')
        parts += [_image(image, anchor) for image in images]
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _image(path: str, caption: str) -> str:
    """A linked image; ``caption`` is already escaped."""
    src = html.escape(path, quote=True)
    return f'<a href="{src}"><img src="{src}" alt="{caption}: {src}"></a>'


def write_report(store_root: str | Path, out_dir: str | Path,
                 x_axes: tuple[str, ...] = REPORT_X, unreadable: list[str] | None = None
                 ) -> Path:
    """Write the leaderboard (md, csv, tex), the performance profiles, the convergence
    figures and ``index.html`` to ``out_dir``.

    Parameters
    ----------
    store_root : str or Path
        A results folder (``runs/*.parquet``, optionally ``flatness/*.parquet``).
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
    df = store.load_runs(unreadable)
    if df.empty:
        raise UserError(f"no results in {Path(store_root) / 'runs'}; run `ml2bench run "
                        f"--out {store_root}` first")
    out = Path(out_dir)
    board = leaderboard(df, store.load_flatness(unreadable))
    for name, fmt in (("leaderboard.md", "md"), ("leaderboard.csv", "csv"),
                      ("leaderboard.tex", "latex")):
        write_text(out / name, format_table(board, fmt))
    labels = sorted(problem_labels(df).unique())
    figures: dict[str, list[str]] = {label: [] for label in labels}
    for x in x_axes:
        for label, path in zip(labels, plot_all(df, out, x)):
            figures[label].append(path.name)
    tables = measure_tables(df)
    profiles = (score_table(tables, R_MAX),
                [path.name for path in write_profiles(tables, out, R_MAX)],
                profile_notes(tables, R_MAX))
    page = render_html(board, figures, "ml2bench report", str(store_root), profiles)
    return write_text(out / "index.html", page)
