"""The paper's metrics, the evaluation command and the inpainting CLI, on real photos."""

import csv
import json
import logging
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from PIL import Image, ImageOps
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from musical_inpaint.baselines import fill_with
from musical_inpaint.compat import upgrade_legacy
from musical_inpaint.config import compose_config
from musical_inpaint.data import CenterMask, FreeFormMask, read_rgb
from musical_inpaint.errors import ConfigError
from musical_inpaint.evaluate import evaluate, read_metrics, read_per_image
from musical_inpaint.imaging import quantise
from musical_inpaint.inference import CheckpointError, load_generator, predict
from musical_inpaint.inpaint import inpaint_image, read_picture
from musical_inpaint.inpaint import main as inpaint_main
from musical_inpaint.metrics import METRICS, PROTOCOL, MetricSpec, PaperMetrics, paper_metrics, per_image_metrics
from musical_inpaint.runs_table import describe, validations
from tests.helpers import REPO, write_image
from tests.helpers.layouts import make_photos


def compose_evaluate(overrides):
    return compose_config("evaluate", overrides)


@pytest.fixture
def paris_root(shared_data, tmp_path):
    root = tmp_path / "paris"
    root.mkdir()
    (root / "paris_eval_gt").symlink_to(shared_data / "paris" / "context_encoder_pytorch")
    return tmp_path


# ------------------------------------------------------------------------------------ metrics


def test_metrics_match_skimage_on_real_images(shared_data):
    files = sorted((shared_data / "paris" / "context_encoder_pytorch").glob("*.png"))[:4]
    target = torch.stack([torch.from_numpy(np.array(read_rgb(f))).permute(2, 0, 1).float() / 127.5 - 1 for f in files])
    prediction = target.flip(-1) * 0.8 + 0.05 * torch.randn_like(target)
    mask = torch.zeros(len(files), 1, 227, 227)
    mask[..., 50:170, 60:180] = 1
    values = paper_metrics(prediction, target, mask)
    for i in range(len(files)):
        out = quantise(prediction[i] * mask[i] + target[i] * (1 - mask[i])).permute(1, 2, 0).numpy().astype(np.uint8)
        gt = quantise(target[i]).permute(1, 2, 0).numpy().astype(np.uint8)
        assert values["ssim"][i].item() == pytest.approx(
            structural_similarity(gt, out, channel_axis=2, data_range=255), abs=1e-9
        )
        assert values["psnr"][i].item() == pytest.approx(peak_signal_noise_ratio(gt, out, data_range=255), abs=1e-9)
        assert values["l1_pct"][i].item() == pytest.approx(100 * np.abs(gt / 255.0 - out / 255.0).mean(), abs=1e-10)
        hole = mask[i, 0].numpy().astype(bool)
        assert values["hole_l1_pct"][i].item() == pytest.approx(
            100 * np.abs(gt / 255.0 - out / 255.0)[hole].mean(), abs=1e-10
        )


def test_identical_images_give_perfect_finite_scores():
    image = torch.rand(2, 3, 16, 16) * 2 - 1
    values = paper_metrics(image, image, torch.zeros(2, 1, 16, 16))
    assert values["ssim"].eq(1).all() and values["l1_pct"].eq(0).all() and torch.isfinite(values["psnr"]).all()


def test_files_from_before_the_l1_units_read_under_todays_names_and_units(tmp_path):
    # Older metrics.json held l1 / hole_l1 in %, older per_image.csv and training CSVs as fractions.
    (tmp_path / "metrics.json").write_text(
        json.dumps({"images": 2, "l1": 2.5, "hole_l1": 10.0, "psnr": 20.0, "bins": {"20%-30%": {"hole_l1": 10.0}}})
    )
    (tmp_path / "per_image.csv").write_text(
        "name,index,hole_fraction,ssim,psnr,l1,hole_l1,hole_psnr\na.png,0,0.25,0.9,20.0,0.025,0.1,15.0\n"
    )
    summary = read_metrics(tmp_path)
    assert (summary["l1_pct"], summary["hole_l1_pct"], summary["bins"]["20%-30%"]["hole_l1_pct"]) == (2.5, 10.0, 10.0)
    assert "hole_l1" not in summary and summary["psnr"] == 20.0
    (row,) = read_per_image(tmp_path)
    assert float(row["l1_pct"]) == pytest.approx(2.5) and float(row["hole_l1_pct"]) == pytest.approx(10.0)
    training = {"step": "8", "train/l1": "0.3", "val/hole_l1": "0.125", "val/telea_hole_l1": "", "val/ssim": "0.8"}
    assert upgrade_legacy(training, fractions=True) == {
        "step": "8",
        "train/l1": "0.3",
        "val/hole_l1_pct": 12.5,
        "val/telea_hole_l1_pct": "",
        "val/ssim": "0.8",
    }
    today = {"val/hole_l1_pct": 12.5}
    assert upgrade_legacy(today, fractions=True) == today
    # A run resumed on today's code: its CSV has both columns, each row one of them filled.
    for row in (
        {"val/hole_l1": "0.125", "val/hole_l1_pct": ""},
        {"val/hole_l1_pct": "", "val/hole_l1": "0.125"},
        {"val/hole_l1": "", "val/hole_l1_pct": "12.5"},
    ):
        assert float(upgrade_legacy(row, fractions=True)["val/hole_l1_pct"]) == 12.5


def test_committed_runs_from_before_the_units_keep_their_figures():
    # The ablation's evidence was written with fractions; its table reads the same % as before.
    run = REPO / "experiments" / "ablation_photos" / "runs" / "sweep-seeds-3-4" / "3"
    rows = validations(run)
    assert rows and all(0 < float(r["val/hole_l1_pct"]) < 100 for r in rows)
    described = describe(run)
    assert (
        described["monitor"] == "val/hole_l1_pct" and described["final"] == f"{float(rows[-1]['val/hole_l1_pct']):.4f}"
    )
    per_image = read_per_image(run / "eval" / "bsds500")
    assert np.mean([float(r["hole_l1_pct"]) for r in per_image]) == pytest.approx(
        read_metrics(run / "eval" / "bsds500")["hole_l1_pct"]
    )


