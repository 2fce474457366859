"""Per-level tables report the median over cycles, on a fixture where the median and the
mean differ (a single outlier cycle must not move the reported value)."""

import numpy as np
import pandas as pd

from ml2bench.report.levels import level_tables


def rmtr_run(run_id, seed, cycles):
    """An ``rmtr`` run with one results row per cycle: (d0, c1, d1, rho) per cycle."""
    base = {"run_id": run_id, "problem": "toy", "problem_params": "{}", "solver": "rmtr",
            "solver_label": "rmtr", "seed": seed, "status": "ok"}
    rows = [{**base, "step": step, "info_decrease_l0": d0, "info_correction_decrease_l1": c1,
             "info_decrease_l1": d1, "info_coarse_rho_l1": rho}
            for step, (d0, c1, d1, rho) in enumerate(cycles, start=1)]
    rows[-1]["status"] = "budget"
    return rows


def test_level_tables_report_the_median_not_the_mean_over_skewed_cycles():
    """Property: each per-level quantity is the median of its logged cycles over all
    seeds (checked against numpy.median on values whose mean is far from the median)."""
    cycles = {0: [(1.0, 1.0, 0.5, 0.9), (1000.0, 3.0, 400.0, -50.0)],
              1: [(2.0, 1.0, 0.7, 0.8), (3.0, 900.0, 0.6, 0.7), (4.0, 2.0, 0.1, 0.6)]}
    frame = pd.DataFrame([row for seed, c in cycles.items()
                          for row in rmtr_run(f"toy_rmtr_s{seed}", seed, c)])
    table = level_tables(frame)["rmtr"].set_index("level")
    every = [cycle for c in cycles.values() for cycle in c]
    d0, c1, d1, rho = (np.array(column) for column in zip(*every))
    for value, expected in [(table.loc[0, "smoothing decrease"], d0),
                            (table.loc[1, "correction decrease"], c1),
                            (table.loc[1, "smoothing decrease"], d1),
                            (table.loc[1, "coarse ρ"], rho),
                            (table.loc[1, "coarse share"], c1 / (d0 + c1))]:
        assert np.median(expected) != np.mean(expected)  # the fixture tells them apart
        assert value == np.median(expected)
    assert list(table["cycles"]) == [5, 5]
