"""asv benchmarks (``bench_*.py``) and stand-alone benchmark scripts.

asv imports this package first, before any module that imports torch: the CPU numerics
(:mod:`ml2bench.numerics`, portable by default, ``ML2BENCH_NUMERICS=native`` for the
CPU's own kernels) must be chosen before torch is imported, as ``ml2bench run`` does, so
that the tracked results are those of the runner's default mode. Commits from before
that module existed have one mode only.

The problem specs (``problems/*.toml``) are not part of the installed package: in an
environment asv built (``asv run`` over commits) they are found in the checkout of the
benchmarked commit that asv keeps in ``$ASV_ENV_DIR/project``; with ``--python=same``
an installed copy of ml2bench that cannot find them gets the checkout asv runs from
(``$ASV_CONF_DIR``). ``ML2BENCH_PROBLEMS``, if set, wins.
"""

import os as _os
from pathlib import Path as _Path


def _point_at_problem_specs() -> None:
    """Set ``ML2BENCH_PROBLEMS`` to the first spec folder found: the source checkout
    ml2bench is imported from, the benchmarked commit's checkout, the asv checkout."""
    if "ML2BENCH_PROBLEMS" in _os.environ:
        return
    import ml2bench

    folders = [_Path(ml2bench.__file__).resolve().parents[1] / "problems",
               _Path(_os.environ.get("ASV_ENV_DIR", "/nonexistent")) / "project" / "problems",
               _Path(_os.environ.get("ASV_CONF_DIR", "/nonexistent")) / "problems"]
    for folder in folders:
        if folder.is_dir():
            _os.environ["ML2BENCH_PROBLEMS"] = str(folder)
            return


try:
    from ml2bench import numerics as _numerics
except ImportError:  # an older ml2bench: nothing to choose
    _numerics = None
if _numerics is not None:
    _numerics.configure()
_point_at_problem_specs()