def test_every_metric_is_declared_once_with_what_files_and_tables_show_of_it():
    assert [m.name for m in PROTOCOL] == ["ssim", "psnr", "l1_pct", "hole_l1_pct", "hole_psnr"]
    assert list(METRICS) == [*(m.name for m in PROTOCOL), "lpips", "fid", "p_ids", "u_ids"]
    assert [m.column for m in METRICS.values()] == [
        "SSIM",
        "PSNR (dB)",
        "mean L1 (%)",
        "hole L1 (%)",
        "hole PSNR (dB)",
        "LPIPS",
        "FID",
        "P-IDS",
        "U-IDS",
    ]
    assert [METRICS[n].units_entry(False) for n in ("ssim", "psnr", "l1_pct")] == ["[0, 1]", "dB", "%"]
    assert [METRICS[n].units_entry(True) for n in ("lpips", "fid", "p_ids")] == [
        "[0, 1], lower is better",
        "lower is better",
        "[0, 0.5], higher is better",
    ]
    assert all(m.definition and m.better in ("higher", "lower") for m in METRICS.values())
    assert all(m.compute is not None for m in PROTOCOL) and METRICS["fid"].compute is None


def hole_max_error(out, gt, mask):
    """A per-image metric defined outside the package: the largest absolute difference in the
    hole, in 8-bit levels."""
    return ((out - gt).abs() * mask).amax((1, 2, 3))


def hole_max_error_literal(image, mask, fill):
    """The same figure in NumPy from the [-1, 1] images: composite, round to 8 bits, largest
    difference over the hole's pixels."""
    to_8_bits = lambda x: np.round((np.clip(x, -1, 1) + 1) * 127.5)
    image, mask, fill = image.numpy().astype(np.float64), mask.numpy().astype(bool), fill.numpy().astype(np.float64)
    hole = np.broadcast_to(mask, image.shape)
    difference = np.abs(to_8_bits(np.where(hole, fill, image)) - to_8_bits(image))
    return float(difference[hole].max()) if hole.any() else 0.0


HOLE_MAX_ERROR = (
    "{_target_: musical_inpaint.metrics.MetricSpec, label: hole max error, unit: levels, digits: 1, "
    "better: lower, definition: 'largest absolute difference in the hole, in 8-bit levels', "
    "compute: {_target_: tests.test_evaluation.hole_max_error, _partial_: true}}"
)


