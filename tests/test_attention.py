import numpy as np
import pytest
import torch

from musical_inpaint.models import ContextualAttention, MultiScaleAttention
from musical_inpaint.ops import contextual_attention as attention_module
from musical_inpaint.ops.contextual_attention import (
    contextual_attention_dense,
    default_max_scores,
    diagonal_spread,
    diagonal_sum,
)
from tests.helpers.attention import random_case
from tests.reference_attention import contextual_attention_reference


def assert_matches_reference(x, mask, attention):
    out = attention(x, mask)
    for b in range(x.shape[0]):
        expected = contextual_attention_reference(
            x[b].numpy(), mask[b, 0].numpy(), attention.patch_size, attention.propagate_size, attention.softmax_scale
        )
        np.testing.assert_allclose(out[b].detach().numpy(), expected, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize(
    "patch_size, propagate_size, height, width, hole_fraction",
    [
        (3, 3, 7, 9, 0.2),
        (1, 3, 6, 5, 0.3),
        (3, 1, 8, 6, 0.2),
        (1, 1, 5, 6, 0.4),
        (5, 3, 9, 8, 0.05),
        (3, 5, 9, 7, 0.15),
    ],
)
@pytest.mark.parametrize("max_scores", [2**26, 200], ids=["one-chunk", "many-chunks"])
def test_matches_slow_reference(patch_size, propagate_size, height, width, hole_fraction, max_scores):
    x, mask = random_case(3, 2, height, width, hole_fraction, seed=patch_size * 100 + height)
    assert_matches_reference(x, mask, ContextualAttention(patch_size, propagate_size, 10.0, max_scores))


def test_matches_reference_for_a_batch_of_different_holes():
    # No hole, all hole, a box, a one-pixel hole at the corner and one at the border, in one batch.
    x, _ = random_case(5, 3, 8, 7, 0.0, seed=1)
    mask = torch.zeros(5, 1, 8, 7, dtype=torch.float64)
    mask[1] = 1
    mask[2, :, 2:5, 3:6] = 1
    mask[3, :, 0, 0] = 1
    mask[4, :, 7, 3] = 1
    attention = ContextualAttention(3, 3, softmax_scale=5.0)
    assert_matches_reference(x, mask, attention)
    out = attention(x, mask)
    assert torch.equal(out[0], x[0]) and torch.equal(out[1], x[1])
    assert not torch.equal(out[3], x[3])  # the corner pixel was filled


@pytest.mark.parametrize("patch_size", [1, 3])
def test_static_shapes_mode_matches_the_reference(patch_size):
    # The export path: every position queried and keyed, the same semantics.
    x, mask = random_case(3, 2, 7, 9, 0.2, seed=21)
    mask[1] = 0
    mask[2] = 1
    assert_matches_reference(x, mask, ContextualAttention(patch_size, 3, static_shapes=True, max_scores=300))


def test_static_shapes_run_the_whole_batch_in_one_chunk_where_it_fits(monkeypatch):
    """Without max_scores the static mode takes one chunk up to STATIC_MAX_SCORES score entries
    (a compiled graph then holds one tile), above the CPU's default budget of 2^22."""
    chunks = []
    attend = attention_module._attend_tile
    monkeypatch.setattr(attention_module, "_attend_tile", lambda *args: chunks.append(1) or attend(*args))
    x, mask = random_case(2, 4, 48, 48, 0.2, seed=3, dtype=torch.float32)
    static = ContextualAttention(3, 3, static_shapes=True)
    with torch.no_grad():
        out = static(x, mask)
    assert 2 * 52**4 > 2**22 and len(chunks) == 1  # (48 + 2 (r + t))^2 queries x as many keys, two samples
    with torch.no_grad():
        torch.testing.assert_close(out, ContextualAttention(3, 3, static_shapes=True, max_scores=2**22)(x, mask))
    assert len(chunks) > 2  # the CPU's default budget would have cut it


def test_chunked_equals_unchunked_in_value_and_gradient():
    x, mask = random_case(2, 4, 12, 10, 0.15, seed=3)
    results = []
    for max_scores in (2**26, 500):
        leaf = x.clone().requires_grad_(True)
        out = ContextualAttention(3, 3, max_scores=max_scores)(leaf, mask)
        (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        results.append((out.detach(), leaf.grad))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])


