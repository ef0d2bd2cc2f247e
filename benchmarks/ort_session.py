"""One default ONNX Runtime session opened and run on an exported file, in a process that imports
neither torch nor this project: its peak resident size is what a user of the file would see.

    python -m benchmarks.ort_session FILE.onnx SIZE     # prints one JSON line (bench_export runs it)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime


def main() -> None:
    path, size = sys.argv[1], int(sys.argv[2])
    image = np.random.default_rng(0).uniform(-1, 1, (1, 3, size, size)).astype(np.float32)
    mask = np.zeros((1, 1, size, size), np.float32)
    mask[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    start = time.perf_counter()
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])  # default options
    opened = time.perf_counter() - start
    session.run(None, {"image": image, "mask": mask})
    status = Path("/proc/self/status").read_text()
    peak_gb = int(status.split("VmHWM:")[1].split()[0]) / 1e6
    print(json.dumps(dict(session_open_s=opened, session_peak_gb=peak_gb, onnxruntime=onnxruntime.__version__)))


if __name__ == "__main__":
    main()
