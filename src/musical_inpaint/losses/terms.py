"""The reconstruction terms of the paper (eq. 4-7) and the authors' hole L1.

Each term is a function `term(context) -> Tensor` of a `LossContext`; InpaintingLoss weights the
terms its configuration names (model.loss.terms in conf/model/musical.yaml). A new term is one
such function and one entry there; a term that reads the VGG16 feature maps is marked
`@uses_vgg`, so that the loss builds VGG16 for it. The adversarial term is
musical_inpaint.losses.adversarial's.

Images are B x 3 x H x W in [-1, 1]; masks B x 1 x H x W with 1 = hole.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from musical_inpaint.imaging import composite
from musical_inpaint.losses.vgg import gram_matrix


def _computed_once(method: Callable) -> property:
    """A property computed on first use and kept: functools.cached_property without its lock, which
    torch.compile cannot trace on Python 3.11 (every term would break the loss's graph)."""
    name = method.__name__

    @functools.wraps(method)
    def get(self):
        if name not in self._computed:
            self._computed[name] = method(self)
        return self._computed[name]

    return property(get)


class LossContext:
    """What the terms of one loss evaluation see: `prediction`, `target`, `mask` and, computed on
    first use and shared by every term, the `composite` and the VGG16 feature maps of the target
    (without gradients), of the prediction and of the composite (these two in one VGG16 pass)."""

    def __init__(self, prediction: Tensor, target: Tensor, mask: Tensor, vgg: nn.Module | None = None) -> None:
        self.prediction, self.target, self.mask = prediction, target, mask
        self._vgg = vgg
        self._computed: dict[str, object] = {}

    @_computed_once
    def composite(self) -> Tensor:
        return composite(self.prediction, self.target, self.mask)

    @property
    def vgg(self) -> nn.Module:
        if self._vgg is None:
            raise RuntimeError(
                "a loss term reads VGG16 features but the loss built no VGG16: mark the term's "
                "function with @musical_inpaint.losses.terms.uses_vgg"
            )
        return self._vgg

    @_computed_once
    def target_maps(self) -> list[Tensor]:
        with torch.no_grad():
            return self.vgg(self.target)

    @_computed_once
    def target_grams(self) -> list[Tensor]:
        return [gram_matrix(m) for m in self.target_maps]

    @_computed_once
    def _prediction_and_composite_maps(self) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
        maps = self.vgg(torch.cat([self.prediction, self.composite]))
        prediction_maps, composite_maps = zip(*(m.chunk(2) for m in maps))
        return prediction_maps, composite_maps

    @property
    def prediction_maps(self) -> tuple[Tensor, ...]:
        return self._prediction_and_composite_maps[0]

    @property
    def composite_maps(self) -> tuple[Tensor, ...]:
        return self._prediction_and_composite_maps[1]


def uses_vgg(term: Callable) -> Callable:
    """Marks a term function that reads the context's VGG16 feature maps."""
    term.uses_vgg = True
    return term


def reads_vgg(term: Callable) -> bool:
    """Whether a term (a function, or a partial of one as Hydra's `_partial_` builds) is marked `@uses_vgg`."""
    while isinstance(term, functools.partial):
        term = term.func
    return getattr(term, "uses_vgg", False)


# ------------------------------------------------------------------------------------ terms
@uses_vgg
def perceptual(context: LossContext) -> Tensor:
    """Paper eq. 4 on the raw prediction and on the composite."""
    return perceptual_loss(context.prediction_maps, context.target_maps) + perceptual_loss(
        context.composite_maps, context.target_maps
    )


@uses_vgg
def style(context: LossContext) -> Tensor:
    """Paper eq. 5-6 on the raw prediction and on the composite."""
    return style_loss(context.prediction_maps, context.target_grams) + style_loss(
        context.composite_maps, context.target_grams
    )


def tv(context: LossContext) -> Tensor:
    """Total variation of the raw prediction."""
    return total_variation_loss(context.prediction)


def l1(context: LossContext) -> Tensor:
    """L1 over the whole image."""
    return l1_loss(context.prediction, context.target)


def hole_l1(context: LossContext) -> Tensor:
    """L1 on the hole, averaged over all pixels: the authors' extra term (not in the paper)."""
    return hole_l1_loss(context.prediction, context.target, context.mask)


# ------------------------------------------------------------------------------ on tensors
def perceptual_loss(predicted: list[Tensor], target: list[Tensor]) -> Tensor:
    """Paper eq. 4: sum over the feature maps of |phi_gt - phi_pred|_1 / (H W C), batch-averaged."""
    return sum(F.l1_loss(p, t) for p, t in zip(predicted, target))


def style_loss(predicted: list[Tensor], target_grams: list[Tensor]) -> Tensor:
    """Paper eq. 5-6: sum over the maps of |G_gt - G_pred|_1 / (C C), G = F F^T / (H W C)."""
    return sum(F.l1_loss(gram_matrix(p), g) for p, g in zip(predicted, target_grams))


def total_variation_loss(image: Tensor) -> Tensor:
    """Anisotropic total variation: mean |vertical difference| + mean |horizontal difference|."""
    return (image[..., 1:, :] - image[..., :-1, :]).abs().mean() + (image[..., 1:] - image[..., :-1]).abs().mean()


def l1_loss(predicted: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error over the whole image."""
    return F.l1_loss(predicted, target)


def hole_l1_loss(predicted: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """mean(|predicted - target| * mask) over all pixels: the authors' extra term (not in the paper)."""
    return ((predicted - target).abs() * mask).mean()
