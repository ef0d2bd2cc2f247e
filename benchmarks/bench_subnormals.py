"""Subnormal floats on the CPU: the attention kernel as it was (its nearly one-hot softmax's
subnormal probabilities multiplied as they are), as it is (those set to 0, ops/floats.py), and as
it is in a process that flushes subnormals to zero (what the entry points do), side by side.

    python -m benchmarks.bench_subnormals                # about 20 minutes on 2 cores
    python -m benchmarks.bench_subnormals --only attention generator_train --rounds 3

Every (workload, variant) runs in a process of its own (flush-to-zero must be set before the
intra-op threads exist, and cannot be undone for them), the variants alternating round after
round so that the machine's drift hits all alike; each process times the median of `--repeats`
calls after a warm-up. Beside the times, the share of subnormal inputs to the matrix products and
convolutions, counted at the dispatcher (benchmarks/dispatch.py): the same on every machine, while
the time they cost depends on the CPU (Intel Xeons pay many times over, AMD EPYC cores did not).
Prints a markdown table and writes benchmarks/results/subnormals_<cpu capability>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

from benchmarks.common import cpu_model, markdown, write_json
from benchmarks.dispatch import OpCensus

VARIANTS = ("as it was", "kernel fix", "kernel fix + flush")
PRODUCTS = ("bmm", "mm", "addmm", "baddbmm", "convolution", "convolution_backward", "mkldnn_convolution")


def _attention():
    from musical_inpaint.models import MultiScaleAttention

    module = MultiScaleAttention(128)
    x = torch.randn(2, 128, 64, 64, requires_grad=True)
    mask = torch.zeros(2, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1

    def run():
        module.zero_grad(set_to_none=True)
        x.grad = None
        module(x, mask).square().mean().backward()

    return run


def _generator_train():
    from benchmarks.bench_generator import forward_backward, inputs
    from musical_inpaint.models import MusicalGenerator

    return forward_backward(MusicalGenerator(), *inputs(2, 256))


def _inference(size: int):
    from benchmarks.bench_generator import inputs
    from musical_inpaint.models import MusicalGenerator

    generator = MusicalGenerator().eval()
    image, mask = inputs(1, size)

    def run():
        with torch.no_grad():
            generator(image, mask)

    return run


def _photos_cpu_step():
    from benchmarks.bench_cpu_recipe import generator_step
    from musical_inpaint.config import compose_config

    return generator_step(compose_config("train", ["experiment=photos_cpu"]), "float32")


def _paper_step():
    from benchmarks.bench_generator import TrainingStep, inputs

    step, (image, mask) = TrainingStep(), inputs(5, 256)
    return lambda: step(image, mask)


def _backbone(which: str):
    from benchmarks.bench_generator import inputs
    from musical_inpaint.losses.vgg import VGG16Features
    from musical_inpaint.models import DenseNetDiscriminator

    network = DenseNetDiscriminator(weights=None) if which == "densenet" else VGG16Features(weights=None)
    image = inputs(5, 256)[0].requires_grad_(True)

    def run():
        network.zero_grad(set_to_none=True)
        image.grad = None
        out = network(image)
        sum(o.square().mean() for o in (out if isinstance(out, list) else [out])).backward()

    return run


WORKLOADS = {
    "attention": ("contextual attention, both branches, fwd + bwd, 128 x 64 x 64, batch 2", _attention),
    "generator_train": ("generator fwd + bwd, 256 x 256, batch 2", _generator_train),
    "generator_512": ("generator inference, 512 x 512, batch 1", lambda: _inference(512)),
    "photos_cpu_step": ("experiment=photos_cpu generator step (64 x 64, batch 16)", _photos_cpu_step),
    "paper_step": ("the paper's training step (D + G), 256 x 256, batch 5", _paper_step),
    "inpaint_1024": ("generator inference, 1024 x 1024, batch 1", lambda: _inference(1024)),
    "densenet": ("DenseNet121 discriminator fwd + bwd, 256 x 256, batch 5", lambda: _backbone("densenet")),
    "vgg16": ("VGG16 loss network fwd + bwd (to the input), 256 x 256, batch 5", lambda: _backbone("vgg16")),
}


def child(workload: str, variant: str, repeats: int, census: bool) -> dict:
    """Run in a fresh process: time one workload in one variant (and count its subnormals)."""
    if variant == "kernel fix + flush":
        from musical_inpaint.ops.floats import flush_subnormals

        flush_subnormals()
    if variant == "as it was":
        import musical_inpaint.ops.contextual_attention as kernel

        kernel.drop_negligible = lambda probabilities: probabilities
    torch.manual_seed(0)
    run = WORKLOADS[workload][1]()
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    result = dict(median_s=statistics.median(times), times_s=times)
    if census:
        with OpCensus(subnormals=True) as counted:
            run()
        result["subnormal_share_products"] = counted.subnormal_share(PRODUCTS)
        result["subnormal_share_all"] = counted.subnormal_share()
        result["subnormal_inputs_by_op"] = dict(counted.subnormal_inputs.most_common(8))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=list(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "VARIANT"), help=argparse.SUPPRESS)
    parser.add_argument("--census", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.repeats, args.census)))
        return

    results: dict[str, dict] = {}
    rows = []
    for workload in args.only:
        runs: dict[str, list[dict]] = {variant: [] for variant in VARIANTS}
        for round_ in range(args.rounds):
            for variant in VARIANTS:
                # The subnormals are counted once per variant, without flush-to-zero, which would
                # make the count read them as zeros.
                census = round_ == 0 and variant != "kernel fix + flush"
                command = [sys.executable, "-m", "benchmarks.bench_subnormals", "--child", workload, variant]
                command += ["--repeats", str(args.repeats)] + (["--census"] if census else [])
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    raise SystemExit(f"{workload} / {variant} failed:\n{done.stderr[-3000:]}")
                runs[variant].append(json.loads(done.stdout.strip().splitlines()[-1]))
        medians = {v: statistics.median(r["median_s"] for r in runs[v]) for v in VARIANTS}
        shares = {v: runs[v][0].get("subnormal_share_products") for v in VARIANTS[:2]}
        results[workload] = dict(description=WORKLOADS[workload][0], medians_s=medians, runs=runs)
        rows.append(
            [WORKLOADS[workload][0]]
            + [f"{medians[v]:.3f}" for v in VARIANTS]
            + [f"{medians['as it was'] / medians['kernel fix']:.2f}x"]
            + [f"{100 * shares[v]:.3g} %" for v in VARIANTS[:2]]
        )
        print(rows[-1], flush=True)
    headers = ["workload", *(f"{v} (s)" for v in VARIANTS), "as it was / fix"]
    headers += ["subnormal inputs of products, as it was", "with the fix"]
    print(f"\nCPU: {cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}\n")
    print(markdown(headers, rows))
    path = write_json(f"subnormals_{torch.backends.cpu.get_cpu_capability().lower()}", dict(results=results))
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
