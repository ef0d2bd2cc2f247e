"""The GPU paths, where a CUDA device is present (skipped elsewhere): the attention on the device
against the CPU in float64, bf16 autocast, real Trainers with the gpu and ddp configurations, and
the fast step against today's."""

import copy
import math

import pytest
import torch
from torch import nn

from musical_inpaint.models import ContextualAttention, DenseNetDiscriminator, MultiScaleAttention, MusicalGenerator
from musical_inpaint.train import train
from tests.helpers.attention import random_case
from tests.helpers.configs import tiny_config
from tests.helpers.runs import moves

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")


@pytest.mark.parametrize("hole", ["random", "centre", "corner"])
@pytest.mark.parametrize("max_scores", [None, 2**23, 300], ids=["cuda-default", "one-chunk", "tiles"])
def test_attention_on_cuda_equals_the_cpu_in_value_and_gradient(hole, max_scores):
    x, mask = random_case(3, 4, 19, 17, 0.15, seed=5)
    if hole != "random":
        mask.zero_()
        rows, cols = (slice(5, 14), slice(4, 12)) if hole == "centre" else (slice(0, 6), slice(11, 17))
        mask[..., rows, cols] = 1
    attention = ContextualAttention(3, 3, 10.0, max_scores)
    results = []
    for device in ("cpu", CUDA):
        leaf = x.to(device).detach().requires_grad_()
        out = attention(leaf, mask.to(device))
        (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype, device=device).view_as(out)).sum().backward()
        results.append((out.detach().cpu(), leaf.grad.cpu()))
    (cpu_out, cpu_grad), (cuda_out, cuda_grad) = results
    torch.testing.assert_close(cuda_out, cpu_out, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(cuda_grad, cpu_grad, rtol=1e-10, atol=1e-10)


def test_multi_scale_attention_under_bf16_autocast_stays_close_to_fp32():
    torch.manual_seed(0)
    module = MultiScaleAttention(32).to(CUDA)
    x = torch.randn(2, 32, 32, 32, device=CUDA)
    mask = torch.zeros(2, 1, 32, 32, device=CUDA)
    mask[..., 8:24, 8:24] = 1
    reference = module(x, mask)
    with torch.autocast("cuda", torch.bfloat16):
        mixed = module(x, mask)
    assert torch.isfinite(mixed).all()
    assert (mixed.float() - reference).norm() / reference.norm() < 2e-2


def test_generator_inference_in_bf16_is_finite_and_close_to_fp32():
    torch.manual_seed(0)
    generator = MusicalGenerator(base_channels=16, dilated_blocks=2).to(CUDA).eval()
    image = torch.rand(2, 3, 128, 128, device=CUDA) * 2 - 1
    mask = torch.zeros(2, 1, 128, 128, device=CUDA)
    mask[..., 32:96, 32:96] = 1
    with torch.no_grad():
        reference = generator(image, mask)
        with torch.autocast("cuda", torch.bfloat16):
            mixed = generator(image, mask)
    assert torch.isfinite(mixed).all()
    assert (mixed.float() - reference).abs().max() < 5e-2


@pytest.mark.parametrize(
    "trainer, extra",
    [("gpu", ()), ("ddp", ()), ("gpu", ("model.fast_step=true",))],
    ids=["gpu", "ddp", "gpu-fast-step"],
)
def test_training_on_the_gpu_configurations(trainer, extra, tmp_path, fits):
    # bf16-mixed on one device; ddp (one process per GPU, each with its own batch statistics);
    # the fast step with CUDA's fused Adam.
    value = train(tiny_config(tmp_path, f"trainer={trainer}", "adv_weight=0.3", *extra))
    assert value is not None and math.isfinite(value)  # validation ran and gave a number
    (fit,) = fits
    assert fit.trainer.strategy.root_device.type == "cuda" and fit.trainer.precision == "bf16-mixed"
    synced = any(isinstance(m, nn.SyncBatchNorm) for m in fit.module.discriminator.modules())
    assert not synced
    assert [bool(o.param_groups[0]["fused"]) for o in fit.trainer.optimizers] == [bool(extra)] * 2
    assert all(fit.moved("discriminator").values()) and any(fit.moved("generator").values())
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert checkpoint["global_step"] == 4
    assert all(torch.isfinite(t).all() for t in checkpoint["state_dict"].values() if t.is_floating_point())


def test_a_fast_step_on_the_gpu_trains_to_todays_weights_in_float64(tmp_path, fits):
    # model.fast_step (one-pass D, static-shape attention, fused Adam) on the device against
    # today's step from the same seed: two batches, the same updated weights. In float64, as on
    # the CPU (tests/test_fast_step.py): Adam's first steps move each weight by about lr whatever
    # the size of its gradient, so a gradient's rounding error can flip a weight's step by 2 x lr.
    # Under bf16 the random DenseNet's first gradient lies about 90 % away from float32's (measured
    # with the CPU's bf16 kernels at this size): weights trained in bf16 cannot be compared; the
    # bf16 path is compared where rounding does not compound (the next test).
    common = (
        "trainer=gpu",
        "trainer.precision=64-true",
        "adv_weight=0.3",
        "trainer.max_steps=2",
        "trainer.val_check_interval=2",
        "model.val_images=0",
        "trainer.num_sanity_val_steps=0",
        "crop_size=64",
        "dataset.batch_size=4",
    )
    train(tiny_config(tmp_path / "today", *common))
    train(tiny_config(tmp_path / "fast", *common, "model.fast_step=true"))
    today, fast = (
        torch.load(tmp_path / run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
        for run in ("today", "fast")
    )
    assert [o.param_groups[0]["fused"] for o in fits[1].trainer.optimizers] == [True, True]
    for name, value in today.items():
        torch.testing.assert_close(fast[name], value, rtol=1e-7, atol=1e-8, msg=name)
    start = fits[0].initial
    assert all(torch.equal(fits[1].initial[name], value) for name, value in start.items())
    for network in ("generator", "discriminator"):  # moved far beyond that tolerance
        moved = moves(today, start, network)
        assert moved[len(moved) // 2] > 1e-4 and moved[-1] > 1e-3, (network, moved)


def test_one_pass_discriminator_under_cuda_bf16_is_as_close_to_float32_as_two_passes(monkeypatch):
    # cuDNN's batch norms under autocast: each path against float32 (cuDNN without TF32), the two-pass
    # error as the yardstick of bf16 rounding through 120 layers; swapped images, far beyond it,
    # show that the comparison can fail.
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    torch.manual_seed(0)
    discriminator = DenseNetDiscriminator(weights=None).train().to(CUDA)
    two_pass, reference = copy.deepcopy(discriminator), copy.deepcopy(discriminator)
    real, fake = (torch.rand(4, 3, 64, 64, device=CUDA) * 2 - 1 for _ in range(2))
    with torch.no_grad():
        exact = torch.cat([reference(real), reference(fake)])
        swapped = torch.cat([copy.deepcopy(two_pass)(fake), copy.deepcopy(two_pass)(real)])
        with torch.autocast("cuda", dtype=torch.bfloat16):
            ours = torch.cat(discriminator.pair(real, fake))
            theirs = torch.cat([two_pass(real), two_pass(fake)])
    error = lambda logits: float((logits.float() - exact).norm() / exact.norm())
    assert error(ours) < 2 * error(theirs) + 1e-3 < error(swapped), (error(ours), error(theirs), error(swapped))
    for ours_buffer, exact_buffer in zip(discriminator.buffers(), reference.buffers()):
        assert ours_buffer.dtype == exact_buffer.dtype
