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
chosen configurations, not the trials). Sections of ``index.html``, in order: the
summary — conclusion first: per problem the best solver(s) by the ranking rule
(:mod:`ml2bench.report.ranking`), whether a multilevel or DD solver beat the best
single-level one (:mod:`ml2bench.report.summary`), the overall scores —, the
leaderboard grouped by problem (best row starred, best cells marked, the rule stated
under it), performance profiles (:func:`profiles_section`), convergence, flatness,
per-level diagnostics (:mod:`ml2bench.report.levels`), environments
(:mod:`ml2bench.report.environment`). A results folder that mixes numerics environments
gets a warning box at the top (:func:`ml2bench.report.environment.mixed_warning`). The
page has a viewport tag; tables scroll sideways inside their own box on narrow screens
and images scale to the width. The page's one inline script is a self-check: after
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
from ml2bench.report.environment import environments, mixed_warning
from ml2bench.report.leaderboard import (FLATNESS_METRICS, RANK_COLUMNS, leaderboard,
                                         problem_labels)
from ml2bench.report.levels import level_tables, levels_long
from ml2bench.report.plots import plot_all
from ml2bench.report.profiles import (R_MAX, measure_tables, profile_notes, score_table,
                                      write_profiles)
from ml2bench.report.ranking import RULE, best_mask, rule_note
from ml2bench.report.summary import summary_table
from ml2bench.report.tables import cells, format_table, is_numeric_column
from ml2bench.runner.store import ResultsStore
from ml2bench.report.tuned import without_trials

