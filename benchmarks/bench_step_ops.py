"""What one training step at the paper's setting asks of a GPU, counted on the CPU: kernel launches
(aten operators, views left out) and host synchronisations, through the real LightningModule and
Trainer, for the default step and `model.fast_step=true`.

    python -m benchmarks.bench_step_ops               # about 3 minutes on 2 cores
    python -m benchmarks.bench_step_ops --size 64     # smaller images: the same counts

The second batch of a run is counted (the first warms up), in float32, 256 x 256, batch 5, the
paper's losses and discriminator on random weights; the optimiser steps are counted apart. A GPU
runs one kernel per operator and its host waits at every synchronisation (`benchmarks/dispatch.py`
names them), so the step's speed on a GPU follows these counts wherever the kernels are small.
Prints a markdown table and writes benchmarks/results/step_ops.json.
"""

from __future__ import annotations

import argparse

import lightning as L
from hydra.utils import instantiate

from benchmarks.common import cpu_trainer, markdown, write_json
from benchmarks.dispatch import OpCensus
from musical_inpaint.config import compose_config

VARIANTS = {"default step": [], "model.fast_step=true": ["model.fast_step=true"]}


class StepCensus(L.Callback):
    """Counts the operators of training batch `batch` (0-based), the optimiser steps apart."""

    def __init__(self, batch: int = 1) -> None:
        self.batch = batch
        self.census: OpCensus | None = None

    def on_fit_start(self, trainer, pl_module) -> None:
        for optimiser in trainer.optimizers:
            optimiser.register_step_pre_hook(lambda *_: self._section("optimiser"))
            optimiser.register_step_post_hook(lambda *_: self._section(None))

    def _section(self, name: str | None) -> None:
        if self.census is not None:
            self.census.section = name

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if batch_idx == self.batch:
            self.census = OpCensus()
            self.census.__enter__()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if batch_idx == self.batch:
            self.census.__exit__(None, None, None)


def count_step(overrides: list[str], size: int, batch_size: int) -> OpCensus:
    cfg = compose_config(
        "train",
        ["pretrained=false", f"crop_size={size}", f"dataset.batch_size={batch_size}", *overrides],
    )
    L.seed_everything(0)
    module = instantiate(cfg.model)
    datamodule = instantiate(cfg.dataset)
    census = StepCensus()
    cpu_trainer(census.batch + 1, [census], precision="32-true").fit(module, datamodule=datamodule)
    return census.census


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=5)
    args = parser.parse_args()
    results, rows = {}, []
    for name, overrides in VARIANTS.items():
        census = count_step(overrides, args.size, args.batch_size)
        results[name] = dict(
            ops=census.ops,
            syncs=census.syncs,
            sync_ops=dict(census.sync_ops),
            optimiser_ops=census.by_section["optimiser"],
            top_ops=dict(census.by_op.most_common(15)),
        )
        syncs = ", ".join(f"{count} {op}" for op, count in census.sync_ops.most_common()) or "none"
        rows.append([name, f"{census.ops:,}", f"{census.syncs} ({syncs})", f"{census.by_section['optimiser']:,}"])
        print(rows[-1], flush=True)
    default, fast = (results[name]["ops"] for name in VARIANTS)
    print(f"\n{args.size} x {args.size}, batch {args.batch_size}, float32; fast / default ops: {fast / default:.2f}\n")
    print(markdown(["step", "aten ops (optimisers apart)", "host synchronisations", "optimiser ops"], rows))
    path = write_json("step_ops", dict(size=args.size, batch_size=args.batch_size, results=results))
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
