"""asv: results tracked across commits, not only times.

Every number here is deterministic (seed 0, one torch thread, the real runner), so a
change between commits is a change of the code. Each benchmark has one parameter, a
``"problem solver"`` pair, so asv's default graph shows every pair, and every pair has a
value: pairs were chosen from the quick suite's results (``make quick``) so that

* ``TrackWorkUnitsToTarget.track_wu_to_target`` — the pairs that **reach** their target
  within the quick budget (every seed of the quick suite): a baseline, trust region and
  multilevel solvers (stop at the target). NaN would mean the pair no longer reaches it:
  a regression (or a recalibrated target) to look at, shown as a missing point;
* ``TrackFinalAccuracy.track_final_accuracy`` and
  ``TrackFinalRelativeError.track_final_rel_l2`` — the final target metric after the
  whole quick budget of pairs that do **not** reach the target (so a change shows even
  there; multilevel solvers on problems where they trail), split by direction:
  accuracy (higher is better) and relative L2 error (lower is better) are separate
  benchmarks with units that say so.
"""

from ._common import run_pairs

#: Pairs that reach their calibrated quick target on every seed (``make quick``,
#: December 2026, after the targets' calibration): a baseline, trust region and three
#: multilevel solvers.
REACHING = ["digits_cnn[quick=true] sgd", "swissroll_resnet[quick=true] tr[subproblem=lsr1]",
            "ellipses_resnet[quick=true] mgopt", "peaks_resnet[quick=true] nested",
            "quadratic_poisson1d[quick=true] rmtr"]
#: Pairs that do not reach it: their final metric after the whole quick budget.
FINAL_ACCURACY = ["peaks_resnet[quick=true] rmtr",
                  "ellipses_resnet[quick=true] rmtr[subproblem=lsr1]"]
FINAL_ERROR = ["poisson2d_pinn[quick=true] rmtr",
               "poisson1d_pinn[quick=true] rmtr[subproblem=lsr1]"]

class TrackWorkUnitsToTarget:
    """Work units to the target of the pairs that reach it (one sweep per commit)."""

    params = REACHING
    param_names = ["pair"]
    timeout = 1200

    def setup_cache(self):
        return run_pairs(REACHING, stop_at_target=True)

    def track_wu_to_target(self, results, pair):
        return results[pair][0]

    track_wu_to_target.unit = "WU to target (lower is better)"


class TrackFinalAccuracy:
    """Final test accuracy after the quick budget where no solver reaches the target."""

    params = FINAL_ACCURACY
    param_names = ["pair"]
    timeout = 1200

    def setup_cache(self):
        return run_pairs(FINAL_ACCURACY, stop_at_target=False)

    def track_final_accuracy(self, results, pair):
        return results[pair][1]

    track_final_accuracy.unit = "test accuracy (higher is better)"


class TrackFinalRelativeError:
    """Final test relative L2 error after the quick budget where no solver reaches the
    target."""

    params = FINAL_ERROR
    param_names = ["pair"]
    timeout = 1200

    def setup_cache(self):
        return run_pairs(FINAL_ERROR, stop_at_target=False)

    def track_final_rel_l2(self, results, pair):
        return results[pair][1]

    track_final_rel_l2.unit = "test relative L2 error (lower is better)"
