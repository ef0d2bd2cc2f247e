"""Shared helpers of the benchmarks: interleaved timing, peak memory in a child process, JSON."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import lightning as L
import torch

from musical_inpaint.training.hardware import cpu_has_bfloat16_kernels

RESULTS = Path(__file__).resolve().parent / "results"


def time_side_by_side(
    functions: dict[str, Callable[[], object]], repeats: int = 5, warmup: int = 1, cuda: bool = False
) -> dict[str, dict]:
    """Median and spread of each function's wall time, run interleaved (A B A B ...) so that the
    load of a shared machine hits all of them alike. cuda: wait for the GPU's queued work before
    each clock reading (its kernels run asynchronously)."""
    synchronize = torch.cuda.synchronize if cuda else (lambda: None)
    for _ in range(warmup):
        for function in functions.values():
            function()
    samples = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            synchronize()
            start = time.perf_counter()
            function()
            synchronize()
            samples[name].append(time.perf_counter() - start)
    return {
        name: dict(median_s=statistics.median(s), min_s=min(s), max_s=max(s), runs=len(s))
        for name, s in samples.items()
    }


def cpu_trainer(max_steps: int, callbacks: list, **options) -> L.Trainer:
    """A Trainer on one CPU process that only trains: no validation, sanity check, logger,
    checkpoints, progress bar or model summary. `options` go to the Trainer (e.g. precision)."""
    return L.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=max_steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
        **options,
    )


def _status_gb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1e6  # kB
    return float("nan")


def peak_rss_gb() -> float:
    """High-water mark of this process's resident memory. VmHWM, not ru_maxrss: the latter
    survives exec and so reports the parent's size in a child started by a large process."""
    return _status_gb("VmHWM")


def current_rss_gb() -> float:
    return _status_gb("VmRSS")


def reset_peak_rss() -> None:
    """Restart VmHWM from the current resident size (Linux >= 4.0), so that a measured step after
    a warm-up does not count the one-off loading of kernels and thread pools."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_memory_in_child(module: str, *args: str) -> dict:
    """Run `python -m module args` (which prints one JSON line with its own measurements) and
    return that JSON: each memory figure comes from a fresh process. Large blocks are mapped and
    unmapped directly (fixed glibc mmap threshold), so memory freed after a warm-up leaves the
    resident size instead of lingering in the heap and hiding the next step's peak."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    result = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        return dict(error=(result.stderr.strip().splitlines() or ["failed"])[-1])
    return json.loads(result.stdout.strip().splitlines()[-1])


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """What a result depends on: the CPU (its vector extensions decide, e.g., whether bfloat16 is
    native or emulated), threads, versions, the GPU."""
    return dict(
        python=platform.python_version(),
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        cpu=cpu_model(),
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        cpu_bfloat16_kernels=cpu_has_bfloat16_kernels(),
        cuda=torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    )


def write_json(name: str, payload: dict, folder: Path = RESULTS) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(dict(machine=machine(), **payload), indent=2))
    return path


def markdown(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
