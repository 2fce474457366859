"""Portable CPU numerics (:mod:`ml2bench.numerics`): the same bits whatever the CPU's
vector units, recorded with every run.

Another vendor's CPU cannot be had in a test, but what differs between two x86-64-v3
machines can be imitated on one: the kernels MKL dispatches to (``MKL_ENABLE_
INSTRUCTIONS``), the instruction sets glibc's ``libm`` sees (``GLIBC_TUNABLES``) and the
ISA oneDNN JIT-compiles for (``ONEDNN_MAX_CPU_ISA``). In the portable mode none of them
changes a bit of a computation that exercises every pinned library (BLAS, LAPACK,
convolutions, transcendental element-wise kernels, reductions, solver steps); in the
native mode the kernels differ from the portable ones (so the test can fail)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ml2bench import numerics

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import hashlib, sys
from ml2bench import numerics
numerics.configure_torch(sys.argv[1])
import torch
from ml2bench.testing import solver_fingerprint
torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
digest = hashlib.sha256()
for dtype in (torch.float64, torch.float32):
    a = torch.randn(200, 333, generator=g, dtype=dtype)
    b = torch.randn(333, 77, generator=g, dtype=dtype)
    x = torch.randn(64, 3, 16, 16, generator=g, dtype=dtype)
    w = torch.randn(8, 3, 3, 3, generator=g, dtype=dtype)
    for t in (a @ b, torch.nn.functional.conv2d(x, w, padding=1), torch.tanh(a).sum(0),
              torch.exp(a).sum(), torch.sin(3 * a).mean(1), torch.linalg.solve(a[:50, :50], b[:50]),
              torch.softmax(a, dim=1)):
        digest.update(t.contiguous().numpy().tobytes())
digest.update(solver_fingerprint("adam").encode())
print(numerics.active_mode(), torch.backends.cpu.get_cpu_capability(), digest.hexdigest())
"""

#: What differs between x86-64-v3 CPUs, imitated on this one.
OTHER_CPUS = {
    "MKL on AVX2 kernels": {"MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "no AVX-512 seen by glibc": {"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F,-AVX512DQ,"
                                                   "-AVX512BW,-AVX512VL,-AVX512CD"},
    "oneDNN on AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
}


def probe(mode: str, extra: dict | None = None) -> tuple[str, str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR", numerics.MODE_VARIABLE)}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), **(extra or {}))
    done = subprocess.run([sys.executable, "-c", PROBE, mode], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return tuple(done.stdout.split())


def v3_or_newer() -> bool:
    return numerics.isa_level() in ("x86-64-v3", "x86-64-v4")


@pytest.mark.skipif(not v3_or_newer(), reason="the portable guarantee is for x86-64-v3 "
                                              "CPUs and newer (AVX2 and FMA); this is not one")
def test_portable_bits_do_not_depend_on_the_cpus_vector_units():
    mode, capability, reference = probe(numerics.PORTABLE)
    assert (mode, capability) == ("portable", "DEFAULT")
    for name, extra in OTHER_CPUS.items():
        assert probe(numerics.PORTABLE, extra)[2] == reference, name
    native_mode, native_capability, native = probe(numerics.NATIVE)
    assert native_mode == "native" and native_capability != "DEFAULT"
    assert native != reference  # the pinned kernels are not the CPU's own


def test_configure_refuses_to_switch_a_process_whose_torch_computes_otherwise():
    """The test process was configured portable before torch was imported (conftest)."""
    from ml2bench.errors import UserError
    assert numerics.configure(numerics.PORTABLE) == numerics.PORTABLE
    with pytest.raises(UserError, match="already computes with portable numerics"):
        numerics.configure(numerics.NATIVE)
    with pytest.raises(UserError, match="numerics 'fast' is invalid; valid: portable, native"):
        numerics.configure("fast")


def test_every_run_records_what_decides_its_numbers(tmp_path):
    from ml2bench.runner.store import ResultsStore
    from ml2bench.runner.sweep import expand, run_sweep
    run_sweep(expand(["quadratic_poisson1d[quick=true]"], ["sgd"], [0], budget=1.0),
              tmp_path, progress=False)
    row = ResultsStore(tmp_path).load_runs().iloc[-1]
    assert row["numerics"] == "portable" and row["cpu_capability"] == "DEFAULT"
    assert "MKL_CBWR=COMPATIBLE" in row["blas"] and row["onednn"].endswith("(off)")
    assert row["cpu_isa"] == numerics.isa_level() and row["cpu_model"]
    assert '"numerics": "portable"' in row["run_options"]  # part of the run's identity
