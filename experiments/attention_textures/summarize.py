"""results.md and samples.png of the attention ablation on synthetic textures (run.sh).

    python experiments/attention_textures/summarize.py OUT_DIR [--write FOLDER]

OUT_DIR holds sweep/<job>/ (each run: .hydra/overrides.yaml names its attention and seed) and
eval/ (evaluate's folders: musical_<i> for the runs' checkpoints, telea, patchmatch, harmonic),
all on the same 200 held-out synthetic images; an image's distractor block (the paper's
"misleading background") is replayed from its name. Writes results.md (hole L1 and the paper's
metrics by variant, with and without a distractor; seed-paired differences with bootstrap
intervals; the copy task's top-1 per branch) and samples.png (four test images, each variant's
fill, and the multi-scale model's heaviest sources per branch).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import yaml
from torchvision.utils import save_image

from musical_inpaint.attention_flow import attention_flow, panel_and_summary
from musical_inpaint.data.masks import CenterMask
from musical_inpaint.data.synthetic import synthetic_sample
from musical_inpaint.evaluate import read_metrics, read_per_image
from musical_inpaint.imaging import from_uint8, to_unit
from musical_inpaint.inference import load_generator, predict

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "learning"))
from diagnose import copy_task  # noqa: E402

VARIANTS = {"multi_scale": "multi-scale (1x1 + 3x3)", "single_scale": "single-scale (3x3)", "none": "no attention"}
FLOORS = {"telea": "Telea", "patchmatch": "PatchMatch", "harmonic": "harmonic fill"}
COMPARISONS = [("multi_scale", "single_scale"), ("multi_scale", "none"), ("single_scale", "none")]
SIZE = 64


def read_runs(out: Path) -> dict[str, dict[int, Path]]:
    """attention -> seed -> run folder."""
    runs: dict[str, dict[int, Path]] = defaultdict(dict)
    for job in sorted((out / "sweep").iterdir()):
        if (job / "checkpoints" / "last.ckpt").is_file():
            overrides = dict(o.split("=", 1) for o in yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()))
            runs[overrides["attention"]][int(overrides.get("seed", 0))] = job
    return {v: dict(sorted(runs[v].items())) for v in VARIANTS if v in runs}


def evaluations(out: Path) -> dict[str, Path]:
    """evaluate's folder of each method: a run folder's path, or a classical method's name."""
    folders = {}
    for folder in sorted((out / "eval").iterdir()):
        if (folder / "metrics.json").is_file():
            label = read_metrics(folder)["label"]
            key = folder.name if folder.name in FLOORS else label[label.index("(") + 1 : label.rindex(")")]
            folders[str(Path(key).resolve().parents[1]) if key.endswith(".ckpt") else key] = folder
    return folders


def distractors(names: list[str]) -> np.ndarray:
    """Whether each synthetic test image (named synthetic_<seed>_<index>) holds a distractor block."""
    flags = []
    for name in names:
        _, seed, index = name.split("_")
        flags.append(synthetic_sample(SIZE, np.random.default_rng([int(seed), int(index)]))[1])
    return np.array(flags)


def hole_l1(folder: Path) -> tuple[list[str], np.ndarray]:
    rows = read_per_image(folder)
    return [r["name"] for r in rows], np.array([float(r["hole_l1_pct"]) for r in rows])


def mean_and_spread(values: list[float]) -> str:
    return f"{np.mean(values):.2f}" + (f" ({min(values):.2f}-{max(values):.2f})" if len(values) > 1 else "")


def tables(runs: dict, folders: dict[str, Path]) -> list[str]:
    names, _ = hole_l1(next(iter(folders.values())))
    with_block = distractors(names)
    subsets = {"all": np.ones_like(with_block), "with a distractor": with_block, "without": ~with_block}
    lines = [
        f"Hole L1 (%) on {len(names)} held-out synthetic images ({int(with_block.sum())} with a distractor block), "
        "the mean over seeds and, in brackets, the lowest and highest seed:",
        "",
        "| method | seeds | " + " | ".join(subsets) + " |",
        "|---|---|" + "---|" * len(subsets),
    ]
    per_image: dict[str, dict[int, np.ndarray]] = {}
    for variant, seeds in runs.items():
        per_image[variant] = {seed: hole_l1(folders[str(run.resolve())])[1] for seed, run in seeds.items()}
        cells = [
            mean_and_spread([float(v[subset].mean()) for v in per_image[variant].values()])
            for subset in subsets.values()
        ]
        lines.append(f"| {VARIANTS[variant]} | {len(seeds)} | " + " | ".join(cells) + " |")
    for method, label in FLOORS.items():
        values = hole_l1(folders[method])[1]
        lines.append(f"| {label} | - | " + " | ".join(f"{values[s].mean():.2f}" for s in subsets.values()) + " |")
    lines += ["", *paired(per_image, subsets)]
    return lines


