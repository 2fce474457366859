"""Bad input tried as a new user would (issue 17, point 6): one line naming what is
wrong and what is valid, a non-zero exit, no traceback, nothing lost."""

import subprocess
import sys

import pytest

from ml2bench.cli import main

SMALL = "peaks_resnet[quick=true]"


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code, err, *needles):
    assert code != 0
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("ml2bench: error: ") and "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_a_tiny_budget_and_spacing_with_rmtr_finish_at_once(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ml2bench", "run", "--problem", SMALL,
                           "--solver", "rmtr", "--budget", "1e-9", "--checkpoint-every", "1e-12",
                           "--out", str(tmp_path), "--no-progress"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "1 budget" in proc.stdout


@pytest.mark.parametrize("argv,needles", [
    (["--checkpoint-every", "1e-12"], ["--checkpoint-every 1e-12 WU is finer than budget",
                                       "use 0 (after every step) or a spacing >="]),
    (["--seeds", "0-1000000"], ["1000001 seeds; at most 1000 per sweep"]),
    (["--threads", "100000"], ["--threads 100000", "use at most 1024"]),
    (["--solver", "adam[lr=0.1,lr=0.002]"], ["'lr' is given twice", "give each parameter once"]),
])
def test_absurd_run_options_are_one_line(capsys, tmp_path, argv, needles):
    solver = [] if "--solver" in argv else ["--solver", "rmtr"]
    code, _, err = run_cli(capsys, "run", "--problem", SMALL, *solver, *argv,
                           "--out", str(tmp_path))
    assert_one_line_error(code, err, *needles)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
