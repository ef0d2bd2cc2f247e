"""model.fast_step: the one-pass discriminator and the static-shape step give today's updates."""

import copy

import pytest
import torch
from torch import nn

from musical_inpaint.losses import HingeLoss, NonSaturatingLoss
from musical_inpaint.models import DenseNetDiscriminator
from musical_inpaint.models.discriminator import SplitBatchNorm2d
from musical_inpaint.train import train
from tests.helpers.configs import tiny_config
from tests.helpers.runs import moves


@pytest.mark.parametrize("momentum", [0.1, None])
def test_split_batch_norm_is_two_batch_norms(momentum):
    torch.manual_seed(0)
    plain = nn.BatchNorm2d(5, momentum=momentum).double()
    with torch.no_grad():
        plain.weight.uniform_(0.5, 1.5), plain.bias.uniform_(-0.5, 0.5)
    split = SplitBatchNorm2d(5, momentum=momentum).double()
    split.load_state_dict(plain.state_dict())
    a = torch.randn(3, 5, 4, 6, dtype=torch.float64, requires_grad=True)
    b = (torch.randn(3, 5, 4, 6, dtype=torch.float64) * 3 + 1).requires_grad_(True)
    expected = torch.cat([plain(a), plain(b)])
    split.groups = 2
    joint = split(torch.cat([a, b]))
    torch.testing.assert_close(joint, expected, rtol=0, atol=1e-12)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(split, name), getattr(plain, name), rtol=0, atol=1e-12)
    weights = torch.randn_like(expected)
    grads = torch.autograd.grad((joint * weights).sum(), [a, b, split.weight, split.bias])
    expected_grads = torch.autograd.grad((expected * weights).sum(), [a, b, plain.weight, plain.bias])
    for ours, theirs in zip(grads, expected_grads):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-10)
    split.eval(), plain.eval()  # evaluation: the running statistics, whatever the grouping
    torch.testing.assert_close(split(a), plain(a))


@pytest.mark.parametrize("loss", [NonSaturatingLoss(), HingeLoss(r1_weight=10.0)])
def test_one_pass_discriminator_loss_equals_two_passes(loss):
    # In float64: a random DenseNet's R1 is about 1e6, whose second-order gradients float32
    # rounds differently along the two graphs (a few % on the first norm's weight).
    torch.manual_seed(0)
    discriminator = DenseNetDiscriminator(weights=None).train().double()
    twin = copy.deepcopy(discriminator)
    real, fake = (torch.rand(2, 3, 64, 64, dtype=torch.float64) * 2 - 1 for _ in range(2))
    ours, our_terms = loss.discriminator_loss(discriminator, real, fake, one_pass=True)
    theirs, their_terms = loss.discriminator_loss(twin, real, fake)
    assert set(our_terms) == set(their_terms)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=0)
    ours.backward(), theirs.backward()
    for (name, a), b in zip(discriminator.named_parameters(), twin.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-8, atol=1e-8 * float(b.grad.abs().max()), msg=name)
    for a, b in zip(discriminator.buffers(), twin.buffers()):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_one_pass_under_bf16_autocast_is_as_close_to_float32_as_two_passes():
    # trainer=gpu trains under bf16-mixed: the convolutions feed the norms bf16, whose statistics
    # are taken in float32 (as cuDNN's batch norm does) into float32 running statistics. bf16
    # rounding grows through 120 layers either way: each path is compared with float32.
    torch.manual_seed(0)
    discriminator = DenseNetDiscriminator(weights=None).train()
    two_pass, reference = copy.deepcopy(discriminator), copy.deepcopy(discriminator)
    real, fake = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    exact = torch.cat([reference(real), reference(fake)])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = torch.cat(discriminator.pair(real, fake))
        theirs = torch.cat([two_pass(real), two_pass(fake)])
    assert ours.dtype == theirs.dtype
    error = lambda logits: float((logits.float() - exact).norm() / exact.norm())
    assert error(ours) < 2 * error(theirs) + 1e-3, (error(ours), error(theirs))
    for ours_buffer, exact_buffer in zip(discriminator.buffers(), reference.buffers()):
        assert ours_buffer.dtype == exact_buffer.dtype
    with pytest.raises(ValueError, match="one shape"):
        discriminator.pair(real, fake[:1])


