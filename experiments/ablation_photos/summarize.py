"""results.md, curves.png and samples.png of the photos ablation (run.sh), from the runs' own files.

    python experiments/ablation_photos/summarize.py OUT_DIR [--write FOLDER] [--data DATA_DIR]

OUT_DIR holds sweep-seeds-*/<job>/ (each run: .hydra/overrides.yaml names its variant and seed,
csv/metrics.csv its validation curve, eval/<test set>/{metrics.json,per_image.csv} its test
figures) and floors/64/<test set>/<method>/ (the classical baselines, baselines.sh).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml

from musical_inpaint.evaluate import read_metrics, read_per_image
from musical_inpaint.inference import load_generator
from musical_inpaint.runs_table import batches_at, validations

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from photos_test_sets import comparison_grid  # noqa: E402

TEST_SETS = {
    "bsds500": "BSDS500 test",
    "urban100": "Urban100 img_081-100",
    "paris": "Paris eval",
    "places50": "Places50",
}
VARIANTS = {
    "full": "full MUSICAL (multi-scale + adv)",
    "no_adv": "Exp. 1: no adversarial loss",
    "single_scale": "Exp. 2: single-scale (3x3) + adv",
    "no_attention_no_adv": "control: no attention, no adv",
}
FLOORS = {"telea": "Telea", "navier_stokes": "Navier-Stokes", "patchmatch": "PatchMatch"}
METRICS = {"ssim": ("SSIM", 4), "psnr": ("PSNR (dB)", 2), "l1_pct": ("L1 (%)", 3), "hole_l1_pct": ("hole L1 (%)", 2)}
# The paper's claims, as seed-paired differences of hole L1 (a - b < 0: a is better).
COMPARISONS = [
    ("full", "no_adv", "the adversarial loss (paper, Exp. 1: full is better)"),
    ("full", "single_scale", "multi- vs single-scale attention (paper, Exp. 2: full is better)"),
    ("no_adv", "no_attention_no_adv", "attention at all (control, both without adv)"),
]
SIZE = 64


def read_runs(out: Path) -> dict[str, dict[int, Path]]:
    """variant -> seed -> run folder, for the runs of every sweep in `out` that were evaluated on
    every test set."""
    runs: dict[str, dict[int, Path]] = defaultdict(dict)
    jobs = [p for sweep in sorted(out.glob("sweep-seeds-*")) if sweep.is_dir() for p in sweep.iterdir()]
    for job in sorted((p for p in jobs if p.is_dir() and p.name.isdigit()), key=lambda p: (p.parent.name, int(p.name))):
        overrides = dict(o.split("=", 1) for o in yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()))
        if all((job / "eval" / t / "metrics.json").is_file() for t in TEST_SETS):
            runs[overrides["variant"]][int(overrides.get("seed", 0))] = job
    return {v: dict(sorted(runs[v].items())) for v in VARIANTS if v in runs}


def per_image_hole_l1(folder: Path) -> dict[str, float]:
    """Image name -> hole L1 in %."""
    return {row["name"]: float(row["hole_l1_pct"]) for row in read_per_image(folder)}


def spread(values: list[float], digits: int) -> str:
    """mean ± sample standard deviation over seeds."""
    text = f"{np.mean(values):.{digits}f}"
    return text + (f" ± {np.std(values, ddof=1):.{digits}f}" if len(values) > 1 else "")


def table(runs: dict, floors: Path) -> list[str]:
    header = "| test set | method | seeds | " + " | ".join(label for label, _ in METRICS.values()) + " |"
    lines = [header, "|---" * (3 + len(METRICS)) + "|"]
    for test_set, label in TEST_SETS.items():
        for variant, seeds in runs.items():
            found = [read_metrics(run / "eval" / test_set) for run in seeds.values()]
            cells = [spread([m[k] for m in found], digits) for k, (_, digits) in METRICS.items()]
            lines.append(f"| {label} | {VARIANTS[variant]} | {len(found)} | " + " | ".join(cells) + " |")
        for method, name in FLOORS.items():
            m = read_metrics(floors / str(SIZE) / test_set / method)
            cells = [f"{m[k]:.{digits}f}" for k, (_, digits) in METRICS.items()]
            lines.append(f"| {label} | {name} | – | " + " | ".join(cells) + " |")
    return lines


def learned(runs: dict, floors: Path) -> list[str]:
    """Each variant's mean hole L1 against Telea's and PatchMatch's on the same images."""
    lines = [
        "| test set | " + " | ".join(VARIANTS[v] for v in runs) + " | Telea | PatchMatch |",
        "|---" * (3 + len(runs)) + "|",
    ]
    for test_set, label in TEST_SETS.items():
        telea = read_metrics(floors / str(SIZE) / test_set / "telea")["hole_l1_pct"]
        patchmatch = read_metrics(floors / str(SIZE) / test_set / "patchmatch")["hole_l1_pct"]
        cells = []
        for seeds in runs.values():
            mean = np.mean([read_metrics(run / "eval" / test_set)["hole_l1_pct"] for run in seeds.values()])
            cells.append(f"{mean:.2f} ({mean / telea - 1:+.1%})")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {telea:.2f} | {patchmatch:.2f} |")
    return lines


