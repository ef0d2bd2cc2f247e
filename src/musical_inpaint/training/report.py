"""What a run says when it ends: where its results are and how it stands against the classical
methods, or, when it failed, a FAILED note saying whether anything in its folder is a result."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from musical_inpaint.training.callbacks import ClassicalFloor

log = logging.getLogger(__name__)


def report(output_dir: Path, trainer: L.Trainer, monitor: str, value: float | None) -> None:
    """Logs the run folder, its checkpoints and images, the monitored value and `standing`."""
    best = getattr(trainer.checkpoint_callback, "best_model_path", "")
    last, images = output_dir / "checkpoints" / "last.ckpt", output_dir / "images"
    lines = [f"run folder:       {output_dir.resolve()}"]
    lines += [f"last checkpoint:  {last.resolve()}"] if last.is_file() else ["last checkpoint:  none (no step ran)"]
    lines += [f"best checkpoint:  {best}" if best else "best checkpoint:  none (no validation ran)"]
    lines += [f"validation images: {images.resolve()}"] if images.is_dir() else []
    lines += [f"{monitor}: {value if value is not None else 'not computed (no validation ran)'}"]
    lines += standing(trainer)
    log.info("\n".join(lines))


def standing(trainer: L.Trainer) -> list[str]:
    """The last validation's hole L1 beside each classical floor's on the same images."""
    metrics = trainer.callback_metrics
    if "val/hole_l1_pct" not in metrics:
        return []
    ours = float(metrics["val/hole_l1_pct"])
    lines = [f"final validation hole L1: {ours:.2f} %"]
    for floor in (c for c in trainer.callbacks if isinstance(c, ClassicalFloor) and c.values):
        theirs = floor.values["hole_l1_pct"]
        verdict = "below" if ours < theirs else "NOT below"
        lines.append(
            f"  {floor.method} on the same images: {theirs:.2f} % (ours {verdict} it: {ours / theirs - 1:+.1%})"
        )
    return lines


@rank_zero_only
def mark_failed(output_dir: Path, error: BaseException) -> None:
    """A FAILED note in the run folder, saying whether any training result is there at all."""
    last = output_dir / "checkpoints" / "last.ckpt"
    state = (
        f"{last} holds the state when it stopped"
        if last.is_file()
        else "no training step ran: nothing in this folder is a result"
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "FAILED").write_text(f"{type(error).__name__}: {error}\n{state}\n")