def test_a_per_image_metric_defined_outside_the_package_plugs_in_through_configuration(tmp_path):
    """A test module's function becomes a column of per_image.csv, metrics.json and table.md through
    one configuration entry, with evaluate run as a user runs it; the other columns are untouched."""
    root = make_photos(tmp_path / "data", urban=92)  # test images img_081-092
    common = [
        "method=[telea,navier_stokes]",
        "dataset=photos",
        "dataset.test_set=urban100",
        "crop_size=32",
        "mask=free_form",
        "dataset.num_workers=0",
        f"paths.data_dir={root}",
        "save_images=0",
    ]
    plugged = [f"hydra.run.dir={tmp_path / 'run'}", f"+metrics.per_image.hole_max_error={HOLE_MAX_ERROR}"]
    result = subprocess.run(
        [sys.executable, "-m", "musical_inpaint.evaluate", *common, *plugged],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    evaluate(compose_evaluate([*common, f"paths.output_dir={tmp_path / 'without'}"]))
    config = compose_evaluate(common)
    datamodule = instantiate(config.dataset)
    datamodule.setup("test")
    batches = list(datamodule.test_dataloader())
    for method in ("telea", "navier_stokes"):
        rows = list(csv.DictReader(open(tmp_path / "run" / method / "per_image.csv")))
        assert list(rows[0]) == [
            "name",
            "index",
            "hole_fraction",
            "ssim",
            "psnr",
            "l1_pct",
            "hole_l1_pct",
            "hole_psnr",
            "hole_max_error",
        ]
        expected = {}
        for batch in batches:
            filled = fill_with(method, batch["image"], batch["mask"])
            for i, name in enumerate(batch["name"]):
                expected[name] = hole_max_error_literal(batch["image"][i], batch["mask"][i], filled[i])
        assert {r["name"]: float(r["hole_max_error"]) for r in rows} == expected and len(expected) == 12
        assert max(expected.values()) > 0
        without = list(csv.DictReader(open(tmp_path / "without" / method / "per_image.csv")))
        assert [{k: v for k, v in r.items() if k != "hole_max_error"} for r in rows] == without
        written = json.loads((tmp_path / "run" / method / "metrics.json").read_text())
        assert written["hole_max_error"] == pytest.approx(np.mean(list(expected.values())), abs=1e-12)
        assert written["units"]["hole_max_error"] == "levels, lower is better" and written["units"]["ssim"] == "[0, 1]"
        assert written["definitions"] == {"hole_max_error": "largest absolute difference in the hole, in 8-bit levels"}
        assert len(written["bins"]) > 1 and all("hole_max_error" in b for b in written["bins"].values())
    table = (tmp_path / "run" / "table.md").read_text()
    header = "| method | SSIM | PSNR (dB) | mean L1 (%) | hole L1 (%) | hole PSNR (dB) | hole max error (levels) |"
    assert table.startswith(header) and table in result.stdout
    telea = json.loads((tmp_path / "run" / "telea" / "metrics.json").read_text())
    assert f"| {telea['hole_psnr']:.2f} | {telea['hole_max_error']:.1f} |" in table.splitlines()[2]
    drop_last_cell = lambda line: line[: line[:-1].rfind("|") + 1] if line.startswith("|") else line
    table_without = (tmp_path / "without" / "table.md").read_text()
    assert [drop_last_cell(line) for line in table.splitlines()] == table_without.splitlines()


@pytest.mark.parametrize(
    "entry, message",
    [
        ("{_target_: builtins.dict, a: 1}", "metrics.per_image.x: must build a musical_inpaint.metrics.MetricSpec"),
        (
            "{_target_: musical_inpaint.metrics.MetricSpec, better: up, definition: d, compute: {_target_: builtins.abs, "
            "_partial_: true}}",
            "metrics.per_image.x: .*better='up': must be one of higher, lower",
        ),
        (
            "{_target_: musical_inpaint.metrics.MetricSpec, better: lower, definition: d}",
            "metrics.per_image.x: must build .* with a compute function",
        ),
        ("{_target_: no.such.module, _partial_: true}", "metrics.per_image.x: .*no.such.module"),
    ],
)
def test_a_metric_from_configuration_that_cannot_work_is_named_before_any_image(entry, message, tmp_path):
    config = compose_evaluate(
        [
            "method=telea",
            "dataset=synthetic",
            "crop_size=32",
            f"paths.output_dir={tmp_path}",
            f"+metrics.per_image.x={entry}",
        ]
    )
    with pytest.raises(ConfigError, match=message):
        evaluate(config)
    assert not list(tmp_path.rglob("*.csv"))


def test_metric_names_from_configuration_are_their_keys_and_never_shadow_the_packages():
    spec = MetricSpec(better="lower", definition="d", compute=hole_max_error)
    # An entry already built, as a recursively instantiated node gives it:
    (named,) = per_image_metrics({"hole_max_error": spec}, "model.val_metrics")
    assert named.name == named.label == "hole_max_error" and named.compute is hole_max_error
    for taken in ("ssim", "lpips", "hole_fraction"):
        with pytest.raises(ConfigError, match=f"model.val_metrics.{taken}: '{taken}' is taken"):
            per_image_metrics({taken: spec}, "model.val_metrics")
    with pytest.raises(ConfigError, match="metrics.per_image.Bad-Name: name 'Bad-Name'"):
        per_image_metrics({"Bad-Name": spec})
    with pytest.raises(ConfigError, match="metrics.per_image.a: builds a metric named 'b'"):
        per_image_metrics({"a": MetricSpec(name="b", better="lower", definition="d", compute=hole_max_error)})


def test_paper_metrics_averages_the_protocol_and_extra_metrics_over_images():
    """The running means against the per-image values of all images at once; a metric giving other
    than one value per image is an error naming it."""
    torch.manual_seed(0)
    target, prediction = torch.rand(5, 3, 16, 16) * 2 - 1, torch.rand(5, 3, 16, 16) * 2 - 1
    mask = (torch.rand(5, 1, 16, 16) < 0.4).float()
    (extra,) = per_image_metrics({"hole_max_error": MetricSpec(better="lower", definition="d", compute=hole_max_error)})
    metric = PaperMetrics([extra])
    metric.update(prediction[:2], target[:2], mask[:2])
    metric.update(prediction[2:], target[2:], mask[2:])
    means = metric.compute()
    expected = {name: values.mean() for name, values in paper_metrics(prediction, target, mask).items()}
    literal = [hole_max_error_literal(target[i], mask[i], prediction[i]) for i in range(5)]
    expected["hole_max_error"] = torch.tensor(literal, dtype=torch.float64).mean()
    assert list(means) == [*(m.name for m in PROTOCOL), "hole_max_error"]
    for name, value in expected.items():
        torch.testing.assert_close(means[name], value.double(), rtol=1e-12, atol=0, msg=name)
    scalar = MetricSpec(name="scalar", better="lower", definition="d", compute=lambda out, gt, mask: out.mean())
    with pytest.raises(ValueError, match=r"metric 'scalar' gave \(\) for 2 images"):
        PaperMetrics([scalar]).update(prediction[:2], target[:2], mask[:2])
    with pytest.raises(ValueError, match="distinct names"):
        PaperMetrics([PROTOCOL[0]])


# --------------------------------------------------------------------------------- evaluation


def test_telea_on_the_100_paris_images_reproduces_the_known_scores(paris_root, tmp_path):
    # Measured independently for the issue: Telea under the paper's protocol scores about
    # SSIM 0.837 / PSNR 22.9 dB / L1 2.70 % on paris_eval_gt with the centre hole.
    config = compose_evaluate(
        [
            "method=telea",
            f"paths.data_dir={paris_root}",
            f"paths.output_dir={tmp_path / 'out'}",
            "dataset.num_workers=0",
            "save_images=2",
        ]
    )
    summary = evaluate(config)
    assert summary["images"] == 100
    assert summary["ssim"] == pytest.approx(0.837, abs=0.002)
    assert summary["psnr"] == pytest.approx(22.9, abs=0.05)
    assert summary["l1_pct"] == pytest.approx(2.70, abs=0.01)
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert {"ssim", "psnr", "l1_pct", "hole_l1_pct", "hole_psnr", "bins"} <= set(written)
    assert written["units"]["l1_pct"] == written["units"]["hole_l1_pct"] == "%"
    # One unit everywhere: the per-image rows average to the summary's figures, in %.
    rows = list(csv.DictReader(open(tmp_path / "out" / "per_image.csv")))
    assert len(rows) == 100 and rows[0]["name"] == "001_im.png"
    for name in ("l1_pct", "hole_l1_pct"):
        assert np.mean([float(r[name]) for r in rows]) == pytest.approx(written[name], rel=1e-9)
    table = (tmp_path / "out" / "table.md").read_text()
    assert "| MUSICAL (paper) | 0.8428 | 24.42 | 2.264 |" in table and "| telea (classical) | 0.83" in table
    assert len(list((tmp_path / "out" / "images").iterdir())) == 2


@pytest.mark.parametrize("method", ["navier_stokes", "patchmatch", "harmonic"])
def test_other_baselines_with_free_form_masks_report_area_bins(method, paris_root, tmp_path):
    config = compose_evaluate(
        [
            f"method={method}",
            f"paths.data_dir={paris_root}",
            f"paths.output_dir={tmp_path}",
            "dataset.num_workers=0",
            "mask=free_form",
            "mask.preset=thick",
            "limit=12",
        ]
    )
    summary = evaluate(config)
    assert summary["images"] == 12 and sum(b["images"] for b in summary["bins"].values()) == 12
    assert "(paper)" not in (tmp_path / "table.md").read_text()  # the paper's rows are for the centre hole
    assert 0 < summary["ssim"] < 1 and summary["hole_l1_pct"] > summary["l1_pct"]


def test_evaluating_a_checkpoint_from_a_run_folder(checkpoint, paris_root, tmp_path):
    config = compose_evaluate(
        [
            f"ckpt_path={checkpoint.parent.parent}",
            f"paths.data_dir={paris_root}",
            f"paths.output_dir={tmp_path}",
            "dataset.num_workers=0",
            "limit=5",
        ]
    )
    summary = evaluate(config)
    assert summary["images"] == 5 and "MUSICAL, ours" in summary["label"]


def test_several_methods_and_checkpoints_meet_in_one_table(checkpoint, paris_root, tmp_path):
    common = [f"paths.data_dir={paris_root}", "dataset.num_workers=0", "limit=6", "save_images=1"]
    run = checkpoint.parent.parent
    summaries = evaluate(
        compose_evaluate(
            [
                *common,
                "method=[musical,telea]",
                f"ckpt_path=[{run},{checkpoint}]",
                f"paths.output_dir={tmp_path / 'all'}",
            ]
        )
    )
    assert [s["method"] for s in summaries] == ["musical", "musical", "telea"]
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["musical_0", "musical_1", "table.md", "telea"]
    table = (tmp_path / "all" / "table.md").read_text()
    assert table.count("MUSICAL, ours") == 2 and "| telea (classical)" in table and "| MUSICAL (paper)" in table
    # The same images and masks as a call of its own.
    alone = evaluate(compose_evaluate([*common, "method=telea", f"paths.output_dir={tmp_path / 'telea'}"]))
    assert alone["hole_l1_pct"] == summaries[2]["hole_l1_pct"] and alone["images"] == 6
    assert (tmp_path / "all" / "telea" / "per_image.csv").read_text() == (
        tmp_path / "telea" / "per_image.csv"
    ).read_text()
    with pytest.raises(SystemExit, match="got 'teela'"):
        evaluate(compose_evaluate([*common, "method=[telea,teela]", f"paths.output_dir={tmp_path / 'bad'}"]))


def test_evaluate_in_reduced_precision_and_a_precision_that_does_not_exist(checkpoint, tmp_path):
    common = [f"ckpt_path={checkpoint}", "dataset=synthetic", "crop_size=32", "dataset.test_size=4", "save_images=0"]
    full = evaluate(compose_evaluate([*common, f"paths.output_dir={tmp_path / 'fp32'}"]))
    reduced = evaluate(compose_evaluate([*common, "precision=bf16", f"paths.output_dir={tmp_path / 'bf16'}"]))
    assert reduced["hole_l1_pct"] == pytest.approx(full["hole_l1_pct"], abs=0.5)
    with pytest.raises(ConfigError, match="precision=fp8: must be one of fp32, bf16, fp16"):
        evaluate(compose_evaluate([*common, "precision=fp8", f"paths.output_dir={tmp_path / 'fp8'}"]))


def test_evaluating_without_a_checkpoint_says_so(tmp_path):
    with pytest.raises(SystemExit, match="needs ckpt_path"):
        evaluate(compose_evaluate([f"paths.output_dir={tmp_path}"]))


# ------------------------------------------------------------------------------- checkpoints


def test_generator_loads_from_a_checkpoint_with_its_own_architecture(checkpoint):
    generator, config = load_generator(checkpoint)
    assert config["model"]["generator"]["base_channels"] == 4 and not generator.training
    out = predict(generator, torch.zeros(1, 3, 40, 56), torch.ones(1, 1, 40, 56))  # any size: padded to 16
    assert out.shape == (1, 3, 40, 56) and torch.isfinite(out).all()


def test_a_checkpoint_of_another_architecture_is_named(checkpoint, tmp_path):
    content = torch.load(checkpoint, weights_only=True)
    content["run_config"]["model"]["generator"]["base_channels"] = 8
    other = tmp_path / "other.ckpt"
    torch.save(content, other)
    with pytest.raises(CheckpointError, match=r"other.ckpt: the weights do not fit the generator .*base_channels': 8"):
        load_generator(other)


def test_a_checkpoint_from_before_attention_was_a_config_node_still_loads(checkpoint, tmp_path):
    content = torch.load(checkpoint, weights_only=True)
    node = content["run_config"]["model"]["generator"]
    attention = node.pop("attention")
    # The old form: the variant named by a string, its options on the generator.
    node.update(
        attention="multi_scale",
        propagate_size=attention["propagate_size"],
        softmax_scale=attention["softmax_scale"],
        se_reduction=attention["se_reduction"],
    )
    old = tmp_path / "old.ckpt"
    torch.save(content, old)
    generator, _ = load_generator(old)
    reference, _ = load_generator(checkpoint)
    image, mask = torch.rand(1, 3, 32, 32) * 2 - 1, torch.ones(1, 1, 32, 32)
    torch.testing.assert_close(predict(generator, image, mask), predict(reference, image, mask), rtol=0, atol=0)


@pytest.mark.parametrize(
    "target",
    [
        "os.system",
        "musical_inpaint.inference.load_generator",
        "no.such.module.Net",
        "${oc.create:{_target_: builtins.print, _args_: [x]}}",
    ],
)
def test_a_checkpoint_config_builds_networks_only(checkpoint, tmp_path, target, capsys):
    content = torch.load(checkpoint, weights_only=True)
    content["run_config"]["model"]["generator"]["attention"]["_target_"] = target
    bad = tmp_path / "bad.ckpt"
    torch.save(content, bad)
    with pytest.raises(CheckpointError, match=f"bad.ckpt: .*{re.escape(target)}"):
        load_generator(bad)
    assert "[x]" not in capsys.readouterr().out


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_checkpoints_cannot_run_code(tmp_path, capsys):
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "run_config": {"x": _Payload()}}, path)
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_generator(path)
    assert "this must never run" not in capsys.readouterr().out


