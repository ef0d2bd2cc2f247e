"""Contextual attention: ours (sparse, exact) against the authors' algorithm (dense, N^2 per sample).

    python -m benchmarks.bench_attention            # the full set (about 15 minutes on 2 cores)
    python -m benchmarks.bench_attention --quick    # smaller, for a smoke run
    python -m benchmarks.bench_attention --flops    # forward FLOPs of each setting only (seconds)
    python -m benchmarks.bench_attention --budgets  # ours at score budgets 2^21..2^23 (5 minutes)

1. The paper's setting: 128 x 64 x 64 features, 32 x 32 centre hole, both branches (1x1 and 3x3
   patches), forward + backward, batch 2 and 5; and free-form holes of 10-50 % area. Timed side
   by side (interleaved, medians); peak memory of each in a fresh process after a warm-up step;
   ours checked against a dense N x N implementation of the same semantics
   (tests/reference_attention.py).
2. Scaling: attention forward at 256, 512, 1024 inputs (64^2 .. 256^2 features, half-side hole).
3. The paper-sized generator inpainting a 1024 x 1024 image with a 512 x 512 hole on the CPU.
Prints markdown tables and writes benchmarks/results/attention.json.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.authors_attention import AuthorsAttention
from benchmarks.common import (
    current_rss_gb,
    markdown,
    peak_memory_in_child,
    peak_rss_gb,
    reset_peak_rss,
    time_side_by_side,
    write_json,
)
from musical_inpaint.data.masks import FreeFormMask
from musical_inpaint.models import ContextualAttention
from musical_inpaint.models.generator import MusicalGenerator
from musical_inpaint.ops.contextual_attention import contextual_attention_dense

CHANNELS = 128
BRANCHES = (1, 3)


def feature_mask(kind: str, batch: int, size: int) -> torch.Tensor:
    """centre: the paper's hole (half the side); free10 / free50: free-form strokes whose area at
    feature resolution lies near 10-20 % / 40-50 %."""
    mask = torch.zeros(batch, 1, size, size)
    if kind == "centre":
        mask[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
        return mask
    low, high = {"free10": (0.10, 0.20), "free50": (0.40, 0.50)}[kind]
    rng, filled = np.random.default_rng(0), 0
    while filled < batch:
        strokes = torch.from_numpy(FreeFormMask("thick")(size * 4, size * 4, rng))[None, None]
        for _ in range(4):  # grow the mask by more strokes until its area reaches the range
            area = F.max_pool2d(strokes, 4).mean().item()
            if area >= low:
                break
            strokes = torch.maximum(
                strokes, torch.from_numpy(FreeFormMask("thick")(size * 4, size * 4, rng))[None, None]
            )
        if low <= F.max_pool2d(strokes, 4).mean().item() <= high:
            mask[filled] = F.max_pool2d(strokes, 4)[0]
            filled += 1
    return mask


def attention_step(
    implementation: str, x: torch.Tensor, mask: torch.Tensor, backward: bool = True, max_scores: int | None = None
):
    """One call of both branches (and their backward): "ours" or the authors' algorithm."""
    modules = [
        AuthorsAttention(p) if implementation == "authors" else ContextualAttention(p, max_scores=max_scores)
        for p in BRANCHES
    ]

    def run():
        leaf = x.detach().requires_grad_(backward)
        with torch.set_grad_enabled(backward):
            out = sum(module(leaf, mask).sum() for module in modules)
            if backward:
                out.backward()

    return run


def difference_from_dense(x: torch.Tensor, mask: torch.Tensor) -> float:
    """Max |ours - dense| of both branches' outputs summed (tests/reference_attention.py)."""
    with torch.no_grad():
        dense = sum(contextual_attention_dense(x, mask, p, 3, 10.0) for p in BRANCHES)
        return float((sum(ContextualAttention(p)(x, mask) for p in BRANCHES) - dense).abs().max())


