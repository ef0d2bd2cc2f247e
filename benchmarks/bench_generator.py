"""The generator and the full training step at the paper's size, and inference latency.

    python -m benchmarks.bench_generator            # about 15 minutes on 2 cores
    python -m benchmarks.bench_generator --quick    # batch 2, for a smoke run
    python -m benchmarks.bench_generator --skip-compile   # without the torch.compile comparison

1. Generator forward + backward (batch 5, 256 x 256, paper widths): ours against the same network
   with the authors' attention algorithm swapped in, timed side by side.
2. One full training step (D step + G step with VGG16 style / perceptual, DenseNet121, Adam):
   seconds per step, images per second, FLOPs (torch.utils.flop_counter) and the achieved FLOP/s
   of the convolutions against a torch.mm peak measured in the same run; the top operators of a
   torch.profiler trace.
3. Inference latency at 256 and 512 (batch 1) and throughput at batch 8 (256); torch.compile
   against eager at 256.
Prints markdown tables and writes benchmarks/results/generator.json.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.authors_attention import AuthorsAttention
from benchmarks.common import markdown, time_side_by_side, write_json
from musical_inpaint.losses import InpaintingLoss, NonSaturatingLoss
from musical_inpaint.models import DenseNetDiscriminator, MusicalGenerator

CONVOLUTION_OPS = ("convolution", "conv2d", "mkldnn_convolution", "convolution_backward", "conv_transpose")


def inputs(batch: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    image = torch.rand(batch, 3, size, size) * 2 - 1
    mask = torch.zeros(batch, 1, size, size)
    mask[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    return image, mask


def with_authors_attention(generator: MusicalGenerator) -> MusicalGenerator:
    branches = generator.attention.branches
    for i, branch in enumerate(branches):
        branches[i] = AuthorsAttention(branch.patch_size, branch.propagate_size, branch.softmax_scale)
    return generator


def forward_backward(generator: MusicalGenerator, image: torch.Tensor, mask: torch.Tensor):
    def run():
        generator.zero_grad(set_to_none=True)
        generator(image, mask).square().mean().backward()

    return run


class TrainingStep:
    """One batch of the GAN loop as MusicalInpainting runs it, without the Trainer around it."""

    def __init__(
        self, attention: bool = True, device: str | torch.device = "cpu", fused_adam: bool | None = None
    ) -> None:
        # The paper's multi-scale attention, or none.
        self.generator = (MusicalGenerator() if attention else MusicalGenerator(None)).to(device)
        self.discriminator = DenseNetDiscriminator(weights=None).to(device)
        self.loss = InpaintingLoss(vgg_weights=None).to(device)
        self.adversarial = NonSaturatingLoss(weight=0.3)
        adam = lambda params: torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999), fused=fused_adam)
        self.g_optimiser, self.d_optimiser = adam(self.generator.parameters()), adam(self.discriminator.parameters())

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> None:
        prediction = self.generator(image, mask)
        d_loss, _ = self.adversarial.discriminator_loss(self.discriminator, image, prediction)
        self.d_optimiser.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_optimiser.step()
        self.discriminator.requires_grad_(False)
        adversarial = self.adversarial.generator_loss(self.discriminator(prediction))
        g_loss = self.loss(prediction, image, mask)["total"] + self.adversarial.weight * adversarial
        self.g_optimiser.zero_grad(set_to_none=True)
        g_loss.backward()
        self.g_optimiser.step()
        self.discriminator.requires_grad_(True)


def mm_peak_flops(size: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def compiled_inference(generator: MusicalGenerator, image: torch.Tensor, mask: torch.Tensor, repeats: int) -> dict:
    """Eager against torch.compile(generator) side by side. The attention's mask-dependent shapes
    break the graph around it; the convolutions on either side are compiled."""
    try:
        compiled = torch.compile(generator)
        start = time.perf_counter()
        with torch.no_grad():
            difference = float((compiled(image, mask) - generator(image, mask)).abs().max())
        compile_seconds = time.perf_counter() - start
    except Exception as error:  # no C++ compiler, unsupported platform: report, do not fail the run
        return dict(error=f"torch.compile failed: {type(error).__name__}: {error}"[:300])

    def run(model):
        def call():
            with torch.no_grad():
                model(image, mask)

        return call

    times = time_side_by_side({"eager": run(generator), "compiled": run(compiled)}, repeats=max(repeats, 5))
    return dict(times=times, compile_seconds=compile_seconds, max_difference=difference)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-compile", action="store_true")
    args = parser.parse_args()
    batch, repeats = (2, 2) if args.quick else (5, 3)
    results = {}

    image, mask = inputs(batch, 256)
    ours, authors = MusicalGenerator(), with_authors_attention(MusicalGenerator())
    times = time_side_by_side(
        {"ours": forward_backward(ours, image, mask), "authors": forward_backward(authors, image, mask)},
        repeats=repeats,
    )
    results["generator_forward_backward"] = dict(batch=batch, size=256, times=times)
    speedup = times["authors"]["median_s"] / times["ours"]["median_s"]
    print(f"\n## Generator forward + backward, batch {batch}, 256 x 256, paper widths\n")
    print(
        markdown(
            ["ours (s)", "with the authors' attention (s)", "speed-up"],
            [[f"{times['ours']['median_s']:.2f}", f"{times['authors']['median_s']:.2f}", f"{speedup:.1f}x"]],
        )
    )

    step = TrainingStep()
    step(image, mask)  # warm-up
    with FlopCounterMode(display=False) as counter:
        step(image, mask)
    flops = counter.get_total_flops()
    conv_flops = sum(
        count
        for op, count in counter.get_flop_counts()["Global"].items()
        if any(name in str(op) for name in CONVOLUTION_OPS)
    )
    with profile(activities=[ProfilerActivity.CPU]) as trace:
        start = time.perf_counter()
        step(image, mask)
        seconds = time.perf_counter() - start
    events = trace.key_averages()
    conv_seconds = sum(e.self_cpu_time_total for e in events if any(n in e.key for n in CONVOLUTION_OPS)) / 1e6
    peak = mm_peak_flops()
    step_times = time_side_by_side({"step": lambda: step(image, mask)}, repeats=repeats, warmup=0)["step"]
    results["training_step"] = dict(
        batch=batch,
        seconds=step_times,
        images_per_second=batch / step_times["median_s"],
        flops=flops,
        conv_flops=conv_flops,
        conv_seconds_profiled=conv_seconds,
        conv_flops_per_second=conv_flops / conv_seconds,
        mm_peak_flops_per_second=peak,
        profiled_step_seconds=seconds,
        top_ops=[
            dict(op=e.key, self_seconds=e.self_cpu_time_total / 1e6)
            for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:12]
        ],
    )
    r = results["training_step"]
    print(f"\n## Training step (D + G, VGG16 style / perceptual, DenseNet121), batch {batch}, 256 x 256\n")
    print(
        markdown(
            [
                "s / step",
                "images / s",
                "TFLOP / step",
                "conv TFLOP",
                "conv GFLOP/s (profiled)",
                "torch.mm peak GFLOP/s",
                "conv / peak",
            ],
            [
                [
                    f"{r['seconds']['median_s']:.2f}",
                    f"{r['images_per_second']:.2f}",
                    f"{flops / 1e12:.2f}",
                    f"{conv_flops / 1e12:.2f}",
                    f"{r['conv_flops_per_second'] / 1e9:.0f}",
                    f"{peak / 1e9:.0f}",
                    f"{r['conv_flops_per_second'] / peak:.0%}",
                ]
            ],
        )
    )
    print("\nTop operators by self CPU time (one profiled step):\n")
    print(markdown(["operator", "self s"], [[o["op"], f"{o['self_seconds']:.2f}"] for o in r["top_ops"]]))

    generator = MusicalGenerator().eval()
    latency = {}
    for size in (256, 512):
        image1, mask1 = inputs(1, size)
        with torch.no_grad():
            latency[size] = time_side_by_side({"eager": lambda: generator(image1, mask1)}, repeats=repeats)["eager"]  # noqa: B023 - timed here, in this iteration
    image8, mask8 = inputs(8 if not args.quick else 2, 256)
    with torch.no_grad():
        throughput = time_side_by_side({"eager": lambda: generator(image8, mask8)}, repeats=repeats)["eager"]
    results["inference"] = dict(latency=latency, throughput_batch=image8.shape[0], throughput=throughput)
    print("\n## Inference (paper-sized generator, CPU, no grad)\n")
    print(
        markdown(
            ["256 x 256, batch 1 (s)", "512 x 512, batch 1 (s)", f"256 x 256, batch {image8.shape[0]} (images / s)"],
            [
                [
                    f"{latency[256]['median_s']:.2f}",
                    f"{latency[512]['median_s']:.2f}",
                    f"{image8.shape[0] / throughput['median_s']:.2f}",
                ]
            ],
        )
    )

    if args.skip_compile:
        print(f"\nwritten {write_json('generator' + ('_quick' if args.quick else ''), results)}")
        return
    results["compile"] = compiled_inference(generator, *inputs(1, 256), repeats=repeats)
    c = results["compile"]
    print("\n## torch.compile (inductor) against eager, inference, 256 x 256, batch 1\n")
    print(
        markdown(
            ["eager (s)", "compiled (s)", "speed-up", "compile + first call (s)", "max |compiled - eager|"],
            [
                [
                    f"{c['times']['eager']['median_s']:.3f}",
                    f"{c['times']['compiled']['median_s']:.3f}",
                    f"{c['times']['eager']['median_s'] / c['times']['compiled']['median_s']:.2f}x",
                    f"{c['compile_seconds']:.0f}",
                    f"{c['max_difference']:.1e}",
                ]
            ]
            if "times" in c
            else [[c["error"], "", "", "", ""]],
        )
    )
    print(f"\nwritten {write_json('generator' + ('_quick' if args.quick else ''), results)}")


if __name__ == "__main__":
    main()
