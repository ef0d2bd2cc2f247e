"""The CPU recipe's training step (experiment=photos_cpu: width 32, 2 dilated levels, batch 16,
64 x 64, no discriminator) in float32 and under bfloat16 autocast, side by side.

    python -m benchmarks.bench_cpu_recipe [--data ../shared/data] [--steps 150] [--compile] [--step-only]

1. The generator's step alone on one fixed batch (forward, the recipe's loss, backward, Adam):
   float32, bfloat16 autocast, float32 in channels_last; with --compile also torch.compile of the
   generator (it compiles for many minutes on a CPU). `--step-only` runs just this part (a few
   minutes where bfloat16 is emulated) and writes benchmarks/results/cpu_recipe_step_<capability>.json.
2. The whole loop: the real LightningModule, data pipeline (the photos, cached) and Trainer,
   milliseconds per step after a warm-up: the preset (`precision=32-true`), the preset without
   its scale jitter (`dataset.train_load_size=null`), and `bf16-mixed`, run in turn twice.
(The decoder's upsampling compared at 128 x 128 in benchmarks/README.md ran at commit 9e88cef,
which had the option `model.generator.upsample=resize`.)
Prints markdown tables and writes benchmarks/results/cpu_recipe.json.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate

from benchmarks.bench_generator import inputs
from benchmarks.common import cpu_trainer, markdown, time_side_by_side, write_json
from musical_inpaint.config import compose_config


def recipe(data: Path, *overrides: str):
    return compose_config("train", ["experiment=photos_cpu", f"paths.data_dir={data}", *overrides])


def generator_step(cfg, precision: str, compiled: bool = False):
    """One optimisation step of the recipe's generator and loss on a fixed batch, as a function."""
    torch.manual_seed(0)
    generator = instantiate(cfg.model.generator)
    loss = instantiate(cfg.model.loss)
    image, mask = inputs(cfg.dataset.batch_size, cfg.crop_size)
    if precision == "channels_last":
        generator = generator.to(memory_format=torch.channels_last)
        image, mask = (t.contiguous(memory_format=torch.channels_last) for t in (image, mask))
    optimiser = torch.optim.Adam(generator.parameters(), lr=cfg.model.lr, betas=tuple(cfg.model.betas))
    network = torch.compile(generator) if compiled else generator

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16 autocast"):
            prediction = network(image * (1 - mask), mask)
        total = loss(prediction.float(), image, mask)["total"]
        optimiser.zero_grad(set_to_none=True)
        total.backward()
        optimiser.step()

    return step


class StepClock(L.Callback):
    """Wall time between consecutive training batches."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_batch_end(self, *args) -> None:
        self.times.append(time.perf_counter())


def loop_ms_per_step(cfg, precision: str, steps: int, warmup: int = 42) -> float:
    """Median ms per step of the real training loop (no validation, no checkpoints), after
    `warmup` steps: two epochs of the 340 training photos at batch 16 (the first fills the cache)."""
    L.seed_everything(0, workers=True)
    datamodule = instantiate(cfg.dataset)
    module = instantiate(cfg.model)
    clock = StepClock()
    # max_time: the preset's guard, which its learning rate reads
    trainer = cpu_trainer(warmup + steps, [clock], precision=precision, max_time=cfg.trainer.max_time)
    trainer.fit(module, datamodule=datamodule)
    gaps = [b - a for a, b in zip(clock.times[warmup:], clock.times[warmup + 1 :])]
    return 1000 * statistics.median(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data", type=Path, default=Path("../shared/data"), help="folder holding bsds500/ and urban100/"
    )
    parser.add_argument("--steps", type=int, default=150, help="timed steps per run of the whole loop")
    parser.add_argument("--compile", action="store_true", help="also torch.compile (minutes of compilation)")
    parser.add_argument("--step-only", action="store_true", help="only part 1, the generator's step")
    args = parser.parse_args()
    if not (args.data / "bsds500").is_dir():
        raise SystemExit(f"bench_cpu_recipe: --data {args.data} holds no bsds500/ (the photos of ../shared/data)")
    cfg = recipe(args.data.resolve())

    variants = ["float32", "bf16 autocast", "channels_last"] + (["torch.compile"] if args.compile else [])
    steps = {
        name: generator_step(cfg, name if name != "torch.compile" else "float32", compiled=name == "torch.compile")
        for name in variants
    }
    timed = time_side_by_side(steps, repeats=20, warmup=3)
    reference = timed["float32"]["median_s"]
    rows = [
        [
            name,
            f"{t['median_s'] * 1000:.1f}",
            f"{t['min_s'] * 1000:.1f}-{t['max_s'] * 1000:.1f}",
            f"{reference / t['median_s']:.2f}x",
        ]
        for name, t in timed.items()
    ]
    print(f"## The generator's step alone (batch {cfg.dataset.batch_size}, {cfg.crop_size} x {cfg.crop_size})\n")
    print(markdown(["variant", "ms / step (median)", "range", "speed-up vs float32"], rows))
    if args.step_only:
        write_json(f"cpu_recipe_step_{torch.backends.cpu.get_cpu_capability().lower()}", dict(generator_step=timed))
        return

    settings = {
        "the preset (32-true)": (cfg, "32-true"),
        "without the scale jitter": (recipe(args.data.resolve(), "dataset.train_load_size=null"), "32-true"),
        "bf16-mixed": (cfg, "bf16-mixed"),
    }
    loops: dict[str, list[float]] = {name: [] for name in settings}
    for _ in range(2):
        for name, (config, precision) in settings.items():
            loops[name].append(loop_ms_per_step(config, precision, args.steps))
    full = {name: statistics.mean(values) for name, values in loops.items()}
    reference = full["the preset (32-true)"]
    print("\n## The whole training loop (real module, data and Trainer)\n")
    print(
        markdown(
            ["setting", "ms / step (two runs)", "steps in 58 minutes", "speed-up vs the preset"],
            [
                [
                    name,
                    " / ".join(f"{v:.1f}" for v in loops[name]),
                    f"{58 * 60_000 / full[name]:,.0f}",
                    f"{reference / full[name]:.2f}x",
                ]
                for name in loops
            ],
        )
    )
    print()
    write_json("cpu_recipe", dict(generator_step=timed, loop_ms_per_step=loops, steps=args.steps))


if __name__ == "__main__":
    main()
