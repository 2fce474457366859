"""Steihaug-Toint CG reports the Hessian products it really made (the work ledger and
the solvers' diagnostics rely on ``num_matvecs``), on every exit: interior
convergence, the trust-region boundary, negative curvature."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ml2bench.solvers.tr_subproblem import steihaug_cg


def counting(B):
    calls = []

    def matvec(v):
        calls.append(1)
        return B @ v
    return matvec, calls


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(st.integers(2, 8), st.integers(0, 2**31 - 1), st.sampled_from(["spd", "indefinite"]),
       st.floats(1e-3, 10.0))
def test_steihaug_cg_counts_every_hessian_product(n, seed, kind, radius):
    """Property: num_matvecs == products made, for any exit; iterations == num_matvecs;
    ‖s‖ ≤ Δ, and ‖s‖ = Δ when the boundary is reported."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    eig = rng.uniform(0.1, 5.0, n)
    if kind == "indefinite":
        eig[0] = -1.0
    B = torch.as_tensor(Q @ np.diag(eig) @ Q.T)
    g = torch.as_tensor(rng.standard_normal(n))
    matvec, calls = counting(B)
    result = steihaug_cg(g, matvec, radius, rtol=1e-10, max_iter=3 * n)
    assert result.num_matvecs == len(calls)
    assert result.iterations == len(calls)
    norm = float(torch.linalg.vector_norm(result.step))
    assert norm <= radius * (1 + 1e-9)
    if result.hit_boundary:
        assert norm == pytest.approx(radius, rel=1e-9)
