"""Convergence figures: lines, bands, target line, scales, files."""

import numpy as np
import pandas as pd

from ml2bench.report.plots import band, common_grid, plot_all, plot_problem, problem_figure, slug


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_band_interpolates_without_extrapolation():
    curves = [(np.array([0.0, 1.0]), np.array([0.0, 1.0])),
              (np.array([0.0, 2.0]), np.array([0.0, 4.0]))]
    np.testing.assert_array_equal(common_grid(curves), [0.0, 1.0, 2.0])
    median, low, high = band(curves, np.array([0.0, 0.5, 1.0, 2.0, 3.0]))
    np.testing.assert_allclose(median[:4], [0.0, 0.75, 1.5, 4.0])
    np.testing.assert_allclose(low[:4], [0.0, 0.5, 1.0, 4.0])
    np.testing.assert_allclose(high[:4], [0.0, 1.0, 2.0, 4.0])
    assert np.isnan(median[4]) and np.isnan(low[4]) and np.isnan(high[4])


def test_common_grid_is_thinned():
    curves = [(np.linspace(0, 1, 1000), np.zeros(1000)), (np.array([0.0, 1.5]), np.zeros(2))]
    grid = common_grid(curves, max_points=50)
    assert len(grid) <= 52 and grid[0] == 0.0 and 1.0 in grid and grid[-1] == 1.5


def test_classification_figure(runs):
    fig = problem_figure(runs[runs["problem"] == "toy_cls"], "work_units")
    assert len(fig.axes) == 2
    loss_ax, metric_ax = fig.axes
    # skipped solver left out: one line per solver that ran, plus the target on the metric
    assert set(lines_by_label(loss_ax)) == {"fast (n=2)", "slow (n=2)"}
    lines = lines_by_label(metric_ax)
    assert set(lines) == {"fast (n=2)", "slow (n=2)", "target ≥ 0.9"}
    target = lines["target ≥ 0.9"]
    assert target.get_linestyle() == "--" and list(target.get_ydata()) == [0.9, 0.9]
    fast = lines["fast (n=2)"]
    np.testing.assert_allclose(fast.get_xdata(), [0.0, 0.5, 1.0, 1.5, 2.0])
    # seed 0 stops at 1.0 WU: beyond, the median is seed 1 alone
    np.testing.assert_allclose(fast.get_ydata(), [0.1, 0.55, 0.86, 0.91, 0.97])
    slow = lines["slow (n=2)"]
    np.testing.assert_allclose(slow.get_ydata(), [0.1, 0.35, 0.675, 0.825, 0.865])
    assert len(metric_ax.collections) == 2  # one min–max band per solver
    assert loss_ax.get_yscale() == "log" and metric_ax.get_yscale() == "linear"
    assert metric_ax.get_xlabel().startswith("work units") and metric_ax.get_title()
    assert fig.get_suptitle().startswith("toy_cls")


def test_time_axis_and_log_metric(runs):
    fig = problem_figure(runs[runs["problem"] == "toy_reg"], "time_s")
    loss_ax, metric_ax = fig.axes
    assert metric_ax.get_yscale() == "log" and "time" in metric_ax.get_xlabel()
    b = lines_by_label(metric_ax)["b (n=2)"]
    np.testing.assert_allclose(b.get_xdata(), [0.0, 1.5, 3.0, 4.5, 6.0])
    assert "target ≤ 0.1" in lines_by_label(metric_ax)


def test_quadratic_has_target_panel_and_symlog_loss(make_rows):
    rows = []
    for seed in (0, 1):
        rows += make_rows("quadratic_poisson1d", "cg", seed, "test_rel_l2", [1.0, 0.5, 0.1],
                          losses=[50.0, -3.0, -4.5 - seed], params='{"target": 0.4}')
    fig = problem_figure(pd.DataFrame(rows), "epoch")
    assert len(fig.axes) == 3
    loss_ax, metric_ax, target_ax = fig.axes
    assert loss_ax.get_yscale() == "symlog"
    assert len(metric_ax.get_lines()) == 1  # no target on the test metric's panel
    lines = lines_by_label(target_ax)
    assert set(lines) == {"cg (n=2)", "target ≤ 0.4"}
    np.testing.assert_allclose(lines["cg (n=2)"].get_ydata(), [1.0, 0.5, 1 / 3])


def test_plot_problem_writes_png(runs, tmp_path):
    path = plot_problem(runs[runs["problem"] == "toy_reg"], "epoch", tmp_path / "sub" / "r.png")
    data = path.read_bytes()
    assert path == tmp_path / "sub" / "r.png" and data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000
    assert [p.name for p in path.parent.iterdir()] == ["r.png"]  # no temporary left


def test_plot_all_one_png_per_problem(runs, tmp_path):
    paths = plot_all(runs, tmp_path, "work_units")
    assert [p.name for p in paths] == ["toy_cls-work_units.png", "toy_reg-work_units.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in paths]


def test_all_skipped_problem_still_plots(make_rows, tmp_path):
    frame = pd.DataFrame(make_rows("p", "nested", 0, "test_acc", [0.1], final="skipped"))
    assert plot_problem(frame, "work_units", tmp_path / "p.png").stat().st_size > 0


def test_slug():
    assert slug("peaks_resnet[levels=3,quick=true]") == "peaks_resnet-levels-3-quick-true"
    assert slug("///") == "problem"
