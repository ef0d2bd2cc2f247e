"""Every metric the project reports, declared once (`METRICS`), and the paper's evaluation protocol,
shared by validation during training and by evaluation.

Composite first (generated hole pasted into the ground truth), quantise both images to uint8,
then over the whole image: SSIM over RGB with a 7 x 7 uniform window at data range 255 (the
defaults of skimage.metrics.structural_similarity with channel_axis, including its sample
covariance and its crop of the window's half-width at the borders), PSNR at data range 255 and
mean L1 of the [0, 1] images in % (the paper's unit). Each is computed per image, then averaged
over images. Extra, not in the paper: L1 and PSNR over the hole pixels only. These five
(`PROTOCOL`) are computed everywhere; the others are chosen per evaluation: LPIPS, FID and
P-IDS / U-IDS (musical_inpaint.perceptual_metrics) and per-image metrics defined outside the
package, given in the configuration (`per_image_metrics`).

A metric's declaration (`MetricSpec`) is what every file and table shows of it: its name in
metrics.json, per_image.csv and the validation logs (`val/<name>`), its table column and digits,
its unit, which way is better and its definition. Every L1 figure the project writes is in % and
named so: `l1_pct`, `hole_l1_pct`. Files from before that held `l1` / `hole_l1`, as fractions in
the CSVs and as % in metrics.json; `compat.upgrade_legacy` reads them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import Tensor
from torchmetrics import Metric

from musical_inpaint.errors import ConfigError
from musical_inpaint.imaging import composite, quantise

SSIM_WINDOW = 7
SSIM_K1, SSIM_K2 = 0.01, 0.03
PSNR_CAP_DB = 100.0  # identical images (no hole) would give infinity; capped so that means stay finite

# (quantised composite, quantised target, mask) -> one value per image: images B x 3 x H x W with
# the 8-bit values 0..255 in float64 (`imaging.quantise`), mask B x 1 x H x W with 1 = hole.
PerImage = Callable[[Tensor, Tensor, Tensor], Tensor]


@dataclass(frozen=True, kw_only=True)
class MetricSpec:
    """One metric as every file and table shows it.

    name: its key in metrics.json and per_image.csv, and `val/<name>` in the validation logs
        (lower-case letters, digits and _). Given by its key where it comes from configuration.
    label: its table column, followed by the unit in brackets when it has one; default: the name.
    digits: decimals in tables.
    better: "higher" or "lower".
    definition: what it measures; metrics.json carries it for every metric beyond `PROTOCOL`.
    unit: a physical unit ("dB", "%"); "" for a score.
    bounds: a score's range ("[0, 1]") where it has one.
    compute: a per-image metric's function (`PerImage`); None for a metric of a set of images
        (FID), or one whose function needs networks loaded at run time (LPIPS).
    """

    name: str = ""
    label: str = ""
    digits: int = 4
    better: str
    definition: str
    unit: str = ""
    bounds: str = ""
    compute: PerImage | None = None

    def __post_init__(self) -> None:
        if self.name and not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ValueError(f"name {self.name!r}: lower-case letters, digits and _ only, starting with a letter")
        if self.better not in ("higher", "lower"):
            raise ValueError(f"better={self.better!r}: must be one of higher, lower")
        if not isinstance(self.digits, int) or self.digits < 0:
            raise ValueError(f"digits={self.digits!r}: must be an integer >= 0")
        if self.compute is not None and not callable(self.compute):
            raise ValueError(f"compute={self.compute!r}: must be a function of (composite, target, mask)")
        if not self.label:
            object.__setattr__(self, "label", self.name)

    @property
    def column(self) -> str:
        """Its column in tables."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    def units_entry(self, with_direction: bool) -> str:
        """Its entry in metrics.json's `units`: the unit, or a score's range; for the metrics beyond
        the protocol also which way is better."""
        parts = [self.unit or self.bounds, f"{self.better} is better" if with_direction else ""]
        return ", ".join(part for part in parts if part)


METRICS: dict[str, MetricSpec] = {}
# Keys of per_image.csv's rows and metrics.json's summaries that are not metrics.
RESERVED_NAMES = frozenset(
    {"name", "index", "hole_fraction", "images", "bins", "method", "label", "dataset", "mask", "units", "definitions"}
)


def register(metric: MetricSpec) -> MetricSpec:
    """Adds `metric` to `METRICS`, the table of every metric the package reports."""
    if not metric.name or metric.name in METRICS or metric.name in RESERVED_NAMES:
        raise ValueError(f"metric name {metric.name!r}: empty, reserved or registered already")
    METRICS[metric.name] = metric
    return metric


