"""Markdown, CSV and LaTeX renderings of the leaderboard."""

import io
import math
import re

import numpy as np
import pandas as pd
import pytest

from ml2bench.report.leaderboard import leaderboard
from ml2bench.report.tables import format_number, format_table, latex_escape


def test_format_number():
    assert format_number(0.123456) == "0.123"
    assert format_number(12345.6) == "1.23e+04"
    assert format_number(2.0) == "2"
    assert format_number(np.int64(7)) == "7"
    assert format_number(math.nan) == "" and format_number(None) == ""
    assert format_number(math.inf) == "inf"
    assert format_number("2/3") == "2/3"


def test_markdown(runs):
    board = leaderboard(runs)
    lines = format_table(board, "md").splitlines()
    assert len(lines) == 2 + len(board)
    assert lines[0].startswith("| problem | target | solver | seeds |")
    assert re.fullmatch(r"\|(-{3,}:?\|)+", lines[1])
    assert lines[1].count("|") == len(board.columns) + 1
    assert "| toy_cls | test_acc >= 0.9 | fast | 2 | 0.945 |  | 0.533 | 1.25 | 3.75 | 2/2 |" \
        in lines[2]
    assert all(line.count("|") == len(board.columns) + 1 for line in lines)


def test_markdown_escapes_pipes():
    text = format_table(pd.DataFrame({"a": ["x|y"], "b": [1.0]}), "md")
    assert "x\\|y" in text


def test_csv_parses_back(runs):
    board = leaderboard(runs)
    back = pd.read_csv(io.StringIO(format_table(board, "csv")), keep_default_na=False,
                       na_values=[""])
    assert list(back.columns) == list(board.columns)
    for column in ("seeds", "test_acc", "test_rel_l2", "train_loss", "wu_to_target",
                   "time_to_target_s"):
        np.testing.assert_array_equal(back[column].to_numpy(float),
                                      board[column].to_numpy(float))
    assert list(back["status"]) == list(board["status"])


def test_latex(runs):
    board = leaderboard(runs)
    text = format_table(board, "latex")
    assert text.startswith("\\begin{tabular}{lllrrrrrrll}")
    assert text.rstrip().endswith("\\end{tabular}")
    assert "toy\\_cls & test\\_acc >= 0.9 & fast & 2 & 0.945" in text
    assert text.count("\\\\\n") == 1 + len(board)
    assert latex_escape("50% & $x_1$ ‖θ‖") == r"50\% \& \$x\_1\$ $\|\theta\|$"


def test_unknown_format(runs):
    with pytest.raises(ValueError, match="md, csv, latex"):
        format_table(leaderboard(runs), "xlsx")
