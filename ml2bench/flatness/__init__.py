"""Flatness and energy-landscape metrics of a minimum (design/metrics.md, M1–M9).

Generic over a model and a loss: ``model`` is any ``nn.Module``; ``loss_fn(model,
batch)`` returns the mean-reduced data loss of a batch (no regularisation);
``batches`` is the frozen evaluation subset ``D_H``, already split (batch ``b`` is
weighted by its size ``n_b/N``). Vectors are lists of tensors shaped like the
trainable parameters. Every metric evaluates in ``eval()`` mode and leaves
parameters, buffers, training flags and the global RNG state exactly as it found them.
"""

from ml2bench.flatness.blocks import (
    BlockCurvature,
    RestrictedOperator,
    block_curvature,
    block_curvatures,
)
from ml2bench.flatness.dynamics import (
    NoiseScale,
    eos_threshold,
    gradient_noise_scale,
    noise_scale_from_norms,
)
from ml2bench.flatness.evaluation import BatchedLoss
from ml2bench.flatness.hvp import HessianOperator, as_linear_operator, dense_matrix
from ml2bench.flatness.landscape import (
    Interpolation,
    Slice,
    filter_normalized_direction,
    interpolate,
    random_slices_1d,
    recompute_batch_norm,
    slice_1d,
    slice_2d,
)
from ml2bench.flatness.lanczos import (
    LanczosResult,
    eigsh_extreme,
    hess_max,
    hess_min,
    lanczos_extreme,
)
from ml2bench.flatness.sharpness import (
    SharpnessEstimate,
    keskar_eps,
    sharp_avg,
    sharp_worst,
)
from ml2bench.flatness.slq import SpectralDensity, spectral_density
from ml2bench.flatness.state import evaluation_mode, full_precision, preserved_state
from ml2bench.flatness.trace import TraceEstimate, hutchinson_trace, hutchpp_trace

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