def child(implementation: str, batch: int, kind: str, size: int, backward: bool, max_scores: int | None = None) -> None:
    """Peak resident memory of one attention step in this fresh process, as one JSON line."""
    torch.manual_seed(0)
    x, mask = torch.randn(batch, CHANNELS, size, size), feature_mask(kind, batch, size)
    step = attention_step(implementation, x, mask, backward, max_scores)
    step()  # warm-up: kernels and thread pools are loaded once per process, not per step
    reset_peak_rss()
    before = current_rss_gb()  # inputs in place; the peak of the step is measured above this
    start = time.perf_counter()
    step()
    print(json.dumps(dict(seconds=time.perf_counter() - start, peak_gb=peak_rss_gb(), extra_gb=peak_rss_gb() - before)))


def child_generator_1024() -> None:
    torch.manual_seed(0)
    generator = MusicalGenerator().eval()
    image = torch.rand(1, 3, 1024, 1024) * 2 - 1
    mask = torch.zeros(1, 1, 1024, 1024)
    mask[..., 256:768, 256:768] = 1
    start = time.perf_counter()
    with torch.no_grad():
        out = generator(image, mask)
    print(
        json.dumps(
            dict(seconds=time.perf_counter() - start, peak_gb=peak_rss_gb(), finite=bool(torch.isfinite(out).all()))
        )
    )


def forward_flops() -> None:
    """Forward FLOPs (torch.utils.flop_counter: matrix products and convolutions) of ours and the
    authors' algorithm, both branches, batch 1, for each hole of the timing table."""
    rows = []
    for kind in ("centre", "free10", "free50"):
        torch.manual_seed(0)
        x, mask = torch.randn(1, CHANNELS, 64, 64), feature_mask(kind, 1, 64)
        flops = {}
        for implementation in ("ours", "authors"):
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                attention_step(implementation, x, mask, backward=False)()
            flops[implementation] = counter.get_total_flops()
        rows.append(
            [
                kind,
                f"{float(mask.mean()):.0%}",
                f"{flops['ours'] / 1e9:.1f}",
                f"{flops['authors'] / 1e9:.1f}",
                f"{flops['authors'] / flops['ours']:.1f}x",
            ]
        )
    print("\n## Forward GFLOP per sample, both branches, 128 x 64 x 64 features\n")
    print(markdown(["hole", "area", "ours", "authors'", "ratio"], rows))


