"""The metrics inpainting papers report since LaMa and CoModGAN, from well-kept libraries:

- LPIPS (Zhang et al. 2018) as the `lpips` package defines it, v0.1 with the AlexNet trunk: its
  calibrated linear layers ship with the package; the trunk is torchvision's ImageNet AlexNet.
- FID (Heusel et al. 2017) on the 2048-d pool features of the standard `pt_inception-2015-12-05`
  weights, extracted by torch-fidelity's InceptionV3 (the TensorFlow-compatible port that
  torch-fidelity and torchmetrics share), statistics and distance by torch-fidelity's functions.
- P-IDS / U-IDS (Zhao et al. 2021, CoModGAN): a linear SVM trained to tell the real images'
  Inception features from the inpainted ones'; U-IDS is its misclassification rate on them,
  P-IDS the share of pairs whose inpainted image it finds more real than the original.

Images are the evaluation's composites and ground truths, quantised to uint8 as everywhere in
evaluation. The networks' weights are downloaded on first use where there is internet;
offline, each takes a local file (`metrics.inception_weights`, `metrics.lpips_weights`), and a
missing one is an error that says which file to put where, never a random network.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from musical_inpaint.backbones import PretrainedWeightsError
from musical_inpaint.metrics import METRICS, MetricSpec

EXTRAS = "pip install 'musical-inpaint[metrics]'"


def _require(module: str, option: str = "this metric"):
    try:
        return __import__(module)
    except ImportError:
        raise PretrainedWeightsError(f"{option} needs the {module} package: {EXTRAS}") from None


def _weights_file(path: str | Path, option: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise PretrainedWeightsError(f"{option}={path}: no such file")
    return path


def inception(weights: str | Path | None) -> nn.Module:
    """torch-fidelity's InceptionV3 returning the 2048-d pool features of uint8 B x 3 x H x W images.
    weights: a local copy of the standard file, or None to download it (an error offline)."""
    option = "metrics.inception_weights"
    _require("torch_fidelity", "FID and P-IDS / U-IDS")
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3, FeatureExtractorInceptionV3

    path = None if weights is None else str(_weights_file(weights, option))
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=path)
    except OSError as error:  # URLError: no internet
        file = Path(URL_INCEPTION_V3).name
        raise PretrainedWeightsError(
            f"{option}: cannot download the FID Inception weights from {URL_INCEPTION_V3} ({error}). Without "
            f"internet, download {file} elsewhere and set {option}=/path/to/{file}"
        ) from None
    except (RuntimeError, KeyError) as error:
        raise PretrainedWeightsError(
            f"{option}={weights}: not the InceptionV3 weights FID uses ({error})"[:500]
        ) from None


def inception_features(network: nn.Module, images: Tensor) -> Tensor:
    """N x 2048 float64 features of uint8 images."""
    with torch.no_grad():
        (features,) = network(images)
    return features.double().cpu()


def lpips_network(weights: str | Path | None, option: str = "metrics.lpips_weights") -> nn.Module:
    """The LPIPS v0.1 AlexNet metric, its trunk from `weights` (torchvision's alexnet state dict;
    None: download it through torchvision, an error offline); `option` names the setting in errors."""
    lpips = _require("lpips", option)
    from torchvision.models import AlexNet_Weights

    if weights is None:
        try:
            state = AlexNet_Weights.IMAGENET1K_V1.get_state_dict(progress=False, check_hash=True)
        except (OSError, RuntimeError) as error:
            url = AlexNet_Weights.IMAGENET1K_V1.url
            raise PretrainedWeightsError(
                f"{option}: cannot download the AlexNet trunk of LPIPS from {url} ({error}). Without internet, "
                f"download {Path(url).name} elsewhere and set {option}=/path/to/{Path(url).name}"
            ) from None
    else:
        state = torch.load(_weights_file(weights, option), map_location="cpu", weights_only=True)
    with warnings.catch_warnings():  # lpips asks torchvision for its trunk in a deprecated way
        warnings.simplefilter("ignore", UserWarning)
        metric = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False)  # calibrated linear layers
    # torchvision's features.{i} are the trunk's slices' modules of the same index.
    trunk = {}
    for name, module in metric.net.named_children():
        for index, _ in module.named_children():
            for kind in ("weight", "bias"):
                key = f"features.{index}.{kind}"
                if key in state:
                    trunk[f"{name}.{index}.{kind}"] = state[key]
    try:
        metric.net.load_state_dict(trunk, strict=True)
    except RuntimeError as error:
        raise PretrainedWeightsError(f"{option}={weights}: not torchvision's AlexNet weights ({error})"[:500]) from None
    return metric.eval().requires_grad_(False)


def lpips_distance(network: nn.Module, a: Tensor, b: Tensor) -> Tensor:
    """Per-image LPIPS of B x 3 x H x W images in [-1, 1] (a B-vector)."""
    with torch.no_grad():
        return network(a.float(), b.float()).flatten()


def fid(real: Tensor, fake: Tensor) -> float | None:
    """FID between two sets of Inception features (N x 2048), by torch-fidelity's functions."""
    _require("torch_fidelity")
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    if min(len(real), len(fake)) < 2:
        return None  # a covariance needs two samples (None: null in metrics.json)
    statistics = [fid_features_to_statistics(features) for features in (real, fake)]
    return float(fid_statistics_to_metric(*statistics, verbose=False)["frechet_inception_distance"])


