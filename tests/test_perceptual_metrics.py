"""LPIPS, FID and P-IDS / U-IDS: the loading paths on weights files made here, known answers,
a cross-check of FID against torchmetrics' own, and evaluate's columns."""

import csv
import json
import re
import urllib.error
from unittest import mock

import pytest
import torch
import torchvision

from musical_inpaint import perceptual_metrics as pm
from musical_inpaint.backbones import PretrainedWeightsError
from musical_inpaint.config import compose_config
from musical_inpaint.errors import user_error
from musical_inpaint.evaluate import evaluate
from musical_inpaint.imaging import composite, quantise
from musical_inpaint.metrics import PaperMetrics

fidelity = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
pytest.importorskip("lpips")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Random AlexNet and InceptionV3 weights files in the layouts of the real ones (torchvision's
    state dict; torch-fidelity's), the Inception's batch norms set from a batch of images so that
    its features vary with the input (fresh statistics would leave them nearly constant)."""
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet().state_dict(), folder / "alexnet.pth")
    with (
        mock.patch.object(fidelity, "load_state_dict_from_url", lambda *a, **k: None),
        mock.patch.object(fidelity.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None),
    ):
        network = fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = 1.0
    network.train()
    with torch.no_grad():
        network(torch.randint(0, 256, (8, 3, 64, 64), dtype=torch.uint8))
    torch.save(network.state_dict(), folder / "inception.pth")
    return dict(lpips_weights=str(folder / "alexnet.pth"), inception_weights=str(folder / "inception.pth"))


def images(count=16, seed=0, noise=0.0, shift=0.0):
    """Smooth random images (0..255), with Gaussian noise of sd `noise` or a brightness `shift`."""
    generator = torch.Generator().manual_seed(seed)
    smooth = torch.nn.functional.interpolate(torch.rand(count, 3, 8, 8, generator=generator), size=64, mode="bilinear")
    noisy = (
        smooth * 200
        + shift
        + noise * torch.randn(count, 3, 64, 64, generator=torch.Generator().manual_seed(seed + 100))
    )
    return noisy.clamp(0, 255).round()


def test_lpips_is_zero_on_identical_images_and_grows_with_the_distortion(weights):
    network = pm.lpips_network(weights["lpips_weights"])
    reference = images() / 127.5 - 1
    assert pm.lpips_distance(network, reference, reference).abs().max() == 0
    distances = [pm.lpips_distance(network, images(noise=n) / 127.5 - 1, reference).mean() for n in (10, 40, 120)]
    assert 0 < distances[0] < distances[1] < distances[2]


def test_fid_of_real_features_is_zero_on_identical_sets_and_orders_the_shifts(weights):
    network = pm.inception(weights["inception_weights"])
    real = pm.inception_features(network, images().to(torch.uint8))
    fids = [pm.fid(real, pm.inception_features(network, images(shift=n).to(torch.uint8))) for n in (5, 20, 55)]
    assert 0 < fids[0] < fids[1] < fids[2]
    # Identical sets: 0 up to the matrix square root of a rank-15 covariance (16 images, 2048 features).
    assert abs(pm.fid(real, real)) < 0.01 * fids[0]


def test_fid_equals_torchmetrics_on_the_same_features():
    # The second implementation: torchmetrics' Frechet distance on the statistics of the same
    # features. Well-conditioned ones (more samples than dimensions): with rank-deficient
    # covariances (16 images of 2048 features) both square roots are approximate, differently.
    from torchmetrics.image.fid import _compute_fid

    generator = torch.Generator().manual_seed(0)
    real = torch.randn(400, 24, generator=generator, dtype=torch.float64)
    mixing = torch.randn(24, 24, generator=generator, dtype=torch.float64)
    fake = 0.3 * torch.randn(400, 24, generator=generator, dtype=torch.float64) @ mixing + 0.5
    theirs = _compute_fid(real.mean(0), torch.cov(real.T), fake.mean(0), torch.cov(fake.T))
    assert pm.fid(real, fake) == pytest.approx(float(theirs), abs=1e-3)
    assert abs(pm.fid(real, real)) < 1e-6


def test_inception_discriminative_scores_know_a_separable_set_from_an_identical_one(weights):
    network = pm.inception(weights["inception_weights"])
    real = pm.inception_features(network, images(32).to(torch.uint8))
    assert pm.inception_discriminative_scores(
        real, pm.inception_features(network, images(32, noise=200).to(torch.uint8))
    ) == dict(p_ids=0.0, u_ids=0.0)
    same = pm.inception_discriminative_scores(real, real.clone())
    assert same["u_ids"] == pytest.approx(0.5) and same["p_ids"] == 0.0  # ties are not "more real"


def test_lpips_is_a_per_image_metric_that_validation_can_average_without_saving_its_network(weights):
    """PaperMetrics with LPIPS beside the protocol's metrics: the mean of the distances of the
    quantised composites, and no weight of the network in the state of a module that holds it."""
    metric = PaperMetrics([pm.lpips_metric(weights["lpips_weights"], "model.val_lpips_weights")])
    target, prediction = images(6) / 127.5 - 1, images(6, noise=40, seed=1) / 127.5 - 1
    mask = torch.zeros(6, 1, 64, 64)
    mask[..., 16:48, 8:40] = 1
    metric.update(prediction[:4], target[:4], mask[:4])
    metric.update(prediction[4:], target[4:], mask[4:])
    unit = lambda x: x / 127.5 - 1
    network = pm.lpips_network(weights["lpips_weights"])
    expected = pm.lpips_distance(network, unit(quantise(composite(prediction, target, mask))), unit(quantise(target)))
    assert metric.compute()["lpips"].item() == pytest.approx(expected.double().mean().item(), rel=1e-6)
    holder = torch.nn.Module()
    holder.metrics = metric
    assert list(holder.state_dict()) == [] and sum(1 for _ in holder.parameters()) == 0


def test_missing_weights_are_an_error_naming_the_option_and_the_file(tmp_path):
    offline = urllib.error.URLError("no internet")
    with (
        mock.patch("torch.hub.load_state_dict_from_url", side_effect=offline),
        mock.patch.object(fidelity, "load_state_dict_from_url", side_effect=offline),
    ):
        with pytest.raises(PretrainedWeightsError, match=r"metrics.lpips_weights=/path/to/alexnet-owt-7be5be79.pth"):
            pm.lpips_network(None)
        with pytest.raises(
            PretrainedWeightsError, match=r"metrics.inception_weights=/path/to/weights-inception-2015-12-05"
        ):
            pm.inception(None)
    with pytest.raises(PretrainedWeightsError, match=r"metrics.inception_weights=.*nothing.pth: no such file"):
        pm.inception(tmp_path / "nothing.pth")
    torch.save({"wrong": torch.zeros(1)}, tmp_path / "wrong.pth")
    with pytest.raises(PretrainedWeightsError, match=r"metrics.lpips_weights=.*wrong.pth: not torchvision's AlexNet"):
        pm.lpips_network(tmp_path / "wrong.pth")


def test_evaluate_reports_them_overall_per_image_and_per_hole_area(weights, tmp_path):
    config = compose_config(
        "evaluate",
        [
            "method=telea",
            "dataset=synthetic",
            "crop_size=64",
            "dataset.test_size=24",
            "mask=free_form",
            f"paths.output_dir={tmp_path}",
            "save_images=0",
            "metrics.lpips=true",
            "metrics.fid=true",
            "metrics.ids=true",
            f"metrics.lpips_weights={weights['lpips_weights']}",
            f"metrics.inception_weights={weights['inception_weights']}",
        ],
    )
    summary = evaluate(config)
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert {"lpips", "fid", "p_ids", "u_ids"} <= set(written) and set(written["definitions"]) == {
        "lpips",
        "fid",
        "p_ids",
        "u_ids",
    }
    assert written["fid"] == summary["fid"] > 0 and 0 < written["lpips"] < 1
    rows = list(csv.DictReader(open(tmp_path / "per_image.csv")))
    assert len(rows) == 24 and sum(float(r["lpips"]) for r in rows) / 24 == pytest.approx(written["lpips"])
    bins = written["bins"].values()
    assert sum(b["images"] for b in bins) == 24 and all("fid" in b and "lpips" in b for b in bins)
    table = (tmp_path / "table.md").read_text()
    assert "| LPIPS | FID | P-IDS | U-IDS |" in table and "by hole area" in table


def test_validation_logs_lpips_when_its_weights_are_given(weights, tmp_path):
    from musical_inpaint.train import train
    from tests.helpers.configs import tiny_config

    train(tiny_config(tmp_path, f"model.val_lpips_weights={weights['lpips_weights']}"))
    rows = [r for r in csv.DictReader(open(tmp_path / "csv" / "metrics.csv")) if r.get("val/lpips")]
    assert len(rows) == 2 and all(0 < float(r["val/lpips"]) < 1 for r in rows)
    state = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert not any("lpips" in key for key in state)  # the metric's network is not saved with the model
    with pytest.raises(Exception) as failure:  # Hydra wraps it; the command line prints user_error's line
        train(tiny_config(tmp_path / "bad", f"model.val_lpips_weights={tmp_path / 'missing.pth'}"))
    assert re.match(r"model.val_lpips_weights=.*missing.pth: no such file", str(user_error(failure.value)))
    assert not (tmp_path / "bad" / "checkpoints").exists()


def test_several_methods_share_the_ground_truths_features_and_each_gets_its_own_fid(weights, tmp_path, monkeypatch):
    calls = []
    extract = pm.inception_features
    monkeypatch.setattr(
        pm, "inception_features", lambda network, images: calls.append(len(images)) or extract(network, images)
    )

    def run(methods, folder):
        calls.clear()
        config = compose_config(
            "evaluate",
            [
                f"method={methods}",
                "dataset=synthetic",
                "crop_size=64",
                "dataset.test_size=12",
                f"paths.output_dir={folder}",
                "save_images=0",
                "metrics.fid=true",
                f"metrics.inception_weights={weights['inception_weights']}",
            ],
        )
        return evaluate(config), sum(calls)

    alone, extracted_alone = run("telea", tmp_path / "alone")
    (telea, navier_stokes), extracted_both = run("[telea,navier_stokes]", tmp_path / "both")
    assert extracted_alone == 2 * 12 and extracted_both == 3 * 12  # ground truths once, each method's composites
    assert telea["fid"] == pytest.approx(alone["fid"], rel=1e-9) and navier_stokes["fid"] != telea["fid"]