def budget_times() -> None:
    """Ours, forward + backward, at score budgets of 2^21 to 2^23 entries: time side by side, and
    peak memory above the inputs in a fresh process for each."""
    rows = []
    for batch, kind in ((2, "free50"), (2, "free10"), (5, "centre")):
        torch.manual_seed(0)
        x, mask = torch.randn(batch, CHANNELS, 64, 64), feature_mask(kind, batch, 64)
        times = time_side_by_side(
            {e: attention_step("ours", x, mask, max_scores=2**e) for e in (21, 22, 23)}, repeats=5
        )
        memory = {
            e: peak_memory_in_child(
                "benchmarks.bench_attention", "--child", "ours", str(batch), kind, "64", "1", "--budget-exp", str(e)
            ).get("extra_gb", float("nan"))
            for e in (21, 22, 23)
        }
        rows.append([batch, kind, *(f"{times[e]['median_s']:.2f} s, {memory[e]:.2f} GB" for e in (21, 22, 23))])
    print("\n## Ours, both branches, forward + backward, against the score budget (time, extra memory)\n")
    print(markdown(["batch", "hole", "2^21", "2^22", "2^23"], rows))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", nargs=5, metavar=("IMPL", "BATCH", "MASK", "SIZE", "BACKWARD"))
    parser.add_argument("--budget-exp", type=int, help="with --child: a score budget of 2^N entries")
    parser.add_argument("--child-generator-1024", action="store_true")
    parser.add_argument("--flops", action="store_true")
    parser.add_argument("--budgets", action="store_true")
    args = parser.parse_args()
    if args.flops:
        return forward_flops()
    if args.budgets:
        return budget_times()
    if args.child:
        impl, batch, kind, size, backward = args.child
        return child(impl, int(batch), kind, int(size), backward == "1", args.budget_exp and 2**args.budget_exp)
    if args.child_generator_1024:
        return child_generator_1024()

    repeats = 2 if args.quick else 5  # this machine is noisy: medians of 5 interleaved runs
    results = dict(paper_setting=[], scaling=[])
    rows = []
    settings = [(2, "centre"), (5, "centre"), (2, "free10"), (2, "free50")] if not args.quick else [(2, "centre")]
    for batch, kind in settings:
        torch.manual_seed(0)
        x, mask = torch.randn(batch, CHANNELS, 64, 64), feature_mask(kind, batch, 64)
        difference = difference_from_dense(x, mask)
        times = time_side_by_side(
            {impl: attention_step(impl, x, mask) for impl in ("ours", "authors")}, repeats=repeats
        )
        memory = {
            impl: peak_memory_in_child("benchmarks.bench_attention", "--child", impl, str(batch), kind, "64", "1")
            for impl in ("ours", "authors")
        }
        entry = dict(
            batch=batch,
            mask=kind,
            hole_area=float(mask.mean()),
            max_difference_from_dense=difference,
            times=times,
            memory=memory,
        )
        results["paper_setting"].append(entry)
        speedup = times["authors"]["median_s"] / times["ours"]["median_s"]
        ours_gb, authors_gb = (memory[impl].get("extra_gb", float("nan")) for impl in ("ours", "authors"))
        memory_ratio = ours_gb / authors_gb if authors_gb > 0 else float("nan")
        rows.append(
            [
                batch,
                kind,
                f"{entry['hole_area']:.0%}",
                f"{times['ours']['median_s']:.2f}",
                f"{times['authors']['median_s']:.2f}",
                f"{speedup:.1f}x",
                f"{ours_gb:.2f}",
                f"{authors_gb:.2f}",
                f"{memory_ratio:.2f}",
                f"{difference:.1e}",
            ]
        )
    print("\n## Attention, both branches, forward + backward, 128 x 64 x 64 features\n")
    print(
        markdown(
            [
                "batch",
                "hole",
                "area",
                "ours (s)",
                "authors' (s)",
                "speed-up",
                "ours extra GB",
                "authors' extra GB",
                "memory ratio",
                "max |ours - dense|",
            ],
            rows,
        )
    )

    scale_rows = []
    for image_size in (256, 512) if args.quick else (256, 512, 1024):
        size = image_size // 4
        line = dict(image=image_size, features=size)
        for impl in ("ours", "authors"):
            if impl == "authors" and image_size >= 1024:
                line[impl] = dict(error="not run: one dense score map alone is N^2 x 4 B = 17 GB")
                continue
            line[impl] = peak_memory_in_child(
                "benchmarks.bench_attention", "--child", impl, "1", "centre", str(size), "0"
            )
        results["scaling"].append(line)
        cell = lambda r: f"{r['seconds']:.2f} s, {r['peak_gb']:.2f} GB" if "seconds" in r else r["error"]
        scale_rows.append([image_size, f"{size}^2", cell(line["ours"]), cell(line["authors"])])
    print(
        "\n## Scaling: attention forward, both branches, batch 1, half-side centre hole (time, peak RSS of the process)\n"
    )
    print(markdown(["input", "features", "ours", "authors'"], scale_rows))

    if not args.quick:
        big = peak_memory_in_child("benchmarks.bench_attention", "--child-generator-1024")
        results["generator_1024"] = big
        print("\n## Paper-sized generator, 1024 x 1024 image, 512 x 512 hole, CPU, no grad\n")
        print(
            markdown(
                ["seconds", "peak RSS (GB)", "finite"],
                [
                    [
                        f"{big.get('seconds', float('nan')):.1f}",
                        f"{big.get('peak_gb', float('nan')):.2f}",
                        big.get("finite"),
                    ]
                ],
            )
        )
    print(f"\nwritten {write_json('attention' + ('_quick' if args.quick else ''), results)}")


if __name__ == "__main__":
    main()
