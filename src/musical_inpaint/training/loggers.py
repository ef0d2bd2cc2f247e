"""Loggers of a run: building them from the configuration, a CSV logger that continues a resumed
run's file, and what W&B needs to continue a run."""

from __future__ import annotations

import csv
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.loggers import CSVLogger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from omegaconf import DictConfig


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer deletes a metrics.csv it finds; this one continues it (the header's
    columns are kept, new ones added), so that a resumed run's rows follow its earlier ones."""

    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if path.is_file():
            with open(path, newline="") as handle:
                self.metrics_keys = next(csv.reader(handle), [])  # the file's own column order


class AppendingCSVLogger(CSVLogger):
    """CSVLogger that appends to the run folder's metrics.csv instead of replacing it."""

    @property
    def experiment(self) -> _AppendingWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


def run_name() -> str:
    """A readable run name from the command-line overrides (e.g. 'adv_weight=0,attention=none')."""
    if HydraConfig.initialized():
        overrides = HydraConfig.get().job.override_dirname
        if overrides:
            return overrides[:128]  # W&B and file systems limit name lengths
    return "default"


def build_loggers(cfg: DictConfig, output_dir: Path, run_config: dict, wandb_run_id: str | None) -> list:
    """The loggers of `cfg.logger`, with the run's configuration as their hyperparameters. A W&B
    logger continues the run `wandb_run_id` (a resumed run's) under its own name, and keeps the
    resolved config.yaml among the run's files."""
    loggers = []
    for name, logger_cfg in (cfg.get("logger") or {}).items():
        extra = {}
        if "name" in logger_cfg and logger_cfg.name is None:
            extra["name"] = run_name()
        if name == "wandb" and wandb_run_id:
            extra.update(id=wandb_run_id, resume="allow")
            extra.pop("name", None)
        loggers.append(instantiate(logger_cfg, **extra))
    for logger in loggers:
        logger.log_hyperparams(run_config)
        if isinstance(logger, WandbLogger):  # rank 0 only: other ranks hold a dummy experiment
            logger.experiment.save(str(output_dir / "config.yaml"), base_path=str(output_dir), policy="now")
    return loggers


def finish_wandb() -> None:
    """Close the W&B run of this job, so that the next job of a sweep starts a run of its own."""
    try:
        import wandb
    except ImportError:
        return
    if wandb.run is not None:
        wandb.finish()
