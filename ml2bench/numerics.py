"""Portable CPU numerics: the same bits on every x86-64 machine, Intel or AMD.

On a CPU, PyTorch picks its kernels by what the processor offers, so the same run gives
different last bits on different machines, and those bits grow into different
leaderboards over a few hundred optimisation steps. Three libraries decide:

* **ATen's vectorised kernels** (element-wise maths, reductions, softmax …) are compiled
  for several instruction sets and dispatched on the CPU's capability (``DEFAULT``,
  ``AVX2``, ``AVX512``; :func:`torch.backends.cpu.get_cpu_capability`). The environment
  variable ``ATEN_CPU_CAPABILITY=default``, read when torch first dispatches, pins the
  generic build of every kernel.
* **MKL** (BLAS and LAPACK: ``mm``, ``addmm``, ``linalg``) dispatches on the vendor and
  instruction set. Its *conditional numerical reproducibility* (``MKL_CBWR``, read when
  MKL initialises) set to ``COMPATIBLE`` selects the code path that Intel documents as
  giving the same results on Intel and Intel-compatible (AMD) processors.
* **oneDNN** (convolutions, some matmuls) JIT-compiles kernels for the CPU found, with
  blockings chosen from its cache sizes. It has no cross-vendor mode, so the portable
  mode switches it off (``torch.backends.mkldnn.enabled = False``): convolutions then use
  ATen's im2col + GEMM path, which the two settings above make portable.

The portable mode (:data:`PORTABLE`) applies all three; the native mode (:data:`NATIVE`)
applies none. The environment variables must be set **before torch is imported**, which
is why the command line configures the mode first (it starts without torch) and why
:func:`configure` refuses to switch a process whose torch already computes natively.

What the mode does not pin, and why it does not matter on current machines: glibc's
``libm`` (``exp``, ``tanh``, ``sin`` of the generic kernels) selects FMA variants on CPUs
with AVX2 and FMA. Every Intel CPU since Haswell (2013) and every AMD CPU since Zen
(2017) has both (x86-64-v3), so the guarantee is stated for x86-64-v3 and newer;
:func:`isa_level` records the level with every run. Measured on one AMD EPYC (Zen 4):
hiding AVX-512 from glibc leaves the portable bits unchanged, hiding AVX2 or FMA
(a pre-2013 CPU) changes them.

Threads: MKL's and ATen's reductions split work by thread, so the same bits need the
same thread count too (already part of every run's identity).

References
----------
Intel oneMKL Developer Guide, "Obtaining Numerically Reproducible Results" (CNR).
PyTorch, ``aten/src/ATen/native/DispatchStub.cpp`` (``ATEN_CPU_CAPABILITY``).
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache

#: Bit-identical numbers on every x86-64-v3 CPU, Intel or AMD (the default).
PORTABLE = "portable"
#: The fastest kernels the CPU offers; numbers depend on the CPU.
NATIVE = "native"
#: The values of ``--numerics``.
MODES = (PORTABLE, NATIVE)

#: Environment variable that chooses the mode of programs that do not pass one
#: (``ml2bench`` commands, the test suite).
MODE_VARIABLE = "ML2BENCH_NUMERICS"

#: What the portable mode sets before torch is imported.
PORTABLE_ENVIRONMENT = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"}

#: The mode this process was configured with (None: not configured yet).
_configured: str | None = None


def default_mode() -> str:
    """``$ML2BENCH_NUMERICS`` if set (checked), else :data:`PORTABLE`."""
    mode = os.environ.get(MODE_VARIABLE, PORTABLE)
    if mode not in MODES:
        from ml2bench.errors import UserError
        raise UserError(f"{MODE_VARIABLE}={mode!r} is invalid; valid: {', '.join(MODES)}")
    return mode


def current() -> str:
    """The mode this process was configured with, else :func:`default_mode`."""
    return _configured or default_mode()


def configure(mode: str | None = None) -> str:
    """Choose this process's CPU numerics; call before torch is imported.

    Parameters
    ----------
    mode : {"portable", "native"} or None
        None: :func:`default_mode`.

    Returns
    -------
    str
        The mode in force.

    Raises
    ------
    UserError
        If torch was imported already with another mode's settings (its kernels are
        chosen then and cannot change).
    """
    global _configured
    from ml2bench.errors import UserError

    mode = default_mode() if mode is None else mode
    if mode not in MODES:
        raise UserError(f"numerics {mode!r} is invalid; valid: {', '.join(MODES)}")
    if "torch" in sys.modules:
        active = active_mode()
        if active != mode:
            raise UserError(
                f"this process already computes with {active} numerics (torch was imported "
                f"before ml2bench.numerics.configure({mode!r})); call configure first or set "
                f"{MODE_VARIABLE}={mode} before starting Python")
    else:
        for key, value in PORTABLE_ENVIRONMENT.items():
            if mode == PORTABLE:
                os.environ[key] = value
            elif os.environ.get(key) == value:
                del os.environ[key]
        os.environ[MODE_VARIABLE] = mode  # spawned workers and torchrun ranks inherit it
    _configured = mode
    apply_torch_flags(mode)
    return mode


def configure_torch(mode: str | None = None) -> str:
    """:func:`configure`, then import torch and apply the mode's run-time flags: for a
    program that computes with torch itself (a script, the test suite) rather than only
    through the runner. Returns the mode in force."""
    mode = configure(mode)
    import torch  # noqa: F401  (imported now: its kernels follow the environment just set)

    apply_torch_flags(mode)
    return mode


def apply_torch_flags(mode: str) -> None:
    """The run-time half of the mode, once torch is imported: oneDNN off when portable."""
    if "torch" not in sys.modules:
        return
    import torch

    torch.backends.mkldnn.enabled = mode != PORTABLE


def active_mode() -> str:
    """The mode the imported torch computes with: :data:`PORTABLE` if every portable
    setting is in force (generic ATen kernels, ``MKL_CBWR=COMPATIBLE``, oneDNN off or
    about to be switched off by :func:`ensure`), else :data:`NATIVE`."""
    import torch

    generic = torch.backends.cpu.get_cpu_capability() == "DEFAULT"
    cbwr = os.environ.get("MKL_CBWR", "").upper().startswith("COMPATIBLE")
    return PORTABLE if generic and cbwr else NATIVE


def ensure(mode: str) -> None:
    """Check that this process computes with ``mode`` (a run's ``numerics``) and apply
    its run-time flags; a UserError naming the fix otherwise."""
    from ml2bench.errors import UserError

    active = active_mode()
    if active != mode:
        raise UserError(
            f"the run asks for {mode} numerics but this process computes with {active} "
            f"numerics: start it with {MODE_VARIABLE}={mode} (or call "
            f"ml2bench.numerics.configure({mode!r}) before importing torch)")
    apply_torch_flags(mode)


def isa_level() -> str:
    """The CPU's x86-64 micro-architecture level (``x86-64-v2|v3|v4``) from its flags,
    or the machine name elsewhere (``aarch64``)."""
    import platform

    machine = platform.machine()
    if machine not in ("x86_64", "AMD64"):
        return machine
    flags = set(_cpuinfo().get("flags", "").split())
    if {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"} <= flags:
        return "x86-64-v4"
    if {"avx2", "fma", "bmi2", "f16c", "movbe"} <= flags:
        return "x86-64-v3"
    return "x86-64-v2"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else :func:`platform.processor`."""
    import platform

    return _cpuinfo().get("model name") or platform.processor() or "unknown"


@lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of ``/proc/cpuinfo`` (empty where there is none)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def environment_columns(device_type: str) -> dict[str, str]:
    """What decides the numbers of a run on this machine (recorded with every run):
    ``numerics``, ``cpu_model``, ``cpu_isa``, ``cpu_capability``, ``blas``, ``onednn``.

    ``numerics`` is the mode on a CPU and ``native`` on a GPU (the mode pins CPU
    kernels only).
    """
    import torch

    config = torch.__config__.show()
    blas = _config_value(config, "BLAS_INFO") or "unknown"
    mkl = torch.backends.mkl.is_available()
    if mkl:
        blas = f"{blas} {_library_version(config, 'Math Kernel Library Version')}".strip()
        blas += f" (MKL_CBWR={os.environ.get('MKL_CBWR', 'unset')})"
    onednn = "not built"
    if torch.backends.mkldnn.is_available():
        onednn = (f"{_library_version(config, 'MKL-DNN') or 'unknown'} "
                  f"({'on' if torch.backends.mkldnn.enabled else 'off'})")
    mode = active_mode() if device_type == "cpu" else NATIVE
    return {"numerics": mode, "cpu_model": cpu_model(), "cpu_isa": isa_level(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "blas": blas,
            "onednn": onednn}


def _config_value(config: str, key: str) -> str:
    """The value of ``KEY=value`` in torch's build settings."""
    import re

    found = re.search(rf"\b{key}=([^,\s]*)", config)
    return found.group(1) if found else ""


def _library_version(config: str, marker: str) -> str:
    """The ``Version …``/``v…`` word after ``marker`` in torch's build description."""
    for line in config.splitlines():
        if marker in line:
            words = line.split(marker, 1)[1].split()
            return words[0] if words else ""
    return ""
