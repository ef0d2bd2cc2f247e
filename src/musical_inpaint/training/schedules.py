"""The learning rates' schedules: torch LRSchedulers, one per optimiser, built from the
`lr_schedule` config group (conf/lr_schedule/, the node model.scheduler). The training module
steps them with the generator: during generator step s (Lightning's global_step) every rate is
its base rate times the schedule's factor at s."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from musical_inpaint.errors import ConfigError

CLOCKS = ("steps", "time")


class WarmupCosineLR(LRScheduler):
    """A linear warm-up, then a constant rate or a half cosine down to 0.

    Args:
        warmup_steps: the factor rises as (step + 1) / warmup_steps over the first steps (0: none).
        total_steps: None: the factor stays 1 after the warm-up (the paper: constant). Else it
            follows a half cosine from 1 after the warm-up to 0 at this step (trainer.max_steps).
        clock: what the cosine's progress counts. "steps": the share of the steps after the
            warm-up done (reproducible bit for bit). "time": the larger of that and
            `time_share`, the share of trainer.max_time spent, which the training module sets
            before each step (rank 0's clock under DDP; 0 without a time limit); the rate then
            reaches 0 by whichever limit comes first, and depends on the machine's speed.

    `state_dict` holds the position only: a resumed run follows its own configuration (a raised
    trainer.max_steps stretches the cosine from there, so its rate rises again).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        warmup_steps: int = 0,
        total_steps: int | None = None,
        clock: str = "steps",
        last_epoch: int = -1,
    ) -> None:
        if type(warmup_steps) is not int or warmup_steps < 0:
            raise ConfigError(f"model.scheduler.warmup_steps={warmup_steps}: must be an integer >= 0")
        if total_steps is not None and (type(total_steps) is not int or total_steps <= 0):
            raise ConfigError(
                f"lr_schedule=cosine decays to 0 at trainer.max_steps (model.scheduler.total_steps), "
                f"which is {total_steps}: set trainer.max_steps=N"
            )
        if clock not in CLOCKS:
            raise ConfigError(f"model.scheduler.clock={clock}: must be one of {', '.join(CLOCKS)}")
        self.warmup_steps, self.total_steps, self.clock = warmup_steps, total_steps, clock
        self.time_share = 0.0
        super().__init__(optimizer, last_epoch)

    def factor(self, step: int, time_share: float = 0.0) -> float:
        """The rates' multiplier during step `step` when `time_share` of the time limit is spent."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.total_steps is None:
            return 1.0
        progress = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        if self.clock == "time":
            progress = max(progress, time_share)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    def get_lr(self) -> list[float]:
        factor = self.factor(self.last_epoch, self.time_share)
        return [base * factor for base in self.base_lrs]

    def state_dict(self) -> dict:
        return {"last_epoch": self.last_epoch, "_step_count": self._step_count, "_last_lr": self._last_lr}
