"""An inpainting web page: upload an image, paint the hole (or take the paper's centre hole), run a
checkpoint or a classical method, compare, download.

    python -m musical_inpaint.app --checkpoint CKPT [--checkpoint CKPT2 ...] [--host 127.0.0.1 --port 7860]

It binds to localhost; `--host 0.0.0.0` serves it to the network (anyone who reaches the port can
use it). The result is computed by `inpaint`'s own code (`inpaint.inpaint_image`) on the uploaded
file as it is, so the downloaded PNG is exactly what `python -m musical_inpaint.inpaint` writes for
the same image and mask: the input's size and mode, known pixels byte-identical. Needs the `app`
extra (`pip install 'musical-inpaint[app]'`: Gradio).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from musical_inpaint.baselines import BASELINES
from musical_inpaint.data.images import ImageReadError, read_rgb
from musical_inpaint.data.masks import CenterMask
from musical_inpaint.inference import CheckpointError, add_trust_argument, load_generator, pick_device
from musical_inpaint.inpaint import (
    InputError,
    Resolution,
    add_precision_argument,
    add_resolution_arguments,
    generator_fill,
    inpaint_image,
    read_picture,
    write_png,
)
from musical_inpaint.ops.floats import flush_subnormals

CENTRE, PAINTED = "the paper's centre hole", "the painted strokes"
CLASSICAL = ("telea", "patchmatch")
MAX_PIXELS = 64_000_000  # larger uploads are refused with a message, unless the page runs with --max-side


class Methods:
    """The page's choices: each checkpoint (by its run folder's name) and the classical methods,
    each a `Fill` for `inpaint_image`; checkpoints are loaded once, when the page starts."""

    def __init__(
        self, checkpoints: list[str], device: str = "auto", trusted: list[str] = (), precision: str = "fp32"
    ) -> None:
        self.device = pick_device(device)
        self.fills = {}
        for checkpoint in checkpoints:
            generator, _ = load_generator(checkpoint, self.device, trusted)
            path = Path(checkpoint)
            name = path.name if path.is_dir() else f"{path.parent.parent.name}/{path.name}"
            self.fills[f"MUSICAL: {name}"] = generator_fill(generator.eval(), self.device, precision)
        for method in CLASSICAL:
            self.fills[f"{method} (classical)"] = BASELINES[method]

    @property
    def names(self) -> list[str]:
        return list(self.fills)


def painted_hole(editor: dict | None, size: tuple[int, int]) -> np.ndarray:
    """H x W bool hole from the editor's brush layers (any painted pixel), resized (nearest) to the
    image's `size` = (W, H) when the canvas holds it at another size."""
    hole = None
    for layer in (editor or {}).get("layers") or []:
        if layer is None:
            continue
        with Image.open(layer) as opened:
            alpha = np.asarray(opened.convert("RGBA").getchannel("A").resize(size, Image.NEAREST)) > 0
        hole = alpha if hole is None else hole | alpha
    if hole is None or not hole.any():
        raise ValueError("paint over what should go (or choose the paper's centre hole) before running")
    return hole


def run(
    methods: Methods,
    image_file: str | None,
    editor: dict | None,
    hole_choice: str,
    method: str,
    resolution: Resolution,
    output_dir: Path,
) -> tuple[np.ndarray, np.ndarray, str]:
    """One request: (masked input, result, path of the PNG to download). ValueError: a message for
    the page."""
    if not image_file:
        raise ValueError("upload an image first")
    path = Path(image_file)
    if path.stat().st_size == 0:
        raise ValueError(f"{path.name} is empty (0 bytes)")
    try:
        with Image.open(path) as opened:
            width, height = opened.size
    except Exception:  # noqa: BLE001 - any unreadable upload gets the same message
        raise ValueError(f"{path.name} is not an image that can be read") from None
    if width * height > MAX_PIXELS and not resolution.max_side:
        raise ValueError(
            f"{path.name} is {width} x {height}: more than {MAX_PIXELS // 1_000_000} megapixels; start the "
            "page with --max-side N, or use python -m musical_inpaint.inpaint --max-side N"
        )
    if method not in methods.fills:
        raise ValueError(f"unknown method {method!r}; choose one of {methods.names}")
    try:
        picture = read_picture(path)  # decoded once, for the hole's size, the fill and the masked view
    except ImageReadError as error:
        raise ValueError(str(error)) from None
    rgb = picture.rgb
    if hole_choice == CENTRE:
        hole = CenterMask()(rgb.shape[0], rgb.shape[1]) > 0.5  # what inpaint's --mask center takes
    else:
        hole = painted_hole(editor, (rgb.shape[1], rgb.shape[0]))
    result = inpaint_image(methods.fills[method], picture, hole, resolution)
    target = write_png(result, Path(tempfile.mkdtemp(dir=output_dir)) / f"{path.stem}_inpainted.png")
    masked = np.where(hole[..., None], 255, rgb).astype(np.uint8)
    return masked, np.array(result.convert("RGBA" if "A" in result.getbands() else "RGB")), str(target)


