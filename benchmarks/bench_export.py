"""The exported ONNX file of the paper-sized generator in ONNX Runtime's default session, against
eager PyTorch on the same machine.

    python -m benchmarks.bench_export               # 256 x 256, about 3 minutes on 2 cores
    python -m benchmarks.bench_export --size 128    # a smaller check

The generator is the paper's (width 64, 4 dilated levels, multi-scale attention) with random
weights: time and memory do not depend on the weights. Each phase runs in a fresh process, so
that each peak resident size is its own:
1. export: `musical_inpaint.export`'s exportable model and ONNX exporter (seconds, peak memory,
   file size);
2. session: a default `onnxruntime.InferenceSession` (CPU provider, default graph optimisation
   level) created and run once on a size x size image, in a process without torch
   (`benchmarks/ort_session.py`: seconds to open, peak memory);
3. timing: that session and the eager generator (sparse attention, composite) on the same image
   and mask, interleaved, and the largest difference between their outputs.
Prints a markdown table and writes benchmarks/results/export.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import markdown, peak_memory_in_child, peak_rss_gb, time_side_by_side, write_json
from musical_inpaint.export import InpaintingModel, export_onnx, exportable, sample_inputs
from musical_inpaint.models import MusicalGenerator

MODULE = "benchmarks.bench_export"


def paper_generator() -> MusicalGenerator:
    """The paper-sized generator with seeded random weights: the same in every phase's process."""
    torch.manual_seed(0)
    return MusicalGenerator().eval()


def phase_export(folder: Path, size: int) -> dict:
    model = exportable(paper_generator())
    inputs = sample_inputs(size, size)
    start = time.perf_counter()
    path = export_onnx(model, inputs, folder / "model.onnx")
    return dict(export_s=time.perf_counter() - start, export_peak_gb=peak_rss_gb(), file_mb=path.stat().st_size / 1e6)


def phase_timing(folder: Path, size: int, repeats: int) -> dict:
    import onnxruntime

    eager = InpaintingModel(paper_generator())
    image, mask = sample_inputs(size, size, seed=1)
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    feeds = {"image": image.numpy(), "mask": mask.numpy()}
    with torch.no_grad():
        reference = eager(image, mask)
        (exported,) = session.run(None, feeds)
        timings = time_side_by_side(
            {"eager": lambda: eager(image, mask), "onnxruntime": lambda: session.run(None, feeds)}, repeats=repeats
        )
    return dict(
        max_difference=float((torch.from_numpy(exported) - reference).abs().max()),
        eager_s=timings["eager"]["median_s"],
        onnxruntime_s=timings["onnxruntime"]["median_s"],
        timings=timings,
        threads=torch.get_num_threads(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--phase", choices=["export", "timing"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        phases = dict(export=phase_export, timing=phase_timing)
        extra = (args.repeats,) if args.phase == "timing" else ()
        print(json.dumps(phases[args.phase](args.folder, args.size, *extra)))
        return
    with tempfile.TemporaryDirectory() as folder:
        result = dict(size=args.size)
        common = ("--folder", folder, "--size", str(args.size), "--repeats", str(args.repeats))
        children = [
            ("export", MODULE, ("--phase", "export", *common)),
            ("session", "benchmarks.ort_session", (str(Path(folder) / "model.onnx"), str(args.size))),
            ("timing", MODULE, ("--phase", "timing", *common)),
        ]
        for phase, module, arguments in children:
            found = peak_memory_in_child(module, *arguments)
            if "error" in found:
                raise SystemExit(f"bench_export: the {phase} phase failed: {found['error']}")
            result.update(found)
    result["onnxruntime_over_eager"] = result["onnxruntime_s"] / result["eager_s"]
    print(
        markdown(
            [
                "size",
                "export (s)",
                "export peak (GB)",
                "file (MB)",
                "default session: open (s)",
                "session peak (GB)",
                "eager (s)",
                "onnxruntime (s)",
                "ratio",
                "max |difference|",
            ],
            [
                [
                    f"{args.size} x {args.size}",
                    f"{result['export_s']:.1f}",
                    f"{result['export_peak_gb']:.2f}",
                    f"{result['file_mb']:.1f}",
                    f"{result['session_open_s']:.1f}",
                    f"{result['session_peak_gb']:.2f}",
                    f"{result['eager_s']:.3f}",
                    f"{result['onnxruntime_s']:.3f}",
                    f"{result['onnxruntime_over_eager']:.2f}",
                    f"{result['max_difference']:.1e}",
                ]
            ],
        )
    )
    print(f"written to {write_json('export', result)}")


if __name__ == "__main__":
    main()