# ---------------------------------------------------------------------------- inpainting CLI


def _mask_file(path, width, height, box=None, seed=None):
    if seed is not None:
        array = FreeFormMask("medium")(height, width, np.random.default_rng(seed)) * 255
    else:
        array = np.zeros((height, width))
        if box:
            top, left, bottom, right = box
            array[top:bottom, left:right] = 255
    Image.fromarray(array.astype(np.uint8)).save(path)
    return path


def _run(checkpoint, image, mask, output, *extra):
    return inpaint_main(
        [
            "--checkpoint",
            str(checkpoint),
            "--image",
            str(image),
            "--mask",
            str(mask),
            "--output",
            str(output),
            "--device",
            "cpu",
            *extra,
        ]
    )


@pytest.mark.parametrize(
    "relative, size, mode",
    [
        ("paris/context_encoder_pytorch/001_im.png", (227, 227), "RGB"),
        ("celeba/HumanFaceImageGenerator", (178, 218), "RGB"),
        ("places/generative_inpainting/case1_raw.png", (680, 512), "RGBA"),
    ],
)
@pytest.mark.parametrize("mask_kind", ["center", "free_form"])
def test_real_photos_keep_size_mode_and_known_pixels(
    checkpoint, shared_data, tmp_path, relative, size, mode, mask_kind
):
    source = shared_data / relative
    image = source if source.is_file() else sorted(source.glob("*.jpg"))[0]
    mask = "center" if mask_kind == "center" else _mask_file(tmp_path / "m.png", *size, seed=1)
    assert _run(checkpoint, image, mask, tmp_path / "out") == 0
    result = Image.open(tmp_path / "out" / f"{image.stem}.png")
    assert result.size == size and result.mode == mode
    original = np.asarray(Image.open(image))
    out = np.asarray(result)
    hole = np.asarray(Image.open(mask)) >= 127 if mask_kind != "center" else np.zeros(size[::-1], bool)
    if mask_kind == "center":
        hole[size[1] // 4 : size[1] // 4 + round(size[1] / 2), size[0] // 4 : size[0] // 4 + round(size[0] / 2)] = True
    assert np.array_equal(out[~hole], original[~hole])  # known pixels exactly unchanged
    assert not np.array_equal(out[hole], original[hole])


def test_folder_with_masks_matched_by_stem_grayscale_and_a_resized_mask(checkpoint, tmp_path, caplog):
    images, masks = tmp_path / "images", tmp_path / "masks"
    write_image(images / "a.png", 64, 48, seed=1)
    write_image(images / "b.jpg", 50, 70, seed=2, mode="L")
    masks.mkdir()
    _mask_file(masks / "a.png", 64, 48, box=(10, 10, 30, 40))
    _mask_file(masks / "b.png", 25, 35, box=(5, 5, 20, 20))  # half size: resized with a warning
    with caplog.at_level(logging.WARNING):
        assert _run(checkpoint, images, masks, tmp_path / "out") == 0
    assert "b.png is 25x35, the image 50x70: resized (nearest)" in caplog.text
    gray = Image.open(tmp_path / "out" / "b.png")
    assert gray.mode == "L" and gray.size == (50, 70)
    original = np.asarray(Image.open(images / "b.jpg"))
    assert np.array_equal(np.asarray(gray)[:10], original[:10])


def test_no_hole_returns_the_image_and_all_hole_stays_finite(checkpoint, tmp_path):
    image = write_image(tmp_path / "x.png", 40, 40)
    assert _run(checkpoint, image, _mask_file(tmp_path / "none.png", 40, 40), tmp_path / "a") == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a" / "x.png")), np.asarray(Image.open(image)))
    assert _run(checkpoint, image, _mask_file(tmp_path / "all.png", 40, 40, box=(0, 0, 40, 40)), tmp_path / "b") == 0
    filled = np.asarray(Image.open(tmp_path / "b" / "x.png")).astype(float)
    assert filled.std() < 60 and 0 < filled.mean() < 255  # a plain, finite image rather than noise


@pytest.fixture
def fills(monkeypatch):
    """What inpaint's network fill receives, per call: the image's shape and the hole's bounding
    box (top, bottom, left, right)."""
    import musical_inpaint.inpaint as inpaint

    shapes = []
    make_fill = inpaint.generator_fill

    def recorded(generator, device, precision):
        fill = make_fill(generator, device, precision)

        def spied(rgb, hole):
            rows, cols = np.nonzero(hole)
            shapes.append((rgb.shape, (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1)))
            return fill(rgb, hole)

        return spied

    monkeypatch.setattr(inpaint, "generator_fill", recorded)
    return shapes


def test_one_mask_for_a_folder_and_the_downscaled_strategy(checkpoint, tmp_path, fills):
    for i in range(2):
        write_image(tmp_path / "in" / f"{i}.png", 96, 80, seed=i)
    mask = _mask_file(tmp_path / "m.png", 96, 80, box=(20, 20, 60, 70))
    assert _run(checkpoint, tmp_path / "in", mask, tmp_path / "out", "--max-side", "48") == 0
    # 96 x 80 at a longest side of 48: the network fills 48 x 40, the hole halved and grown by the
    # pixels it partly covers there
    assert fills == [((40, 48, 3), (9, 31, 9, 36))] * 2
    hole = np.asarray(Image.open(mask)) >= 127
    for i in range(2):
        out, original = (
            np.asarray(Image.open(p)) for p in (tmp_path / "out" / f"{i}.png", tmp_path / "in" / f"{i}.png")
        )
        assert out.shape == original.shape and np.array_equal(out[~hole], original[~hole])
        assert not np.array_equal(out[hole], original[hole])
    # An image within --max-side is filled at its own size.
    fills.clear()
    assert _run(checkpoint, tmp_path / "in" / "0.png", mask, tmp_path / "full", "--max-side", "96") == 0
    assert fills == [((80, 96, 3), (20, 60, 20, 70))]


def test_the_crop_strategy_fills_a_window_around_the_hole(checkpoint, tmp_path, fills):
    image = write_image(tmp_path / "big.png", 120, 100, seed=3)
    mask = _mask_file(tmp_path / "m.png", 120, 100, box=(40, 50, 52, 60))  # rows 40-52, columns 50-60
    assert _run(checkpoint, image, mask, tmp_path / "crop", "--crop-margin", "16") == 0
    # The hole's bounding box grown by 16 pixels: rows 24-68, columns 34-76, the hole at 16 in it.
    assert fills == [((44, 42, 3), (16, 28, 16, 26))]
    out, original = np.asarray(Image.open(tmp_path / "crop" / "big.png")), np.asarray(Image.open(image))
    hole = np.asarray(Image.open(mask)) >= 127
    assert np.array_equal(out[~hole], original[~hole]) and not np.array_equal(out[hole], original[hole])
    # At a border the window is clipped; with --max-side too, a window larger than it is reduced.
    fills.clear()
    corner = _mask_file(tmp_path / "c.png", 120, 100, box=(0, 0, 30, 40))
    assert _run(checkpoint, image, corner, tmp_path / "corner", "--crop-margin", "20", "--max-side", "32") == 0
    assert fills == [((27, 32, 3), (0, 17, 0, 22))]  # the 50 x 60 window (rows x columns) at 27 x 32
    # A margin as large as the image is the full-resolution fill itself.
    fills.clear()
    assert _run(checkpoint, image, mask, tmp_path / "whole", "--crop-margin", "500") == 0
    assert _run(checkpoint, image, mask, tmp_path / "full") == 0
    assert fills[0] == fills[1] == ((100, 120, 3), (40, 52, 50, 60))
    assert np.array_equal(
        np.asarray(Image.open(tmp_path / "whole" / "big.png")), np.asarray(Image.open(tmp_path / "full" / "big.png"))
    )


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--crop-margin", "-1"), "--crop-margin -1: must be a number of pixels >= 0"),
        (("--max-side", "0"), "--max-side 0: must be a number of pixels >= 1"),
    ],
)
def test_sizes_that_cannot_work_are_named(checkpoint, tmp_path, capsys, extra, message):
    image = write_image(tmp_path / "p.png", 32, 32)
    assert _run(checkpoint, image, "center", tmp_path / "out", *extra) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_inference_stays_close_to_float32(checkpoint, tmp_path, precision):
    # On a GPU this is what --precision is for; the CPU's autocast reaches the same code.
    image = write_image(tmp_path / "p.png", 48, 40, seed=2)
    assert _run(checkpoint, image, "center", tmp_path / "fp32") == 0
    assert _run(checkpoint, image, "center", tmp_path / precision, "--precision", precision) == 0
    full, reduced = (np.asarray(Image.open(tmp_path / d / "p.png")).astype(float) for d in ("fp32", precision))
    hole = CenterMask()(40, 48) > 0.5
    assert np.array_equal(full[~hole], reduced[~hole])  # known pixels untouched at any precision
    assert np.abs(full - reduced)[hole].mean() < 4  # 8-bit levels: the same fill, rounded differently
    generator, _ = load_generator(checkpoint)
    batch, masks = torch.rand(2, 3, 24, 24) * 2 - 1, torch.ones(2, 1, 24, 24)  # all hole: still finite
    assert predict(generator, batch, masks, precision).dtype == torch.float32
    assert torch.isfinite(predict(generator, batch, masks, precision)).all()