def paired(per_image: dict, subsets: dict, resamples: int = 10_000) -> list[str]:
    """a - b per image, within each seed, averaged over the seeds both have; 95 % intervals from
    resampling the images (the same images for every seed)."""
    rng = np.random.default_rng(0)
    lines = [
        "Seed-paired differences of hole L1 (percentage points; below 0: the first is better), with 95 % "
        "bootstrap intervals over the images, and each seed's own difference:",
        "",
        "| comparison | subset | difference | 95 % interval | per seed |",
        "|---|---|---|---|---|",
    ]
    for a, b in COMPARISONS:
        if a not in per_image or b not in per_image:
            continue
        seeds = sorted(set(per_image[a]) & set(per_image[b]))
        differences = np.stack([per_image[a][s] - per_image[b][s] for s in seeds])  # seeds x images
        for subset, keep in subsets.items():
            d = differences[:, keep.astype(bool)]
            draws = rng.integers(d.shape[1], size=(resamples, d.shape[1]))
            means = d[:, draws].mean(axis=(0, 2))
            low, high = np.percentile(means, [2.5, 97.5])
            per_seed = ", ".join(f"{x:+.2f}" for x in d.mean(1))
            lines.append(
                f"| {VARIANTS[a]} - {VARIANTS[b]} | {subset} | {d.mean():+.2f} | [{low:+.2f}, {high:+.2f}] | {per_seed} |"
            )
    return lines


def copy_tasks(runs: dict) -> list[str]:
    lines = [
        "",
        "The copy task (`experiments/learning/diagnose.py attention`): a repeated smooth tile, the share of hole "
        "positions whose heaviest source is a true one, per branch (chance about 1/16):",
        "",
        "| variant | seed | branch | top-1 | attention mass on true sources | hole L1 % | Telea hole L1 % |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant, seeds in runs.items():
        if variant == "none":
            continue
        for seed, run in seeds.items():
            result = copy_task(load_generator(run)[0])
            for branch, values in result.items():
                if isinstance(values, dict):
                    lines.append(
                        f"| {VARIANTS[variant]} | {seed} | {branch} | {values['top1']:.3f} | {values['mass']:.3f} "
                        f"| {result['hole_l1_pct']:.2f} | {result['telea_hole_l1_pct']:.2f} |"
                    )
    return lines


def samples(runs: dict, path: Path, count: int = 4) -> list[str]:
    """Rows of masked | each variant's composite (seed 0) | truth, then the multi-scale model's
    heaviest sources per branch, on test images of which half hold a distractor."""
    names = [f"synthetic_2_{i:06d}" for i in range(40)]
    flags = distractors(names)
    chosen = [n for n, f in zip(names, flags, strict=True) if f][: count // 2]
    chosen += [n for n, f in zip(names, flags, strict=True) if not f][: count - len(chosen)]
    images = torch.stack(
        [from_uint8(synthetic_sample(SIZE, np.random.default_rng([2, int(n[-6:])]))[0]) for n in chosen]
    )
    mask = torch.from_numpy(CenterMask()(SIZE, SIZE)).float().expand(len(chosen), 1, SIZE, SIZE)
    generators = {v: load_generator(seeds[min(seeds)])[0] for v, seeds in runs.items()}
    rows = []
    for i in range(len(chosen)):
        image, hole = images[i : i + 1], mask[i : i + 1]
        tiles = [to_unit(image * (1 - hole) + hole)]
        for generator in generators.values():
            tiles.append(to_unit(predict(generator, image, hole) * hole + image * (1 - hole)))
        tiles.append(to_unit(image))
        row = torch.cat([t[0] for t in tiles], dim=-1)
        if "multi_scale" in generators:
            flow_row, _ = panel_and_summary(image, hole, attention_flow(generators["multi_scale"], image, hole))
            row = torch.cat([row, flow_row[..., 2 * SIZE :]], dim=-1)  # the branches' columns
        rows.append(row)
    save_image(torch.stack(rows), path, nrow=1, padding=2)
    columns = ["masked", *(VARIANTS[v] for v in generators), "truth"]
    columns += ["multi-scale: 1x1 sources", "multi-scale: 3x3 sources"] if "multi_scale" in generators else []
    return [
        "",
        f"`{path.name}`: columns {' | '.join(columns)}; rows: {', '.join(chosen)} (the first half with a distractor).",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--write", type=Path, help="folder for results.md and samples.png (default: OUT_DIR)")
    args = parser.parse_args()
    write = args.write or args.out
    write.mkdir(parents=True, exist_ok=True)
    runs = read_runs(args.out)
    if not runs:
        raise SystemExit(f"{args.out}/sweep holds no finished run")
    lines = [
        "# Results",
        "",
        *tables(runs, evaluations(args.out)),
        *copy_tasks(runs),
        *samples(runs, write / "samples.png"),
    ]
    (write / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
