"""Callbacks of the training runs."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback


class LastCheckpoint(Callback):
    """Keeps `last.ckpt` up to date: after every validation, and when training ends however it
    ends (max_steps or max_epochs reached between two validations, an exception such as a
    non-finite loss, which is raised before the bad step is applied, or Ctrl-C). Lightning
    writes checkpoint files atomically (a transaction: a temporary file, then a rename)."""

    def __init__(self, dirpath: str | Path, filename: str = "last.ckpt") -> None:
        self.path = Path(dirpath) / filename

    def _save(self, trainer: L.Trainer) -> None:
        if not trainer.fast_dev_run and not trainer.sanity_checking:
            trainer.save_checkpoint(self.path, weights_only=False)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == "fit":
            self._save(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save(trainer)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if trainer.state.fn == "fit":
            self._save(trainer)