def test_auto_device_is_cuda_then_mps_then_the_cpu(monkeypatch):
    from musical_inpaint.inference import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu") and pick_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cuda")


def test_bad_inputs_get_clear_errors(checkpoint, tmp_path, capsys):
    image = write_image(tmp_path / "images" / "photo.png", 32, 32)
    (tmp_path / "masks").mkdir()
    _mask_file(tmp_path / "masks" / "other.png", 32, 32)
    cases = [
        ((checkpoint, tmp_path / "images", tmp_path / "masks"), "no mask with the stem of photo.png"),
        ((checkpoint, tmp_path / "nothing.png", "center"), "nothing.png does not exist"),
        ((checkpoint, image, tmp_path / "nope"), "neither a file, a folder nor 'center'"),
        ((tmp_path / "none.ckpt", image, "center"), "no checkpoint at"),
    ]
    for (ckpt, img, mask), message in cases:
        assert _run(ckpt, img, mask, tmp_path / "out") == 2
        assert message in capsys.readouterr().err
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    assert _run(checkpoint, broken, "center", tmp_path / "out") == 2
    assert "cannot read image" in capsys.readouterr().err
    _mask_file(tmp_path / "masks" / "photo.png", 32, 32)
    _mask_file(tmp_path / "masks" / "photo.jpg", 32, 32)
    assert _run(checkpoint, tmp_path / "images", tmp_path / "masks", tmp_path / "out") == 2
    assert re.search(r"--mask .*masks: .*photo.jpg and .*photo.png have the same stem", capsys.readouterr().err)


