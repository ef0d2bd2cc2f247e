"""GPU figures: the attention benchmark, training images per second through the real Lightning
Trainer at bf16-mixed (and fp32 beside it), inference, and peak GPU memory at 256 and 512.
Needs a CUDA device; the card is named in the output and the JSON.

    python -m benchmarks.bench_gpu            # about 2 minutes on an H100
    python -m benchmarks.bench_gpu --quick    # fewer settings and steps
    python -m benchmarks.bench_gpu --only budget step   # the diagnostics

1. Attention, both branches, forward + backward, 128 x 64 x 64 features (the CPU benchmark's
   settings): ours at the default score budget and at a small one (2^23), against the authors'
   algorithm; max difference from the dense reference; peak GPU memory above the inputs.
2. Scaling: attention forward at 256, 512 and 1024 inputs (batch 1, half-side hole).
3. Training: `trainer=gpu` composed by Hydra with the paper's model (random VGG16 / DenseNet121
   weights: no download), today's step and `model.fast_step=true` side by side at 256 (bf16,
   batch 5 and 16), synthetic data in worker processes; seconds per step (timed between
   batch start and end, so the data loader is not counted; images / s from the median step) and
   images per second with the loader counted (over the whole measured span); peak GPU memory
   allocated during the measured steps (in total, model and optimiser states included); MFU:
   the step's FLOPs (torch.utils.flop_counter) times images / s over the card's bf16 dense peak.
4. Inference: latency at 256 and 512 (batch 1), 1024 with a 512 hole, throughput at batch 32,
   fp32 and bf16 autocast.
Diagnostics, on request: the attention's time and memory against its score budget; a training
step's wall time against its GPU busy time, with the host-side operators.
Prints markdown tables and writes benchmarks/results/gpu.json (gpu_<sections>.json for --only).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from torch.profiler import ProfilerActivity, profile

from benchmarks.bench_attention import CHANNELS, attention_step, difference_from_dense, feature_mask
from benchmarks.bench_generator import TrainingStep, inputs
from benchmarks.common import RESULTS, markdown, time_side_by_side, write_json
from musical_inpaint.config import compose_config
from musical_inpaint.models import MusicalGenerator

DEVICE = torch.device("cuda")
SMALL_BUDGET = 2**23  # beside the default: 4x fewer score entries per chunk


def cuda_peak_gb(function) -> float:
    """Peak GPU memory one call allocates above what was allocated before it, in GB."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    function()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - before) / 1e9


