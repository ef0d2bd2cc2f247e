"""Large photos three ways: at full resolution, reduced to --max-side with the hole pasted back,
and only a window around the hole (--crop-margin), alone and with --max-side: for a checkpoint
and the classical methods, on BSDS500 test (481 x 321) and Urban100 img_081-100 (about 1024
pixels a side) at their own size, each with one box hole of 5-20 % of the image, drawn from the
image's index.

    python experiments/large_photos/measure.py --checkpoint RUN --data-dir data --output OUT
        [--max-side 128] [--crop-margin 32] [--methods telea patchmatch] [--limit N]

Every mode goes through `inpaint`'s own code (`inpaint.Resolution`), so what is measured is what
`python -m musical_inpaint.inpaint --max-side / --crop-margin` writes. Writes OUT/per_image.csv
(one row per image, method and mode: hole L1 %, hole PSNR, SSIM, seconds) and OUT/results.md
(means with standard errors over the images, per test set, and each mode against full resolution
paired by image); `--summarize` rewrites results.md from an earlier run's per_image.csv.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

import numpy as np
import torch

from musical_inpaint.baselines import BASELINES
from musical_inpaint.data.images import read_rgb
from musical_inpaint.data.layouts import photos_files
from musical_inpaint.inference import load_generator
from musical_inpaint.inpaint import Resolution, generator_fill
from musical_inpaint.metrics import PROTOCOL, per_image_values
from musical_inpaint.ops.floats import flush_subnormals

TEST_SETS = ("bsds500", "urban100")
HOLE_AREA = (0.05, 0.20)  # of the image
HOLE_ASPECT = (0.5, 2.0)  # width / height
SHOWN = ("hole_l1_pct", "hole_psnr", "ssim")


def box_hole(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """One axis-aligned box of HOLE_AREA of the image and HOLE_ASPECT, placed uniformly."""
    area = rng.uniform(*HOLE_AREA) * height * width
    aspect = math.exp(rng.uniform(*np.log(HOLE_ASPECT)))
    hole_h = min(height, max(1, round(math.sqrt(area / aspect))))
    hole_w = min(width, max(1, round(area / hole_h)))
    top, left = int(rng.integers(height - hole_h + 1)), int(rng.integers(width - hole_w + 1))
    hole = np.zeros((height, width), bool)
    hole[top : top + hole_h, left : left + hole_w] = True
    return hole


def modes(max_side: int, crop_margin: int) -> dict[str, Resolution]:
    return {
        "full resolution": Resolution(),
        f"--max-side {max_side}": Resolution(max_side=max_side),
        f"--crop-margin {crop_margin}": Resolution(crop_margin=crop_margin),
        f"--crop-margin {crop_margin} --max-side {max_side}": Resolution(max_side, crop_margin),
    }


def scores(filled: np.ndarray, rgb: np.ndarray, hole: np.ndarray) -> dict[str, float]:
    as_tensor = lambda pixels: torch.from_numpy(pixels).permute(2, 0, 1)[None].double()
    mask = torch.from_numpy(hole)[None, None].double()
    values = per_image_values(PROTOCOL, as_tensor(filled), as_tensor(rgb), mask)
    return {name: float(values[name][0]) for name in SHOWN}


def measure(args: argparse.Namespace) -> list[dict]:
    fills = {name: BASELINES[name] for name in args.methods}
    if args.checkpoint:
        generator, _ = load_generator(args.checkpoint, "cpu")
        fills = {"MUSICAL": generator_fill(generator, torch.device("cpu")), **fills}
    rows = []
    for set_number, test_set in enumerate(TEST_SETS):
        files = photos_files(args.data_dir, "test", test_set)[: args.limit]
        for index, path in enumerate(files):
            rgb = np.asarray(read_rgb(path))
            hole = box_hole(*rgb.shape[:2], np.random.default_rng([args.seed, set_number, index]))
            for method, fill in fills.items():
                for mode, resolution in modes(args.max_side, args.crop_margin).items():
                    start = time.perf_counter()
                    filled = resolution.fill(fill, rgb, hole)
                    seconds = time.perf_counter() - start
                    assert np.array_equal(filled[~hole], rgb[~hole]), "known pixels changed"
                    rows.append(
                        dict(
                            set=test_set,
                            image=path.name,
                            size=f"{rgb.shape[1]}x{rgb.shape[0]}",
                            hole_pct=round(100 * hole.mean(), 2),
                            method=method,
                            mode=mode,
                            **scores(filled, rgb, hole),
                            seconds=round(seconds, 4),
                        )
                    )
            print(f"{test_set} {index + 1}/{len(files)} {path.name}", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    """Per test set, method and mode: the mean and standard error over images of each score."""
    lines = []
    for test_set in dict.fromkeys(r["set"] for r in rows):
        subset = [r for r in rows if r["set"] == test_set]
        count = len({r["image"] for r in subset})
        lines += [
            f"\n{test_set}: {count} images\n",
            "| method | mode | hole L1 (%) | hole PSNR (dB) | SSIM | s/image |",
        ]
        lines.append("|---|---|---|---|---|---|")
        for method in dict.fromkeys(r["method"] for r in subset):
            for mode in dict.fromkeys(r["mode"] for r in subset):
                cells = [
                    [r[k] for r in subset if r["method"] == method and r["mode"] == mode] for k in (*SHOWN, "seconds")
                ]
                shown = [
                    f"{np.mean(c):.3f} ± {np.std(c, ddof=1) / math.sqrt(len(c)) if len(c) > 1 else 0:.3f}"
                    for c in cells
                ]
                lines.append(f"| {method} | {mode} | " + " | ".join(shown) + " |")
    return "\n".join(lines) + "\n"


def paired(rows: list[dict], resamples: int = 10_000) -> str:
    """Per test set and method: each mode's hole L1 minus full resolution's, image by image, with
    95 % bootstrap intervals over the images (below 0: the mode is better)."""
    rng = np.random.default_rng(0)
    lines = ["\nHole L1 of each mode minus full resolution's (points), paired by image, 95 % bootstrap intervals:\n"]
    lines += ["| set | method | mode | difference | 95 % interval |", "|---|---|---|---|---|"]
    for test_set in dict.fromkeys(r["set"] for r in rows):
        for method in dict.fromkeys(r["method"] for r in rows):
            by_mode: dict[str, dict[str, float]] = {}
            for r in rows:
                if r["set"] == test_set and r["method"] == method:
                    by_mode.setdefault(r["mode"], {})[r["image"]] = float(r["hole_l1_pct"])
            full = by_mode.pop("full resolution")
            for mode, values in by_mode.items():
                d = np.array([values[image] - full[image] for image in full])
                means = d[rng.integers(len(d), size=(resamples, len(d)))].mean(1)
                low, high = np.percentile(means, [2.5, 97.5])
                lines.append(f"| {test_set} | {method} | {mode} | {d.mean():+.2f} | [{low:+.2f}, {high:+.2f}] |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="a photos_cpu run folder or .ckpt (omit: the classical methods only)")
    parser.add_argument("--data-dir", type=Path, required=True, help="the folder holding bsds500/ and urban100/")
    parser.add_argument("--output", type=Path, required=True, help="a new folder for per_image.csv and results.md")
    parser.add_argument("--max-side", type=int, default=128)
    parser.add_argument("--crop-margin", type=int, default=32)
    parser.add_argument("--methods", nargs="*", default=["telea", "patchmatch"], choices=sorted(BASELINES))
    parser.add_argument("--limit", type=int, default=None, help="the first N images of each test set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--summarize", action="store_true", help="only rewrite OUTPUT/results.md from its per_image.csv"
    )
    args = parser.parse_args(argv)
    flush_subnormals()
    if args.summarize:
        with open(args.output / "per_image.csv", newline="") as handle:
            rows = [
                {k: v if k in ("set", "image", "size", "method", "mode") else float(v) for k, v in r.items()}
                for r in csv.DictReader(handle)
            ]
    else:
        args.output.mkdir(parents=True, exist_ok=False)  # never over an earlier measurement
        rows = measure(args)
        with open(args.output / "per_image.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    (args.output / "results.md").write_text(table(rows) + paired(rows))
    print(table(rows) + paired(rows))


if __name__ == "__main__":
    main()
