"""``ml2bench table --compare``: a leaderboard against a committed one, every number but
times (wall-clock columns depend on the machine and its load)."""

from ml2bench.cli import main
from ml2bench.report.compare import differences, markdown_tables

REFERENCE = """intro line
| problem | solver | test_acc | WU to target | time to target [s] |
|---|---|---:|---:|---:|
| peaks | adam | 0.904 | 17.8 | 1.07 |
| peaks | sgd | 0.877 | 13 | 0.68 |

rule: the ranking rule
"""


def test_only_times_may_differ():
    same_but_times = REFERENCE.replace("1.07", "2.31").replace("0.68", "0.71")
    assert differences(REFERENCE, same_but_times) == []
    changed = REFERENCE.replace("17.8", "17.9")
    found = differences(REFERENCE, changed)
    assert len(found) == 2 and "17.9" in found[0] and "17.8" in found[1]
    reordered = REFERENCE.replace("| peaks | adam | 0.904 | 17.8 | 1.07 |\n", "") \
        .replace("| peaks | sgd | 0.877 | 13 | 0.68 |", "| peaks | sgd | 0.877 | 13 | 0.68 |\n"
                 "| peaks | adam | 0.904 | 17.8 | 1.07 |")
    assert differences(REFERENCE, reordered) == ["table 1: the same rows in another order"]
    assert markdown_tables(REFERENCE)[0][0][-1] == "time to target [s]"


def test_compare_on_the_command_line_exits_1_on_a_difference(tmp_path, capsys):
    reference = tmp_path / "reference.md"
    reference.write_text("| problem |\n|---|\n| nothing like it |\n")
    out = tmp_path / "runs"
    assert main(["run", "--problem", "quadratic_poisson1d[quick=true]", "--solver", "sgd",
                 "--budget", "1", "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["table", "--out", str(out), "--compare", str(reference)]) == 1
    assert "differs from" in capsys.readouterr().err
    current = tmp_path / "current.md"
    assert main(["table", "--out", str(out)]) == 0
    current.write_text(capsys.readouterr().out)
    assert main(["table", "--out", str(out), "--compare", str(current)]) == 0
    assert "matches" in capsys.readouterr().err