def paired(runs: dict, resamples: int = 10_000) -> list[str]:
    """Seed-paired hole L1 differences a - b (points) for each of the paper's comparisons.

    The interval is a two-level bootstrap: seeds (pairs) and test images drawn with replacement,
    so it carries both the training noise and the choice of images. With 3 seeds the seed level
    has only 10 distinct resamples and understates the seed spread (by (n - 1) / n in variance):
    read it as a lower bound on the uncertainty. The sign test is over seeds
    (two-sided, exact): with 3 seeds it cannot go below p = 0.25, with 5 below 0.0625.
    """
    lines = [f"- {a} - {b}: {question}" for a, b, question in COMPARISONS] + [""]
    lines += [
        "| a - b | test set | per-seed differences | mean | 95 % interval (seeds x images) | a lower on | sign test p |",
        "|---|---|---|---|---|---|---|",
    ]
    rng = np.random.default_rng(0)
    for a, b, _ in COMPARISONS:
        if a not in runs or b not in runs:
            continue
        seeds = sorted(set(runs[a]) & set(runs[b]))
        for test_set, label in TEST_SETS.items():
            per_seed = []
            for seed in seeds:
                ours, theirs = (per_image_hole_l1(runs[v][seed] / "eval" / test_set) for v in (a, b))
                per_seed.append([ours[name] - theirs[name] for name in sorted(ours)])
            difference = np.array(per_seed)  # seeds x images
            n_seeds, n_images = difference.shape
            s = rng.integers(0, n_seeds, (resamples, n_seeds))
            i = rng.integers(0, n_images, (resamples, n_images))
            means = difference[s[:, :, None], i[:, None, :]].mean((1, 2))
            low, high = np.percentile(means, [2.5, 97.5])
            seed_means = difference.mean(1)
            lines.append(
                f"| {a} - {b} | {label} | "
                + ", ".join(f"{d:+.2f}" for d in seed_means)
                + f" | {difference.mean():+.2f} | [{low:+.2f}, {high:+.2f}] | {(seed_means < 0).sum()} / {n_seeds} seeds, "
                f"{(difference.mean(0) < 0).sum()} / {n_images} images | {sign_test(int((seed_means < 0).sum()), n_seeds):.3g} |"
            )
    return lines


def sign_test(lower: int, n: int) -> float:
    """Two-sided exact sign test: the chance of a split at least this uneven if either sign is as likely."""
    tail = sum(math.comb(n, k) for k in range(min(lower, n - lower) + 1)) / 2**n
    return min(1.0, 2 * tail)


