"""Where the attention copies from: each hole position's heaviest source against the literal
attention, its colour coding, and the command on a real checkpoint and image file."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from musical_inpaint.attention_flow import attention_flow, main
from musical_inpaint.imaging import offset_colours
from musical_inpaint.inpaint import InputError
from musical_inpaint.models import MusicalGenerator
from musical_inpaint.ops.contextual_attention import heaviest_sources
from tests.helpers import write_image
from tests.helpers.attention import random_case
from tests.reference_attention import attention_reference


@pytest.mark.parametrize("patch_size, propagate_size", [(1, 3), (3, 3), (3, 1)])
def test_heaviest_sources_are_the_literal_attentions_argmax(patch_size, propagate_size):
    x, mask = random_case(1, 2, 7, 6, 0.25, seed=patch_size + 10 * propagate_size)
    attention, valid = attention_reference(x[0].numpy(), mask[0, 0].numpy(), patch_size, propagate_size, 10.0)
    expected = np.where(mask[0, 0].flatten().numpy() > 0.5, attention.argmax(1), -1)
    for max_scores in (2**20, 200):  # one block of query rows, and blocks of one row
        sources = heaviest_sources(x, mask, patch_size, propagate_size, 10.0, max_scores)
        np.testing.assert_array_equal(sources[0].flatten().numpy(), expected)


def test_no_valid_key_and_no_hole_give_no_source():
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64)
    mask = torch.zeros(2, 1, 5, 5, dtype=torch.float64)
    mask[0] = 1  # all hole: no key is valid
    assert (heaviest_sources(x, mask, 3) == -1).all()


def test_offsets_are_coloured_as_optical_flow():
    dy = torch.tensor([[[0.0, 0.0, 0.0, -4.0]]])
    dx = torch.tensor([[[0.0, 4.0, 2.0, 0.0]]])
    colours = (offset_colours(dy, dx) + 1) / 2  # 1 x 3 x 1 x 4 in [0, 1]
    torch.testing.assert_close(colours[0, :, 0, 0], torch.ones(3))  # no offset: white
    torch.testing.assert_close(colours[0, :, 0, 1], torch.tensor([1.0, 0.0, 0.0]))  # right, full length: red
    torch.testing.assert_close(colours[0, :, 0, 2], torch.tensor([1.0, 0.5, 0.5]))  # half the length: paler
    assert not torch.allclose(colours[0, :, 0, 3], colours[0, :, 0, 1])  # another direction, another hue


def test_a_generator_without_attention_is_refused():
    image, mask = torch.zeros(1, 3, 32, 32), torch.ones(1, 1, 32, 32)
    with pytest.raises(InputError, match="no multi-scale attention"):
        attention_flow(MusicalGenerator(None, base_channels=8).eval(), image, mask)


def test_the_command_draws_each_branch_of_a_checkpoint(checkpoint, tmp_path, capsys):
    image = write_image(tmp_path / "photo.jpg", 48, 40)
    output = tmp_path / "flow"
    arguments = ["--checkpoint", str(checkpoint), "--image", str(image), "--mask", "center", "--output", str(output)]
    assert main(arguments) == 0
    panel = Image.open(output / "photo_attention.png")
    assert panel.size == (4 * 48, 40)  # masked input | result | the 1x1 branch | the 3x3 branch
    summary = json.loads((output / "photo_attention.json").read_text())
    assert sorted(summary["branches"]) == ["1x1", "3x3"]
    for branch in summary["branches"].values():
        assert 0 < branch["se_weight"] < 1 and branch["hole_positions"] > 0
    assert 0 < summary["se_weight_features"] < 1
    # Nothing is replaced without --overwrite, and the refusal names the file.
    before = (output / "photo_attention.json").read_bytes()
    assert main(arguments) == 2
    assert "photo_attention.png" in capsys.readouterr().err
    assert (output / "photo_attention.json").read_bytes() == before
    assert main([*arguments, "--overwrite"]) == 0


def test_the_command_names_a_mask_without_hole(checkpoint, tmp_path, capsys):
    image = write_image(tmp_path / "photo.png", 32, 32)
    Image.new("L", (32, 32), 0).save(tmp_path / "mask.png")
    arguments = ["--checkpoint", str(checkpoint), "--image", str(image), "--mask", str(tmp_path / "mask.png")]
    assert main([*arguments, "--output", str(tmp_path / "out")]) == 2
    assert "marks no hole pixel" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
