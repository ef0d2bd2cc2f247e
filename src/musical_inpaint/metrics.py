"""The paper's evaluation protocol, shared by validation during training and by evaluation.

Composite first (generated hole pasted into the ground truth), quantise both images to uint8,
then over the whole image: SSIM over RGB with a 7 x 7 uniform window at data range 255 (the
defaults of skimage.metrics.structural_similarity with channel_axis, including its sample
covariance and its crop of the window's half-width at the borders), PSNR at data range 255 and
mean L1 of the [0, 1] images in % (the paper's unit). Each is computed per image, then averaged
over images. Extra, not in the paper: L1 and PSNR over the hole pixels only.

Every L1 figure the project writes (validation logs, metrics.json, per_image.csv, tables) is in %
and named so: `l1_pct`, `hole_l1_pct`. Files from before that held `l1` / `hole_l1`, as fractions
in the CSVs and as % in metrics.json; `compat.upgrade_legacy` reads them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric

from musical_inpaint.imaging import composite, quantise

SSIM_WINDOW = 7
SSIM_K1, SSIM_K2 = 0.01, 0.03
PSNR_CAP_DB = 100.0  # identical images (no hole) would give infinity; capped so that means stay finite
METRIC_NAMES = ("ssim", "psnr", "l1_pct", "hole_l1_pct", "hole_psnr")


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


def paper_metrics(prediction: Tensor, target: Tensor, mask: Tensor) -> dict[str, Tensor]:
    """Per-image metrics (B-vectors) of the composite of `prediction` into `target`.

    prediction, target: B x 3 x H x W in [-1, 1]; mask: B x 1 x H x W, 1 = hole.
    l1_pct and hole_l1_pct in % of the [0, 1] range; psnr and hole_psnr in dB.
    """
    out, gt = quantise(composite(prediction, target, mask)), quantise(target)
    difference = out - gt
    hole = mask.double().expand_as(difference)
    hole_pixels = hole.sum((1, 2, 3))
    hole_mse = (difference.square() * hole).sum((1, 2, 3)) / hole_pixels.clamp_min(1)
    return dict(
        ssim=ssim(out, gt),
        psnr=psnr_from_mse(difference.square().mean((1, 2, 3))),
        l1_pct=100 * (difference.abs() / 255).mean((1, 2, 3)),
        hole_l1_pct=100 * (difference.abs() / 255 * hole).sum((1, 2, 3)) / hole_pixels.clamp_min(1),
        hole_psnr=psnr_from_mse(torch.where(hole_pixels > 0, hole_mse, torch.zeros_like(hole_mse))),
    )


class PaperMetrics(Metric):
    """Running means of `paper_metrics` over images, synchronised across processes."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        for name in METRIC_NAMES:
            self.add_state(name, default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("images", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, prediction: Tensor, target: Tensor, mask: Tensor) -> None:
        values = paper_metrics(prediction.detach(), target, mask)
        for name in METRIC_NAMES:
            setattr(self, name, getattr(self, name) + values[name].sum())
        self.images += prediction.shape[0]

    def compute(self) -> dict[str, Tensor]:
        return {name: getattr(self, name) / self.images for name in METRIC_NAMES}
