"""What the machine can do fast: a CPU without bfloat16 kernels runs bfloat16 autocast many times
slower than float32 (benchmarks/README.md: 16x on an AVX2 CPU), so a run there says so."""

from __future__ import annotations

import logging

import lightning as L
import torch
from lightning.pytorch.accelerators import CPUAccelerator
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
    if isinstance(trainer.accelerator, CPUAccelerator) and "bf16" in str(trainer.precision) and not cpu_has_bfloat16_kernels():
        log.warning("trainer.precision=%s on a CPU without bfloat16 kernels (%s): bfloat16 is emulated here, many "
                    "times slower than float32 (benchmarks/README.md); trainer.precision=32-true is the fast choice "
                    "on this machine", trainer.precision, torch.backends.cpu.get_cpu_capability())
