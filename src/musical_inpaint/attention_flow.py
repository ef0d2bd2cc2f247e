"""Where the attention copies from, for a checkpoint and an image.

    python -m musical_inpaint.attention_flow --checkpoint CKPT --image FILE --mask FILE|center --output DIR

For each branch of the generator's attention (1x1 and 3x3 patches in the paper's module), every
hole position's heaviest source, the known position whose patch it weighs most, is drawn as a
colour-coded offset as optical flow is drawn (the hue says the direction, the saturation the
distance; white: no offset), at the image's size, the way DeepFill shows its attention. Beside
them: the masked input and the result. Writes `<stem>_attention.png` (masked input | result |
one offset map per branch) and `<stem>_attention.json`: per branch its patch size, the mean
squeeze-and-excitation weight the module gave its channels (and the features' own), and the
median offset in image pixels; offsets are in image pixels (the attention runs at 1/4 of them).
Nothing is written if either file exists, unless `--overwrite`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torchvision.utils import save_image

from musical_inpaint.data.images import ImageReadError
from musical_inpaint.data.masks import MaskFileError
from musical_inpaint.imaging import composite, from_uint8, offset_colours, to_unit
from musical_inpaint.inference import CheckpointError, add_trust_argument, load_generator, pick_device, predict
from musical_inpaint.inpaint import InputError, read_hole, read_picture
from musical_inpaint.models import ContextualAttention, MultiScaleAttention
from musical_inpaint.models.generator import ATTENTION_LEVEL
from musical_inpaint.ops.contextual_attention import heaviest_sources
from musical_inpaint.ops.floats import flush_subnormals


def attention_flow(generator, image: Tensor, mask: Tensor) -> dict:
    """Run `generator` on a B x 3 x H x W image and B x 1 x H x W mask; returns the prediction,
    and per attention branch its patch size, each hole position's heaviest source as offsets
    (dy, dx: B x h x w, in feature pixels, 0 outside the hole; `length` theirs) and a B x h x w map of the hole
    positions that have one, and the squeeze-and-excitation weights (B x channels) of the
    features and of each branch."""
    attention = getattr(generator, "attention", None)
    if not isinstance(attention, MultiScaleAttention):
        raise InputError("the checkpoint's generator has no multi-scale attention (attention=none): nothing to show")
    seen: list[tuple[ContextualAttention, Tensor, Tensor]] = []
    weights: list[Tensor] = []
    hooks = [
        branch.register_forward_pre_hook(lambda m, inputs: seen.append((m, *inputs))) for branch in attention.branches
    ]
    hooks.append(attention.se.fc.register_forward_hook(lambda m, inputs, output: weights.append(output)))
    try:
        prediction = predict(generator, image, mask)
    finally:
        for hook in hooks:
            hook.remove()
    se = weights[0].chunk(1 + len(seen), dim=1)
    branches = []
    for (branch, features, feature_mask), branch_weights in zip(seen, se[1:], strict=True):
        sources = heaviest_sources(
            features.float(), feature_mask, branch.patch_size, branch.propagate_size, branch.softmax_scale
        )
        width = features.shape[-1]
        ys, xs = torch.meshgrid(
            torch.arange(features.shape[-2], device=image.device),
            torch.arange(width, device=image.device),
            indexing="ij",
        )
        found = sources >= 0
        dy = torch.where(found, sources // width - ys, 0)
        dx = torch.where(found, sources % width - xs, 0)
        length = torch.sqrt(dy.double().square() + dx.double().square())
        branches.append(dict(patch_size=branch.patch_size, dy=dy, dx=dx, length=length, found=found, se=branch_weights))
    return dict(prediction=prediction, branches=branches, se_features=se[0])


def panel_and_summary(image: Tensor, mask: Tensor, flow: dict) -> tuple[Tensor, dict]:
    """One image's row (masked input | result | an offset map per branch, 3 x H x (k W) in [0, 1])
    and its summary for the JSON."""
    height, width = image.shape[-2:]
    scale = 2**ATTENTION_LEVEL  # image pixels per feature pixel
    tiles = [image * (1 - mask) + mask, composite(flow["prediction"].clamp(-1, 1), image, mask)]
    largest = max(float(branch["length"].max()) for branch in flow["branches"])
    summary = dict(se_weight_features=float(flow["se_features"].mean()), branches={})
    for branch in flow["branches"]:
        colours = offset_colours(branch["dy"] * scale, branch["dx"] * scale, max(largest * scale, 1.0))
        colours = torch.nn.functional.interpolate(colours, scale_factor=scale, mode="nearest")[..., :height, :width]
        faded = (image + 1) / 2 * 0.4 + 0.6  # the known pixels, faded, around the coloured hole
        tiles.append(torch.where(mask > 0.5, colours, faded * 2 - 1))
        lengths = branch["length"][branch["found"]] * scale
        name = f"{branch['patch_size']}x{branch['patch_size']}"
        summary["branches"][name] = dict(
            se_weight=float(branch["se"].mean()),
            median_offset_px=float(lengths.median()) if len(lengths) else None,
            hole_positions=int(branch["found"].sum()),
        )
    return to_unit(torch.cat([t[0] for t in tiles], dim=-1)), summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a training checkpoint (.ckpt) or run folder")
    parser.add_argument("--image", required=True, type=Path, help="an image file")
    parser.add_argument("--mask", required=True, help="a mask file (white = hole) or 'center'")
    parser.add_argument("--output", required=True, type=Path, help="folder for <stem>_attention.png and .json")
    parser.add_argument("--device", default="auto", help="auto (GPU when available), cpu, cuda, ...")
    parser.add_argument("--overwrite", action="store_true", help="allow replacing the two output files")
    add_trust_argument(parser)
    args = parser.parse_args(argv)
    flush_subnormals()
    stem = args.image.stem
    targets = [args.output / f"{stem}_attention.png", args.output / f"{stem}_attention.json"]
    try:
        existing = [str(t) for t in targets if t.exists()]
        if existing and not args.overwrite:
            raise InputError(f"{', '.join(existing)} exists: choose another --output or pass --overwrite")
        device = pick_device(args.device)
        generator, _ = load_generator(args.checkpoint, device, args.trust_module)
        try:
            rgb = read_picture(args.image).rgb
        except ImageReadError as error:
            raise InputError(f"cannot read --image {args.image}: {error}") from None
        hole = read_hole(None if args.mask == "center" else Path(args.mask), *rgb.shape[:2])
        if not hole.any():
            raise InputError(f"--mask {args.mask} marks no hole pixel (white = hole): nothing to show")
        image = from_uint8(rgb)[None].to(device)
        mask = torch.from_numpy(np.ascontiguousarray(hole))[None, None].float().to(device)
        row, summary = panel_and_summary(image, mask, attention_flow(generator, image, mask))
        args.output.mkdir(parents=True, exist_ok=True)
        save_image(row, targets[0])
        targets[1].write_text(json.dumps(dict(image=str(args.image), **summary), indent=2))
    except (InputError, CheckpointError, MaskFileError) as error:
        print(f"attention_flow: {error}", file=sys.stderr)
        return 2
    print(f"written {targets[0]} and {targets[1].name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
