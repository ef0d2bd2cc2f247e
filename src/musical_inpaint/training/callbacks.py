"""Callbacks of the training runs."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from musical_inpaint.baselines import BASELINES, fill_with
from musical_inpaint.metrics import PaperMetrics


class LastCheckpoint(Callback):
    """Keeps `last.ckpt` up to date: after every validation, and when training ends however it
    ends (max_steps or max_epochs reached between two validations, an exception such as a
    non-finite loss, which is raised before the bad step is applied, or Ctrl-C), once at least
    one generator step has run. Lightning writes checkpoint files atomically (a transaction: a
    temporary file, then a rename)."""

    def __init__(self, dirpath: str | Path, filename: str = "last.ckpt") -> None:
        self.path = Path(dirpath) / filename

    def _save(self, trainer: L.Trainer) -> None:
        # Not before a step has run: a failed start must not leave a checkpoint that looks trained.
        if not trainer.fast_dev_run and not trainer.sanity_checking and trainer.global_step > 0:
            trainer.save_checkpoint(self.path, weights_only=False)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == "fit":
            self._save(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save(trainer)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if trainer.state.fn == "fit":
            self._save(trainer)


class ClassicalFloor(Callback):
    """Logs a classical method's metrics on the validation images beside the model's
    (`val/telea_hole_l1_pct`, ...), so that every run says where it stands against Telea.

    The validation images and masks are fixed, so the method runs once, during the first
    validation after the sanity check; its values are logged again at every validation (one CSV
    row holds both) and printed when training ends.
    """

    def __init__(self, method: str = "telea") -> None:
        if method not in BASELINES:
            raise ValueError(f"ClassicalFloor: method must be one of {sorted(BASELINES)}, got {method!r}")
        self.method = method
        self.metrics = PaperMetrics()
        self.values: dict[str, float] | None = None

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if self.values is None and not trainer.sanity_checking:
            image, mask = batch["image"].float(), batch["mask"].float()
            self.metrics.to(image.device).update(fill_with(self.method, image, mask), image, mask)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        if self.values is None:
            self.values = {name: float(value) for name, value in self.metrics.compute().items()}
            self.metrics.reset()
        # Equal on every rank (compute() summed the shards), so sync_dist only keeps Lightning quiet.
        pl_module.log_dict({f"val/{self.method}_{name}": value for name, value in self.values.items()}, sync_dist=True)


class RandomStates(Callback):
    """Saves the torch, NumPy and Python random states in every checkpoint (`rng_states`) and
    restores them when a run resumes, so that it draws the same batches, crops and masks as an
    uninterrupted run (DataLoader workers re-seed from them at every epoch)."""

    def __init__(self) -> None:
        self._resumed: dict | None = None

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        kind, keys, position, has_gauss, gauss = np.random.get_state()
        checkpoint["rng_states"] = dict(  # plain types only: checkpoints load with weights_only=True
            torch=torch.get_rng_state(),
            numpy=[kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss],
            python=random.getstate(),
        )

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        self._resumed = checkpoint.get("rng_states")

    def on_train_start(self, trainer, pl_module) -> None:
        # Applied here, after the sanity check, whose DataLoader draws from the generators too.
        states, self._resumed = self._resumed, None
        if states:
            torch.set_rng_state(states["torch"])
            kind, keys, position, has_gauss, gauss = states["numpy"]
            np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
            random.setstate(states["python"])


class WandbRunId(Callback):
    """Writes the W&B run's id into every checkpoint (`wandb_run_id`), so that a run resumed from
    it continues the same W&B run (train.py reads it back before building the loggers)."""

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        for logger in trainer.loggers:
            if type(logger).__name__ == "WandbLogger" and logger.version:
                checkpoint["wandb_run_id"] = logger.version


class ValidateAtEnd(Callback):
    """Makes the last batch of a run a validation batch, so that a run whose length is not a
    multiple of the validation interval still ends with metrics, panels and a best checkpoint of
    its final weights (Lightning validates a batch after which training is asked to stop)."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        last_step = trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps
        last_epoch = (
            trainer.max_epochs is not None
            and trainer.max_epochs > 0
            and trainer.current_epoch >= trainer.max_epochs - 1
            and batch_idx + 1 >= trainer.num_training_batches
        )
        if last_step or last_epoch:
            trainer.should_stop = True
