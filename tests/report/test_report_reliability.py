"""Issue 9, point 6: the quadratic's loss as f − f* on a log scale, titles that say what
the line is, skip reasons in the table, and no redrawing of unchanged plots."""

import json

import numpy as np
import pandas as pd

from ml2bench.problems.quadratic import exact_minimiser, poisson_rhs
from ml2bench.report.plots import plot_all, problem_figure


def quadratic_rows(make_rows, seeds=(0, 1)):
    f_star = float(-0.5 * poisson_rhs(63) @ exact_minimiser(63))
    params = json.dumps({"n": 63, "levels": 3, "target": 1e-8})
    rows = []
    for seed in seeds:
        rows += make_rows("quadratic_poisson1d", "lbfgs", seed, "test_rel_l2", [1.0, 0.5, 0.1],
                          losses=[f_star + 1e3, f_star + 1.0, f_star + 1e-6 * (1 + seed)],
                          params=params)
    return pd.DataFrame(rows), f_star


def test_quadratic_loss_is_the_gap_to_the_minimum_on_a_log_scale(make_rows):
    frame, _ = quadratic_rows(make_rows)
    fig = problem_figure(frame, "work_units")
    loss_ax = fig.axes[0]
    assert loss_ax.get_yscale() == "log" and "f − f*" in loss_ax.get_ylabel()
    line = {l.get_label(): l for l in loss_ax.get_lines()}["lbfgs (n=2)"]
    np.testing.assert_allclose(line.get_ydata(), [1e3, 1.0, 1.5e-6], rtol=1e-3)
    assert "mean of the 2 seeds" in fig.get_suptitle()


def test_title_says_median_only_for_three_seeds_or_more(make_rows):
    frame, _ = quadratic_rows(make_rows, seeds=(0, 1, 2))
    assert "median over seeds" in problem_figure(frame).get_suptitle()
    frame, _ = quadratic_rows(make_rows, seeds=(0,))
    assert "one seed" in problem_figure(frame).get_suptitle()


def test_unchanged_plots_are_not_redrawn(make_rows, tmp_path):
    frame, _ = quadratic_rows(make_rows)
    (path,) = plot_all(frame, tmp_path)
    stamp = path.stat().st_mtime_ns
    assert plot_all(frame, tmp_path) == [path] and path.stat().st_mtime_ns == stamp
    changed = frame.copy()
    changed.loc[changed.index[-1], "train_loss"] += 1.0
    plot_all(changed, tmp_path)
    assert path.stat().st_mtime_ns != stamp
    path.unlink()  # a deleted PNG is drawn again
    plot_all(changed, tmp_path)
    assert path.exists()