def ssim(a: Tensor, b: Tensor, data_range: float = 255.0) -> Tensor:
    """Per-image SSIM of B x C x H x W images: skimage's uniform-window definition, channel mean."""
    if min(a.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW} x {SSIM_WINDOW}, got {tuple(a.shape[-2:])}")
    a, b = a.double(), b.double()
    mean = lambda x: F.avg_pool2d(x, SSIM_WINDOW, stride=1)  # only windows fully inside: skimage's crop
    count = SSIM_WINDOW**2
    cov_norm = count / (count - 1)  # sample covariance
    mu_a, mu_b = mean(a), mean(b)
    var_a = cov_norm * (mean(a * a) - mu_a**2)
    var_b = cov_norm * (mean(b * b) - mu_b**2)
    cov = cov_norm * (mean(a * b) - mu_a * mu_b)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return index.mean((1, 2, 3))


def psnr_from_mse(mse: Tensor, data_range: float = 255.0) -> Tensor:
    return (10 * torch.log10(data_range**2 / mse.clamp_min(1e-30))).clamp(max=PSNR_CAP_DB)


def _hole(mask: Tensor, like: Tensor) -> tuple[Tensor, Tensor]:
    """The hole as a 0/1 float64 image shaped like `like`, and its number of values per image."""
    hole = mask.double().expand_as(like)
    return hole, hole.sum((1, 2, 3))


def _hole_l1_pct(out: Tensor, gt: Tensor, mask: Tensor) -> Tensor:
    hole, pixels = _hole(mask, out)
    return 100 * ((out - gt).abs() / 255 * hole).sum((1, 2, 3)) / pixels.clamp_min(1)


def _hole_psnr(out: Tensor, gt: Tensor, mask: Tensor) -> Tensor:
    hole, pixels = _hole(mask, out)
    hole_mse = ((out - gt).square() * hole).sum((1, 2, 3)) / pixels.clamp_min(1)
    return psnr_from_mse(torch.where(pixels > 0, hole_mse, torch.zeros_like(hole_mse)))


register(
    MetricSpec(
        name="ssim",
        label="SSIM",
        digits=4,
        bounds="[0, 1]",
        better="higher",
        compute=lambda o, g, m: ssim(o, g),
        definition="SSIM over RGB with a 7 x 7 uniform window at data range 255 (skimage's defaults), whole image",
    )
)
register(
    MetricSpec(
        name="psnr",
        label="PSNR",
        unit="dB",
        digits=2,
        better="higher",
        compute=lambda o, g, m: psnr_from_mse((o - g).square().mean((1, 2, 3))),
        definition=f"PSNR at data range 255, whole image, capped at {PSNR_CAP_DB:g} dB",
    )
)
register(
    MetricSpec(
        name="l1_pct",
        label="mean L1",
        unit="%",
        digits=3,
        better="lower",
        compute=lambda o, g, m: 100 * ((o - g).abs() / 255).mean((1, 2, 3)),
        definition="mean absolute difference of the [0, 1] images in %, whole image",
    )
)
register(
    MetricSpec(
        name="hole_l1_pct",
        label="hole L1",
        unit="%",
        digits=3,
        better="lower",
        compute=_hole_l1_pct,
        definition="mean absolute difference of the [0, 1] images in %, hole pixels only",
    )
)
register(
    MetricSpec(
        name="hole_psnr",
        label="hole PSNR",
        unit="dB",
        digits=2,
        better="higher",
        compute=_hole_psnr,
        definition=f"PSNR at data range 255, hole pixels only, capped at {PSNR_CAP_DB:g} dB",
    )
)
PROTOCOL: tuple[MetricSpec, ...] = tuple(METRICS.values())  # computed in every evaluation and validation
METRIC_NAMES = tuple(metric.name for metric in PROTOCOL)

# Computed by musical_inpaint.perceptual_metrics when an evaluation asks for them.
register(
    MetricSpec(
        name="lpips",
        label="LPIPS",
        digits=4,
        bounds="[0, 1]",
        better="lower",
        definition="LPIPS v0.1, AlexNet trunk (the lpips package), composite against ground truth, per image",
    )
)
register(
    MetricSpec(
        name="fid",
        label="FID",
        digits=2,
        better="lower",
        definition="FID on the 2048-d pool features of pt_inception-2015-12-05 (torch-fidelity), "
        "composites against ground truths",
    )
)
register(
    MetricSpec(
        name="p_ids",
        label="P-IDS",
        digits=3,
        bounds="[0, 0.5]",
        better="higher",
        definition="P-IDS (CoModGAN): share of pairs a linear SVM on the same features finds the composite more real",
    )
)
register(
    MetricSpec(
        name="u_ids",
        label="U-IDS",
        digits=3,
        bounds="[0, 0.5]",
        better="higher",
        definition="U-IDS (CoModGAN): that SVM's misclassification rate on ground truths and composites",
    )
)


