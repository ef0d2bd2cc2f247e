"""Callbacks of the training runs."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback

from musical_inpaint.baselines import BASELINES, fill_with
from musical_inpaint.metrics import PaperMetrics


class LastCheckpoint(Callback):
    """Keeps `last.ckpt` up to date: after every validation, and when training ends however it
    ends (max_steps or max_epochs reached between two validations, an exception such as a
    non-finite loss, which is raised before the bad step is applied, or Ctrl-C), once at least
    one optimiser step has run. Lightning writes checkpoint files atomically (a transaction: a
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
    (`val/telea_hole_l1`, ...), so that every run says where it stands against Telea.

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