@pytest.mark.parametrize("patch_size, propagate_size", [(1, 3), (3, 3), (3, 1)])
def test_gradients_match_finite_differences(patch_size, propagate_size):
    x, mask = random_case(2, 2, 5, 6, 0.25, seed=7)
    attention = ContextualAttention(patch_size, propagate_size, softmax_scale=2.0)
    assert torch.autograd.gradcheck(lambda t: attention(t, mask), (x.requires_grad_(True),))


def sparse_holes(batch, height, width):
    """Irregular holes whose bounding box is mostly known: a diagonal stroke, specks far apart,
    a hole on the border, so that tiles are shrunk or skipped and only some rows are computed."""
    mask = torch.zeros(batch, 1, height, width, dtype=torch.float64)
    for i in range(min(height, width) - 4):
        mask[0, :, 2 + i, 1 + i : 3 + i] = 1
    mask[1, :, 1, 2] = mask[1, :, height - 3, width - 2] = mask[1, :, height // 2, 0:3] = 1
    mask[2, :, 0:2, 5:9] = mask[2, :, height - 6 : height - 3, 3] = 1
    return mask


@pytest.mark.parametrize("patch_size, propagate_size", [(1, 3), (3, 3), (3, 1), (5, 3)])
@pytest.mark.parametrize("max_scores", [2**26, 30000, 900], ids=["one-chunk", "tiles", "one-pixel-tiles"])
@pytest.mark.parametrize("workspace", [True, False], ids=["cpu-buffers", "fresh-tensors"])
def test_sparse_holes_match_the_dense_reference_in_value_and_gradient(
    patch_size, propagate_size, max_scores, workspace, monkeypatch
):
    # Only the rows and tiles that reach a hole pixel are computed; the result and its gradient
    # must not show it. Without the workspace (CUDA, tracing) every stage allocates its result.
    if not workspace:
        monkeypatch.setattr(attention_module._Workspace, "__call__", lambda self, name, *shape: None)
    x, _ = random_case(3, 3, 18, 16, 0.0, seed=11)
    mask = sparse_holes(3, 18, 16)
    weight = torch.randn(x.shape, generator=torch.Generator().manual_seed(2), dtype=x.dtype)
    results = []
    for attention in (
        ContextualAttention(patch_size, propagate_size, 10.0, max_scores),
        lambda t, m: contextual_attention_dense(t, m, patch_size, propagate_size, 10.0),
    ):
        leaf = x.clone().requires_grad_(True)
        out = attention(leaf, mask)
        (out * weight).sum().backward()
        results.append((out.detach(), leaf.grad))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-9, atol=1e-10)


def test_negative_softmax_scale_has_the_reference_gradient():
    # The key weights are then negative: their gradient must not be dropped.
    x, mask = random_case(2, 2, 7, 7, 0.2, seed=13)
    weight = torch.randn(x.shape, generator=torch.Generator().manual_seed(3), dtype=x.dtype)
    grads = []
    for attention in (
        ContextualAttention(3, 3, -2.0, max_scores=400),
        lambda t, m: contextual_attention_dense(t, m, 3, 3, -2.0),
    ):
        leaf = x.clone().requires_grad_(True)
        (attention(leaf, mask) * weight).sum().backward()
        grads.append(leaf.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-10)


def test_traced_with_gradients_matches_the_reference():
    # Tracing records plain autograd operations (a custom Function cannot be traced).
    x, _ = random_case(1, 2, 8, 8, 0.0, seed=4)
    mask = sparse_holes(3, 8, 8)[:1]
    traced = torch.jit.trace(
        ContextualAttention(3, 3, max_scores=500), (x.clone().requires_grad_(True), mask), check_trace=False
    )
    results = []
    for attention in (traced, lambda t, m: contextual_attention_dense(t, m, 3, 3, 10.0)):
        leaf = x.clone().requires_grad_(True)
        out = attention(leaf, mask)
        out.square().sum().backward()
        results.append((out.detach(), leaf.grad))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-9, atol=1e-10)


def test_backward_twice_with_retain_graph_frees_the_buffers_each_time(monkeypatch):
    releases = []
    release = attention_module._Workspace.release
    monkeypatch.setattr(attention_module._Workspace, "release", lambda self: releases.append(1) or release(self))
    x, _ = random_case(1, 3, 12, 12, 0.0, seed=8)
    mask = sparse_holes(3, 12, 12)[:1]
    leaf = x.clone().requires_grad_(True)
    out = ContextualAttention(3, 3, max_scores=3000)(leaf, mask).square().sum()
    out.backward(retain_graph=True)
    first = leaf.grad.clone()
    out.backward()
    torch.testing.assert_close(leaf.grad, 2 * first)
    assert len(releases) == 3  # after the forward pass and after each backward pass


