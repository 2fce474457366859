"""Plain-text renderings of result tables: Markdown, CSV and LaTeX.

No dependency beyond pandas: the Markdown and LaTeX writers are written here (pandas'
``to_markdown`` needs ``tabulate`` and ``to_latex`` needs jinja2). Numbers are printed
compactly with three significant digits (:func:`format_number`); missing values are
empty cells. CSV keeps full precision so that it parses back to the same numbers.
"""

from __future__ import annotations

import math
import numbers

import pandas as pd

#: Human-readable headers for the leaderboard's machine-friendly column names.
HEADERS = {
    "solver": "solver", "seeds": "seeds", "train_loss": "train loss",
    "wu_to_target": "WU to target", "time_to_target_s": "time to target [s]",
    "reached": "reached", "param_norm": "‖θ‖",
    "score_work_units": "B (WU to target)", "score_time_s": "B (time to target)",
    "solved": "solved",
}
FORMATS = ("md", "csv", "latex")

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "‖θ‖": r"$\|\theta\|$", "≥": r"$\geq$", "≤": r"$\leq$",
    "×": r"$\times$",
}


def format_number(value, digits: int = 3) -> str:
    """Compact text for one cell.

    Parameters
    ----------
    value : object
        A number (formatted with ``digits`` significant digits, integers as is), a
        missing value (``None``/NaN: empty string) or anything else (``str(value)``).
    digits : int
        Significant digits of floats.

    Returns
    -------
    str
    """
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        if math.isnan(value):
            return ""
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.{digits}g}"
    return str(value)


def header_of(column: str) -> str:
    """Display header of ``column`` (:data:`HEADERS`, else the name itself)."""
    return HEADERS.get(column, column)


def cells(frame: pd.DataFrame, digits: int = 3) -> tuple[list[str], list[list[str]]]:
    """Headers and formatted cell texts of ``frame`` (index ignored).

    Parameters
    ----------
    frame : pandas.DataFrame
    digits : int
        Significant digits of floats.

    Returns
    -------
    headers : list of str
    rows : list of list of str
    """
    headers = [header_of(str(c)) for c in frame.columns]
    rows = [[format_number(v, digits) for v in record]
            for record in frame.itertuples(index=False, name=None)]
    return headers, rows


def is_numeric_column(frame: pd.DataFrame, column) -> bool:
    """Whether ``column`` holds numbers (booleans excluded): right-aligned in every format."""
    return pd.api.types.is_numeric_dtype(frame[column]) and not \
        pd.api.types.is_bool_dtype(frame[column])


def to_markdown(frame: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub-flavoured Markdown pipe table (numeric columns right-aligned).

    Parameters
    ----------
    frame : pandas.DataFrame
    digits : int
        Significant digits of floats.

    Returns
    -------
    str
        Header line, separator line (``|---|---:|``), one line per row, final newline.
    """
    headers, rows = cells(frame, digits)

    def escape(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    def line(items: list[str]) -> str:
        return "| " + " | ".join(escape(t) for t in items) + " |"

    separator = ["---:" if is_numeric_column(frame, c) else "---" for c in frame.columns]
    lines = [line(headers), "|" + "|".join(separator) + "|"] + [line(r) for r in rows]
    return "\n".join(lines) + "\n"


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters in ``text`` (and map ‖θ‖, ≥, ≤, × to math)."""
    for symbol in ("‖θ‖", "≥", "≤"):
        text = text.replace(symbol, f"\0{symbol}\0")
    parts = text.split("\0")
    out = []
    for index, part in enumerate(parts):
        if index % 2 == 1:
            out.append(_LATEX_SPECIAL[part])
        else:
            out.append("".join(_LATEX_SPECIAL.get(ch, ch) for ch in part))
    return "".join(out)


def to_latex(frame: pd.DataFrame, digits: int = 3) -> str:
    """A ``tabular`` environment (no package beyond LaTeX itself needed).

    Parameters
    ----------
    frame : pandas.DataFrame
    digits : int
        Significant digits of floats.

    Returns
    -------
    str
        ``\\begin{tabular}{l...r}`` … ``\\end{tabular}`` with ``\\hline`` rules.
    """
    headers, rows = cells(frame, digits)
    spec = "".join("r" if is_numeric_column(frame, c) else "l" for c in frame.columns)

    def line(items: list[str]) -> str:
        return " & ".join(latex_escape(t) for t in items) + r" \\"

    lines = [rf"\begin{{tabular}}{{{spec}}}", r"\hline", line(headers), r"\hline"]
    lines += [line(r) for r in rows]
    lines += [r"\hline", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def format_table(frame: pd.DataFrame, fmt: str = "md", digits: int = 3) -> str:
    """Render ``frame`` as Markdown, CSV or LaTeX text.

    Parameters
    ----------
    frame : pandas.DataFrame
        E.g. the output of :func:`ml2bench.report.leaderboard.leaderboard`.
    fmt : {"md", "csv", "latex"}
        Output format. CSV uses the column names as they are and full precision
        (it is meant to be read back by programs); the others use display headers
        and ``digits`` significant digits.
    digits : int
        Significant digits of floats in Markdown and LaTeX.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        For an unknown ``fmt``.
    """
    if fmt == "md":
        return to_markdown(frame, digits)
    if fmt == "csv":
        return frame.to_csv(index=False, lineterminator="\n")
    if fmt == "latex":
        return to_latex(frame, digits)
    raise ValueError(f"unknown table format {fmt!r}; valid formats: {', '.join(FORMATS)}")
