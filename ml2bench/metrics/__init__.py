"""Work accounting, evaluation and flatness metrics."""
