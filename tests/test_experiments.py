"""The measuring tools behind experiments/: the grid's spectral peaks, the paired comparisons and
the verdict table of a photos_cpu run, on inputs whose answers are known."""

import csv
import importlib.util
import json
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def load(path: str):
    spec = importlib.util.spec_from_file_location(Path(path).stem, EXPERIMENTS / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


summarize = load("photos_cpu/summarize.py")
diagnose = load("learning/diagnose.py")


def smooth_images(count: int, size: int) -> torch.Tensor:
    torch.manual_seed(0)
    coarse = torch.rand(count, 3, size // 8, size // 8)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)


def test_edge_distance_is_the_chessboard_distance_to_the_nearest_known_pixel():
    """Against a literal search over every known pixel, for a centre hole, a hole on the border
    (the image's edge is not a known pixel) and an irregular one."""
    rng = np.random.default_rng(0)
    masks = torch.zeros(3, 1, 12, 16)
    masks[0, 0, 3:9, 4:12] = 1
    masks[1, 0, :5, :7] = 1
    masks[2, 0] = torch.from_numpy(rng.random((12, 16)) < 0.6).float()
    distance = diagnose.edge_distance(masks)
    for image in range(3):
        hole = masks[image, 0].numpy() > 0
        known = np.argwhere(~hole)
        for y, x in np.argwhere(hole):
            expected = np.abs(known - [y, x]).max(1).min()
            assert distance[image, 0, y, x] == expected, (image, y, x)
        assert (distance[image, 0][~torch.from_numpy(hole)] == 0).all()
    # Per ring the sums and counts add up to the hole's: the rings cover every distance once.
    image, filled = torch.zeros(3, 3, 12, 16), torch.full((3, 3, 12, 16), 0.5)
    rings = diagnose.ring_errors(filled, image, distance)
    assert sum(count for _, count in rings) == masks.sum()


def test_low_pass_is_a_gaussian_convolution_reflected_at_the_borders():
    """Against a literal sum over the reflected neighbourhood of each pixel."""
    torch.manual_seed(0)
    images = torch.rand(2, 3, 9, 12, dtype=torch.float64)
    sigma, radius = 1.0, 3
    blurred = diagnose.low_pass(images, sigma)
    weights = np.exp(-(np.arange(-radius, radius + 1) ** 2) / (2 * sigma**2))
    weights /= weights.sum()
    reflect = lambda i, n: -i if i < 0 else (2 * (n - 1) - i if i >= n else i)
    array = images.numpy()
    for y, x in [(0, 0), (4, 5), (8, 11), (2, 10)]:
        expected = sum(
            weights[dy + radius] * weights[dx + radius] * array[:, :, reflect(y + dy, 9), reflect(x + dx, 12)]
            for dy in range(-radius, radius + 1)
            for dx in range(-radius, radius + 1)
        )
        np.testing.assert_allclose(blurred[:, :, y, x].numpy(), expected, rtol=1e-12)
    constant = torch.full((1, 3, 5, 5), 0.3, dtype=torch.float64)
    torch.testing.assert_close(diagnose.low_pass(constant, 4.0), constant)  # the radius shrinks to fit a tiny image


def test_scale_fills_keep_the_truth_and_move_the_fill_to_the_true_mean():
    """The truth with its own coarse part swapped in is the truth; the shifted fill has the
    truth's mean in the hole."""
    image = smooth_images(2, 32) * 2 - 1
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    of_the_truth = diagnose.scale_fills(image, image, mask)
    for name, values in of_the_truth.items():
        torch.testing.assert_close(values, image, msg=name)
    filled = torch.zeros_like(image)
    shifted = diagnose.scale_fills(filled, image, mask)["fill at the true hole mean"]
    hole_mean = lambda x: (x * mask).sum((2, 3)) / mask.sum((2, 3))
    torch.testing.assert_close(hole_mean(shifted), hole_mean(image))
    outside = torch.randn_like(image)  # what a network outputs on the known pixels is not used
    reference = diagnose.scale_fills(filled, image, mask)
    for name, values in diagnose.scale_fills(filled * mask + outside * (1 - mask), image, mask).items():
        torch.testing.assert_close(values, reference[name], msg=name)


def test_checkpoint_columns_are_named_by_their_runs():
    assert diagnose._run_names(["a/K3/train/checkpoints/last.ckpt", "b/R1/checkpoints/last.ckpt"]) == ["K3", "R1"]
    twins = ["a/K3/train/checkpoints/last.ckpt", "b/K3/train/checkpoints/last.ckpt"]
    assert diagnose._run_names(twins) == twins


def test_period_peaks_find_a_grid_of_four_and_stripes_of_two():
    """The measure reads the frequencies along each axis: the rows and columns a transposed
    convolution of stride 2 prints (a diagonal checkerboard alone would not show)."""
    images = smooth_images(6, 64)
    rows = torch.arange(64)
    wave = torch.cos(rows * torch.pi / 2)  # period 4, no harmonics
    grid = (wave[:, None] + wave[None, :]) * 0.1
    stripes = (rows % 2).float()[None, :].expand(64, 64) * 0.2  # odd columns brighter
    clean, gridded, striped = (diagnose.period_peaks(x) for x in (images, images + grid, images + stripes))
    assert clean["period 4"] < 3 and clean["period 2"] < 3
    assert gridded["period 4"] > 100 * clean["period 4"] and gridded["period 2"] < 3
    assert striped["period 2"] > 100 * clean["period 2"] and striped["period 4"] < 3


def test_paired_difference_is_the_mean_of_per_image_differences():
    ours, theirs = {"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 2.0, "b": 2.0, "c": 1.0}  # differences -1, 0, +2
    mean, interval, lower = (
        cell.strip() for cell in summarize.paired_difference(ours, theirs, np.random.default_rng(0)).split("|")
    )
    assert mean == "+0.33" and lower == "1 / 3"
    low, high = (float(x) for x in interval.strip("[]").split(","))
    assert -1 <= low <= 0.34 <= high <= 2


def write_evaluation(folder: Path, per_image: dict[str, float]) -> None:
    """An evaluation folder as `musical_inpaint.evaluate` writes it: metrics.json and per_image.csv."""
    folder.mkdir(parents=True)
    mean = sum(per_image.values()) / len(per_image)
    metrics = dict(method="x", images=len(per_image), ssim=0.8, psnr=20.0, l1_pct=3.0, hole_l1_pct=mean, hole_psnr=15.0)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    with open(folder / "per_image.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "index", "hole_fraction", "ssim", "psnr", "l1_pct", "hole_l1_pct", "hole_psnr"])
        for index, (name, value) in enumerate(per_image.items()):
            writer.writerow([name, index, 0.25, 0.8, 20.0, 3.0, value, 15.0])


@pytest.fixture
def run_folder(tmp_path):
    """A photos_cpu run's eval/ and floors/64/: ours 8.0 % everywhere, Telea 10.0, PatchMatch
    9.0 on BSDS500 (ours 11 % below the better) and 8.5 elsewhere (6 % below)."""
    images = [f"{i}.png" for i in range(4)]
    for test_set in summarize.TEST_SETS:
        write_evaluation(tmp_path / "eval" / test_set, dict.fromkeys(images, 8.0))
        for method, value in (
            ("telea", 10.0),
            ("navier_stokes", 11.0),
            ("patchmatch", 9.0 if test_set == "bsds500" else 8.5),
        ):
            write_evaluation(tmp_path / "floors" / "64" / test_set / method, dict.fromkeys(images, value))
    return tmp_path


def test_the_verdict_is_ten_percent_below_the_better_classical_method(run_folder):
    verdicts = {
        line.split(" | ")[0].lstrip("| "): line for line in summarize.table(run_folder, 64) if "below" not in line
    }
    assert verdicts["BSDS500 test"].endswith("| 8.00 | 10.00 | 9.00 | -11.1% | yes |")
    assert verdicts["Urban100 img_081-100"].endswith("| 8.00 | 10.00 | 8.50 | -5.9% | no |")


def test_paired_script_compares_two_runs_image_by_image(run_folder, tmp_path, monkeypatch, capsys):
    def run_paired(*arguments: str, check: bool) -> subprocess.CompletedProcess:
        """The script as its command line runs it, in this process (a process each took seconds)."""
        monkeypatch.setattr(sys, "argv", ["paired.py", *arguments])
        monkeypatch.setattr(sys, "path", list(sys.path))  # the script inserts its folder
        monkeypatch.delitem(sys.modules, "summarize", raising=False)  # the script's own, photos_cpu's
        try:
            runpy.run_path(str(EXPERIMENTS / "learning" / "paired.py"), run_name="__main__")
            code, message = 0, ""
        except SystemExit as exit_:
            code, message = 1, str(exit_.code)
        out = capsys.readouterr()
        assert not (check and code), message
        return subprocess.CompletedProcess(arguments, code, out.out, out.err + message)

    other = tmp_path / "other"
    for test_set in summarize.TEST_SETS:
        write_evaluation(other / test_set, {"0.png": 7.0, "1.png": 8.0, "2.png": 8.0, "3.png": 9.0})
    result = run_paired(str(run_folder / "eval"), str(other), check=True)
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1:] for line in result.stdout.splitlines()[2:]}
    assert set(rows) == set(summarize.TEST_SETS)
    mean, interval, lower, a, b, best = rows["bsds500"]
    assert mean == "+0.00" and lower == "1 / 4"  # B - A: -1, 0, 0, +1
    low, high = (float(x) for x in interval.strip("[]").split(","))
    assert -1 <= low < 0 < high <= 1
    assert (a, b, best) == ("8.00", "8.00", "7.75 |")  # the lower per image: 7, 8, 8, 8
    # A classical method's floors, named with {} for the test set: Telea's 10.0 against B's 7-9.
    result = run_paired(str(run_folder / "floors" / "64" / "{}" / "telea"), str(other), check=True)
    assert "| bsds500 | -2.00 |" in result.stdout and result.stdout.splitlines()[2].endswith(
        "| 4 / 4 | 10.00 | 8.00 | 8.00 |"
    )
    # Two runs joined by a comma: their errors averaged per image, B = (7.5, 8, 8, 8.5) against A's
    # (7, 8, 8, 9); the lower per image is then (7, 8, 8, 8.5), which neither run alone gives.
    result = run_paired(str(other), f"{run_folder / 'eval'},{other}", check=True)
    assert result.stdout.splitlines()[2].startswith("| bsds500 | +0.00 |")
    assert result.stdout.splitlines()[2].endswith("| 1 / 4 | 8.00 | 8.00 | 7.88 |")
    # Runs that scored other images are refused, naming the run.
    write_evaluation(tmp_path / "few" / "bsds500", {"0.png": 7.0})
    result = run_paired(str(run_folder / "eval"), f"{other},{tmp_path / 'few'}", check=False)
    assert result.returncode != 0 and "few scored other bsds500 images" in result.stderr
    # So are two sides that scored other images, and an empty run in a comma-joined list.
    result = run_paired(str(other), str(tmp_path / "few"), check=False)
    assert (
        result.returncode != 0
        and "few scored other bsds500 images than" in result.stderr
        and "Traceback" not in result.stderr
    )
    result = run_paired(str(other), f"{other},", check=False)
    assert result.returncode != 0 and "an empty run in" in result.stderr and "Traceback" not in result.stderr
    # A run that scored two of the four test sets is paired on those two, and the others named.
    for test_set in ("bsds500", "urban100"):
        write_evaluation(tmp_path / "two" / test_set, {"0.png": 7.0, "1.png": 8.0, "2.png": 8.0, "3.png": 9.0})
    result = run_paired(str(run_folder / "eval"), str(tmp_path / "two"), check=True)
    assert [line.split(" | ")[0] for line in result.stdout.splitlines()[2:4]] == ["| bsds500", "| urban100"]
    assert result.stdout.splitlines()[-1] == "not scored by every run, left out: paris, places50"
    result = run_paired(str(run_folder / "eval"), str(tmp_path / "none"), check=False)
    assert result.returncode != 0 and "no test set scored by every run" in result.stderr


def test_the_texture_ablation_pairs_the_variants_by_seed_and_image():
    textures = load("attention_textures/summarize.py")
    names = [f"synthetic_2_{i:06d}" for i in range(6)]
    flags = textures.distractors(names)
    assert flags.dtype == bool and 0 < flags.sum() < 6  # replayed from the images themselves
    subsets = {"all": np.ones(6, dtype=bool), "with a distractor": flags}
    base = np.arange(6, dtype=float)
    per_image = {  # multi-scale 1 point below single-scale on every image of both seeds; none 2 above it
        "multi_scale": {0: base, 1: base + 1},
        "single_scale": {0: base + 1, 1: base + 2},
        "none": {0: base + 3, 1: base + 4},
    }
    rows = {tuple(line.split(" | ")[:2]): line for line in textures.paired(per_image, subsets, resamples=200)[4:]}
    assert rows[("| multi-scale (1x1 + 3x3) - single-scale (3x3)", "all")].endswith(
        "| -1.00 | [-1.00, -1.00] | -1.00, -1.00 |"
    )
    assert rows[("| single-scale (3x3) - no attention", "with a distractor")].endswith(
        "| -2.00 | [-2.00, -2.00] | -2.00, -2.00 |"
    )


def test_the_large_photo_modes_are_measured_through_inpaints_own_code(checkpoint, tmp_path):
    from tests.helpers.layouts import make_photos

    large = load("large_photos/measure.py")
    rng = np.random.default_rng(0)
    areas = [large.box_hole(321, 481, rng).mean() for _ in range(200)]
    assert 0.049 < min(areas) and max(areas) < 0.201  # 5-20 % of the image
    root = make_photos(tmp_path / "photos", urban=82)
    large.main(
        ["--checkpoint", str(checkpoint), "--data-dir", str(root), "--output", str(tmp_path / "out")]
        + ["--methods", "telea", "--max-side", "12", "--crop-margin", "2", "--limit", "2"]
    )
    with open(tmp_path / "out" / "per_image.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * 2 * 2 * 4  # test sets x images x methods x modes
    assert {r["mode"] for r in rows} == {
        "full resolution",
        "--max-side 12",
        "--crop-margin 2",
        "--crop-margin 2 --max-side 12",
    }
    assert all(np.isfinite(float(r["hole_l1_pct"])) for r in rows)
    results = (tmp_path / "out" / "results.md").read_text()
    assert "bsds500: 2 images" in results and "| MUSICAL | --crop-margin 2 |" in results
    assert "| bsds500 | MUSICAL | --crop-margin 2 |" in results  # paired against full resolution
    before = results
    (tmp_path / "out" / "results.md").unlink()
    large.main(["--data-dir", str(root), "--output", str(tmp_path / "out"), "--summarize"])
    assert (tmp_path / "out" / "results.md").read_text() == before  # the same, from per_image.csv alone
    with pytest.raises(FileExistsError):  # never over an earlier measurement
        large.main(["--data-dir", str(root), "--output", str(tmp_path / "out"), "--methods", "telea"])