def test_cli_entry_point_runs_as_a_module(checkpoint, tmp_path):
    image = write_image(tmp_path / "p.png", 32, 48)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "musical_inpaint.inpaint",
            "--checkpoint",
            str(checkpoint),
            "--image",
            str(image),
            "--mask",
            "center",
            "--output",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "o" / "p.png").size == (32, 48)


# ------------------------------------------------------------------- inputs are never lost


def test_inpaint_never_writes_over_its_inputs(checkpoint, tmp_path, capsys):
    photos = tmp_path / "photos"
    image = write_image(photos / "x.png", 40, 40, seed=3)
    before = image.read_bytes()
    assert _run(checkpoint, photos, "center", photos) == 2  # --output is the input folder
    assert "would replace the input" in capsys.readouterr().err and image.read_bytes() == before
    (tmp_path / "masks").mkdir()
    mask = _mask_file(tmp_path / "masks" / "x.png", 40, 40, box=(5, 5, 20, 20))
    assert _run(checkpoint, image, mask, tmp_path / "masks", "--overwrite") == 2  # a mask: never
    assert "would replace the mask" in capsys.readouterr().err and mask.is_file()
    assert _run(checkpoint, photos, "center", photos, "--overwrite") == 0  # asked for explicitly
    assert image.read_bytes() != before


