"""Run the paper-sized MUSICAL generator on one image with the paper's centre hole and save a panel
(masked input | raw output | composite | original).

    python -m musical_inpaint.demo [--image PHOTO] [--output DIR] [--size 256]

The generator is untrained here: this shows the pipeline and its speed, not a result. Without
--image, an image of the embedded synthetic dataset is used, so the demo needs no download.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torchvision.utils import save_image

from musical_inpaint.data.images import ImageReadError, read_rgb
from musical_inpaint.data.synthetic import synthetic_image
from musical_inpaint.data.transforms import ResizeCrop, to_tensor
from musical_inpaint.models import MusicalGenerator, composite


def load_image(path: Path | None, size: int) -> torch.Tensor:
    """1 x 3 x size x size in [-1, 1]: short side resized to `size`, centre crop."""
    if path is None:
        return to_tensor(synthetic_image(size, np.random.default_rng(0)))[None]
    try:
        return ResizeCrop(size, size)(read_rgb(path), np.random.default_rng(0))[None]
    except ImageReadError as error:
        raise SystemExit(f"demo: {error}") from None


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", type=Path, default=None, help="a photo (default: a synthetic image)")
    parser.add_argument("--output", type=Path, default=Path("demo_output"), help="folder for the panel")
    parser.add_argument("--size", type=int, default=256, help="side of the square crop, a multiple of 16")
    args = parser.parse_args(argv)
    if args.size <= 0 or args.size % 16:
        parser.error(f"--size must be a positive multiple of 16, got {args.size}")

    torch.manual_seed(0)
    image = load_image(args.image, args.size)
    mask = torch.zeros(1, 1, args.size, args.size)
    quarter = args.size // 4
    mask[..., quarter : 3 * quarter, quarter : 3 * quarter] = 1  # the paper's centre hole

    generator = MusicalGenerator().eval()
    start = time.perf_counter()
    with torch.no_grad():
        prediction = generator(image, mask)
    seconds = time.perf_counter() - start

    args.output.mkdir(parents=True, exist_ok=True)
    panel = args.output / "demo_panel.png"
    masked = image * (1 - mask) + mask  # the hole shown white
    save_image(torch.cat([masked, prediction, composite(prediction, image, mask), image]) / 2 + 0.5, panel, nrow=4)
    parameters = sum(p.numel() for p in generator.parameters()) / 1e6
    print(f"MUSICAL generator ({parameters:.1f} M parameters, untrained) on a {args.size} x {args.size} image: {seconds:.2f} s")
    print(f"panel (masked input | raw output | composite | original) written to {panel.resolve()}")
    return panel


if __name__ == "__main__":
    main()
