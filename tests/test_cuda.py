"""The GPU paths, where a CUDA device is present (skipped elsewhere): the attention on the device
against the CPU in float64, bf16 autocast, and real Trainers with the gpu and ddp configurations."""

import pytest
import torch

from musical_inpaint.models import MusicalGenerator
from musical_inpaint.models import ContextualAttention, MultiScaleAttention
from musical_inpaint.train import train
from tests.helpers.attention import random_case
from tests.helpers.configs import tiny_config

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


@pytest.mark.parametrize("trainer", ["gpu", "ddp"])
def test_training_on_the_gpu_configurations(trainer, tmp_path):
    # bf16-mixed on one device; ddp with SyncBatchNorm in the discriminator (one process per GPU).
    value = train(tiny_config(tmp_path, f"trainer={trainer}", "adv_weight=0.3"))
    assert value is not None and value == value  # validation ran and gave a number
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert checkpoint["global_step"] == 4
    assert all(torch.isfinite(t).all() for t in checkpoint["state_dict"].values() if t.is_floating_point())


def test_a_fast_step_on_the_gpu_trains_to_todays_weights_within_bf16_tolerance(tmp_path):
    # model.fast_step (one-pass D, static-shape attention, fused Adam) under bf16-mixed on the
    # device, against today's step from the same seed: two batches, the same updated weights.
    common = ("trainer=gpu", "adv_weight=0.3", "trainer.max_steps=2", "trainer.val_check_interval=2", "model.val_images=0",
              "trainer.num_sanity_val_steps=0", "crop_size=64", "dataset.batch_size=4")
    train(tiny_config(tmp_path / "today", *common))
    train(tiny_config(tmp_path / "fast", *common, "model.fast_step=true"))
    load = lambda run: torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    today, fast = load(tmp_path / "today"), load(tmp_path / "fast")
    for name, value in today.items():
        if value.is_floating_point() and "running" not in name:
            torch.testing.assert_close(fast[name], value, rtol=2e-2, atol=2e-3, msg=name)
