"""The generator's objective, paper eq. 7: a weighted sum of named terms, configured as
model.loss.terms (conf/model/musical.yaml); the adversarial term joins it from
musical_inpaint.losses.adversarial."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from torch import Tensor, nn

from musical_inpaint.backbones import WeightsSource
from musical_inpaint.errors import ConfigError
from musical_inpaint.losses import terms as loss_terms
from musical_inpaint.losses.terms import LossContext, reads_vgg
from musical_inpaint.losses.vgg import VGG16Features
from musical_inpaint.losses.weights import check_weight

# The paper's weights (and the authors' hole L1, off), in the order the total sums the terms.
PAPER_WEIGHTS = {"perceptual": 0.07, "style": 250.0, "tv": 0.001, "l1": 100.0, "hole_l1": 0.0}


# The keys of conf/train.yaml that set these weights: a bad weight is reported as typed there.
def paper_terms(**weights: float) -> dict[str, dict]:
    """The terms of PAPER_WEIGHTS as InpaintingLoss takes them, with the weights given instead."""
    unknown = set(weights) - set(PAPER_WEIGHTS)
    if unknown:
        raise TypeError(f"paper_terms: no term named {', '.join(sorted(unknown))}")
    return {
        name: {"weight": weights.get(name, weight), "term": getattr(loss_terms, name)}
        for name, weight in PAPER_WEIGHTS.items()
    }


class InpaintingLoss(nn.Module):
    """L = sum of weight * term over the named terms (paper: style, perceptual, TV and L1).

    Args:
        terms: name -> {"weight": w, "term": term(context) -> Tensor} (musical_inpaint.losses.terms);
            None: the paper's (`paper_terms()`). A weight must be a finite number >= 0; a term of
            weight 0 is never computed.
        vgg_weights: VGG16's weights (musical_inpaint.backbones), built only when a term of
            positive weight reads its feature maps (`@uses_vgg`: style and perceptual).

    The terms share one `LossContext` per call: the VGG16 maps of the target, and of the raw
    prediction and the composite together, are computed once, whatever the terms that read them.

    `forward(prediction, target, mask, extra_terms)` returns every computed term (unweighted) and
    under "total" their weighted sum: the generator's whole objective, summed here alone.
    `extra_terms` (name -> (weight, term)) are terms from elsewhere, computed after these (the
    adversarial term, whose weight and discriminator are the adversarial objective's).
    """

    def __init__(self, terms: Mapping[str, Mapping] | None = None, vgg_weights: WeightsSource = "imagenet") -> None:
        super().__init__()
        self.weights: dict[str, float] = {}
        self.terms: dict[str, Callable[[LossContext], Tensor]] = {}  # those of positive weight, in order
        for name, entry in (paper_terms() if terms is None else terms).items():
            if (
                name == "total"
                or not isinstance(entry, Mapping)
                or set(entry) != {"weight", "term"}
                or not callable(entry["term"])
            ):
                raise ConfigError(
                    f"model.loss.terms.{name}={entry}: a term is {{weight: W, term: {{_target_: "
                    "module.function, _partial_: true}}}}, named anything but total"
                )
            self.weights[name] = check_weight(entry["weight"], f"model.loss.terms.{name}.weight")
            if self.weights[name]:
                self.terms[name] = entry["term"]
        self.vgg = VGG16Features(vgg_weights) if any(reads_vgg(term) for term in self.terms.values()) else None

    def forward(
        self,
        prediction: Tensor,
        target: Tensor,
        mask: Tensor,
        extra_terms: Mapping[str, tuple[float, Callable[[LossContext], Tensor]]] | None = None,
    ) -> dict[str, Tensor]:
        weighted = {name: (self.weights[name], term) for name, term in self.terms.items()}
        for name, extra in (extra_terms or {}).items():
            if name in weighted or name == "total":
                raise ValueError(f"InpaintingLoss: the extra term {name!r} has the name of another")
            weighted[name] = extra
        context = LossContext(prediction, target, mask, self.vgg)
        values = {name: term(context) for name, (_, term) in weighted.items()}
        values["total"] = sum((weighted[name][0] * value for name, value in values.items()), prediction.new_zeros(()))
        return values