def test_inpaint_refuses_existing_files_and_writes_nothing_partial(checkpoint, tmp_path, capsys):
    photos, out = tmp_path / "photos", tmp_path / "out"
    for name in ("a", "b", "c"):
        write_image(photos / f"{name}.png", 40, 40, seed=ord(name))
    assert _run(checkpoint, photos / "c.png", "center", out) == 0  # the last output of the folder, there already
    last = (out / "c.png").read_bytes()
    assert _run(checkpoint, photos, "center", out) == 2
    err = capsys.readouterr().err
    assert "c.png already exist" in err and "a.png" not in err
    assert sorted(p.name for p in out.iterdir()) == ["c.png"]  # nothing written
    assert (out / "c.png").read_bytes() == last
    assert _run(checkpoint, photos, "center", out, "--overwrite") == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]  # no temporary file left


def test_inpaint_keeps_every_result_of_inputs_sharing_a_stem(checkpoint, tmp_path, capsys):
    photos = tmp_path / "photos"
    write_image(photos / "a.jpg", 40, 40, seed=1)
    write_image(photos / "a.png", 40, 40, seed=2)
    write_image(photos / "sub" / "a.png", 40, 40, seed=3)
    assert _run(checkpoint, photos, "center", tmp_path / "out") == 0
    written = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.png"))
    assert written == ["a_jpg.png", "a_png.png", "sub/a.png"]
    assert "3 inpainted image(s)" in capsys.readouterr().out


def test_inpaint_output_that_is_a_file_is_a_clear_error(checkpoint, tmp_path, capsys):
    image = write_image(tmp_path / "x.png", 40, 40)
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    assert _run(checkpoint, image, "center", notes) == 2
    assert "cannot write to --output" in capsys.readouterr().err and notes.read_text() == "mine"


@pytest.mark.parametrize("refused", ["save", "rename"])
def test_inpaint_read_only_output_is_a_clear_error(checkpoint, tmp_path, capsys, monkeypatch, refused):
    # A read-only folder, as the OS answers it (root ignores file modes, so it is simulated):
    # refused when the temporary file is written, or when it is renamed to its name.
    import musical_inpaint.inpaint as inpaint

    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    image = write_image(tmp_path / "x.png", 40, 40)
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr(*((Image.Image, "save") if refused == "save" else (inpaint.os, "replace")), deny)
    assert _run(checkpoint, image, "center", locked) == 2
    err = capsys.readouterr().err
    assert re.search(r"inpaint: cannot write .*locked/x.png below --output: .*Permission denied", err), err
    assert not list(locked.iterdir())  # the partial file removed


