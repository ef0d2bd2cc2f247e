import math

import pytest
import torch
from torch import nn

from musical_inpaint.errors import ConfigError, OptionError
from musical_inpaint.losses import (
    HingeLoss,
    InpaintingLoss,
    NonSaturatingLoss,
    VGG16Features,
    gram_matrix,
    hole_l1_loss,
    l1_loss,
    paper_terms,
    perceptual_loss,
    style_loss,
    total_variation_loss,
    uses_vgg,
)
from tests.plugins import losses as plugins


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


@pytest.mark.parametrize("bad", [-1.0, float("nan"), "0.3", True])
def test_adversarial_weights_are_validated_naming_the_option(bad):
    # The constructor names the key of the configuration; the entry points name what the user
    # typed (adv_weight, interpolated into model.adversarial.weight: test_training.py).
    with pytest.raises(
        OptionError, match=r"^model.adversarial.weight=.*: must be a finite number >= 0 \(0 turns the term off\)$"
    ):
        NonSaturatingLoss(weight=bad)
    with pytest.raises(
        OptionError, match=r"^model.adversarial.r1_weight=.*: must be a finite number >= 0 \(0 turns the"
    ):
        HingeLoss(r1_weight=bad)


class _CountingDiscriminator(_Quadratic):
    """A discriminator that counts the images it judged, in one pass (`pair`) or one at a time."""

    def __init__(self) -> None:
        super().__init__(0.5)
        self.images = 0

    def forward(self, x):
        self.images += len(x)
        return super().forward(x)

    def pair(self, real, fake):
        return tuple(self(torch.cat([real, fake])).chunk(2))


@pytest.mark.parametrize("one_pass", [False, True])
def test_the_adversarial_step_runs_the_discriminator_through_one_method(one_pass, monkeypatch):
    real, fake = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4, requires_grad=True)
    loss, discriminator = NonSaturatingLoss(weight=0.3, r1_weight=1.0), _CountingDiscriminator()
    judged = []
    discriminate = loss.discriminate
    monkeypatch.setattr(
        loss,
        "discriminate",
        lambda d, *images, **options: judged.append(len(images)) or discriminate(d, *images, **options),
    )
    loss.discriminator_loss(discriminator, real, fake, one_pass=one_pass)
    term = loss.generator_term(discriminator, fake)
    assert judged == [2, 1] and discriminator.images == 6  # both updates' images, all through discriminate
    # the generator's term is the objective on the logits of its images, with a gradient to them
    assert term.item() == pytest.approx(loss.generator_loss(discriminator(fake)).item())
    term.backward()
    assert fake.grad.abs().sum() > 0


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
    loss = InpaintingLoss(paper_terms(**weights), vgg_weights=None)
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


def test_perceptual_and_style_compare_both_the_raw_output_and_the_composite(vgg):
    torch.manual_seed(1)
    target = torch.rand(1, 3, 32, 32) * 2 - 1
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    wrong = torch.rand(1, 3, 32, 32)
    loss = make_loss(vgg)
    target_maps = vgg(target)
    grams = [gram_matrix(m) for m in target_maps]
    halves = lambda image: (perceptual_loss(vgg(image), target_maps).item(), style_loss(vgg(image), grams).item())
    # Wrong only where known: the composite is the target, so only the raw output's half counts.
    prediction = target + wrong * (1 - mask)
    losses = loss(prediction, target, mask)
    (perceptual, style), composite_halves = halves(prediction), halves(target)
    assert composite_halves[0] == 0 and composite_halves[1] == 0 and perceptual > 0 and style > 0
    assert losses["perceptual"].item() == pytest.approx(perceptual, rel=1e-5)
    assert losses["style"].item() == pytest.approx(style, rel=1e-5)
    # Wrong everywhere: the raw output's half plus the composite's, each a sizeable part.
    prediction = target + wrong
    composite = target + wrong * mask
    losses = loss(prediction, target, mask)
    (raw_perceptual, raw_style), (composite_perceptual, composite_style) = halves(prediction), halves(composite)
    assert composite_perceptual > 0.1 * raw_perceptual and composite_style > 0.01 * raw_style
    assert losses["perceptual"].item() == pytest.approx(raw_perceptual + composite_perceptual, rel=1e-5)
    assert losses["style"].item() == pytest.approx(raw_style + composite_style, rel=1e-5)