#: The x axes of the figures the report contains, in display order.
REPORT_X = ("work_units", "time_s")
#: Folder of a results folder (and of the report) holding performance profiles.
PROFILES = "profiles"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1em 2em; color: #222; line-height: 1.4; }
.scroll { overflow-x: auto; max-width: 100%; margin: 0.5em 0 1em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
th { background: #f0f0f0; white-space: normal; vertical-align: bottom; }
td { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.best { font-weight: bold; background: #e6f2e6; }
tr.best td.solver::before { content: "\\2605\\00a0"; color: #0072B2; }
#summary-table td:last-child { white-space: normal; min-width: 18em; }
tr.group th { text-align: left; background: #dde7f0; }
tr.skipped td { color: #999; }
img { max-width: 100%; height: auto; border: 1px solid #eee; margin: 0.5em 0; }
.note { color: #555; font-size: 0.9em; }
.warning { border: 2px solid #D55E00; background: #fdf0e6; padding: 0.6em 1em;
           margin: 0.5em 0 1em; }
nav a { margin-right: 1em; display: inline-block; }
@media (max-width: 600px) { body { margin: 0.5em; } }
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
    """An HTML ``<table>`` of ``frame`` (escaped cells, numbers right-aligned) in a
    horizontally scrollable ``<div class="scroll">`` (narrow screens scroll the table
    instead of cutting it).

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
    body = [_row_html(row, numeric, _status(frame, row)) for row in rows]
    return _table(headers, body, table_id)


def _status(frame: pd.DataFrame, row: list[str]) -> str:
    return row[list(frame.columns).index("status")] if "status" in frame else ""


def _row_html(row: list[str], numeric: list[bool], status: str = "",
              classes: list[str] | None = None, row_class: str = "") -> str:
    """One ``<tr>``: escaped cells, ``num`` on numbers, extra ``classes`` per cell."""
    css = [row_class] if row_class else []
    css += ["skipped"] if status.startswith("skipped") else []
    tds = []
    for index, (value, num) in enumerate(zip(row, numeric)):
        names = (["num"] if num else []) + ([classes[index]] if classes and classes[index]
                                            else [])
        attr = f' class="{" ".join(names)}"' if names else ""
        tds.append(f"<td{attr}>{html.escape(value)}</td>")
    attr = f' class="{" ".join(css)}"' if css else ""
    return f"<tr{attr}>{''.join(tds)}</tr>"


def _table(headers: list[str], body: list[str], table_id: str | None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    ident = f' id="{html.escape(table_id, quote=True)}"' if table_id else ""
    return (f'<div class="scroll"><table{ident}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
            + "\n".join(body) + "\n</tbody>\n</table></div>")


def _image(src: str, alt: str) -> str:
    src, alt = html.escape(src, quote=True), html.escape(alt, quote=True)
    return f'<a href="{src}"><img src="{src}" alt="{alt}"></a>'


#: Leaderboard columns whose best value per problem is marked, and which way is better.
BEST_DIRECTION = {"test_acc": max, "test_rel_l2": min, "grad_norm_rel": min,
                  "train_loss": min, "wu_to_target": min, "time_to_target_s": min}


def _best_cells(rows: pd.DataFrame, columns: list[str]) -> dict[str, object]:
    """Per column of :data:`BEST_DIRECTION`, the best value among ``rows`` (not skipped;
    for WU and time to target, among the rows with the most seeds reached)."""
    ran = rows[~rows["_skipped"].astype(bool)]
    # to-target columns: among the rows with the best fraction of seeds reached (the rule)
    fraction = ran["_fraction"].astype(float)
    most = ran[fraction >= fraction.max()] if len(ran) else ran
    best = {}
    for column in columns:
        if column in BEST_DIRECTION and column in ran:
            pool = most if column in ("wu_to_target", "time_to_target_s") else ran
            values = pd.to_numeric(pool[column], errors="coerce").dropna()
            if len(values):
                best[column] = BEST_DIRECTION[column](values)
    return best


def grouped_leaderboard_html(board: pd.DataFrame, digits: int = 3,
                             table_id: str = "leaderboard-table") -> str:
    """The leaderboard as one table grouped by problem: a group row names the problem and
    its target once, then its solvers in rank order; the best row (ranking rule) is
    starred and the best value of each metric column is marked (class ``best``).

    Parameters
    ----------
    board : pandas.DataFrame
        ``leaderboard(df, rank_columns=True)``.
    """
    shown = [c for c in board.columns if c not in ("problem", "target", *RANK_COLUMNS)]
    headers, _ = cells(board[shown].head(0), digits)
    numeric = [is_numeric_column(board, c) for c in shown]
    body = []
    for problem, rows in board.groupby("problem", sort=False):
        target = rows["target"].iloc[0]
        text = f"{problem} · target: {target}" if target else f"{problem} · no target"
        body.append(f'<tr class="group"><th colspan="{len(shown)}" scope="colgroup">'
                    f"{html.escape(text)}</th></tr>")
        best_row = best_mask(rows)
        best = _best_cells(rows, shown)
        _, texts = cells(rows[shown], digits)
        for (index, row), values in zip(rows.iterrows(), texts):
            classes = ["solver" if c == "solver" else
                       ("best" if c in best and not row["_skipped"] and row[c] == best[c]
                        else "") for c in shown]
            body.append(_row_html(values, numeric, str(row["status"]), classes,
                                  "best" if best_row[index] else ""))
    return _table(headers, body, table_id)


def leaderboard_section(board: pd.DataFrame) -> Section:
    """The leaderboard (the numbers of ``ml2bench table``) grouped by problem, with links
    to its files and the ranking rule under it."""
    if not set(RANK_COLUMNS) <= set(board.columns):
        body = table_html(board, table_id="leaderboard-table")
    else:
        body = grouped_leaderboard_html(board)
    return Section("leaderboard", "Leaderboard", "\n".join([
        '<p class="note">Medians over seeds (over two seeds the median is their mean; '
        "seeds = how many). WU to target and time to target: median over the seeds "
        "that reached the target (reached = k/n). 1 WU = one full fine-level gradient "
        "over the training set. ★ the best solver of a problem; bold: the best value of a "
        "column. Skipped rows give the solver's reason. The same table: "
        '<a href="leaderboard.md">Markdown</a>, <a href="leaderboard.csv">CSV</a> '
        '(full precision), <a href="leaderboard.tex">LaTeX</a>.</p>',
        body, f'<p class="note rule">{html.escape(RULE)}</p>']))


def summary_section(board: pd.DataFrame, scores: pd.DataFrame | None) -> Section:
    """The conclusion first: per problem the best solver(s) and whether a multilevel or
    DD solver beat the best single-level one (:func:`summary.summary_table`), then the
    overall scores of the performance profiles."""
    parts = ['<p class="note">Per problem, the best solver by the ranking rule and how the '
             "best multilevel or domain-decomposition solver compares with the best "
             "single-level one (baselines and trust region): yes / no / tie, on the first "
             "key of the rule where they differ.</p>",
             table_html(summary_table(board), table_id="summary-table"),
             f'<p class="note rule">{html.escape(RULE)}</p>']
    if scores is not None and not scores.empty:
        parts += ['<h3 id="overall-scores">Overall scores</h3>',
                  '<p class="note">AlgoPerf\'s integrated score B of the performance profiles '
                  '(1: best on every problem; <a href="#profiles">details</a>); solved = '
                  "problems where the solver is among those ranked on WU.</p>",
                  table_html(scores, table_id="summary-scores")]
    return Section("summary", "Summary", "\n".join(parts))


def convergence_section(figures: dict[str, list[str]]) -> Section:
    """Per problem label, its convergence figures (paths relative to the page)."""
    parts = []
    for label, images in figures.items():
        parts.append(f'<h3 id="{html.escape("fig-" + label, quote=True)}">'
                     f"{html.escape(label)}</h3>")
        parts += [_image(image, f"{label}: {image}") for image in images]
    return Section("convergence", "Convergence", "\n".join(parts))


def profiles_section(df: pd.DataFrame, out_dir: str | Path,
                     tables: dict[str, pd.DataFrame] | None = None) -> Section | None:
    """The performance profiles of the runs (:mod:`ml2bench.report.profiles`), computed
    here so that the report is complete without a prior ``ml2bench profile``: the
    profile PNGs and the score table (md, csv, tex) in ``out_dir/profiles``. None if no
    solver has a score. ``tables``: :func:`measure_tables` of ``df`` if already built."""
    tables = measure_tables(df) if tables is None else tables
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
             + " No memory profile: a run's peak memory is the whole process's, which "
             "hides what a solver adds (asv's per-solver benchmarks track that)."
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


def environment_section(table: pd.DataFrame, warning: str | None = None) -> Section:
    """The distinct environments and how many runs each produced (git commits shortened to
    12 characters; ``environments.csv`` has them in full and the runs of each)."""
    shown = table.assign(**{"git commit": table["git commit"].map(lambda c: str(c)[:12])})
    shown = shown.assign(**{"used by": table["used by"].map(_used_count)})
    parts = ['<p class="note">Every number above comes from the runs listed here: software '
             "version, git commit, torch, device, thread count, host and (where recorded) "
             "CPU, kernels and numerics mode of each distinct environment, with the start "
             "times of its runs (full commit hashes and the "
             'problem · solver pairs of each: <a href="environments.csv">CSV</a>).</p>']
    if warning:
        parts.append(f'<p class="warning">{html.escape(warning)}</p>')
    parts.append(table_html(shown, table_id="environment-table"))
    return Section("environment", "Environment", "\n".join(parts))


def _used_count(text: str) -> str:
    """``"3 pairs"`` for the ``used by`` text of :func:`environments` (listed in the CSV)."""
    pairs = [p for p in str(text).split("; ") if p.strip()]
    return f"{len(pairs)} problem · solver pair{'s' if len(pairs) != 1 else ''}"


def render_html(board: pd.DataFrame, figures: dict[str, list[str]], title: str,
                source: str = "", sections: list[Section] | None = None,
                warning: str | None = None) -> str:
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
    warning : str, optional
        Shown in a warning box at the top (``id="environment-warning"``): e.g. that the
        results mix environments.

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
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{html.escape(title)}</title>", f"<style>{_STYLE}</style>", "</head>",
             "<body>", f"<h1>{html.escape(title)}</h1>",
             f'<p class="note">Results: {html.escape(source)} · generated {stamp}</p>']
    if warning:
        parts.append(f'<div class="warning" id="environment-warning" role="alert">'
                     f"<strong>Warning:</strong> {html.escape(warning)} "
                     '(see <a href="#environment">Environment</a>).</div>')
    parts.append(f"<nav>{nav}</nav>")
    for section in sections:
        parts += [f'<section id="{html.escape(section.anchor, quote=True)}">',
                  f"<h2>{html.escape(section.title)}</h2>", section.body, "</section>"]
    parts += ['<pre id="check" class="note">images: not checked (scripts off)</pre>', _CHECK,
              "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _write_table(out: Path, stem: str, table: pd.DataFrame,
                 formats: tuple[str, ...] = ("md", "csv", "latex"), ranked: bool = False
                 ) -> None:
    """``table`` as ``stem.md``, ``.csv``, ``.tex``; ``ranked``: with the ranking rule
    under it (as ``ml2bench table`` prints it; not in the CSV)."""
    suffix = {"md": "md", "csv": "csv", "latex": "tex"}
    for fmt in formats:
        note = rule_note(fmt) if ranked else ""
        write_text(out / f"{stem}.{suffix[fmt]}", format_table(table, fmt) + note)


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
    ranked = leaderboard(df, rank_columns=True)
    _write_table(out, "leaderboard", ranked.drop(columns=RANK_COLUMNS), ranked=True)
    tables = measure_tables(df)
    scores = score_table(tables, R_MAX)
    sections = [summary_section(ranked, scores), leaderboard_section(ranked)]
    profiles = profiles_section(df, out, tables)
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
    warning = mixed_warning(df)
    sections.append(environment_section(envs, warning))
    page = render_html(ranked, {}, "ml2bench report", str(store_root), sections, warning)
    return write_text(out / "index.html", page)


def _figures(df: pd.DataFrame, out: Path, x_axes: tuple[str, ...]) -> dict[str, list[str]]:
    """Write the convergence PNGs; per problem label, their names."""
    labels = sorted(problem_labels(df).unique())
    figures: dict[str, list[str]] = {label: [] for label in labels}
    for x in x_axes:
        for label, path in zip(labels, plot_all(df, out, x)):
            figures[label].append(path.name)
    return figures