def test_pair_falls_back_to_two_passes_after_conversion_to_sync_batch_norm():
    torch.manual_seed(0)
    discriminator = DenseNetDiscriminator(weights=None)
    assert sum(isinstance(m, SplitBatchNorm2d) for m in discriminator.modules()) == 121  # every norm of DenseNet121
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(discriminator).eval()  # (SyncBatchNorm trains only under DDP)
    assert not any(isinstance(m, SplitBatchNorm2d) for m in synced.modules())
    real, fake = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    for ours, theirs in zip(synced.pair(real, fake), (synced(real), synced(fake))):
        torch.testing.assert_close(ours, theirs)


def test_a_fast_step_trains_to_the_same_weights(tmp_path, fits):
    # The real Trainer, two batches with a discriminator: one-pass D, static-shape attention and
    # foreach Adam against today's step, from the same seed. In float64 and at 64 x 64, batch 4:
    # at 32 x 32, batch 2 the last dense block's batch norms see 2 values per channel, whose
    # variances round apart and grow through 16 layers until Adam's first, sign-like step turns
    # them into differences of 2 x lr: that discriminator is too ill-conditioned to compare.
    common = (
        "adv_weight=0.3",
        "trainer.max_steps=2",
        "trainer.val_check_interval=2",
        "model.val_images=0",
        "trainer.precision=64-true",
        "trainer.num_sanity_val_steps=0",
        "crop_size=64",
        "dataset.batch_size=4",
    )
    train(tiny_config(tmp_path / "today", *common))
    train(tiny_config(tmp_path / "fast", *common, "model.fast_step=true"))
    load = lambda run: torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    today, fast = load(tmp_path / "today"), load(tmp_path / "fast")
    assert today.keys() == fast.keys() and any(k.startswith("discriminator.") for k in today)
    for name, value in today.items():
        torch.testing.assert_close(fast[name], value, rtol=1e-7, atol=1e-8, msg=name)
    # From one starting point, and most of each network's tensors moved by the two steps (Adam's
    # first steps are about lr = 1e-3 each) far beyond that tolerance.
    start = fits[0].initial
    assert len(fits) == 2 and all(torch.equal(fits[1].initial[name], value) for name, value in start.items())
    for network in ("generator", "discriminator"):
        moved = moves(today, start, network)
        assert moved[len(moved) // 2] > 1e-4 and moved[-1] > 1e-3, (network, moved)


def test_compiled_networks_train_to_the_eager_weights(tmp_path):
    """model.compile: the generator and VGG16 compiled in place (aot_eager: the graphs torch.compile
    captures, run without generated code) give eager's updates, and the checkpoint's keys are
    eager's. (Without the discriminator, whose 121 layers take minutes to trace forward and
    backward here: its forward is one graph below.)"""
    common = ("adv_weight=0", "trainer.max_steps=2", "model.val_images=0", "trainer.precision=64-true")
    common += ("trainer.num_sanity_val_steps=0", "model.fast_step=true")
    train(tiny_config(tmp_path / "eager", *common))
    train(tiny_config(tmp_path / "compiled", *common, "model.compile=aot_eager"))
    load = lambda run: torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    eager, compiled = load(tmp_path / "eager"), load(tmp_path / "compiled")
    assert eager.keys() == compiled.keys()
    for name, value in eager.items():
        torch.testing.assert_close(compiled[name], value, rtol=1e-9, atol=1e-12, msg=name)


def test_the_static_networks_and_the_loss_are_single_graphs():
    import torch._dynamo

    from musical_inpaint.losses import InpaintingLoss
    from musical_inpaint.models import MusicalGenerator
    from musical_inpaint.models.contextual_attention import use_static_shapes

    torch.manual_seed(0)
    image, mask = torch.rand(2, 3, 64, 64) * 2 - 1, torch.zeros(2, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1
    cases = {
        "generator": (use_static_shapes(MusicalGenerator(base_channels=8)), (image, mask)),
        "discriminator pair": (DenseNetDiscriminator(weights=None).pair, (image, image.flip(0))),
        "loss": (InpaintingLoss(vgg_weights=None), (image.clone().requires_grad_(True), image, mask)),
    }
    for name, (function, inputs) in cases.items():
        torch._dynamo.reset()
        explained = torch._dynamo.explain(function)(*inputs)
        assert (explained.graph_count, explained.graph_break_count) == (1, 0), (name, explained.break_reasons)


def test_an_unknown_compile_backend_is_named(tmp_path):
    from musical_inpaint.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^model.compile=fast: must be true, false or a torch.compile backend"):
        train(tiny_config(tmp_path, "model.compile=fast"))
