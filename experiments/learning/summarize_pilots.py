"""Table and curves of the pilot runs (pilots.sh), from their own CSV logs.

    python experiments/learning/summarize_pilots.py LOG_DIR [--plot curves.png --runs P0 P1 ...]

Prints a markdown table: per run, the optimiser steps reached in its wall-time budget, the
validation hole L1 at the end and at its best, beside Telea's on the same validation images.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from musical_inpaint.runs_table import batches_at, validations


def overrides(run: Path) -> str:
    lines = (run / ".hydra" / "overrides.yaml").read_text().splitlines()
    keep = [
        line[2:]
        for line in lines
        if line.startswith("- ")
        and not line.startswith(
            (
                "- paths.",
                "- hydra.",
                "- +trainer.max_time",
                "- trainer.max_time",
                "- model.lr_clock",
                "- trainer.enable_progress_bar",
                "- dataset.val_size",
            )
        )
    ]
    return " ".join(keep)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("log_dir", type=Path)
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--runs", nargs="*", help="the runs to plot (default: all; they should share a validation set)")
    args = parser.parse_args()
    runs = sorted(p for p in args.log_dir.iterdir() if (p / "csv" / "metrics.csv").is_file())
    print("| run | steps in budget | minutes | val hole L1 % (last) | (best) | Telea % (same images) |")
    print("|---|---|---|---|---|---|")
    curves = {}
    for run in runs:
        rows = validations(run)
        if not rows:
            continue
        last = rows[-1]
        holes = [float(r["val/hole_l1_pct"]) for r in rows]
        print(
            f"| {run.name} | {batches_at(last)} | {float(last['time/train_minutes']):.1f} | {holes[-1]:.2f} "
            f"| {min(holes):.2f} | {float(last['val/telea_hole_l1_pct']):.2f} |"
        )
        curves[run.name] = ([float(r["time/train_minutes"]) for r in rows], holes, float(last["val/telea_hole_l1_pct"]))
    print()
    for run in runs:
        print(f"- {run.name}: `{overrides(run)}`")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axis = plt.subplots(figsize=(6, 4))
        plotted = {name: curve for name, curve in curves.items() if not args.runs or name in args.runs}
        for name, (minutes, holes, telea) in plotted.items():  # noqa: B007 - the last run's Telea line is drawn below
            axis.plot(minutes, holes, marker=".", label=name)
        axis.axhline(telea, color="k", linestyle="--", label="Telea (same images)")
        axis.set_xlabel("training minutes (one thread; P4 shared the cores with two other runs)")
        axis.set_ylabel("validation hole L1 (%)")
        axis.set_ylim(top=max(h[0] for _, h, _ in plotted.values()) + 0.5)
        axis.legend()
        axis.grid(alpha=0.3)
        figure.tight_layout()
        figure.savefig(args.plot, dpi=100)


if __name__ == "__main__":
    main()
