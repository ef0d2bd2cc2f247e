from functools import partial

import pytest
import torch

from musical_inpaint.compat import REMOVED_AT
from musical_inpaint.inference import CheckpointError, load_generator
from musical_inpaint.models import MultiScaleAttention, MusicalGenerator, composite
from musical_inpaint.train import train
from tests.helpers.attention import MeanFill
from tests.helpers.configs import tiny_config

VARIANTS = {
    "multi_scale": MultiScaleAttention,
    "single_scale": partial(MultiScaleAttention, patch_sizes=(3,)),
    "none": None,
}


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


def test_the_network_sees_the_known_pixels_and_never_what_the_hole_held():
    seen = {}
    generator = MusicalGenerator(None, base_channels=4, dilated_blocks=1)
    generator.down[0].register_forward_pre_hook(lambda module, args: seen.update(input=args[0]))
    image, mask = torch.rand(2, 3, 32, 48) * 2 - 1, centre_mask(2, 32, 48)
    generator(image, mask)
    first = seen["input"]
    generator(image + 3 * mask, mask)
    assert torch.equal(seen["input"], first)
    assert torch.equal(first, torch.cat([image * (1 - mask), mask], 1))


@pytest.mark.parametrize("part", ["norm", "upsample"])
def test_a_part_that_is_not_a_factory_is_rejected(part):
    with pytest.raises(ValueError, match=f"{part} must be a factory"):
        MusicalGenerator(**{part: "batch"})


NORM_KINDS = {"instance": torch.nn.InstanceNorm2d, "batch": torch.nn.BatchNorm2d, "group": torch.nn.GroupNorm}
NORMS = {
    "instance": partial(torch.nn.InstanceNorm2d, affine=True),
    "batch": torch.nn.BatchNorm2d,
    "group": partial(torch.nn.GroupNorm, 1),
}  # group: a norm of one's own, injected like the others


@pytest.mark.parametrize("norm", NORM_KINDS)
def test_every_norm_sits_where_the_papers_instance_norms_do(norm):
    def norms(generator):
        return {
            path: type(module)
            for path, module in generator.named_modules()
            if isinstance(module, tuple(NORM_KINDS.values()))
        }

    generator = MusicalGenerator(base_channels=4, dilated_blocks=2, norm=NORMS[norm])
    paper = norms(MusicalGenerator(base_channels=4, dilated_blocks=2))
    # 3 stride-2 encoder levels, 2 per dilated level, 2 dilated decoder levels, 3 upsampling levels (the last ends in tanh)
    assert len(paper) == 3 + 2 * 2 + 2 + 3
    assert norms(generator) == dict.fromkeys(paper, NORM_KINDS[norm])
    out = generator(torch.rand(2, 3, 64, 64) * 2 - 1, centre_mask(2, 64, 64))
    assert out.abs().max() <= 1 and torch.isfinite(out).all()


def test_an_upsampling_of_ones_own_replaces_every_transposed_convolution():
    def resize(in_channels, out_channels):
        return torch.nn.Sequential(
            torch.nn.Upsample(scale_factor=2), torch.nn.Conv2d(in_channels, out_channels, 3, padding=1)
        )

    generator = MusicalGenerator(base_channels=4, dilated_blocks=2, upsample=resize)
    assert not any(isinstance(module, torch.nn.ConvTranspose2d) for module in generator.modules())
    assert sum(isinstance(module, torch.nn.Upsample) for module in generator.modules()) == 4
    image = torch.rand(2, 3, 48, 80) * 2 - 1
    assert generator(image, centre_mask(2, 48, 80)).shape == image.shape


def test_batch_norm_in_eval_mode_treats_each_image_alone():
    torch.manual_seed(0)
    generator = MusicalGenerator(base_channels=4, dilated_blocks=2, norm=torch.nn.BatchNorm2d)
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


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_the_norm_group_trains_and_loads_back_from_its_checkpoint(tmp_path, norm):
    train(tiny_config(tmp_path, f"norm={norm}", "adv_weight=0", "trainer.max_steps=2"))
    generator, config = load_generator(tmp_path / "checkpoints" / "last.ckpt")
    assert {type(m) for m in generator.modules() if isinstance(m, tuple(NORM_KINDS.values()))} == {NORM_KINDS[norm]}
    assert config["model"]["generator"]["norm"]["_target_"] == f"torch.nn.{NORM_KINDS[norm].__name__}"


def old_checkpoint(checkpoint, folder, **options):
    """The checkpoint as an older version wrote it: the generator's parts named by strings."""
    content = torch.load(checkpoint, weights_only=True)
    generator = content["run_config"]["model"]["generator"]
    for part in ("upsample", "norm"):
        generator.pop(part)
    generator.update(options)
    torch.save(content, folder / "old.ckpt")
    return folder / "old.ckpt"


@pytest.mark.parametrize(
    "options", [{}, dict(upsample="transposed", downsamplings=4, norm="instance", hole_fill="zero")]
)
def test_a_checkpoint_from_before_the_parts_were_injected_loads_the_papers_layout(checkpoint, tmp_path, options):
    generator, config = load_generator(old_checkpoint(checkpoint, tmp_path, **options))
    assert sum(isinstance(module, torch.nn.ConvTranspose2d) for module in generator.modules()) == 4
    assert any(isinstance(module, torch.nn.InstanceNorm2d) for module in generator.modules())
    assert "hole_fill" not in config["model"]["generator"]


@pytest.mark.parametrize(
    "option, value", [("upsample", "resize"), ("downsamplings", 3), ("norm", "layer"), ("hole_fill", "harmonic")]
)
def test_a_checkpoint_that_used_a_removed_option_names_it_and_the_commit_that_had_it(
    checkpoint, tmp_path, option, value
):
    with pytest.raises(
        CheckpointError,
        match=rf"model.generator.{option}={value}: this option was removed after commit "
        rf"{REMOVED_AT}",
    ):
        load_generator(old_checkpoint(checkpoint, tmp_path, **{option: value}))


def test_a_new_attention_variant_is_a_class_and_a_yaml_file(tmp_path):
    """No edit to the generator: the variant trains, checkpoints and loads back by its config."""
    (tmp_path / "conf" / "attention").mkdir(parents=True)
    (tmp_path / "conf" / "attention" / "mean_fill.yaml").write_text(
        "# @package model.generator\nattention:\n  _target_: tests.helpers.attention.MeanFill\n  _partial_: true\n  start: 0.25\n"
    )
    run = tmp_path / "run"
    config = tiny_config(
        run,
        "attention=mean_fill",
        "adv_weight=0",
        "trainer.max_steps=2",
        f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
    )
    train(config)
    generator, _ = load_generator(run / "checkpoints" / "last.ckpt")
    assert isinstance(generator.attention, MeanFill) and generator.attention.weight.shape == (1, 8, 1, 1)
    image, mask = torch.rand(1, 3, 32, 32) * 2 - 1, centre_mask(1, 32, 32)
    assert generator(image, mask).shape == image.shape


def test_every_attention_variant_starts_the_rest_of_the_network_alike():
    """An ablation's runs of one seed differ in the attention alone: the layers they share start
    from the same weights whatever the attention (none included)."""
    states = []
    for attention in VARIANTS.values():
        torch.manual_seed(0)
        generator = MusicalGenerator(attention, base_channels=8, dilated_blocks=1)
        states.append({k: v for k, v in generator.state_dict().items() if not k.startswith("attention.")})
    for other in states[1:]:
        assert other.keys() == states[0].keys()
        assert all(torch.equal(other[k], states[0][k]) for k in states[0])
