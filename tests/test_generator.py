from functools import partial

import pytest
import torch

from musical_inpaint.imaging import harmonic_fill
from musical_inpaint.inference import load_generator
from musical_inpaint.models import MusicalGenerator, composite
from musical_inpaint.models import MultiScaleAttention
from musical_inpaint.models.generator import _upsampling
from musical_inpaint.train import train
from tests.helpers.attention import MeanFill
from tests.helpers.configs import tiny_config

VARIANTS = {"multi_scale": MultiScaleAttention, "single_scale": partial(MultiScaleAttention, patch_sizes=(3,)), "none": None}


def centre_mask(batch, height, width):
    mask = torch.zeros(batch, 1, height, width)
    mask[..., height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 1
    return mask


@pytest.mark.parametrize("attention", ["multi_scale", "single_scale", "none"])
@pytest.mark.parametrize("size", [(64, 64), (48, 80), (96, 32)])
def test_output_shape_and_range_for_every_variant(attention, size):
    generator = MusicalGenerator(VARIANTS[attention], base_channels=4, dilated_blocks=2)
    image = torch.rand(2, 3, *size) * 2 - 1
    out = generator(image, centre_mask(2, *size))
    assert out.shape == image.shape
    assert out.abs().max() <= 1 and torch.isfinite(out).all()


@pytest.mark.parametrize("attention, patch_sizes", [("multi_scale", [1, 3]), ("single_scale", [3]), ("none", None)])
def test_attention_runs_on_quarter_resolution_decoder_features(attention, patch_sizes):
    generator = MusicalGenerator(VARIANTS[attention], base_channels=4, dilated_blocks=1)
    if patch_sizes is None:
        assert generator.attention is None
        return
    assert isinstance(generator.attention, MultiScaleAttention)
    assert [b.patch_size for b in generator.attention.branches] == patch_sizes
    seen = {}
    generator.attention.register_forward_hook(lambda module, inputs, output: seen.update(x=inputs[0], mask=inputs[1]))
    mask = centre_mask(1, 64, 96)
    generator(torch.zeros(1, 3, 64, 96), mask)
    assert seen["x"].shape == (1, 8, 16, 24)  # 2 x base channels, 1/4 of the input
    assert torch.equal(seen["mask"], mask[..., ::4, ::4])  # the centre hole, aligned to the cells


def test_paper_network_layout():
    generator = MusicalGenerator()
    convolutions = [generator.down[0]] + [level[1] for level in generator.down[1:4]]
    assert [conv.in_channels for conv in convolutions] == [4, 64, 128, 256]  # image + mask in
    assert [conv.out_channels for conv in convolutions] == [64, 128, 256, 512]
    assert all(conv.stride == (2, 2) for conv in convolutions)
    dilated = generator.down[4:]
    assert len(dilated) == 4
    assert all(block.body[4].dilation == (2, 2) and block.body[4].stride == (1, 1) for block in dilated)
    assert generator.attention.fuse.out_channels == 128  # 128 x 64 x 64 features at 256 input
    decoder_inputs = [level[1].in_channels for level in generator.up]
    assert decoder_inputs == [128, 256, 512, 1024, 1024, 1024, 1024, 512]


@pytest.mark.parametrize("size", [(64, 64), (48, 80)])
def test_resize_upsampling_replaces_every_transposed_convolution(size):
    generator = MusicalGenerator(base_channels=4, dilated_blocks=2, upsample="resize")
    assert not any(isinstance(module, torch.nn.ConvTranspose2d) for module in generator.modules())
    assert sum(isinstance(module, torch.nn.Upsample) for module in generator.modules()) == 4
    image = torch.rand(2, 3, *size) * 2 - 1
    out = generator(image, centre_mask(2, *size))
    assert out.shape == image.shape and out.abs().max() <= 1 and torch.isfinite(out).all()
    # The widths the paper's layout reads are unchanged: only the upsampling layers differ.
    paper = MusicalGenerator(base_channels=4, dilated_blocks=2)
    reads = [[m.in_channels for m in level.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
             for level in (paper.up, generator.up)]
    assert reads[0] == reads[1]


def test_resize_upsampling_has_no_checkerboard():
    """On a constant map a stride-2 transposed convolution gives even and odd pixels the sums of
    different kernel taps (a period-2 pattern); after nearest x2 one 3x3 kernel makes every pixel."""
    torch.manual_seed(0)
    constant = torch.ones(1, 8, 6, 6)
    interior = (..., slice(2, -2), slice(2, -2))  # away from the zero padding
    transposed = torch.nn.Sequential(*_upsampling("transposed", 8, 8))(constant)[interior]
    resized = torch.nn.Sequential(*_upsampling("resize", 8, 8))(constant)[interior]
    assert transposed.shape == resized.shape == (1, 8, 8, 8)
    torch.testing.assert_close(transposed[..., :-2, :-2], transposed[..., 2:, 2:])  # period 2
    assert (transposed[..., 0, 0] - transposed[..., 0, 1]).abs().min() > 1e-4
    torch.testing.assert_close(resized, resized[..., :1, :1].expand_as(resized))  # flat


@pytest.mark.parametrize("size", [(64, 64), (48, 80), (96, 32)])
def test_three_downsamplings_keep_twice_the_innermost_resolution_and_the_attention_at_a_quarter(size):
    generator = MusicalGenerator(base_channels=4, dilated_blocks=2, downsamplings=3)
    strided = [generator.down[0]] + [level[1] for level in generator.down[1:3]]
    assert all(conv.stride == (2, 2) for conv in strided) and [c.out_channels for c in strided] == [4, 8, 16]
    assert len(generator.down) == 5 and len(generator.up) == 5  # 3 strided + 2 dilated levels
    seen = {}
    generator.down[-1].register_forward_hook(lambda module, inputs, output: seen.update(inner=output))
    generator.attention.register_forward_hook(lambda module, inputs, output: seen.update(x=inputs[0]))
    image = torch.rand(2, 3, *size) * 2 - 1
    out = generator(image, centre_mask(2, *size))
    assert seen["inner"].shape == (2, 16, size[0] // 8, size[1] // 8)  # the paper's 4: size / 16
    assert seen["x"].shape == (2, 8, size[0] // 4, size[1] // 4)
    assert out.shape == image.shape and out.abs().max() <= 1 and torch.isfinite(out).all()


@pytest.mark.parametrize("downsamplings", [2, 5, True, "3", 3.0])
def test_an_unsupported_depth_is_rejected(downsamplings):
    with pytest.raises(ValueError, match=f"downsamplings must be 3 or 4, got {downsamplings!r}"):
        MusicalGenerator(downsamplings=downsamplings)


def test_an_unknown_upsampling_is_rejected():
    with pytest.raises(ValueError, match="upsample must be one of transposed, resize, got 'bilinear'"):
        MusicalGenerator(upsample="bilinear")


def test_an_unknown_hole_fill_is_rejected():
    with pytest.raises(ValueError, match="hole_fill must be one of zero, harmonic, got 'mean'"):
        MusicalGenerator(hole_fill="mean")


@pytest.mark.parametrize("hole_fill", ["zero", "harmonic"])
def test_the_network_sees_the_known_pixels_and_its_fill_never_what_the_hole_held(hole_fill):
    seen = {}
    generator = MusicalGenerator(None, base_channels=4, dilated_blocks=1, hole_fill=hole_fill)
    generator.down[0].register_forward_pre_hook(lambda module, args: seen.update(input=args[0]))
    image, mask = torch.rand(2, 3, 32, 48) * 2 - 1, centre_mask(2, 32, 48)
    generator(image, mask)
    first = seen["input"]
    generator(image + 3 * mask, mask)
    assert torch.equal(seen["input"], first)
    assert torch.equal(first[:, :3] * (1 - mask), image * (1 - mask)) and torch.equal(first[:, 3:], mask)
    expected = torch.zeros_like(image) if hole_fill == "zero" else harmonic_fill(image, mask)
    assert torch.allclose(first[:, :3] * mask, expected * mask)


def test_an_unknown_norm_is_rejected():
    with pytest.raises(ValueError, match="norm must be one of instance, batch, layer, got 'group'"):
        MusicalGenerator(norm="group")


NORM_KINDS = {"instance": torch.nn.InstanceNorm2d, "batch": torch.nn.BatchNorm2d, "layer": torch.nn.GroupNorm}


@pytest.mark.parametrize("norm", NORM_KINDS)
def test_every_norm_sits_where_the_papers_instance_norms_do(norm):
    def norms(generator):
        return {path: type(module) for path, module in generator.named_modules() if isinstance(module, tuple(NORM_KINDS.values()))}

    generator = MusicalGenerator(base_channels=4, dilated_blocks=2, norm=norm)
    paper = norms(MusicalGenerator(base_channels=4, dilated_blocks=2))
    # 3 stride-2 encoder levels, 2 per dilated level, 2 dilated decoder levels, 3 upsampling levels (the last ends in tanh)
    assert len(paper) == 3 + 2 * 2 + 2 + 3
    assert norms(generator) == dict.fromkeys(paper, NORM_KINDS[norm])
    out = generator(torch.rand(2, 3, 64, 64) * 2 - 1, centre_mask(2, 64, 64))
    assert out.abs().max() <= 1 and torch.isfinite(out).all()


def test_batch_norm_in_eval_mode_treats_each_image_alone():
    torch.manual_seed(0)
    generator = MusicalGenerator(base_channels=4, dilated_blocks=2, norm="batch")
    images, mask = torch.rand(3, 3, 64, 64) * 2 - 1, centre_mask(3, 64, 64)
    generator(images, mask)  # one training step's forward moves the running statistics
    generator.eval()
    torch.testing.assert_close(generator(images[:1], mask[:1]), generator(images, mask)[:1])


def test_feature_mask_keeps_thin_strokes():
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 5, :] = 1  # a one-pixel line that nearest resizing by 4 would drop
    small = MusicalGenerator.feature_mask(mask, (4, 4))
    assert small[..., 1, :].eq(1).all() and small.sum() == 4


def test_hole_pixels_of_the_input_are_ignored():
    torch.manual_seed(0)
    generator = MusicalGenerator(base_channels=4, dilated_blocks=1).eval()
    image = torch.rand(1, 3, 32, 32) * 2 - 1
    mask = centre_mask(1, 32, 32)
    other = image * (1 - mask) + torch.rand_like(image) * mask
    torch.testing.assert_close(generator(image, mask), generator(other, mask))


def test_composite_keeps_known_pixels_exactly():
    image, prediction = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    mask = centre_mask(2, 16, 16)
    out = composite(prediction, image, mask)
    assert torch.equal(out[mask.expand_as(out) == 0], image[mask.expand_as(out) == 0])
    assert torch.equal(out[mask.expand_as(out) == 1], prediction[mask.expand_as(out) == 1])


def test_gradients_reach_every_parameter():
    generator = MusicalGenerator(base_channels=4, dilated_blocks=2)
    out = generator(torch.rand(2, 3, 32, 48) * 2 - 1, centre_mask(2, 32, 48))
    out.square().mean().backward()
    for name, parameter in generator.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name


@pytest.mark.parametrize(
    "image_shape, mask_shape, message",
    [
        ((1, 3, 40, 64), (1, 1, 40, 64), "multiples of 16"),
        ((1, 3, 16, 16), (1, 1, 16, 16), "at least 32 on one side"),  # InstanceNorm of a 1 x 1 map
        ((1, 4, 64, 64), (1, 1, 64, 64), "image must be"),
        ((1, 3, 64, 64), (1, 1, 32, 32), "mask must be"),
    ],
)
def test_bad_inputs_get_clear_errors(image_shape, mask_shape, message):
    with pytest.raises(ValueError, match=message):
        MusicalGenerator(base_channels=4, dilated_blocks=1)(torch.zeros(image_shape), torch.zeros(mask_shape))


def test_an_attention_that_is_not_a_factory_is_rejected():
    with pytest.raises(ValueError, match="factory channels -> module"):
        MusicalGenerator("multi_scale")


@pytest.mark.parametrize("upsample, downsamplings, norm, hole_fill", [("resize", 4, "batch", "zero"),
                                                                      ("transposed", 3, "layer", "harmonic"),
                                                                      ("resize", 3, "instance", "zero")])
def test_the_generators_layouts_train_and_load_back_from_their_checkpoint(tmp_path, upsample, downsamplings, norm, hole_fill):
    train(tiny_config(tmp_path, f"model.generator.upsample={upsample}", f"model.generator.downsamplings={downsamplings}",
                      f"model.generator.norm={norm}", f"model.generator.hole_fill={hole_fill}", "adv_weight=0",
                      "trainer.max_steps=2"))
    generator, _ = load_generator(tmp_path / "checkpoints" / "last.ckpt")
    assert generator.hole_fill == hole_fill
    kind = torch.nn.Upsample if upsample == "resize" else torch.nn.ConvTranspose2d
    assert sum(isinstance(module, kind) for module in generator.modules()) == downsamplings
    assert {type(m) for m in generator.modules() if isinstance(m, tuple(NORM_KINDS.values()))} == {NORM_KINDS[norm]}


def test_a_checkpoint_from_before_the_upsample_depth_norm_and_fill_options_loads_the_papers_layout(checkpoint, tmp_path):
    content = torch.load(checkpoint, weights_only=True)
    for option in ("upsample", "downsamplings", "norm", "hole_fill"):
        content["run_config"]["model"]["generator"].pop(option, None)
    torch.save(content, tmp_path / "old.ckpt")
    generator, _ = load_generator(tmp_path / "old.ckpt")
    assert sum(isinstance(module, torch.nn.ConvTranspose2d) for module in generator.modules()) == 4
    assert any(isinstance(module, torch.nn.InstanceNorm2d) for module in generator.modules())
    assert generator.hole_fill == "zero"


def test_a_new_attention_variant_is_a_class_and_a_yaml_file(tmp_path):
    """No edit to the generator: the variant trains, checkpoints and loads back by its config."""
    (tmp_path / "conf" / "attention").mkdir(parents=True)
    (tmp_path / "conf" / "attention" / "mean_fill.yaml").write_text(
        "# @package model.generator\nattention:\n  _target_: tests.helpers.attention.MeanFill\n  _partial_: true\n  start: 0.25\n")
    run = tmp_path / "run"
    config = tiny_config(run, "attention=mean_fill", "adv_weight=0", "trainer.max_steps=2",
                         f"hydra.searchpath=[file://{tmp_path / 'conf'}]")
    train(config)
    generator, _ = load_generator(run / "checkpoints" / "last.ckpt")
    assert isinstance(generator.attention, MeanFill) and generator.attention.weight.shape == (1, 8, 1, 1)
    image, mask = torch.rand(1, 3, 32, 32) * 2 - 1, centre_mask(1, 32, 32)
    assert generator(image, mask).shape == image.shape