def build(methods: Methods, resolution: Resolution = Resolution()):
    """The Gradio page (gr.Blocks) over `methods`."""
    import gradio as gr

    output_dir = Path(tempfile.mkdtemp(prefix="musical_inpaint_app_"))

    def submit(image_file, editor, hole_choice, method, progress=gr.Progress()):
        progress(0.1, desc="inpainting")
        try:
            return run(methods, image_file, editor, hole_choice, method, resolution, output_dir)
        except ValueError as error:
            raise gr.Error(str(error)) from None

    def show(image_file):
        # The uploaded file itself is what gets inpainted; the canvas shows a PNG of it, upright,
        # to paint on (the editor would re-encode a JPEG, and cannot hold one with its layers).
        if not image_file:
            return None
        try:
            picture = read_rgb(image_file)
        except ImageReadError:
            return None  # the run says what is wrong with it
        shown = Path(tempfile.mkdtemp(dir=output_dir)) / "canvas.png"
        picture.save(shown)
        return dict(background=str(shown), layers=[], composite=str(shown))

    with gr.Blocks(title="musical-inpaint") as page:
        gr.Markdown("## musical-inpaint\nUpload an image, paint over what should go, choose a method, run.")
        with gr.Row():
            with gr.Column():
                image_file = gr.File(label="image", file_types=["image"], type="filepath")
                editor = gr.ImageEditor(
                    label="paint the hole",
                    type="filepath",
                    sources=(),
                    layers=False,
                    brush=gr.Brush(colors=["#ff00ff"], color_mode="fixed", default_size=24),
                    transforms=(),
                )
                hole_choice = gr.Radio([PAINTED, CENTRE], value=PAINTED, label="hole")
                method = gr.Dropdown(methods.names, value=methods.names[0], label="method")
                button = gr.Button("Run", variant="primary")
            with gr.Column():
                masked = gr.Image(label="masked input", type="numpy", interactive=False, format="png")
                result = gr.Image(label="result", type="numpy", interactive=False, format="png")
                download = gr.File(label="download the PNG (as inpaint writes it)")
        image_file.change(show, image_file, editor)
        button.click(submit, [image_file, editor, hole_choice, method], [masked, result, download], api_name="inpaint")
    return page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--checkpoint", action="append", required=True, help="a checkpoint or run folder (repeat for more)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: localhost only)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--device", default="auto", help="auto (CUDA, else MPS, else CPU), cpu, cuda, mps, ...")
    add_precision_argument(parser)
    add_trust_argument(parser)
    add_resolution_arguments(parser)  # as inpaint's
    args = parser.parse_args(argv)
    flush_subnormals()
    try:
        import gradio  # noqa: F401
    except ImportError:
        print("app: the web page needs Gradio: pip install 'musical-inpaint[app]'", file=sys.stderr)
        return 2
    try:
        resolution = Resolution(args.max_side, args.crop_margin)
        methods = Methods(args.checkpoint, args.device, args.trust_module, args.precision)
    except (CheckpointError, InputError) as error:
        print(f"app: {error}", file=sys.stderr)
        return 2
    print(f"serving on http://{args.host}:{args.port} (--host 0.0.0.0 to reach it from other machines)")
    build(methods, resolution).launch(server_name=args.host, server_port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
