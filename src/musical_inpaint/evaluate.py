"""Evaluation on a test split with the paper's protocol (musical_inpaint.metrics), for a trained
checkpoint or a classical baseline, printed beside the paper's published rows.

    python -m musical_inpaint.evaluate ckpt_path=logs/train/runs/RUN dataset=paris dataset.root=...
    python -m musical_inpaint.evaluate method=telea dataset=paris mask=free_form
    python -m musical_inpaint.evaluate method=[musical,telea,patchmatch] ckpt_path=RUN dataset=paris
    python -m musical_inpaint.evaluate method=[musical,results] ckpt_path=RUN results=DIR dataset=paris

`results` scores a folder of another method's inpainted images, matched by stem to the test
images; `write_inputs=DIR` writes the test images and masks for it (musical_inpaint.evaluation_files).

Writes metrics.json (means, per mask-area bin), per_image.csv and table.md in its run folder (with
several methods: one subfolder each, and one table of them all). Their columns, units and
definitions are the metrics' declarations (musical_inpaint.metrics.METRICS); `metrics.per_image`
adds per-image metrics defined outside the package (conf/evaluate.yaml shows an entry).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import hydra
import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import Tensor
from torchvision.utils import save_image
from tqdm import tqdm

from musical_inpaint.baselines import BASELINES, fill_with
from musical_inpaint.compat import upgrade_legacy
from musical_inpaint.config import CONFIG_DIR
from musical_inpaint.errors import user_error
from musical_inpaint.evaluation_files import ResultsFolder, check_every_image_read, scored_names, write_inputs
from musical_inpaint.imaging import composite, panel, quantise
from musical_inpaint.inference import check_precision, load_generator, pick_device, predict
from musical_inpaint.metrics import PROTOCOL, MetricSpec, per_image_metrics, per_image_values
from musical_inpaint.ops.floats import flush_subnormals
from musical_inpaint.perceptual_metrics import PerceptualEvaluation

log = logging.getLogger(__name__)

# Paper Table 1-3: 256 x 256 test images with the 128 x 128 centre hole.
_paper = lambda ssim, psnr, l1_pct: dict(ssim=ssim, psnr=psnr, l1_pct=l1_pct)
PAPER_ROWS: dict[str, dict[str, dict[str, float]]] = {
    "paris": {
        "CE": _paper(0.7879, 22.87, 2.943),
        "GLC": _paper(0.7925, 23.01, 2.771),
        "Shift-Net": _paper(0.8292, 23.85, 2.482),
        "MUSICAL": _paper(0.8428, 24.42, 2.264),
    },
    "places": {
        "CE": _paper(0.7794, 22.30, 3.157),
        "GLC": _paper(0.7886, 20.74, 3.551),
        "Shift-Net": _paper(0.7944, 21.14, 3.360),
        "MUSICAL": _paper(0.8025, 21.84, 3.063),
    },
    "celeba": {
        "CE": _paper(0.8631, 24.82, 2.208),
        "GLC": _paper(0.8776, 24.02, 2.360),
        "Shift-Net": _paper(0.8796, 25.13, 1.958),
        "MUSICAL": _paper(0.9008, 26.64, 1.629),
    },
}
AREA_BINS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 1.0)  # hole fraction bins, as LaMa reports


def _listed(value) -> list:
    """A config value that may be one value or a list of them, as a list."""
    return list(value) if isinstance(value, ListConfig) else [value]


def methods_of(cfg: DictConfig) -> list[tuple[str, str | None]]:
    """(method, source) pairs to evaluate: `method`, `ckpt_path` and `results` may each be one
    value or a list (`method=[musical,telea] ckpt_path=[RUN1,RUN2]`); every checkpoint goes with
    musical, every folder of `results` with results."""
    methods = _listed(cfg.method)
    sources = {
        "musical": ("ckpt_path", "<run folder or .ckpt>"),
        "results": ("results", "<folder of inpainted images>"),
    }
    pairs = []
    for method in methods:
        if method in sources:
            option, expected = sources[method]
            values = _listed(cfg.get(option))
            if not all(values):
                raise SystemExit(f"evaluate: method={method} needs {option}={expected}")
            pairs += [(method, str(value)) for value in values]
        elif method in BASELINES:
            pairs.append((method, None))
        else:
            raise SystemExit(
                f"evaluate: method must be 'musical', 'results' or one of {sorted(BASELINES)}, got {method!r}"
            )
    if not pairs:
        raise SystemExit("evaluate: method=[] names no method")
    return pairs


Fill = Callable[[Tensor, Tensor, list[str]], Tensor]  # (images in [-1, 1], masks, names) -> predictions


def build_method(cfg: DictConfig, datamodule, method: str, source: str | None) -> tuple[Fill, str]:
    """A function from (images in [-1, 1], masks, their names) to predictions, and a label for the table."""
    if method == "musical":
        device, precision = pick_device(cfg.device), check_precision(cfg.precision)
        generator, _ = load_generator(source, device, cfg.trust_modules)
        return (lambda image, mask, names: predict(generator, image.to(device), mask.to(device), precision).cpu()), (
            f"MUSICAL, ours ({source})"
        )
    if method == "results":
        dataset = datamodule.datasets["test"]
        check_every_image_read(dataset, f"results={source}")
        side = datamodule.crop_size
        return ResultsFolder(source, scored_names(dataset, cfg.limit), scored_names(dataset), (side, side)), (
            f"results ({source})"
        )
    return (lambda image, mask, names: fill_with(method, image, mask)), f"{method} (classical)"


def evaluate(cfg: DictConfig) -> dict | list[dict]:
    """Every method of `methods_of(cfg)` on the same test images and masks, side by side: one
    method writes metrics.json, per_image.csv and images/ into the run folder; several write them
    into a subfolder each (the method's name; musical_<i> for several checkpoints) and one
    table.md of all of them in the run folder. Returns the summary, or the list of summaries.
    Beyond the protocol's metrics: those `cfg.metrics` turns on, and the per-image ones it defines
    (`metrics.per_image`, `musical_inpaint.metrics.per_image_metrics`)."""
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if cfg.write_inputs:
        datamodule = instantiate(cfg.dataset)
        datamodule.setup("test")
        folder = Path(cfg.write_inputs)
        count = write_inputs(folder, datamodule.datasets["test"], cfg.limit, cfg)
        print(f"{count} test images and their masks written to {folder.resolve()} (images/, masks/, inputs.json)")
        return {"written": count, "folder": str(folder)}
    pairs = methods_of(cfg)
    defined = per_image_metrics(cfg.metrics.get("per_image"))
    datamodule = instantiate(cfg.dataset)
    datamodule.setup("test")
    several = {method for method in ("musical", "results") if sum(m == method for m, _ in pairs) > 1}
    options = {key: value for key, value in cfg.metrics.items() if key != "per_image"}
    extras = PerceptualEvaluation(**options, device=str(pick_device(cfg.device)))  # weights checked up front
    per_image = [*PROTOCOL, *extras.per_image_metrics, *defined]
    methods = []  # every checkpoint loaded and every results folder checked before any image is scored
    for number, (method, source) in enumerate(pairs):
        name = f"{method}_{number}" if method in several else method
        folder = output_dir if len(pairs) == 1 else output_dir / name
        methods.append((method, *build_method(cfg, datamodule, method, source), folder))
    summaries = []
    for method, fill, label, folder in methods:
        extras.reset()
        summaries.append(evaluate_method(cfg, datamodule, method, fill, label, folder, per_image, extras))
    table = markdown_table(summaries, datamodule.paper_benchmark, cfg.mask, [*per_image, *extras.set_metrics])
    (output_dir / "table.md").write_text(table)
    print(table)
    print(f"metrics, per-image CSVs and panels written to {output_dir.resolve()}")
    return summaries[0] if len(summaries) == 1 else summaries


def evaluate_method(
    cfg: DictConfig,
    datamodule,
    method: str,
    fill: Fill,
    label: str,
    folder: Path,
    per_image: Sequence[MetricSpec] = PROTOCOL,
    extras: PerceptualEvaluation | None = None,
) -> dict:
    """One method (`fill`, `build_method`) on the test split: its summary, with metrics.json and
    per_image.csv in `folder`; `per_image` are the metrics of each image (per_image.csv's
    columns), `extras` adds FID and P-IDS / U-IDS, overall and per hole-area bin."""
    folder.mkdir(parents=True, exist_ok=True)
    loader = datamodule.test_dataloader()
    batches = len(loader) if cfg.limit is None else min(len(loader), math.ceil(cfg.limit / loader.batch_size))
    rows, saved = [], 0
    for batch in tqdm(loader, desc=f"evaluating {label}", unit="batch", total=batches):
        take = len(batch["name"]) if cfg.limit is None else min(len(batch["name"]), cfg.limit - len(rows))
        if take <= 0:
            break
        image, mask, names, indices = batch["image"][:take], batch["mask"][:take], batch["name"][:take], batch["index"]
        prediction = fill(image, mask, list(names))
        out, gt = quantise(composite(prediction, image, mask)), quantise(image)
        values = {name: value.tolist() for name, value in per_image_values(per_image, out, gt, mask).items()}
        if extras is not None:
            extras.update(out, gt)
        for i in range(image.shape[0]):
            rows.append(
                dict(
                    name=names[i],
                    index=int(indices[i]),
                    hole_fraction=float(mask[i].mean()),
                    **{name: value[i] for name, value in values.items()},
                )
            )
        if saved < cfg.save_images:
            saved += _save_panels(folder / "images", image, mask, prediction, names, cfg.save_images - saved)
    if isinstance(fill, ResultsFolder) and (warning := fill.warning()):
        log.warning("%s", warning)
    if not rows:
        raise SystemExit("evaluate: the test split is empty")

    means = _means(rows, per_image, extras, list(range(len(rows))))
    metrics = [*per_image, *(extras.set_metrics if extras is not None else [])]
    beyond = [metric for metric in metrics if metric not in PROTOCOL]  # described in the file itself
    summary = dict(
        method=method,
        label=label,
        images=len(rows),
        **means,
        bins=_bins(rows, per_image, extras),
        dataset=OmegaConf.to_container(cfg.dataset, resolve=True),
        mask=OmegaConf.to_container(cfg.mask, resolve=True),
        units={metric.name: metric.units_entry(with_direction=metric in beyond) for metric in metrics},
        **({"definitions": {metric.name: metric.definition for metric in beyond}} if beyond else {}),
    )
    (folder / "metrics.json").write_text(json.dumps(summary, indent=2))
    with open(folder / "per_image.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return summary


def read_metrics(folder: Path) -> dict:
    """An evaluation's metrics.json, under today's metric names (`metrics.upgrade_legacy`)."""
    return upgrade_legacy(json.loads((Path(folder) / "metrics.json").read_text()), fractions=False)


def read_per_image(folder: Path) -> list[dict]:
    """An evaluation's per_image.csv rows, under today's metric names and units (older files
    held the L1 columns as fractions)."""
    with open(Path(folder) / "per_image.csv", newline="") as handle:
        return [upgrade_legacy(row, fractions=True) for row in csv.DictReader(handle)]


def _means(
    rows: list[dict],
    per_image: Sequence[MetricSpec],
    extras: PerceptualEvaluation | None = None,
    indices: list[int] | None = None,
) -> dict[str, float]:
    """The per-image metrics' means, and FID / IDS of these images."""
    means = {metric.name: float(np.mean([r[metric.name] for r in rows])) for metric in per_image}
    return {**means, **(extras.summary(indices) if extras is not None else {})}


def _bins(
    rows: list[dict], per_image: Sequence[MetricSpec], extras: PerceptualEvaluation | None = None
) -> dict[str, dict]:
    bins = {}
    for low, high in zip(AREA_BINS[:-1], AREA_BINS[1:]):
        inside = [
            i for i, r in enumerate(rows) if low < r["hole_fraction"] <= high or (low == 0 and r["hole_fraction"] == 0)
        ]
        if inside:
            means = _means([rows[i] for i in inside], per_image, extras, inside)
            bins[f"{low:.0%}-{high:.0%}"] = dict(images=len(inside), **means)
    return bins


def markdown_table(
    summaries: list[dict], dataset: str | None, mask_cfg: DictConfig, metrics: Sequence[MetricSpec] = PROTOCOL
) -> str:
    """Our rows under the paper's published rows (those only for its protocol: the centre hole), one
    column per metric of `metrics`; – where a row has no value."""
    columns = [metric.column for metric in metrics]
    header = lambda names: ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    cell = lambda value, digits: " – |" if value is None else f" {value:.{digits}f} |"
    cells = lambda r: "".join(cell(r.get(metric.name), metric.digits) for metric in metrics)
    lines = header(["method", *columns])
    papers_protocol = mask_cfg.get("_target_", "").endswith("CenterMask") and mask_cfg.get("fraction") == 0.5
    if dataset in PAPER_ROWS and papers_protocol:
        lines += [f"| {method} (paper) |" + cells(row) for method, row in PAPER_ROWS[dataset].items()]
    lines += [f"| {s['label']} |" + cells(s) for s in summaries]
    note = f"\n{summaries[0]['images']} test images" + (
        ""
        if dataset in PAPER_ROWS and papers_protocol
        else "; the paper's rows apply to its own test sets with the centre hole only"
    )
    for s in summaries:
        if len(s["bins"]) > 1:
            lines += ["", f"{s['label']}, by hole area:", "", *header(["hole area", "images", *columns])]
            lines += [f"| {name} | {b['images']} |" + cells(b) for name, b in s["bins"].items()]
    return "\n".join(lines) + "\n" + note + "\n"


def _save_panels(folder: Path, image: Tensor, mask: Tensor, prediction: Tensor, names: list[str], most: int) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    count = min(most, image.shape[0])
    for i in range(count):
        rows, columns = panel(image[i : i + 1], mask[i : i + 1], prediction[i : i + 1], raw_output=False)
        save_image(rows, folder / f"{Path(names[i]).stem}.png", nrow=columns)
    return count


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="evaluate")
def main(cfg: DictConfig) -> dict:
    flush_subnormals()
    try:
        return evaluate(cfg)
    except Exception as error:
        shown = user_error(error, cfg)
        if shown:
            log.error("%s", shown)
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
