"""Studies: multi-run experiments over the runner whose outputs are findings, not rows.

A study runs a grid of problems × solvers × seeds through the ordinary runner
(resumable, cached) and reduces the results to the quantities a benchmark script or a
paper claim reports (speedups, scaling exponents). ``benchmarks/`` scripts and
``ml2bench reproduce`` are thin callers of these modules.
"""
