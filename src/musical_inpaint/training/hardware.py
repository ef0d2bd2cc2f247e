"""What the machine can do fast: a CPU without bfloat16 kernels runs bfloat16 autocast many times
slower than float32 (benchmarks/README.md: 16x on an AVX2 CPU), and a run sized for a GPU takes
days on a CPU; a run says so in its first lines."""

from __future__ import annotations

import logging
import time

import lightning as L
import torch
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.callbacks import Callback, Timer
from lightning.pytorch.utilities import rank_zero_only

log = logging.getLogger(__name__)


def cpu_has_bfloat16_kernels() -> bool:
    """Whether oneDNN has bfloat16 kernels for this CPU (AVX-512 and up); on others autocast's
    bfloat16 convolutions fall back to slow generic code. True where PyTorch cannot tell."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return True


@rank_zero_only
def warn_if_emulated(trainer: L.Trainer) -> None:
    """A warning at the start of a run that trains in bfloat16 on a CPU that emulates it."""
    if (
        isinstance(trainer.accelerator, CPUAccelerator)
        and "bf16" in str(trainer.precision)
        and not cpu_has_bfloat16_kernels()
    ):
        log.warning(
            "trainer.precision=%s on a CPU without bfloat16 kernels (%s): bfloat16 is emulated here, many "
            "times slower than float32 (benchmarks/README.md); trainer.precision=32-true is the fast choice "
            "on this machine",
            trainer.precision,
            torch.backends.cpu.get_cpu_capability(),
        )


class RunTimeEstimate(Callback):
    """Where the run trains on a CPU: after its first steps, how long the whole run would take at
    that pace, in the first lines of the log; when that is more than `warn_hours`, a warning that
    names the CPU presets. (The paper's setting at 256 x 256 takes about two days on a 2-core CPU:
    a progress bar alone would not say so.)

    Args:
        steps: the steps timed, after the first (which pays for warm-up).
        warn_hours: the estimate above which the message is a warning.
    """

    def __init__(self, steps: int = 3, warn_hours: float = 2.0) -> None:
        self.steps, self.warn_hours = steps, warn_hours
        self._started: float | None = None
        self._done = False

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._done or not isinstance(trainer.accelerator, CPUAccelerator):
            return
        if self._started is None:
            self._started, self._first_step = time.monotonic(), trainer.global_step
            return
        timed = trainer.global_step - self._first_step
        if timed < self.steps:
            return
        self._done = True
        seconds_per_step = (time.monotonic() - self._started) / timed
        total = self.total_steps(trainer)
        if total is None:
            return
        seconds = seconds_per_step * max(0, total - trainer.global_step)
        self.say(seconds_per_step, total, seconds, trainer)

    @staticmethod
    def total_steps(trainer: L.Trainer) -> int | None:
        if trainer.max_steps and trainer.max_steps > 0:
            return trainer.max_steps
        if trainer.max_epochs and trainer.max_epochs > 0 and trainer.num_training_batches != float("inf"):
            return int(trainer.max_epochs * trainer.num_training_batches)
        return None

    @rank_zero_only
    def say(self, seconds_per_step: float, total: int, seconds: float, trainer: L.Trainer) -> None:
        timer = next((c for c in trainer.callbacks if isinstance(c, Timer) and c.time_remaining() is not None), None)
        message = (
            f"on this CPU a step takes {seconds_per_step:.2f} s: the {total:,} steps configured would take about "
            f"{_duration(seconds)} more"
        )
        if timer is not None and timer.time_remaining() < seconds:
            message += f"; trainer.max_time stops the run after {_duration(timer.time_remaining())}"
            seconds = timer.time_remaining()
        if seconds > 3600 * self.warn_hours:
            log.warning(
                "%s. For a CPU, train a preset sized for it: experiment=photos_cpu (an hour on 2 cores, real "
                "photos) or experiment=quickstart (about 5 minutes, synthetic); the paper's setting needs a GPU",
                message,
            )
        else:
            log.info("%s", message)


def _duration(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.1f} hours" if hours >= 1 else f"{seconds / 60:.0f} minutes"