def attention_section(quick: bool) -> dict:
    results = dict(paper_setting=[], scaling=[])
    rows = []
    settings = [(2, "centre"), (5, "centre"), (2, "free10"), (2, "free50"), (16, "centre")]
    for batch, kind in settings[:2] if quick else settings:
        torch.manual_seed(0)
        x, mask = torch.randn(batch, CHANNELS, 64, 64, device=DEVICE), feature_mask(kind, batch, 64).to(DEVICE)
        difference = difference_from_dense(x, mask)
        steps = {
            "ours": attention_step("ours", x, mask, max_scores=None),
            "ours, small budget": attention_step("ours", x, mask, max_scores=SMALL_BUDGET),
            "authors": attention_step("authors", x, mask),
        }
        times = time_side_by_side(steps, repeats=5 if quick else 10, warmup=2, cuda=True)
        memory = {name: cuda_peak_gb(step) for name, step in steps.items()}
        results["paper_setting"].append(
            dict(
                batch=batch,
                mask=kind,
                hole_area=float(mask.mean()),
                max_difference_from_dense=difference,
                times=times,
                memory_gb=memory,
            )
        )
        ms = {name: 1e3 * t["median_s"] for name, t in times.items()}
        rows.append(
            [
                batch,
                kind,
                f"{float(mask.mean()):.0%}",
                f"{ms['ours']:.1f}",
                f"{ms['authors']:.1f}",
                f"{ms['authors'] / ms['ours']:.1f}x",
                f"{memory['ours']:.3f}",
                f"{memory['authors']:.3f}",
                f"{memory['ours'] / memory['authors']:.2f}",
                f"{ms['ours, small budget']:.1f}",
                f"{memory['ours, small budget']:.3f}",
                f"{difference:.1e}",
            ]
        )
    print("\n## Attention, both branches, forward + backward, 128 x 64 x 64 features, GPU\n")
    print(
        markdown(
            [
                "batch",
                "hole",
                "area",
                "ours (ms)",
                "authors' (ms)",
                "speed-up",
                "ours GB",
                "authors' GB",
                "memory ratio",
                "ours at 2^23 (ms)",
                "ours at 2^23 (GB)",
                "max |ours - dense|",
            ],
            rows,
        )
    )

    scale_rows = []
    for image_size in (256, 512) if quick else (256, 512, 1024):
        size = image_size // 4
        x, mask = torch.randn(1, CHANNELS, size, size, device=DEVICE), feature_mask("centre", 1, size).to(DEVICE)
        line = dict(image=image_size)
        for name, step in (
            ("ours", attention_step("ours", x, mask, backward=False)),
            ("ours, small budget", attention_step("ours", x, mask, backward=False, max_scores=SMALL_BUDGET)),
            ("authors", attention_step("authors", x, mask, backward=False)),
        ):
            try:
                seconds = time_side_by_side({name: step}, repeats=3, warmup=1, cuda=True)[name]["median_s"]
                line[name] = dict(seconds=seconds, peak_gb=cuda_peak_gb(step))
            except torch.OutOfMemoryError:
                line[name] = dict(error="out of GPU memory")
            except RuntimeError as error:  # e.g. a kernel's index range: N = 65536 score channels
                line[name] = dict(error=f"failed: {error}"[:80])
            torch.cuda.empty_cache()
        results["scaling"].append(line)
        cell = lambda r: f"{1e3 * r['seconds']:.1f} ms, {r['peak_gb']:.2f} GB" if "seconds" in r else r["error"]
        scale_rows.append(
            [image_size, f"{size}^2", cell(line["ours"]), cell(line["ours, small budget"]), cell(line["authors"])]
        )
    print("\n## Scaling: attention forward, both branches, batch 1, half-side centre hole, GPU\n")
    print(markdown(["input", "features", "ours", "ours at 2^23", "authors'"], scale_rows))
    return results


def budget_section(quick: bool) -> list[dict]:
    """Forward + backward time and peak memory of ours against the score budget `max_scores`: small
    chunks bound memory but leave a GPU waiting on kernel launches."""
    results, rows = [], []
    for batch, kind in ((5, "centre"), (2, "free50"), (16, "centre")):
        torch.manual_seed(0)
        x, mask = torch.randn(batch, CHANNELS, 64, 64, device=DEVICE), feature_mask(kind, batch, 64).to(DEVICE)
        steps = {exponent: attention_step("ours", x, mask, max_scores=2**exponent) for exponent in range(21, 29)}
        times = time_side_by_side(steps, repeats=5, warmup=2, cuda=True)
        for exponent, step in steps.items():
            results.append(
                dict(
                    batch=batch,
                    mask=kind,
                    max_scores=2**exponent,
                    seconds=times[exponent]["median_s"],
                    peak_gb=cuda_peak_gb(step),
                )
            )
            rows.append(
                [
                    batch,
                    kind,
                    f"2^{exponent}",
                    f"{1e3 * times[exponent]['median_s']:.1f}",
                    f"{results[-1]['peak_gb']:.3f}",
                ]
            )
    print("\n## Attention (both branches, forward + backward) against the score budget, GPU\n")
    print(markdown(["batch", "hole", "max_scores", "ms", "peak GB"], rows))
    return results


def step_section(quick: bool) -> dict:
    """Where a batch-5 training step's wall time goes (bf16 autocast, no Trainer): the paper's step,
    the same without attention, and with fused Adam, side by side; wall time against the time the
    GPU spent in kernels, and the host-side operators of the paper's step."""
    image, mask = (t.to(DEVICE) for t in inputs(5, 256))
    steps = {}
    for name, attention, fused in (
        ("multi_scale", True, None),
        ("no attention", False, None),
        ("multi_scale, fused Adam", True, True),
    ):
        step = TrainingStep(attention, DEVICE, fused_adam=fused)

        def run(step=step):
            with torch.autocast("cuda", torch.bfloat16):
                step(image, mask)

        steps[name] = run
    times = time_side_by_side(steps, repeats=10, warmup=3, cuda=True)
    gpu_ms = {}
    for name, run in steps.items():
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as trace:
            run()
            torch.cuda.synchronize()
        events = trace.key_averages()
        gpu_ms[name] = (
            sum(e.self_device_time_total for e in events if e.device_type == torch.autograd.DeviceType.CUDA) / 1e3
        )
        if name == "multi_scale":
            top = sorted(events, key=lambda e: -e.self_cpu_time_total)[:15]
            print(
                markdown(
                    ["op (host side)", "self CPU ms", "calls"],
                    [[e.key[:60], f"{e.self_cpu_time_total / 1e3:.1f}", e.count] for e in top],
                )
            )
    print("\n## Training step, bf16 autocast, batch 5, 256 x 256: wall time against GPU busy time\n")
    print(
        markdown(
            ["variant", "wall ms", "GPU busy ms"],
            [[name, f"{1e3 * times[name]['median_s']:.1f}", f"{gpu_ms[name]:.1f}"] for name in steps],
        )
    )
    return dict(times=times, gpu_busy_ms=gpu_ms)


