"""Run the paper-sized MUSICAL generator on one image with the paper's centre hole and save a panel
(masked input | raw output | composite | original).

    python -m musical_inpaint.demo [--image PHOTO] [--output DIR] [--size 256]

The generator is untrained here: this shows the pipeline and its speed, not a result. Without
--image, a procedural texture is used, so the demo needs no download.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.utils import save_image

from musical_inpaint.models import MusicalGenerator, composite


def procedural_image(size: int, seed: int = 0) -> np.ndarray:
    """Stripes and a checkerboard tiling: a hole whose filling needs the context."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:size, 0:size] / size
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (6 * xs + 2 * ys))
    checks = ((np.floor(xs * 8) + np.floor(ys * 8)) % 2).astype(float)
    colours = rng.uniform(0.2, 1.0, size=(2, 3))
    image = stripes[..., None] * colours[0] + checks[..., None] * colours[1] * 0.5
    return (np.clip(image / image.max(), 0, 1) * 255).astype(np.uint8)


def load_image(path: Path | None, size: int) -> torch.Tensor:
    """1 x 3 x size x size in [-1, 1]: short side resized to `size`, centre crop."""
    if path is None:
        array = procedural_image(size)
    else:
        if not path.is_file():
            raise SystemExit(f"demo: --image {path} is not a file")
        try:
            image = Image.open(path).convert("RGB")
        except OSError as error:
            raise SystemExit(f"demo: cannot read image {path}: {error}") from None
        scale = size / min(image.size)
        image = image.resize((max(size, round(image.width * scale)), max(size, round(image.height * scale))), Image.BICUBIC)
        left, top = (image.width - size) // 2, (image.height - size) // 2
        array = np.array(image.crop((left, top, left + size, top + size)))
    return torch.from_numpy(array).permute(2, 0, 1)[None].float() / 127.5 - 1


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", type=Path, default=None, help="a photo (default: a procedural texture)")
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
