import math

import pytest
import torch

from torch import nn

from musical_inpaint.losses import (
    HingeLoss,
    InpaintingLoss,
    NonSaturatingLoss,
    VGG16Features,
    gram_matrix,
    hole_l1_loss,
    l1_loss,
    perceptual_loss,
    style_loss,
    total_variation_loss,
)


def test_total_variation_of_a_ramp():
    image = torch.arange(4.0)[:, None].expand(4, 5)[None, None].repeat(1, 3, 1, 1)  # rows 0, 1, 2, 3
    assert total_variation_loss(image).item() == pytest.approx(1.0)
    assert total_variation_loss(image.transpose(-1, -2)).item() == pytest.approx(1.0)
    assert total_variation_loss(torch.full((1, 3, 4, 4), 0.3)).item() == 0


def test_l1_and_hole_l1():
    prediction, target = torch.full((1, 3, 4, 4), 1.0), torch.full((1, 3, 4, 4), -1.0)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :2] = 1
    assert l1_loss(prediction, target).item() == pytest.approx(2.0)
    assert hole_l1_loss(prediction, target, mask).item() == pytest.approx(2.0 * 4 / 16)


def test_gram_matrix_by_hand():
    features = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)  # C = 2, H = 1, W = 2
    expected = torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 4  # F F^T / (H W C)
    torch.testing.assert_close(gram_matrix(features)[0], expected)


def test_perceptual_and_style_by_hand():
    a = [torch.zeros(1, 2, 1, 2), torch.zeros(1, 1, 2, 2)]
    b = [torch.ones(1, 2, 1, 2), torch.full((1, 1, 2, 2), 2.0)]
    assert perceptual_loss(a, b).item() == pytest.approx(1.0 + 2.0)
    # Gram of all-ones 2 x 1 x 2: every entry 2 / 4; of all-twos 1 x 2 x 2: 16 / 4.
    assert style_loss(a, [gram_matrix(m) for m in b]).item() == pytest.approx(0.5 + 4.0)


def test_adversarial_losses_by_hand_and_stable_at_large_logits():
    bce = NonSaturatingLoss()
    zero = torch.zeros(2, 1, 3, 3)
    assert bce.generator_loss(zero).item() == pytest.approx(math.log(2))
    assert bce.logits_loss(zero, zero).item() == pytest.approx(math.log(2))
    big = torch.full((2, 1, 3, 3), 1e4)
    assert bce.logits_loss(big, -big).item() == pytest.approx(0.0)
    assert bce.generator_loss(-big).item() == pytest.approx(1e4)
    logits = (-big).requires_grad_(True)
    bce.generator_loss(logits).backward()
    assert torch.isfinite(logits.grad).all()
    hinge = HingeLoss()
    assert hinge.logits_loss(zero, zero).item() == pytest.approx(2.0)  # relu(1 - 0) + relu(1 + 0)
    assert hinge.logits_loss(zero + 3, zero - 3).item() == 0 and hinge.generator_loss(zero + 2).item() == -2


class _Quadratic(nn.Module):
    """D(x) = sum of c * x^2 per image: grad_x D = 2 c x, so R1 = E |2 c x|^2 is known exactly."""

    def __init__(self, c: float) -> None:
        super().__init__()
        self.c = nn.Parameter(torch.tensor(c))

    def forward(self, x):
        return (self.c * x.square()).sum((1, 2, 3))[:, None]