class StepTimer(L.Callback):
    """Times each training batch after `warmup` batches, waiting for the GPU at both ends; counts
    the FLOPs of the batch before the timed ones (torch.utils.flop_counter: the step as this
    variant runs it, the static attention's extra work included; a compiled network runs no aten
    operators to count, so a compiled run takes its eager twin's count)."""

    def __init__(self, warmup: int, count_flops: bool = True) -> None:
        self.warmup, self.steps, self.loop_start, self.loop_end = warmup, [], None, None
        self.count_flops, self.flops, self._counter = count_flops, None, None
        self.synchronize = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if self.count_flops and batch_idx == self.warmup - 1:
            from torch.utils.flop_counter import FlopCounterMode

            self._counter = FlopCounterMode(display=False)
            self._counter.__enter__()
        self.synchronize()
        self.start = time.perf_counter()
        if batch_idx == self.warmup:
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
            self.loop_start = self.start

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.synchronize()
        if self._counter is not None:
            self._counter.__exit__(None, None, None)
            self.flops, self._counter = float(self._counter.get_total_flops()), None
        if batch_idx >= self.warmup:
            self.loop_end = time.perf_counter()
            self.steps.append(self.loop_end - self.start)


# bf16 dense tensor-core peaks (TFLOP/s, no sparsity) from the vendors' data sheets, for the MFU.
BF16_PEAK_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0}


def training_flops_per_image(size: int) -> float:
    """FLOPs of one training step of the paper's model (D step + G step) per image, counted by
    torch.utils.flop_counter on a batch of 1 on the GPU."""
    from torch.utils.flop_counter import FlopCounterMode

    step = TrainingStep(device=DEVICE)
    image, mask = (t.to(DEVICE) for t in inputs(1, size))
    with FlopCounterMode(display=False) as counter:
        step(image, mask)
    return float(counter.get_total_flops())


def mfu(images_per_second: float, flops_per_image: float) -> float | None:
    """Achieved FLOP/s over the card's bf16 dense peak (None for a card not in the table)."""
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    peak = next((tflops for card, tflops in BF16_PEAK_TFLOPS.items() if card in name), None)
    return None if peak is None else images_per_second * flops_per_image / (peak * 1e12)