@pytest.mark.parametrize("size", [(1, 1), (7, 9), (16, 16), (17, 40)])
def test_images_of_any_size_down_to_one_pixel_inpaint(checkpoint, tmp_path, size):
    width, height = size
    image = write_image(tmp_path / "tiny.png", width, height, seed=5)
    hole = np.zeros((height, width), bool)
    hole[height // 2, width // 2] = True
    _mask_file(tmp_path / "m.png", width, height, box=(height // 2, width // 2, height // 2 + 1, width // 2 + 1))
    assert _run(checkpoint, image, tmp_path / "m.png", tmp_path / "out") == 0
    out, original = np.asarray(Image.open(tmp_path / "out" / "tiny.png")), np.asarray(Image.open(image))
    assert out.shape == original.shape and np.array_equal(out[~hole], original[~hole])


@pytest.mark.parametrize("mode", ["1", "L", "I;16", "RGBA", "P"])
def test_masks_of_every_mode_mean_white_is_hole(checkpoint, tmp_path, mode):
    image = write_image(tmp_path / "x.png", 48, 32, seed=2)
    hole = np.zeros((32, 48), bool)
    hole[8:20, 10:30] = True
    if mode == "I;16":
        mask = Image.fromarray((hole * 65535).astype(np.uint16))
        mask.putpixel((0, 0), 200)  # dark in 16 bits: not a hole (an 8-bit reading would clip it to white)
    elif mode == "RGBA":  # white strokes on a transparent background, as painting tools save them
        rgba = np.zeros((32, 48, 4), np.uint8)
        rgba[hole] = 255
        mask = Image.fromarray(rgba, "RGBA")
    else:
        mask = Image.fromarray((hole * 255).astype(np.uint8)).convert(mode)
    mask.save(tmp_path / "m.png")
    assert _run(checkpoint, image, tmp_path / "m.png", tmp_path / "out") == 0
    out, original = np.asarray(Image.open(tmp_path / "out" / "x.png")), np.asarray(Image.open(image))
    assert np.array_equal(out[~hole], original[~hole]) and not np.array_equal(out[hole], original[hole])


def test_an_exif_rotated_photo_takes_its_mask_as_the_viewer_shows_it(checkpoint, tmp_path):
    stored = np.asarray(Image.open(write_image(tmp_path / "raw.png", 40, 24, seed=4)))  # 40 wide, 24 high
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    Image.fromarray(stored).save(tmp_path / "photo.jpg", exif=exif, quality=95)
    viewed = np.asarray(read_rgb(tmp_path / "photo.jpg"))
    assert viewed.shape[:2] == (40, 24)  # upright: 24 wide, 40 high
    hole = np.zeros((40, 24), bool)
    hole[2:12, 3:20] = True  # drawn over the upright view
    Image.fromarray((hole * 255).astype(np.uint8)).save(tmp_path / "m.png")
    assert _run(checkpoint, tmp_path / "photo.jpg", tmp_path / "m.png", tmp_path / "out") == 0
    out = np.asarray(Image.open(tmp_path / "out" / "photo.png"))
    assert out.shape == viewed.shape and np.array_equal(out[~hole], viewed[~hole])


def _picture_file(path, mode):
    """A 20 x 12 image file of `mode`, with varied pixels (and alpha where the mode has it)."""
    pixels = np.random.default_rng(5).integers(0, 256, (12, 20, 4), dtype=np.uint8)
    if mode == "exif":  # stored 20 wide, viewed upright 12 wide and 20 high
        exif = Image.Exif()
        exif[0x0112] = 6
        Image.fromarray(pixels[..., :3]).save(path, exif=exif)
    elif mode == "I;16":
        Image.fromarray(pixels[..., 0].astype(np.uint16) * 257).save(path)
    elif mode == "P":
        image = Image.fromarray(pixels[..., :3]).quantize(16)
        image.info["transparency"] = 3
        image.save(path, transparency=3)
    else:
        Image.fromarray(pixels, "RGBA").convert(mode).save(path)
    return path


@pytest.mark.parametrize("mode", ["exif", "L", "LA", "I;16", "RGBA", "P"])
def test_a_picture_read_once_inpaints_like_its_file(tmp_path, mode):
    path = _picture_file(tmp_path / "x.png", mode)
    picture = read_picture(path)
    assert np.array_equal(picture.rgb, np.asarray(read_rgb(path)))
    assert picture.grayscale == (mode in ("L", "LA", "I;16"))
    with Image.open(path) as opened:
        upright = ImageOps.exif_transpose(opened)
        expected_alpha = np.asarray(upright.convert("RGBA").getchannel("A")) if mode in ("LA", "RGBA", "P") else None
    assert (picture.alpha is None) == (expected_alpha is None)
    if expected_alpha is not None:
        assert np.array_equal(np.asarray(picture.alpha), expected_alpha) and (expected_alpha < 255).any()
    hole = np.zeros(picture.rgb.shape[:2], bool)
    hole[3:9, 4:10] = True

    def fill(rgb, hole):
        return np.where(hole[..., None], 7, rgb).astype(np.uint8)

    from_file, from_picture = inpaint_image(fill, path, hole), inpaint_image(fill, picture, hole)
    assert from_file.mode == from_picture.mode and np.array_equal(np.asarray(from_file), np.asarray(from_picture))
    assert from_file.mode == {"L": "L", "LA": "LA", "I;16": "L", "P": "RGBA", "RGBA": "RGBA"}.get(mode, "RGB")


def test_evaluate_on_a_missing_dataset_says_which_folder_in_one_line(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "musical_inpaint.evaluate",
            "method=telea",
            "dataset=photos",
            "crop_size=64",
            f"paths.data_dir={tmp_path / 'nowhere'}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "nowhere/bsds500/test is not a directory" in output
    assert "Traceback" not in output and not (tmp_path / "run" / "metrics.json").exists()


def test_file_names_with_spaces_and_non_ascii_letters(checkpoint, tmp_path):
    folder = tmp_path / "mes photos"
    write_image(folder / "café au lait.png", 40, 40, seed=6)
    (tmp_path / "masques").mkdir()
    _mask_file(tmp_path / "masques" / "café au lait.png", 40, 40, box=(10, 10, 30, 30))
    assert _run(checkpoint, folder, tmp_path / "masques", tmp_path / "sortie é") == 0
    assert Image.open(tmp_path / "sortie é" / "café au lait.png").size == (40, 40)


@pytest.mark.parametrize("size", [(1, 1), (20, 20), (17, 40)])
def test_padding_never_shows_the_hole_contents_to_the_network(checkpoint, size):
    generator, _ = load_generator(checkpoint)
    height, width = size
    torch.manual_seed(0)
    image = torch.rand(1, 3, height, width) * 2 - 1
    mask = torch.zeros(1, 1, height, width)
    mask[..., height // 2 :, width // 2 :] = 1  # reaches the border that padding copies
    bright, dark = image.clone(), image.clone()
    bright[mask.expand_as(image) > 0], dark[mask.expand_as(image) > 0] = 1.0, -1.0
    torch.testing.assert_close(predict(generator, bright, mask), predict(generator, dark, mask))