def test_r1_penalty_against_its_closed_form_and_it_trains_the_discriminator():
    real, fake = torch.rand(3, 3, 4, 4), torch.rand(3, 3, 4, 4)
    discriminator = _Quadratic(0.5)
    plain, _ = NonSaturatingLoss().discriminator_loss(discriminator, real, fake)
    total, terms = NonSaturatingLoss(r1_weight=10).discriminator_loss(discriminator, real, fake)
    expected = (2 * 0.5 * real).square().sum((1, 2, 3)).mean()
    assert terms["r1"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert total.item() == pytest.approx(plain.item() + 5 * expected.item(), rel=1e-6) and terms["d_loss"] is total
    total.backward()  # through the penalty's own gradient to the discriminator's weight
    assert torch.isfinite(discriminator.c.grad) and discriminator.c.grad != 0


@pytest.mark.parametrize("bad", [-1.0, float("nan"), "0.3"])
def test_adversarial_weights_are_validated(bad):
    with pytest.raises(ValueError, match="weight must be a finite number"):
        NonSaturatingLoss(weight=bad)
    with pytest.raises(ValueError, match="r1_weight must be a finite number"):
        HingeLoss(r1_weight=bad)


@pytest.fixture(scope="module")
def vgg():
    torch.manual_seed(0)
    return VGG16Features(weights=None)


def test_vgg_features_are_frozen_but_differentiable(vgg):
    assert [m.shape[1] for m in vgg(torch.zeros(1, 3, 32, 32))] == [64, 128, 256]
    assert [m.shape[-1] for m in vgg(torch.zeros(1, 3, 32, 32))] == [16, 8, 4]
    assert not any(p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training
    image = torch.rand(1, 3, 32, 32, requires_grad=True)
    sum(m.sum() for m in vgg(image)).backward()
    assert image.grad.abs().sum() > 0


def make_loss(vgg, **weights):
    loss = InpaintingLoss(vgg_weights=None, **weights)
    if loss.vgg is not None:
        loss.vgg = vgg  # the same random VGG for every check
    return loss


def test_perfect_prediction_has_zero_reconstruction_terms(vgg):
    target = torch.rand(2, 3, 32, 32) * 2 - 1
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    losses = make_loss(vgg)(target.clone(), target, mask)
    for name in ("perceptual", "style", "l1"):
        assert losses[name].item() == pytest.approx(0.0, abs=1e-6)
    assert losses["total"].item() == pytest.approx(0.001 * total_variation_loss(target).item(), rel=1e-5)


def test_terms_use_both_raw_output_and_composite(vgg):
    torch.manual_seed(1)
    target = torch.rand(1, 3, 32, 32) * 2 - 1
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    prediction = target + 0.5 * (1 - mask)  # wrong only where known: the composite equals the target
    losses = make_loss(vgg)(prediction, target, mask)
    target_maps, prediction_maps = vgg(target), vgg(prediction)
    assert losses["perceptual"].item() == pytest.approx(perceptual_loss(prediction_maps, target_maps).item(), rel=1e-5)
    grams = [gram_matrix(m) for m in target_maps]
    assert losses["style"].item() == pytest.approx(style_loss(prediction_maps, grams).item(), rel=1e-5)


def test_weighted_total_and_paper_defaults(vgg):
    loss = make_loss(vgg)
    assert loss.weights == dict(style=250, perceptual=0.07, tv=0.001, l1=100, hole_l1=0)
    target, prediction = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    mask = torch.ones(2, 1, 32, 32)
    losses = loss(prediction, target, mask)
    assert set(losses) == {"style", "perceptual", "tv", "l1", "total"}
    expected = sum(loss.weights[name] * value for name, value in losses.items() if name != "total")
    assert losses["total"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_zero_weight_terms_are_never_computed(vgg):
    loss = InpaintingLoss(style=0, perceptual=0, vgg_weights=None)
    assert loss.vgg is None
    losses = loss(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), torch.ones(1, 1, 16, 16))
    assert set(losses) == {"tv", "l1", "total"}


def test_ground_truth_features_are_computed_once(vgg):
    loss = make_loss(vgg)
    calls = []
    handle = vgg.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape[0]))
    try:
        loss(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32), torch.ones(2, 1, 32, 32))
    finally:
        handle.remove()
    assert calls == [2, 4]  # the target once; prediction and composite together


def test_reconstruction_weights_are_validated():
    for bad in (-1.0, float("nan"), "0.3"):
        with pytest.raises(ValueError, match="weight tv"):
            InpaintingLoss(tv=bad, style=0, perceptual=0)