def test_known_features_pass_through_unchanged():
    x, mask = random_case(2, 3, 10, 11, 0.2, seed=5, dtype=torch.float32)
    out = ContextualAttention(3)(x, mask)
    known = mask.expand_as(x) == 0
    assert torch.equal(out[known], x[known])


def test_no_hole_returns_input():
    x, _ = random_case(2, 3, 6, 6, 0.0, seed=0, dtype=torch.float32)
    x.requires_grad_(True)
    out = ContextualAttention(3)(x, torch.zeros(2, 1, 6, 6))
    assert torch.equal(out, x)
    out.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))


def test_all_hole_returns_input_with_finite_gradients():
    x, _ = random_case(2, 3, 6, 6, 0.0, seed=0, dtype=torch.float32)
    x.requires_grad_(True)
    out = ContextualAttention(3)(x, torch.ones(2, 1, 6, 6))
    assert torch.equal(out, x)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("patch_size", [1, 3])
def test_gradients_finite_with_zero_features_and_every_hole_kind(patch_size):
    # All-zero known features give zero-norm keys: the epsilon inside the square root keeps it finite.
    x = torch.zeros(4, 2, 8, 8, requires_grad=True)
    mask = torch.zeros(4, 1, 8, 8)
    mask[1] = 1
    mask[2, :, 0, 7] = 1
    mask[3, :, 2:6, 2:6] = 1
    out = ContextualAttention(patch_size)(x, mask)
    out.square().sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()


def test_retrieves_an_exact_copy_from_the_context():
    # A periodic texture: every patch of the hole also appears, exactly, in the known region,
    # and the best cosine match of a query is a patch with its own content.
    generator = torch.Generator().manual_seed(0)
    tile = torch.randn(8, 3, 5, generator=generator)
    x = tile.repeat(1, 6, 5)[None]  # 1 x 8 x 18 x 25
    mask = torch.zeros(1, 1, 18, 25)
    mask[..., 6:12, 9:16] = 1
    for patch_size in (1, 3):
        out = ContextualAttention(patch_size, softmax_scale=100.0)(x, mask)
        torch.testing.assert_close(out, x, atol=1e-4, rtol=0)
        # ... while a blurred average would not: the copy is not a coincidence of smooth data.
        assert not torch.allclose(x[..., 6:12, 9:16], x.mean((2, 3), keepdim=True).expand(1, 8, 6, 7), atol=0.1)


def test_float32_close_to_float64_and_dtype_kept():
    x, mask = random_case(2, 6, 16, 12, 0.2, seed=11)
    attention = ContextualAttention(3)
    expected = attention(x, mask)
    out = attention(x.float(), mask.float())
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), expected, atol=1e-4, rtol=1e-4)


