"""Export a trained generator to TorchScript and ONNX.

    python -m musical_inpaint.export --checkpoint CKPT --size 256 256 --output exported/

The exported model maps (image B x 3 x H x W in [-1, 1], mask B x 1 x H x W, 1 = hole) to the
inpainted image (the prediction composited into the known pixels) at the size given. Its
attention runs in static-shape mode (every position queried), so that no tensor shape depends
on the mask; results equal the eager model's. Each export is checked against eager PyTorch on a
sample before the command reports success (the ONNX file in a default ONNX Runtime session).

A file serves the size it was exported at (`musical_HxW.onnx`): the attention's chunking and
the network's padding are fixed by the size when traced; export once per size you deploy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import Tensor, nn

from musical_inpaint.imaging import composite
from musical_inpaint.inference import CheckpointError, add_trust_argument, load_generator
from musical_inpaint.models.contextual_attention import use_static_shapes
from musical_inpaint.models.generator import STRIDE
from musical_inpaint.ops.floats import flush_subnormals

TOLERANCE = 1e-4


class InpaintingModel(nn.Module):
    """generator(image, mask) composited into the known pixels: the deployable model."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        return composite(self.generator(image, mask), image, mask)


def exportable(generator: nn.Module) -> InpaintingModel:
    return InpaintingModel(use_static_shapes(generator)).eval()


def sample_inputs(height: int, width: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 3, height, width, generator=generator) * 2 - 1
    mask = torch.zeros(1, 1, height, width)
    mask[..., height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 1
    return image, mask


def export_torchscript(model: InpaintingModel, inputs: tuple[Tensor, Tensor], path: Path) -> Path:
    with torch.no_grad():
        traced = torch.jit.trace(model, inputs, check_trace=False)
    traced.save(str(path))
    return path


def export_onnx(model: InpaintingModel, inputs: tuple[Tensor, Tensor], path: Path) -> Path:
    with torch.no_grad():
        torch.onnx.export(
            model,
            inputs,
            str(path),
            input_names=["image", "mask"],
            output_names=["inpainted"],
            opset_version=18,
            dynamo=False,
        )
    return path


def check_torchscript(path: Path, reference: Tensor, inputs: tuple[Tensor, Tensor]) -> float:
    with torch.no_grad():
        return float((torch.jit.load(str(path))(*inputs) - reference).abs().max())


def check_onnx(path: Path, reference: Tensor, inputs: tuple[Tensor, Tensor]) -> float:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"image": inputs[0].numpy(), "mask": inputs[1].numpy()})
    return float((torch.from_numpy(out) - reference).abs().max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a training checkpoint (.ckpt) or run folder")
    parser.add_argument("--size", type=int, nargs=2, default=[256, 256], metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--output", type=Path, default=Path("exported"))
    parser.add_argument("--format", nargs="+", choices=["torchscript", "onnx"], default=["torchscript", "onnx"])
    add_trust_argument(parser)
    args = parser.parse_args(argv)
    flush_subnormals()
    height, width = args.size
    if height <= 0 or width <= 0 or height % STRIDE or width % STRIDE:
        parser.error(f"--size must be positive multiples of {STRIDE}, got {height} {width}")
    try:
        generator, _ = load_generator(args.checkpoint, trusted=args.trust_module)
    except CheckpointError as error:
        print(f"export: {error}", file=sys.stderr)
        return 2
    eager = generator.eval()
    inputs = sample_inputs(height, width)
    with torch.no_grad():
        reference = InpaintingModel(eager)(*inputs)  # the eager, sparse-attention result
    model = exportable(generator)
    args.output.mkdir(parents=True, exist_ok=True)
    exporters = {
        "torchscript": (export_torchscript, check_torchscript, "pt"),
        "onnx": (export_onnx, check_onnx, "onnx"),
    }
    for name in args.format:
        export, check, suffix = exporters[name]
        # Written under a temporary name and renamed once checked: a file that fails the check
        # never stands under a result's name.
        path = args.output / f"musical_{height}x{width}.{suffix}"
        partial = path.with_name(f".{path.name}.partial")
        try:
            export(model, inputs, partial)
            difference = check(partial, reference, inputs)
            if not difference <= TOLERANCE:
                print(
                    f"export: {name} output differs from eager PyTorch by {difference:.3g}; nothing written",
                    file=sys.stderr,
                )
                return 1
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)
        print(f"{name}: {path} (max difference from eager: {difference:.2g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
