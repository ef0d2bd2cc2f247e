"""A loss term defined outside the package, plugged in by configuration alone (test_training.py)."""

from torch import Tensor


def sharpness(context, scale: float = 1.0) -> Tensor:
    """L1 between the horizontal and vertical differences of prediction and target."""
    prediction, target = context.prediction, context.target
    dy = (prediction.diff(dim=-2) - target.diff(dim=-2)).abs().mean()
    dx = (prediction.diff(dim=-1) - target.diff(dim=-1)).abs().mean()
    return scale * (dy + dx)
