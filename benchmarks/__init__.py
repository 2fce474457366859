"""asv benchmarks (``bench_*.py``) and stand-alone benchmark scripts.

asv imports this package first, before any module that imports torch: the CPU numerics
(:mod:`ml2bench.numerics`, portable by default, ``ML2BENCH_NUMERICS=native`` for the
CPU's own kernels) must be chosen before torch is imported, as ``ml2bench run`` does, so
that the tracked results are those of the runner's default mode. Commits from before
that module existed have one mode only.
"""

try:
    from ml2bench import numerics as _numerics
except ImportError:  # an older ml2bench: nothing to choose
    _numerics = None
if _numerics is not None:
    _numerics.configure()
