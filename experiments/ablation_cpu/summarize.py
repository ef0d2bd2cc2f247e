"""Summarise the CPU ablation: tables of mean and spread over seeds, validation curves, sample grids.

    python experiments/ablation_cpu/summarize.py experiments/ablation_cpu

Reads sweep/<job>/{.hydra/overrides.yaml, csv/metrics.csv, eval_synthetic/, eval_paris/} and
baselines/<method>_<dataset>/metrics.json; writes results.md, hole_l1_curves.png, samples.png.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402
from PIL import Image  # noqa: E402

from musical_inpaint.evaluate import read_metrics  # noqa: E402
from musical_inpaint.runs_table import batches_at, validations  # noqa: E402

METRICS = ("ssim", "psnr", "l1_pct", "hole_l1_pct")
ATTENTIONS = ("multi_scale", "single_scale", "none")


def load_jobs(sweep: Path) -> list[dict]:
    jobs = []
    for folder in sorted(sweep.iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else -1):
        overrides_file = folder / ".hydra" / "overrides.yaml"
        if not overrides_file.is_file():
            continue
        overrides = dict(item.split("=", 1) for item in yaml.safe_load(overrides_file.read_text()))
        job = dict(
            folder=folder,
            attention=overrides["attention"],
            adv=float(overrides["adv_weight"]),
            seed=int(overrides["seed"]),
        )
        for split in ("synthetic", "paris"):
            metrics = folder / f"eval_{split}"
            job[split] = read_metrics(metrics) if (metrics / "metrics.json").is_file() else None
        job["curve"] = validation_curve(folder)
        jobs.append(job)
    return jobs


def validation_curve(run: Path) -> list[tuple[int, float]]:
    """(training batches seen, validation hole L1 in %) pairs of a run's metrics.csv."""
    return [(batches_at(row), float(row["val/hole_l1_pct"])) for row in validations(run)]


def variant(job: dict) -> str:
    return f"{job['attention']}, {'adv 0.3' if job['adv'] else 'no adv'}"


def mean_and_spread(values: list[float], digits: int) -> str:
    """ "mean ± sample standard deviation", or the mean alone for a single run."""
    spread = f" ± {np.std(values, ddof=1):.{digits}f}" if len(values) > 1 else ""
    return f"{np.mean(values):.{digits}f}{spread}"


def table(jobs: list[dict], split: str, baselines: dict[str, dict]) -> str:
    groups = defaultdict(list)
    for job in jobs:
        if job[split]:
            groups[variant(job)].append(job[split])
    lines = ["| variant | runs | SSIM | PSNR (dB) | mean L1 (%) | hole L1 (%) |", "|---|---|---|---|---|---|"]
    for name in sorted(groups, key=lambda n: (ATTENTIONS.index(n.split(",")[0]), n)):
        runs = groups[name]
        cells = [mean_and_spread([r[m] for r in runs], 4 if m == "ssim" else 3) for m in METRICS]
        lines.append(f"| {name} | {len(runs)} | " + " | ".join(cells) + " |")
    for method, result in sorted(baselines.items()):
        lines.append(
            f"| {method} (classical) | – | {result['ssim']:.4f} | {result['psnr']:.3f} | {result['l1_pct']:.3f} | "
            f"{result['hole_l1_pct']:.3f} |"
        )
    return "\n".join(lines)


def per_seed_differences(jobs: list[dict], split: str) -> str:
    """Paired by seed: hole L1 of multi_scale minus single_scale and minus none (negative = better)."""
    by_key = {(j["attention"], j["adv"], j["seed"]): j[split]["hole_l1_pct"] for j in jobs if j[split]}
    lines = ["| adversarial | seed | multi - single (hole L1 %) | multi - none (hole L1 %) |", "|---|---|---|---|"]
    for adv in sorted({j["adv"] for j in jobs}):
        for seed in sorted({j["seed"] for j in jobs}):
            try:
                multi = by_key[("multi_scale", adv, seed)]
                lines.append(
                    f"| {adv} | {seed} | {multi - by_key[('single_scale', adv, seed)]:+.3f} | "
                    f"{multi - by_key[('none', adv, seed)]:+.3f} |"
                )
            except KeyError:
                continue
    return "\n".join(lines)


def plot_curves(jobs: list[dict], path: Path) -> None:
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    colours = dict(multi_scale="tab:blue", single_scale="tab:orange", none="tab:green")
    for axis, adv in zip(axes, (0.0, 0.3)):
        for job in jobs:
            if job["adv"] == adv and job["curve"]:
                batches, values = zip(*job["curve"])
                label = job["attention"] if job["seed"] == 0 else None
                axis.plot(batches, values, color=colours[job["attention"]], alpha=0.8, label=label, marker="o")
        axis.set_title(f"adversarial weight {adv}")
        axis.set_xlabel("training batches (of 8 images)")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("validation hole L1 (%)")
    axes[0].legend(title="attention (3 seeds each)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def sample_grid(jobs: list[dict], path: Path) -> None:
    """For seed 0: the first evaluation panels (masked | composite | ground truth) of each variant."""
    rows = []
    for job in sorted((j for j in jobs if j["seed"] == 0), key=lambda j: (ATTENTIONS.index(j["attention"]), j["adv"])):
        panels = sorted((job["folder"] / "eval_synthetic" / "images").glob("*.png"))[:4]
        if panels:
            rows.append(np.concatenate([np.asarray(Image.open(p).convert("RGB")) for p in panels], 1))
    if rows:
        Image.fromarray(np.concatenate(rows, 0)).save(path)


def main(here: Path) -> None:
    jobs = load_jobs(here / "sweep")
    baselines = defaultdict(dict)
    for metrics in sorted((here / "baselines").glob("*/metrics.json")):
        method, split = metrics.parent.name.rsplit("_", 1)
        baselines[split][method] = read_metrics(metrics.parent)
    plot_curves(jobs, here / "hole_l1_curves.png")
    sample_grid(jobs, here / "samples.png")
    report = [
        f"{len(jobs)} runs. Mean ± sample standard deviation over seeds.",
        "\n## Held-out synthetic images (100, 64 x 64, centre hole)\n",
        table(jobs, "synthetic", baselines.get("synthetic", {})),
        "\n### Paired by seed (synthetic)\n",
        per_seed_differences(jobs, "synthetic"),
        "\n## Real Paris StreetView test images (100, 256 x 256, centre hole)\n",
        table(jobs, "paris", baselines.get("paris", {})),
    ]
    (here / "results.md").write_text("\n".join(report) + "\n")
    print("\n".join(report))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
