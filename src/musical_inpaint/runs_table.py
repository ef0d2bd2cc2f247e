"""One table of training runs: each run's overrides, status, batches trained, its final and best
monitored metric, its validation hole L1 beside Telea's, and its folder; failed runs appear as
failed.

    python -m musical_inpaint.runs_table logs/train/multirun/2026-12-01_10-00-00   # a sweep folder
    python -m musical_inpaint.runs_table RUN_DIR [RUN_DIR ...] [--output DIR]

A multirun writes the same table into its sweep folder when it ends (`SweepTable`, a Hydra
callback in train.yaml): runs.md and runs.csv.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from musical_inpaint.compat import current_name, upgrade_legacy
from musical_inpaint.metrics import METRICS

# The validation metric shown beside the classical floor's (training.callbacks.ClassicalFloor: Telea).
BESIDE_FLOOR = METRICS["hole_l1_pct"]
VAL_COLUMN = f"val {BESIDE_FLOOR.label} {BESIDE_FLOOR.unit}".strip()
FLOOR_COLUMN = f"Telea {BESIDE_FLOOR.label} {BESIDE_FLOOR.unit}".strip()
# "batches": the last step of the run's CSV; steps count batches (generator updates).
COLUMNS = ("run", "overrides", "status", "batches", "monitor", "final", "best", VAL_COLUMN, FLOOR_COLUMN)


def run_folders(paths: list[Path]) -> list[Path]:
    """Run folders themselves, and the job folders of sweep folders (numbered, in job order)."""
    runs = []
    for path in paths:
        if (path / ".hydra").is_dir() or (path / "config.yaml").is_file():
            runs.append(path)
        else:
            jobs = [p for p in path.iterdir() if p.is_dir() and p.name.isdigit()] if path.is_dir() else []
            if not jobs:
                raise SystemExit(f"runs_table: {path} is neither a run folder nor a sweep folder")
            runs += sorted(jobs, key=lambda p: int(p.name))
    return runs


def batches_at(row: dict) -> int:
    """Batches trained when a metrics.csv row was logged. Runs log their step as the batch count;
    CSVs from before that (the ones with Lightning's `epoch` column) hold the 0-based batch index."""
    return int(row["step"]) + (1 if row.get("epoch") not in (None, "") else 0)


def validations(run: Path, metric: str = f"val/{BESIDE_FLOOR.name}") -> list[dict]:
    """The rows of a run's metrics.csv that hold `metric`: one per validation (older CSVs' L1
    columns read under today's names and unit, `metrics.upgrade_legacy`)."""
    path = run / "csv" / "metrics.csv"
    if not path.is_file():
        return []
    with open(path) as handle:
        rows = [upgrade_legacy(row, fractions=True) for row in csv.DictReader(handle)]
    return [row for row in rows if row.get(current_name(metric)) not in (None, "")]


def describe(run: Path) -> dict:
    """One row: what the run was asked to do and how it ended."""
    overrides_file = run / ".hydra" / "overrides.yaml"
    overrides = " ".join(yaml.safe_load(overrides_file.read_text()) or []) if overrides_file.is_file() else ""
    config = yaml.safe_load((run / "config.yaml").read_text()) if (run / "config.yaml").is_file() else {}
    monitor, mode = current_name(config.get("monitor", "val/ssim")), config.get("monitor_mode", "max")
    rows = validations(run, "step")  # every logged row
    checked = validations(run, monitor)
    values = [float(r[monitor]) for r in checked]
    # A run killed from outside (or still running) has no FAILED note: "validated" says only that.
    status = "failed" if (run / "FAILED").is_file() else "validated" if checked else "no validation"
    last = checked[-1] if checked else {}
    beside = lambda key: f"{float(last[key]):.2f}" if last.get(key) else ""
    return {
        "run": str(run),
        "overrides": overrides,
        "status": status,
        "batches": max((batches_at(r) for r in rows), default=0),
        "monitor": monitor,
        "final": f"{values[-1]:.4f}" if values else "",
        "best": f"{(min if mode == 'min' else max)(values):.4f}" if values else "",
        VAL_COLUMN: beside(f"val/{BESIDE_FLOOR.name}"),
        FLOOR_COLUMN: beside(f"val/telea_{BESIDE_FLOOR.name}"),
    }


def markdown(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(row[c]).replace("|", "\\|") or "–" for c in COLUMNS) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_table(runs: list[Path], output: Path) -> list[dict]:
    """runs.md and runs.csv in `output`; returns the rows."""
    rows = [describe(run) for run in runs]
    output.mkdir(parents=True, exist_ok=True)
    with open(output / "runs.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    (output / "runs.md").write_text(markdown(rows))
    return rows


class SweepTable(Callback):
    """Writes runs.md and runs.csv into the sweep folder when a multirun ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep = Path(config.hydra.sweep.dir)
        if sweep.is_dir() and any(p.is_dir() and p.name.isdigit() for p in sweep.iterdir()):
            rows = write_table(run_folders([sweep]), sweep)
            failed = sum(row["status"] == "failed" for row in rows)
            print(f"sweep table of {len(rows)} job(s) ({failed} failed): {sweep / 'runs.md'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="run folders or sweep folders")
    parser.add_argument("--output", type=Path, help="where runs.md / runs.csv go (default: print only)")
    args = parser.parse_args(argv)
    runs = run_folders(args.folders)
    rows = write_table(runs, args.output) if args.output else [describe(run) for run in runs]
    print(markdown(rows), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
