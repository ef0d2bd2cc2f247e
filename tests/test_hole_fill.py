"""imaging.harmonic_fill against a slow, literal solve of its definition: every hole pixel the
mean of its neighbours inside the image, the known pixels fixed."""

import pytest
import torch

from musical_inpaint import imaging
from musical_inpaint.imaging import harmonic_fill


def literal_harmonic_fill(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """One sample and channel at a time, as a dense float64 linear system over the hole's pixels."""
    out = image.double().clone()
    height, width = image.shape[-2:]
    for b in range(image.shape[0]):
        holes = [(y, x) for y in range(height) for x in range(width) if mask[b, 0, y, x] > 0.5]
        index = {p: i for i, p in enumerate(holes)}
        for c in range(image.shape[1]):
            if len(holes) == height * width:
                out[b, c] = 0
                continue
            if not holes:
                continue
            system = torch.zeros(len(holes), len(holes), dtype=torch.float64)
            rhs = torch.zeros(len(holes), dtype=torch.float64)
            for (y, x), i in index.items():
                for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                    if 0 <= ny < height and 0 <= nx < width:
                        system[i, i] += 1
                        if (ny, nx) in index:
                            system[i, index[ny, nx]] -= 1
                        else:
                            rhs[i] += float(image[b, c, ny, nx])
            solution = torch.linalg.solve(system, rhs)
            for (y, x), i in index.items():
                out[b, c, y, x] = solution[i]
    return out


def random_mask(batch, height, width, fraction, seed):
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, 1, height, width, generator=generator) < fraction).float()


@pytest.mark.parametrize("height, width, fraction", [(16, 16, 0.3), (13, 7, 0.6), (5, 9, 0.9), (2, 3, 0.5)])
def test_the_fill_solves_laplaces_equation_with_the_known_pixels_fixed(height, width, fraction):
    image = torch.rand(3, 3, height, width, generator=torch.Generator().manual_seed(1)) * 2 - 1
    mask = random_mask(3, height, width, fraction, seed=height * width)
    mask[0, 0, 0, :] = 1  # a hole along the border
    filled = harmonic_fill(image, mask)
    assert torch.equal(filled * (1 - mask), image * (1 - mask))
    assert torch.allclose(filled.double(), literal_harmonic_fill(image, mask), atol=1e-5)


@pytest.mark.parametrize("batch", [1, 3])  # one image: conjugate gradients; several sharing the hole: the operator
def test_the_centre_hole_of_a_photo_sized_image_is_solved_by_either_path(batch):
    image = torch.rand(batch, 3, 64, 64, generator=torch.Generator().manual_seed(2)) * 2 - 1
    mask = torch.zeros(batch, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1
    imaging._solution_operator.cache_clear()
    filled = harmonic_fill(image, mask)
    assert imaging._solution_operator.cache_info().misses == (batch > 1)
    assert torch.allclose(filled[:1].double(), literal_harmonic_fill(image[:1], mask[:1]), atol=1e-5)


@pytest.mark.parametrize("batch", [1, 2])
def test_a_linear_ramp_is_continued_exactly_and_the_hole_values_are_never_read(batch):
    ramp = torch.linspace(-1, 1, 24).view(1, 1, 1, 24).expand(batch, 3, 20, 24)
    mask = torch.zeros(batch, 1, 20, 24)
    mask[..., 4:15, 5:19] = 1
    spoiled = torch.where(mask > 0, float("nan"), ramp)  # what the hole holds must not matter
    assert torch.allclose(harmonic_fill(spoiled, mask), ramp, atol=1e-5)


def test_no_hole_all_hole_and_one_pixel():
    image = torch.rand(2, 3, 8, 8) * 2 - 1
    assert torch.equal(harmonic_fill(image, torch.zeros(2, 1, 8, 8)), image)
    assert torch.equal(harmonic_fill(image, torch.ones(2, 1, 8, 8)), torch.zeros_like(image))
    one = torch.rand(1, 3, 1, 1)
    assert torch.equal(harmonic_fill(one, torch.zeros(1, 1, 1, 1)), one)
    assert torch.equal(harmonic_fill(one, torch.ones(1, 1, 1, 1)), torch.zeros_like(one))


def test_samples_are_filled_independently_and_all_hole_ones_stay_finite():
    image = torch.rand(4, 3, 16, 16) * 2 - 1
    mask = random_mask(4, 16, 16, 0.5, seed=3)
    mask[1], mask[2] = 1, 0  # all hole, no hole
    together = harmonic_fill(image, mask)
    alone = torch.cat([harmonic_fill(image[i : i + 1], mask[i : i + 1]) for i in range(4)])
    assert torch.isfinite(together).all() and torch.allclose(together, alone, atol=1e-6)
    assert torch.equal(together[1], torch.zeros_like(image[1])) and torch.equal(together[2], image[2])


@pytest.mark.parametrize("batch", [1, 2])
def test_under_bfloat16_autocast_it_solves_in_float32_and_keeps_the_input_dtype(batch):
    image = torch.rand(batch, 3, 16, 16) * 2 - 1
    mask = random_mask(1, 16, 16, 0.4, seed=4).expand(batch, 1, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        filled = harmonic_fill(image, mask)
    assert filled.dtype == torch.float32 and torch.allclose(filled, harmonic_fill(image, mask))
    halved = harmonic_fill(image.bfloat16(), mask)
    assert halved.dtype == torch.bfloat16 and torch.allclose(halved.float(), filled, atol=2e-2)


def test_an_operator_first_built_without_autograd_serves_a_later_call_that_needs_it():
    image, mask = torch.rand(2, 3, 16, 16) * 2 - 1, torch.zeros(2, 1, 16, 16)
    mask[..., 5:11, 4:9] = 1
    imaging._solution_operator.cache_clear()
    with torch.inference_mode():
        harmonic_fill(image, mask)  # as in validation, where the operator is first built
    image.requires_grad_(True)
    harmonic_fill(image, mask).sum().backward()
    assert image.grad is not None and torch.isfinite(image.grad).all()


@pytest.mark.parametrize("height, width", [(64, 64), (20, 36)])
def test_a_shared_hole_uses_its_operator_and_agrees_with_conjugate_gradients(height, width):
    image = torch.rand(4, 3, height, width, generator=torch.Generator().manual_seed(5)) * 2 - 1
    mask = random_mask(1, height, width, 0.3, seed=6).expand(4, 1, height, width)
    shared = harmonic_fill(image, mask)
    mask_variant = mask.clone()
    mask_variant[3, 0, 0, 0] = 1 - mask_variant[3, 0, 0, 0]  # one differing sample: conjugate gradients
    separate = harmonic_fill(image, mask_variant)
    assert torch.allclose(shared[:3], separate[:3], atol=1e-5)
    assert torch.allclose(shared[:1].double(), literal_harmonic_fill(image[:1], mask[:1]), atol=1e-5)