def inception_discriminative_scores(real: Tensor, fake: Tensor) -> dict[str, float]:
    """CoModGAN's P-IDS and U-IDS from paired real and inpainted Inception features."""
    _require("sklearn")
    from sklearn.svm import LinearSVC

    real, fake = real.numpy(), fake.numpy()
    inputs = np.concatenate([real, fake])
    targets = np.concatenate([np.ones(len(real)), np.zeros(len(fake))])
    svm = LinearSVC(dual=False).fit(inputs, targets)
    u_ids = 1 - svm.score(inputs, targets)
    p_ids = float(np.mean(svm.decision_function(fake) > svm.decision_function(real)))
    return dict(p_ids=p_ids, u_ids=float(u_ids))


class LpipsScore:
    """The per-image function of LPIPS (`metrics.PerImage`): quantised composites against quantised
    targets, in float32 whatever the autocast around it, on `device` (None: the images' own)."""

    def __init__(self, network: nn.Module, device: str | torch.device | None = None) -> None:
        self.network, self.device = network, device

    def __call__(self, out: Tensor, gt: Tensor, mask: Tensor) -> Tensor:
        device = torch.device(self.device) if self.device is not None else out.device
        unit = lambda x: (x / 127.5 - 1).float().to(device)  # float32 before the move: MPS has no float64
        with torch.autocast(device_type=device.type, enabled=False):
            return lpips_distance(self.network.to(device), unit(out), unit(gt))


def lpips_metric(
    weights: str | Path | None, option: str = "metrics.lpips_weights", device: str | torch.device | None = None
) -> MetricSpec:
    """LPIPS as a per-image metric (`metrics.METRICS["lpips"]` with its network, from `weights` as
    `lpips_network` reads them), for an evaluation or `metrics.PaperMetrics`."""
    network = lpips_network(weights, option)
    return dataclasses.replace(METRICS["lpips"], compute=LpipsScore(network.to(device) if device else network, device))


class PerceptualEvaluation:
    """The configured extras of one evaluation (`metrics` in evaluate.yaml), networks loaded once:
    per-image LPIPS (`per_image_metrics`, computed with the evaluation's other per-image metrics)
    and, for FID and P-IDS / U-IDS (`set_metrics`), the Inception features of every ground truth
    and composite, kept per image so that any subset (a hole-area bin) has its own FID. The methods
    of one evaluation see the same test images in the same order, so the ground truths' features
    are extracted once, by the first method, and `reset` keeps them."""

    def __init__(
        self,
        lpips: bool = False,
        fid: bool = False,
        ids: bool = False,
        inception_weights: str | None = None,
        lpips_weights: str | None = None,
        device: str = "cpu",
    ) -> None:
        self.device = torch.device(device)
        if ids:
            _require("sklearn", "metrics.ids=true")  # before any image is evaluated
        self.per_image_metrics = [lpips_metric(lpips_weights, device=self.device)] if lpips else []
        self.inception = inception(inception_weights).to(self.device) if fid or ids else None
        self.fid, self.ids = fid, ids
        self.set_metrics = [METRICS[name] for name, on in (("fid", fid), ("p_ids", ids), ("u_ids", ids)) if on]
        self.real: list[Tensor] = []
        self.fake: list[Tensor] = []

    def reset(self) -> None:
        """Before the next method: its composites' features anew, the ground truths' kept."""
        self.fake = []

    def update(self, inpainted: Tensor, target: Tensor) -> None:
        """One batch of quantised composites and ground truths (0..255): their Inception features,
        where FID or P-IDS / U-IDS are on."""
        if self.inception is not None:
            as_bytes = lambda x: x.to(torch.uint8).to(self.device)
            if len(self.fake) == len(self.real):  # a batch no earlier method has seen
                self.real.append(inception_features(self.inception, as_bytes(target)))
            self.fake.append(inception_features(self.inception, as_bytes(inpainted)))

    def summary(self, indices: list[int] | None = None) -> dict[str, float]:
        """FID (and P-IDS / U-IDS) over the images seen, or over those at `indices`."""
        if self.inception is None:
            return {}
        fake = torch.cat(self.fake)
        real = torch.cat(self.real[: len(self.fake)])
        if indices is not None:
            real, fake = real[indices], fake[indices]
        result = {}
        if self.fid:
            result["fid"] = fid(real, fake)
        if self.ids:
            result.update(inception_discriminative_scores(real, fake))
        return result
