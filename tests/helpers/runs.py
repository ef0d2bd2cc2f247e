"""Trained runs shared by several tests, and a record of every Trainer.fit a test makes."""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from tests.helpers.configs import tiny_config


@dataclass(frozen=True)
class TrainedRun:
    """A finished tiny run: its folder, what train() returned and what it logged."""

    folder: Path
    value: float | None  # the final value of the monitored metric, as train() returns it
    log: str  # the messages of musical_inpaint's loggers at INFO and above

    @property
    def last(self) -> Path:
        return self.folder / "checkpoints" / "last.ckpt"

    def metrics(self) -> list[dict[str, str]]:
        with open(self.folder / "csv" / "metrics.csv") as file:
            return list(csv.DictReader(file))


class _Messages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def train_run(folder: Path, *overrides: str) -> TrainedRun:
    """train() on the tiny configuration with `overrides`, its log kept (a fixture has no caplog)."""
    from musical_inpaint.train import train

    logger = logging.getLogger("musical_inpaint")
    messages, level = _Messages(), logger.level
    logger.addHandler(messages)
    logger.setLevel(logging.INFO)
    try:
        value = train(tiny_config(folder, *overrides))
    finally:
        logger.removeHandler(messages)
        logger.setLevel(level)
    return TrainedRun(folder, value, "\n".join(messages.lines))


@dataclass(frozen=True)
class Fit:
    """One Trainer.fit: the trainer and module after it, the module's weights before it."""

    trainer: object
    module: torch.nn.Module
    initial: dict[str, torch.Tensor]

    def moved(self, network: str) -> dict[str, bool]:
        """Whether each parameter of `network` (generator, discriminator) differs from its start."""
        parameters = getattr(self.module, network).named_parameters()
        return {
            name: not torch.equal(value.detach().cpu(), self.initial[f"{network}.{name}"]) for name, value in parameters
        }


def moves(final: dict[str, torch.Tensor], start: dict[str, torch.Tensor], network: str) -> list[float]:
    """The largest change of each of `network`'s tensors from `start` to `final` (state dicts), sorted."""
    return sorted(
        float((final[name].double() - start[name].double()).abs().max())
        for name in final
        if name.startswith(f"{network}.")
    )