def train_images_per_second(
    size: int,
    batch: int,
    precision: str,
    warmup: int,
    steps: int,
    fast_step: bool = False,
    compile: bool | str = False,
    trainer: str = "gpu",
    workers: int = 8,
    overrides: tuple[str, ...] = (),
) -> dict:
    """The paper's model and losses (adv_weight 0.3: G, D, VGG16) trained by the real Trainer;
    fast_step: `model.fast_step=true` (one-pass D, static-shape attention, fused Adam, no host
    synchronisation); compile: `model.compile` (torch.compile of the networks). trainer: the
    trainer config (`cpu` for a dry run without a GPU); overrides: more of the configuration's."""
    with tempfile.TemporaryDirectory() as folder:
        cfg = compose_config(
            "train",
            [
                f"trainer={trainer}",
                f"trainer.precision={precision}",
                "pretrained=false",
                f"crop_size={size}",
                f"dataset.batch_size={batch}",
                f"dataset.train_size={batch * (warmup + steps)}",
                f"dataset.num_workers={workers}",
                "~logger",
                "~callbacks",
                f"paths.output_dir={folder}",
                "trainer.max_epochs=1",
                "+trainer.limit_val_batches=0",
                "trainer.num_sanity_val_steps=0",
                "trainer.enable_progress_bar=false",
                "trainer.enable_model_summary=false",
                "+trainer.enable_checkpointing=false",
                f"model.fast_step={str(fast_step).lower()}",
                f"model.compile={str(compile).lower() if isinstance(compile, bool) else compile}",
                *overrides,
            ],
        )
        timer = StepTimer(warmup, count_flops=not compile)
        trainer = instantiate(cfg.trainer, default_root_dir=folder, logger=False, callbacks=[timer])
        trainer.fit(instantiate(cfg.model), datamodule=instantiate(cfg.dataset))
    step = statistics.median(timer.steps)
    measured = len(timer.steps)
    return dict(
        size=size,
        batch=batch,
        precision=precision,
        fast_step=fast_step,
        compile=compile,
        flops_per_image=None if timer.flops is None else timer.flops / batch,
        steps=measured,
        seconds_per_step=step,
        images_per_second=batch / step,
        images_per_second_with_loader=batch * measured / (timer.loop_end - timer.loop_start),
        peak_gb=torch.cuda.max_memory_allocated() / 1e9 if torch.cuda.is_available() else None,
        reserved_gb=torch.cuda.max_memory_reserved() / 1e9 if torch.cuda.is_available() else None,
    )


def training_section(quick: bool) -> list[dict]:
    # The default step and model.fast_step side by side at the GPU targets' setting (256, bf16).
    settings = [
        (256, 5, "bf16-mixed", False),
        (256, 5, "bf16-mixed", True),
        (256, 16, "bf16-mixed", False),
        (256, 16, "bf16-mixed", True),
        (256, 5, "32-true", False),
        (512, 5, "bf16-mixed", False),
        (512, 5, "32-true", False),
    ]
    flops = {size: training_flops_per_image(size) for size in sorted({s[0] for s in settings})}
    results = []
    for size, batch, precision, fast in settings[:2] if quick else settings:
        torch.cuda.empty_cache()
        result = train_images_per_second(size, batch, precision, warmup=3, steps=5 if quick else 16, fast_step=fast)
        result.update(flops_per_image=flops[size], mfu=mfu(result["images_per_second"], flops[size]))
        results.append(result)
    print("\n## Training step (D + G, VGG16 style / perceptual, DenseNet121), real Trainer, GPU\n")
    print(
        markdown(
            [
                "size",
                "batch",
                "precision",
                "fast_step",
                "s / step",
                "images / s",
                "images / s (loader counted)",
                "MFU (bf16 peak)",
                "peak allocated GB",
                "peak reserved GB",
            ],
            [
                [
                    r["size"],
                    r["batch"],
                    r["precision"],
                    r["fast_step"],
                    f"{r['seconds_per_step']:.3f}",
                    f"{r['images_per_second']:.1f}",
                    f"{r['images_per_second_with_loader']:.1f}",
                    "–" if r["mfu"] is None else f"{100 * r['mfu']:.1f} %",
                    f"{r['peak_gb']:.2f}",
                    f"{r['reserved_gb']:.2f}",
                ]
                for r in results
            ],
        )
    )
    return results


STEP_VARIANTS = {
    "default": dict(fast_step=False, compile=False),
    "fast_step": dict(fast_step=True, compile=False),
    "fast_step, compiled": dict(fast_step=True, compile=True),
}


