"""The data pipeline: decoded and transformed images per second in one process, per layout.

    python -m benchmarks.bench_data

Files are made in a temporary folder at the real release sizes (CelebA 178 x 218 JPEG, Paris
training 936 x 537 JPEG, Paris test 227 x 227 PNG, Places 256 x 256 JPEG) plus the synthetic set,
and read through the real datasets with the paper's transforms and masks. Compare with what a
training step consumes: batch 5 per step (see bench_generator). Writes benchmarks/results/data.json.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.common import markdown, write_json
from musical_inpaint.data import CenterMask, FreeFormMask
from musical_inpaint.data.datasets import ImageFilesDataset, SyntheticDataset
from musical_inpaint.data.transforms import ResizeCrop

LAYOUTS = {  # name: (width, height, suffix, transform)
    "celeba train (178x218 jpg -> 256 centre)": (178, 218, ".jpg", ResizeCrop(256, 256)),
    "paris train (936x537 jpg -> 350, random 256, flip)": (936, 537, ".jpg", ResizeCrop(350, 256, True, True)),
    "paris test (227x227 png -> 256 centre)": (227, 227, ".png", ResizeCrop(256, 256)),
    "places train (256x256 jpg -> 350, random 256, flip)": (256, 256, ".jpg", ResizeCrop(350, 256, True, True)),
}


def images_per_second(dataset, count: int) -> float:
    dataset[0]
    start = time.perf_counter()
    for i in range(count):
        dataset[i % len(dataset)]
    return count / (time.perf_counter() - start)


def main(count: int = 60) -> None:
    rows, results = [], {}
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        for name, (width, height, suffix, transform) in LAYOUTS.items():
            files = []
            for i in range(8):
                path = Path(folder) / f"{len(results)}_{i}{suffix}"
                Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path, quality=90)
                files.append(path)
            for mask_name, mask in (("centre", CenterMask()), ("free-form", FreeFormMask())):
                dataset = ImageFilesDataset(files, transform, mask, deterministic=False)
                results[f"{name}, {mask_name}"] = rate = images_per_second(dataset, count)
                rows.append([name, mask_name, f"{rate:.0f}"])
    for mask_name, mask in (("centre", CenterMask()), ("free-form", FreeFormMask())):
        rate = images_per_second(SyntheticDataset(count, 256, mask, deterministic=False), count)
        results[f"synthetic 256, {mask_name}"] = rate
        rows.append(["synthetic (generated, 256)", mask_name, f"{rate:.0f}"])
    print("\n## Data pipeline, one process (one DataLoader worker)\n")
    print(markdown(["layout and transform", "mask", "images / s"], rows))
    print(f"\nwritten {write_json('data', dict(images_per_second=results))}")


if __name__ == "__main__":
    main()