def test_weighted_total_and_paper_defaults(vgg):
    loss = make_loss(vgg)
    assert loss.weights == dict(style=250, perceptual=0.07, tv=0.001, l1=100, hole_l1=0)
    assert InpaintingLoss(vgg_weights=None).weights == loss.weights  # the paper's terms without a configuration
    target, prediction = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    mask = torch.ones(2, 1, 32, 32)
    losses = loss(prediction, target, mask)
    assert list(losses) == ["perceptual", "style", "tv", "l1", "total"]
    expected = sum(loss.weights[name] * value for name, value in losses.items() if name != "total")
    assert losses["total"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_extra_terms_are_computed_after_the_configured_ones_and_summed_with_them():
    calls = []
    recorded = lambda name, value: lambda context: calls.append(name) or torch.tensor(value)
    loss = InpaintingLoss(
        {"a": {"weight": 2.0, "term": recorded("a", 1.0)}, "b": {"weight": 0.5, "term": recorded("b", 4.0)}},
        vgg_weights=None,
    )
    image = torch.zeros(1, 3, 4, 4)
    losses = loss(image, image, image[:, :1], {"adversarial": (0.25, recorded("adversarial", 8.0))})
    assert calls == ["a", "b", "adversarial"]
    assert losses["total"].item() == 2 * 1 + 0.5 * 4 + 0.25 * 8 and losses["adversarial"].item() == 8
    for name in ("a", "total"):
        with pytest.raises(ValueError, match=f"extra term '{name}' has the name of another"):
            loss(image, image, image[:, :1], {name: (1.0, recorded(name, 0.0))})


def test_zero_weight_terms_are_never_computed(vgg):
    loss = InpaintingLoss(paper_terms(style=0, perceptual=0), vgg_weights=None)
    assert loss.vgg is None  # without style and perceptual, VGG16 is not even built
    losses = loss(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), torch.ones(1, 1, 16, 16))
    assert set(losses) == {"tv", "l1", "total"}

    def never(context):
        raise AssertionError("a term of weight 0 was computed")

    assert InpaintingLoss({"never": {"weight": 0, "term": uses_vgg(never)}}, vgg_weights=None).vgg is None


def test_ground_truth_features_are_computed_once(vgg):
    @uses_vgg
    def deep_l1(context):  # a third term on the VGG16 maps shares their passes
        return sum((p - t).abs().mean() for p, t in zip(context.composite_maps, context.target_maps))

    loss = InpaintingLoss({**paper_terms(), "deep_l1": {"weight": 1.0, "term": deep_l1}}, vgg_weights=None)
    loss.vgg = vgg
    calls = []
    handle = vgg.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape[0]))
    try:
        losses = loss(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32), torch.ones(2, 1, 32, 32))
    finally:
        handle.remove()
    assert sorted(calls) == [2, 4] and losses["deep_l1"] > 0  # the target once; prediction and composite together


def test_a_term_reading_vgg_features_unmarked_is_named_clearly():
    loss = InpaintingLoss(
        {"deep": {"weight": 1.0, "term": lambda context: context.target_maps[0].mean()}}, vgg_weights=None
    )
    assert loss.vgg is None
    with pytest.raises(RuntimeError, match="reads VGG16 features .* mark the term's function with @musical_inpaint"):
        loss(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), torch.ones(1, 1, 16, 16))


def test_a_term_from_outside_the_package_plugs_in_with_its_options(vgg):
    from functools import partial

    terms = {
        **paper_terms(style=0, perceptual=0),
        "sharpness": {"weight": 2.0, "term": partial(plugins.sharpness, scale=3.0)},
    }
    prediction, target = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    losses = InpaintingLoss(terms, vgg_weights=None)(prediction, target, torch.ones(1, 1, 16, 16))
    dy = (prediction.diff(dim=-2) - target.diff(dim=-2)).abs().mean()
    dx = (prediction.diff(dim=-1) - target.diff(dim=-1)).abs().mean()
    assert losses["sharpness"].item() == pytest.approx(3 * (dy + dx).item())
    expected = 0.001 * losses["tv"] + 100 * losses["l1"] + 2 * losses["sharpness"]
    assert losses["total"].item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), "0.3", False])
def test_reconstruction_weights_are_validated_naming_the_option(bad):
    with pytest.raises(
        OptionError, match=r"^model.loss.terms.tv.weight=.*: must be a finite number >= 0 \(0 turns the term off\)$"
    ):
        InpaintingLoss(paper_terms(tv=bad, style=0, perceptual=0), vgg_weights=None)
    with pytest.raises(OptionError, match=r"^model.loss.terms.sharpness.weight=.*: must be a finite number >= 0"):
        InpaintingLoss({"sharpness": {"weight": bad, "term": plugins.sharpness}}, vgg_weights=None)


@pytest.mark.parametrize(
    "entry",
    [{"weight": 1.0}, {"weight": 1.0, "term": "l1"}, 3.0, {"weight": 1.0, "term": plugins.sharpness, "scale": 2}],
)
def test_malformed_terms_are_named(entry):
    with pytest.raises(ConfigError, match=r"^model.loss.terms.sharp=.*: a term is \{weight: W, term: \{_target_"):
        InpaintingLoss({"sharp": entry}, vgg_weights=None)
    with pytest.raises(ConfigError, match=r"^model.loss.terms.total=.*named anything but total"):
        InpaintingLoss({"total": {"weight": 1.0, "term": plugins.sharpness}}, vgg_weights=None)