def variants_section(quick: bool, out: Path | None = None, dry_run: bool = False) -> list[dict]:
    """The default step, model.fast_step and fast_step with model.compile, at bf16-mixed, 256 x 256,
    batch 5 and 16, through the real Trainer: the variants alternate within each round (a second
    round unless quick), and each result is appended to out/gpu_step_variants.jsonl as soon as it
    is measured. dry_run: the same code on the CPU at 64 x 64, batch 2, two steps, without the
    discriminator (whose capture alone takes a minute on a CPU), compiled with the "eager" backend
    (dynamo's capture without code generation), for a test without a GPU."""
    if dry_run:
        sizes, batches = [64], [2]
        settings = dict(precision="32-true", warmup=2, steps=2, trainer="cpu", workers=0, overrides=("adv_weight=0",))
    else:
        sizes, batches, settings = [256], [5, 16], dict(precision="bf16-mixed", warmup=3, steps=16)
    results = []
    for round_ in range(1 if quick or dry_run else 2):
        for size in sizes:
            for batch in batches:
                flops = None
                for name, variant in STEP_VARIANTS.items():
                    compile = "eager" if dry_run and variant["compile"] else variant["compile"]
                    if torch.cuda.is_available():
                        torch.cuda.empty_cache()
                    result = train_images_per_second(
                        size, batch, **settings, fast_step=variant["fast_step"], compile=compile
                    )
                    # a compiled run's FLOPs are its eager twin's (the row before it)
                    flops = result["flops_per_image"] = result["flops_per_image"] or flops
                    result.update(
                        variant=name,
                        round=round_,
                        mfu=None if flops is None else mfu(result["images_per_second"], flops),
                    )
                    results.append(result)
                    line = f"{name}: {size} x {size}, batch {batch}: {result['images_per_second']:.1f} images / s"
                    print(line + ("" if result["mfu"] is None else f", MFU {100 * result['mfu']:.1f} %"), flush=True)
                    if out is not None:
                        with open(out / "gpu_step_variants.jsonl", "a") as file:
                            file.write(json.dumps(result) + "\n")
    return results


def inference_section(quick: bool) -> list[dict]:
    generator = MusicalGenerator().to(DEVICE).eval()
    settings = [(256, 1), (512, 1), (1024, 1), (256, 32)]
    results = []
    for size, batch in settings[:2] if quick else settings:
        image, mask = (t.to(DEVICE) for t in inputs(batch, size))
        line = dict(size=size, batch=batch)
        for precision in ("fp32", "bf16"):

            def run(precision=precision, image=image, mask=mask):
                with torch.no_grad(), torch.autocast("cuda", torch.bfloat16, enabled=precision == "bf16"):
                    generator(image, mask)

            seconds = time_side_by_side({precision: run}, repeats=5, warmup=2, cuda=True)[precision]["median_s"]
            line[precision] = dict(seconds=seconds, images_per_second=batch / seconds, peak_gb=cuda_peak_gb(run))
        results.append(line)
    print("\n## Inference (paper-sized generator, centre hole of half the side, no grad), GPU\n")
    print(
        markdown(
            ["size", "batch", "fp32 (ms)", "bf16 (ms)", "fp32 images / s", "bf16 images / s", "fp32 GB", "bf16 GB"],
            [
                [
                    r["size"],
                    r["batch"],
                    f"{1e3 * r['fp32']['seconds']:.1f}",
                    f"{1e3 * r['bf16']['seconds']:.1f}",
                    f"{r['fp32']['images_per_second']:.1f}",
                    f"{r['bf16']['images_per_second']:.1f}",
                    f"{r['fp32']['peak_gb']:.2f}",
                    f"{r['bf16']['peak_gb']:.2f}",
                ]
                for r in results
            ],
        )
    )
    return results


SECTIONS = dict(
    variants=variants_section,
    attention=attention_section,
    training=training_section,
    inference=inference_section,
    budget=budget_section,
    step=step_section,
)
DEFAULT_SECTIONS = ["attention", "training", "inference"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--only",
        nargs="+",
        default=DEFAULT_SECTIONS,
        choices=list(SECTIONS),
        help="sections to run; budget and step are diagnostics, not run by default",
    )
    parser.add_argument(
        "--out", type=Path, help="where the JSON goes (default benchmarks/results/); variants: each result as measured"
    )
    parser.add_argument("--dry-run", action="store_true", help="variants: a tiny run on the CPU (no GPU needed)")
    args = parser.parse_args()
    if args.dry_run and args.only != ["variants"]:
        parser.error("--dry-run runs the variants section alone: --only variants")
    if not torch.cuda.is_available() and not args.dry_run:
        raise SystemExit("bench_gpu needs a CUDA device; the CPU figures come from bench_attention and bench_generator")
    print(f"device: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU'}, torch {torch.__version__}")
    sections = dict(SECTIONS, variants=partial(variants_section, out=args.out, dry_run=args.dry_run))
    results = {name: sections[name](args.quick) for name in args.only}
    name = (
        "gpu"
        + ("_quick" if args.quick else "")
        + ("" if sorted(args.only) == sorted(DEFAULT_SECTIONS) else "_" + "_".join(args.only))
    )
    print(f"\nwritten {write_json(name, results, args.out or RESULTS)}")


if __name__ == "__main__":
    main()