def per_image_metrics(entries: Mapping | None, option: str = "metrics.per_image") -> list[MetricSpec]:
    """Per-image metrics defined outside the package, from configuration: a mapping from each one's
    name to a node that builds a `MetricSpec` with a `compute` function (Hydra's `_target_`), or to
    the MetricSpec already built (a node instantiated recursively). `option` names the mapping in
    errors, as it is typed on the command line."""
    metrics = []
    for name, entry in (entries or {}).items():
        where = f"{option}.{name}"
        if isinstance(entry, DictConfig) and OmegaConf.get_type(entry) is MetricSpec:
            entry = OmegaConf.to_object(entry)  # built already, and held by OmegaConf as a structured node
        if isinstance(entry, (Mapping, DictConfig)):
            try:
                entry = instantiate(entry)
            except Exception as error:  # Hydra's message names the target and the failing argument
                raise ConfigError(f"{where}: {error.__cause__ or error}") from error
        if not isinstance(entry, MetricSpec) or entry.compute is None:
            raise ConfigError(
                f"{where}: must build a musical_inpaint.metrics.MetricSpec with a compute function "
                f"(_target_: musical_inpaint.metrics.MetricSpec), got {entry!r}"[:500]
            )
        if entry.name not in ("", name):
            raise ConfigError(f"{where}: builds a metric named {entry.name!r}; its key is its name")
        if name in METRICS or name in RESERVED_NAMES or any(metric.name == name for metric in metrics):
            raise ConfigError(f"{where}: {name!r} is taken (the package's metrics: {', '.join(METRICS)})")
        try:
            metrics.append(dataclasses.replace(entry, name=name))
        except ValueError as error:
            raise ConfigError(f"{where}: {error}") from None
    return metrics


def per_image_values(metrics: Iterable[MetricSpec], out: Tensor, gt: Tensor, mask: Tensor) -> dict[str, Tensor]:
    """Each metric's B-vector for quantised composites `out` and targets `gt` (see `PerImage`)."""
    values = {}
    for metric in metrics:
        value = metric.compute(out, gt, mask)
        if not isinstance(value, Tensor) or value.shape != out.shape[:1]:
            shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(
                f"metric {metric.name!r} gave {shape} for {out.shape[0]} images: it must give one value "
                "per image (a tensor of shape (B,))"
            )
        values[metric.name] = value
    return values


def paper_metrics(prediction: Tensor, target: Tensor, mask: Tensor) -> dict[str, Tensor]:
    """Per-image metrics of `PROTOCOL` (B-vectors) of the composite of `prediction` into `target`.

    prediction, target: B x 3 x H x W in [-1, 1]; mask: B x 1 x H x W, 1 = hole.
    l1_pct and hole_l1_pct in % of the [0, 1] range; psnr and hole_psnr in dB.
    """
    return per_image_values(PROTOCOL, quantise(composite(prediction, target, mask)), quantise(target), mask)


class PaperMetrics(Metric):
    """Running means over images of the `PROTOCOL` metrics and of `extra` per-image metrics
    (MetricSpecs with a compute function, e.g. from `per_image_metrics`), synchronised across
    processes; `compute` gives them by name."""

    full_state_update = False

    def __init__(self, extra: Iterable[MetricSpec] = ()) -> None:
        super().__init__()
        self.specs = (*PROTOCOL, *extra)
        names = [metric.name for metric in self.specs]
        if len(set(names)) < len(names) or any(metric.compute is None for metric in self.specs):
            raise ValueError(f"PaperMetrics needs per-image metrics of distinct names, got {names}")
        self.add_state("sums", default=torch.zeros(len(self.specs), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("images", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, prediction: Tensor, target: Tensor, mask: Tensor) -> None:
        out, gt = quantise(composite(prediction.detach(), target, mask)), quantise(target)
        values = per_image_values(self.specs, out, gt, mask).values()
        self.sums += torch.stack([value.double().sum().to(self.sums.device) for value in values])
        self.images += prediction.shape[0]

    def compute(self) -> dict[str, Tensor]:
        return {metric.name: self.sums[i] / self.images for i, metric in enumerate(self.specs)}
