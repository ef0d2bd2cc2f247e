"""One battery that every attention variant runs (as diffusers' model-test mixins): shapes,
gradients against finite differences, bf16, no hole, all hole, and inside the generator the
known pixels unchanged. A new variant joins by adding its factory to VARIANTS."""

from functools import partial

import numpy as np
import pytest
import torch

from musical_inpaint.inference import inpaint_uint8
from musical_inpaint.models import ContextualAttention, MultiScaleAttention, MusicalGenerator
from tests.helpers.attention import MeanFill, random_case

VARIANTS = {
    "contextual 1x1": lambda channels: ContextualAttention(1),
    "contextual 3x3": lambda channels: ContextualAttention(3),
    "contextual 3x3 reference": lambda channels: ContextualAttention(3, impl="reference"),
    "multi-scale (paper)": partial(MultiScaleAttention, se_reduction=2),
    "single-scale": partial(MultiScaleAttention, patch_sizes=(3,), se_reduction=2),
    "mean fill (test-only)": MeanFill,
}
CHANNELS = 4


@pytest.fixture(params=sorted(VARIANTS))
def variant(request):
    torch.manual_seed(0)
    return VARIANTS[request.param]


def test_shape_dtype_and_finite(variant):
    x, mask = random_case(2, CHANNELS, 9, 7, 0.3, seed=1, dtype=torch.float32)
    out = variant(CHANNELS)(x, mask)
    assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all()


def test_gradients_match_finite_differences(variant):
    module = variant(CHANNELS).double()
    x, mask = random_case(1, CHANNELS, 6, 5, 0.3, seed=2)
    assert torch.autograd.gradcheck(lambda t: module(t, mask), (x.requires_grad_(True),), eps=1e-6, atol=1e-5)


def test_bf16_autocast_stays_finite(variant):
    module = variant(CHANNELS)
    x, mask = random_case(2, CHANNELS, 8, 8, 0.3, seed=3, dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = module(x, mask)
    assert out.shape == x.shape and torch.isfinite(out.float()).all()


@pytest.mark.parametrize("hole", ["none", "all"])
def test_no_hole_and_all_hole_stay_finite(variant, hole):
    x, _ = random_case(2, CHANNELS, 8, 8, 0.0, seed=4, dtype=torch.float32)
    mask = torch.zeros_like(x[:, :1]) if hole == "none" else torch.ones_like(x[:, :1])
    module = variant(CHANNELS)
    out = module(x, mask)
    assert torch.isfinite(out).all()
    if isinstance(module, ContextualAttention):  # nothing to fill, or nothing to fill from: unchanged
        assert torch.equal(out, x)


def test_inside_the_generator_known_pixels_are_kept_exactly(variant):
    generator = MusicalGenerator(variant, base_channels=2, dilated_blocks=1).eval()
    pixels = np.random.default_rng(5).integers(0, 256, (37, 45, 3), dtype=np.uint8)  # padded to 48 x 48
    hole = np.zeros((37, 45), bool)
    hole[9:25, 12:30] = True
    filled = inpaint_uint8(generator, pixels, hole, torch.device("cpu"))
    assert filled.shape == pixels.shape and np.array_equal(filled[~hole], pixels[~hole])