def curves(runs: dict, path: Path) -> list[str]:
    """Validation hole L1 against batches: each seed faint, the mean over seeds bold, Telea dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    teleas, lines = [], []
    for (variant, seeds), colour in zip(runs.items(), ("C0", "C1", "C2", "C3")):
        curves_ = []
        for run in seeds.values():
            rows = validations(run)
            steps, holes = [batches_at(r) for r in rows], [float(r["val/hole_l1_pct"]) for r in rows]
            axis.plot(steps, holes, color=colour, alpha=0.25, linewidth=1)
            curves_.append(holes)
            teleas.append(float(rows[-1]["val/telea_hole_l1_pct"]))
        length = min(len(c) for c in curves_)
        mean = np.mean([c[:length] for c in curves_], 0)
        axis.plot(steps[:length], mean, color=colour, marker=".", linewidth=2, label=VARIANTS[variant])
        lines.append(f"- {VARIANTS[variant]}: " + ", ".join(f"{h:.2f}" for h in mean) + f" at batches {steps[:length]}")
    axis.axhline(np.mean(teleas), color="k", linestyle="--", label="Telea, same validation images (mean over seeds)")
    axis.set_xlabel("batches")
    axis.set_ylabel("validation hole L1 (%)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return [
        "Validation hole L1 (%), mean over seeds (each seed holds out its own 40 photos; the variants "
        f"of a seed share them; Telea on them {np.mean(teleas):.2f} % on average):",
        "",
        *lines,
    ]


def samples(runs: dict, data: Path, path: Path, seed: int, count: int = 4) -> list[str]:
    """Rows of masked | Telea | PatchMatch | each variant (seed `seed`) | ground truth, on the first
    `count` BSDS500 test images and the first `count` Urban100 held-out images; returns the variants shown."""
    generators = {
        v: load_generator(seeds[seed] / "checkpoints" / "last.ckpt")[0] for v, seeds in runs.items() if seed in seeds
    }
    comparison_grid(list(generators.values()), data, SIZE, path, count)
    return list(generators)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--write", type=Path, help="folder for results.md, curves.png, samples.png (default: OUT)")
    parser.add_argument("--data", type=Path, default=None, help="data dir (default: the runs' paths.data_dir)")
    args = parser.parse_args()
    runs = read_runs(args.out)
    if not runs:
        raise SystemExit(f"summarize: no evaluated run in {args.out}/sweep-seeds-*")
    first = next(iter(next(iter(runs.values())).values()))
    config = yaml.safe_load((first / "config.yaml").read_text())
    data = args.data or Path(config["paths"]["data_dir"])
    floors = args.out / "floors"
    target = args.write or args.out
    target.mkdir(parents=True, exist_ok=True)
    seed = min(next(iter(runs.values())))
    lines = [
        "# The paper's ablation on the real-photo benchmark: results",
        "",
        "Made by `experiments/ablation_photos/summarize.py` from the runs' files. Each run: "
        f"`experiment=ablation_photos`, {config['trainer']['max_steps']} batches of {config['dataset']['batch_size']} at "
        f"{SIZE} x {SIZE}, its last checkpoint; centre hole of half the side (the paper's protocol: composite, uint8, "
        "whole image; hole L1 extra). Mean ± standard deviation over seeds.",
        "",
        *table(runs, floors),
        "",
        "Hole L1 (%) of each variant's mean over seeds, relative to Telea's:",
        "",
        *learned(runs, floors),
        "",
        "Seed-paired differences of hole L1, a - b in points (negative: a is better), on the seeds both "
        "variants ran (the tables above pool each variant's own seeds). The 95 % interval resamples seeds and "
        "images; with 3 seeds it understates the seed spread, so read it as a lower bound on the uncertainty:",
        "",
        *paired(runs),
        "",
        *curves(runs, target / "curves.png"),
        "",
        "Runs: " + "; ".join(f"{v}: seeds {sorted(s)}" for v, s in runs.items()) + ".",
    ]
    if all((seeds[seed] / "checkpoints" / "last.ckpt").is_file() for seeds in runs.values() if seed in seeds):
        shown = samples(runs, data, target / "samples.png", seed)
        lines += [
            "",
            f"samples.png: rows of masked | Telea | PatchMatch | {' | '.join(shown)} (seed {seed}) | ground "
            "truth, on the first BSDS500 test and Urban100 held-out images.",
        ]
    else:  # the committed evidence holds no checkpoints
        lines += ["", "(no checkpoints here: samples.png not redrawn)"]
    (target / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
