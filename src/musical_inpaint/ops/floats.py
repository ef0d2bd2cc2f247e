"""Subnormal floats, and how the package keeps them out of its arithmetic.

Floats below the smallest normal number (2^-126 in float32) are subnormal; x86 cores compute with
them through a slow microcode path, on Intel Xeons many times slower than with normal numbers
(AMD EPYC cores showed no penalty in this project's benchmarks). The contextual attention makes
them in bulk: its softmax at scale 10 is nearly one-hot, so most probabilities, and the products
and gradients made from them, fall into that range (benchmarks/README.md, "Subnormal floats").

Two measures, each enough on its own where it applies:
- the kernels set what cannot change a result to exactly 0 before multiplying (`drop_negligible`),
  so that a caller from Python gets the speed without any global setting;
- the command-line entry points also flush subnormals to zero for the whole process
  (`flush_subnormals`), which covers the rest of the networks, their backward passes included.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def negligible(dtype: torch.dtype) -> float:
    """sqrt of the dtype's smallest normal number (2^-63 in float32): any product of two numbers at
    least this large is normal, and probabilities below it, in a row summing to 1 over at most
    2^20 keys, move the row's weighted sum by less than 2^-43 of its largest value, below float32's
    rounding (2^-24)."""
    return math.sqrt(torch.finfo(dtype).tiny)


def drop_negligible(probabilities: Tensor) -> Tensor:
    """`probabilities` with the entries below `negligible` set to exactly 0: in place, unless autograd
    records the operation or a trace (TorchScript, ONNX) does, which get a new tensor."""
    floor = negligible(probabilities.dtype)
    if probabilities.requires_grad or torch.jit.is_tracing():
        return torch.where(probabilities < floor, 0.0, probabilities)
    return torch.threshold_(probabilities, floor, 0.0)  # keeps x > floor, one pass, no mask


def flush_subnormals() -> bool:
    """Flush subnormal floats to zero in this process (the CPU's FTZ and DAZ flags), before any
    thread of the intra-op pool exists, so that the pool's threads inherit the flags. Results
    change only where a value would have been below 2^-126 (float32). False where the CPU has
    no such mode (torch.set_flush_denormal)."""
    return torch.set_flush_denormal(True)
