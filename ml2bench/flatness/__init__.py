"""Flatness and energy-landscape metrics of a minimum (design/metrics.md, M1–M9).

Generic over a model and a loss: ``model`` is any ``nn.Module``; ``loss_fn(model,
batch)`` returns the mean-reduced data loss of a batch (no regularisation);
``batches`` is the frozen evaluation subset ``D_H``, already split (batch ``b`` is
weighted by its size ``n_b/N``). Vectors are lists of tensors shaped like the
trainable parameters. Every metric evaluates in ``eval()`` mode and leaves
parameters, buffers, training flags and the global RNG state exactly as it found them.

The names are imported on first use (PEP 562): importing a submodule such as
:mod:`ml2bench.flatness.run_metrics` (the runner and the command line do) imports
neither scipy nor the other metrics.
"""

import importlib

__all__ = [
    "BatchedLoss",
    "BlockCurvature",
    "HessianOperator",
    "Interpolation",
    "LanczosResult",
    "NoiseScale",
    "RestrictedOperator",
    "SharpnessEstimate",
    "Slice",
    "SpectralDensity",
    "TraceEstimate",
    "as_linear_operator",
    "block_curvature",
    "block_curvatures",
    "dense_matrix",
    "eigsh_extreme",
    "eos_threshold",
    "evaluation_mode",
    "filter_normalized_direction",
    "full_precision",
    "gradient_noise_scale",
    "hess_max",
    "hess_min",
    "hutchinson_trace",
    "hutchpp_trace",
    "interpolate",
    "keskar_eps",
    "lanczos_extreme",
    "noise_scale_from_norms",
    "preserved_state",
    "random_slices_1d",
    "recompute_batch_norm",
    "sharp_avg",
    "sharp_worst",
    "slice_1d",
    "slice_2d",
    "spectral_density",
]

#: The submodule of each public name.
_SUBMODULES = {
    "blocks": ("BlockCurvature", "RestrictedOperator", "block_curvature", "block_curvatures"),
    "dynamics": ("NoiseScale", "eos_threshold", "gradient_noise_scale", "noise_scale_from_norms"),
    "evaluation": ("BatchedLoss",),
    "hvp": ("HessianOperator", "as_linear_operator", "dense_matrix"),
    "landscape": ("Interpolation", "Slice", "filter_normalized_direction", "interpolate",
        "random_slices_1d", "recompute_batch_norm", "slice_1d", "slice_2d"),
    "lanczos": ("LanczosResult", "eigsh_extreme", "hess_max", "hess_min", "lanczos_extreme"),
    "sharpness": ("SharpnessEstimate", "keskar_eps", "sharp_avg", "sharp_worst"),
    "slq": ("SpectralDensity", "spectral_density"),
    "state": ("evaluation_mode", "full_precision", "preserved_state"),
    "trace": ("TraceEstimate", "hutchinson_trace", "hutchpp_trace"),
}
_HOMES = {name: module for module, names in _SUBMODULES.items() for name in names}


def __getattr__(name):
    """Import the public names lazily (PEP 562)."""
    if name in _HOMES:
        value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