def test_bfloat16_autocast_computes_scores_in_float32():
    x, mask = random_case(2, 6, 16, 16, 0.2, seed=12, dtype=torch.float32)
    reference = ContextualAttention(3)(x, mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = ContextualAttention(3)(x.bfloat16(), mask.bfloat16())
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    torch.testing.assert_close(out.float(), reference, atol=0.1, rtol=0.05)


def test_non_binary_mask_is_thresholded_at_one_half():
    x, mask = random_case(1, 3, 8, 8, 0.2, seed=2)
    soft = mask * 0.9 + (1 - mask) * 0.1
    attention = ContextualAttention(3)
    torch.testing.assert_close(attention(x, soft), attention(x, mask))


@pytest.mark.parametrize(
    "kwargs", [dict(patch_size=2), dict(patch_size=3, propagate_size=0), dict(patch_size=3, max_scores=0)]
)
def test_invalid_arguments_are_rejected(kwargs):
    with pytest.raises(ValueError, match="ContextualAttention"):
        ContextualAttention(**kwargs)


@pytest.mark.parametrize(
    "x_shape, mask_shape", [((2, 3, 8, 8), (2, 3, 8, 8)), ((2, 3, 8, 8), (2, 1, 4, 4)), ((2, 3, 8, 8), (1, 1, 8, 8))]
)
def test_mismatched_mask_is_rejected(x_shape, mask_shape):
    with pytest.raises(ValueError, match="mask"):
        ContextualAttention(3)(torch.zeros(x_shape), torch.ones(mask_shape))


@pytest.mark.parametrize("patch_sizes", [(1, 3), (3,)])
def test_multi_scale_module_follows_equation_3(patch_sizes):
    module = MultiScaleAttention(16, patch_sizes=patch_sizes, se_reduction=4)
    assert [branch.patch_size for branch in module.branches] == list(patch_sizes)
    assert module.fuse.in_channels == 16 * (1 + len(patch_sizes)) and module.fuse.out_channels == 16
    x = torch.randn(2, 16, 12, 10, requires_grad=True)
    mask = torch.zeros(2, 1, 12, 10)
    mask[..., 4:8, 3:7] = 1
    out = module(x, mask)
    assert out.shape == x.shape
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    # Equation 3 by hand: concat[x, branches] -> squeeze-excitation -> 1x1 convolution.
    concat = torch.cat([x] + [branch(x, mask) for branch in module.branches], 1)
    scale = module.se.fc(concat.mean((2, 3)))[:, :, None, None]
    torch.testing.assert_close(out, module.fuse(concat * scale))


def test_dense_reference_matches_the_literal_one():
    # The dense formulation is what the benchmark checks the module against at the paper's size.
    x, mask = random_case(2, 3, 7, 8, 0.25, seed=5)
    mask[1] = 1  # all hole: returned unchanged
    dense = contextual_attention_dense(x, mask, 3, 3, 10.0)
    expected = contextual_attention_reference(x[0].numpy(), mask[0, 0].numpy(), 3, 3, 10.0)
    np.testing.assert_allclose(dense[0].numpy(), expected, rtol=1e-9, atol=1e-10)
    assert torch.equal(dense[1], x[1])


def test_module_matches_dense_reference_on_a_larger_map_in_float32():
    x, mask = random_case(2, 16, 24, 20, 0.0, seed=6, dtype=torch.float32)
    mask[0, :, 6:18, 5:15] = 1
    mask[1, :, 0:9, 11:20] = 1  # a corner hole: queries in the halo lie outside the map
    for patch_size in (1, 3):
        expected = contextual_attention_dense(x, mask, patch_size, 3, 10.0)
        torch.testing.assert_close(ContextualAttention(patch_size)(x, mask), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("halo", [1, 2])
def test_diagonal_sum_is_literal_and_spread_is_its_adjoint(halo):
    generator = torch.Generator().manual_seed(7)
    sizes = [size + 2 * halo for size in (3, 4, 5, 3)]
    grid = torch.randn(2, *sizes, generator=generator, dtype=torch.float64)
    out = diagonal_sum(grid, halo)
    expected = torch.zeros_like(out)
    for qy, qx, ky, kx in np.ndindex(*out.shape[1:]):
        for dy in range(-halo, halo + 1):
            for dx in range(-halo, halo + 1):
                expected[:, qy, qx, ky, kx] += grid[:, qy + halo + dy, qx + halo + dx, ky + halo + dy, kx + halo + dx]
    torch.testing.assert_close(out, expected)
    other = torch.randn(out.shape, generator=generator, dtype=torch.float64)
    torch.testing.assert_close((out * other).sum(), (grid * diagonal_spread(other, halo)).sum())


def test_default_budget_follows_the_device_and_the_map_size():
    # Small chunks on the CPU, larger on a GPU (fewer kernel launches); large maps get larger ones.
    small, large = 20 * 20, 260 * 260  # padded key pixels (large: 1024 x 1024 inputs)
    assert default_max_scores(torch.device("cpu"), small) == 2**22
    assert default_max_scores(torch.device("cuda"), small) == 2**25
    assert default_max_scores(torch.device("cpu"), large) == 512 * large
    assert default_max_scores(torch.device("cuda"), large) == 1024 * large
    x, mask = random_case(2, 3, 9, 8, 0.2, seed=3)
    torch.testing.assert_close(ContextualAttention(3)(x, mask), ContextualAttention(3, max_scores=200)(x, mask))


@pytest.mark.parametrize("patch_size", [1, 3])
def test_the_reference_implementation_ships_with_the_op(patch_size):
    x, mask = random_case(2, 4, 12, 10, 0.2, seed=21, dtype=torch.float32)
    fast, reference = ContextualAttention(patch_size), ContextualAttention(patch_size, impl="reference")
    out = reference(x, mask)
    assert out.dtype == torch.float32 and "impl=reference" in repr(reference)
    torch.testing.assert_close(fast(x, mask), out, rtol=1e-4, atol=1e-5)
    module = MultiScaleAttention(4, se_reduction=2, impl="reference")
    assert all(branch.impl == "reference" for branch in module.branches)
    with pytest.raises(ValueError, match="impl must be one of"):
        ContextualAttention(3, impl="dense")
