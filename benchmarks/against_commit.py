"""Times one workload in this tree, to compare with another commit's tree side by side.

    bash benchmarks/against_commit.sh COMMIT      # alternates this tree and COMMIT's, 3 rounds

attention: MultiScaleAttention (128 channels, 64 x 64, batch 5, centre hole) forward + backward;
step: bench_generator.TrainingStep (D and G steps, random VGG16 / DenseNet121, batch 2, 256 x 256).
Prints the median of 3 timed calls after a warm-up.
"""

from __future__ import annotations

import sys
import time

import torch


def workload(what: str):
    torch.manual_seed(0)
    if what == "step":
        from benchmarks.bench_generator import TrainingStep, inputs

        step, (image, mask) = TrainingStep(), inputs(2, 256)
        return lambda: step(image, mask)
    try:
        from musical_inpaint.models import MultiScaleAttention
    except ImportError:  # commits before the attention's split
        from musical_inpaint.models.attention import MultiScaleAttention
    module = MultiScaleAttention(128)
    x = torch.randn(5, 128, 64, 64, requires_grad=True)
    mask = torch.zeros(5, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1

    def run():
        module.zero_grad()
        x.grad = None
        module(x, mask).square().mean().backward()

    return run


if __name__ == "__main__":
    label, what = sys.argv[1], sys.argv[2]
    run = workload(what)
    run()
    times = []
    for _ in range(3):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    print(f"{label} {what} {sorted(times)[1]:.2f} s")
