"""Loading a trained generator safely and inpainting images of any size with it."""

from __future__ import annotations

import argparse
import importlib
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from hydra.utils import get_object, instantiate
from torch import Tensor, nn

from musical_inpaint import compat
from musical_inpaint.errors import ConfigError, UserError
from musical_inpaint.imaging import from_uint8, to_uint8
from musical_inpaint.models.generator import MIN_SIDE, STRIDE, MusicalGenerator


class CheckpointError(UserError, ValueError):
    """A checkpoint is missing, unreadable, or not a MUSICAL generator of the configured shape."""


def resolve_checkpoint(path: str | Path) -> Path:
    """A .ckpt file, or a run folder: its best checkpoint if there is one, else last.ckpt."""
    path = Path(path)
    if path.is_file():
        return path
    folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    if folder.is_dir():
        candidates = sorted(folder.glob("best-*.ckpt")) or sorted(folder.glob("last.ckpt"))
        if candidates:
            return candidates[-1]
    raise CheckpointError(f"no checkpoint at {path} (expected a .ckpt file or a run folder with checkpoints/)")


def _check_targets(node, path: Path) -> None:
    """A checkpoint's config may only build networks: every `_target_` must name an nn.Module
    class of this package, of torch, or of a module the program has imported already (a variant
    of your own: imported by `trust_modules`, the explicit opt-in), and no value may be an
    interpolation (which instantiate would resolve, and could call, before building)."""
    if isinstance(node, str) and "${" in node:
        raise CheckpointError(
            f"{path}: its configuration holds an interpolation ({node!r}); checkpoints hold plain values"
        )
    if isinstance(node, dict):
        if "_target_" in node:
            target_name = str(node["_target_"])
            module = target_name.rsplit(".", 1)[0]
            if not (module.startswith(("musical_inpaint.", "torch.")) or module in sys.modules):
                raise CheckpointError(
                    f"{path}: {target_name!r} in its configuration is not of musical_inpaint or torch; "
                    f"if you trust that code, let it be imported: --trust-module {module} "
                    f"(evaluate: trust_modules=[{module}])"
                )
            try:
                target = get_object(target_name)
            except Exception as error:  # noqa: BLE001 - any import failure gets the same message
                raise CheckpointError(
                    f"{path}: cannot import {node['_target_']!r} named in its configuration: {error}"
                ) from None
            if not (isinstance(target, type) and issubclass(target, nn.Module)):
                raise CheckpointError(f"{path}: {node['_target_']!r} in its configuration is not a network (nn.Module)")
        for key, value in node.items():
            _check_targets(key, path)
            _check_targets(value, path)
    elif isinstance(node, list):
        for value in node:
            _check_targets(value, path)


def read_checkpoint(path: Path) -> dict:
    """A training checkpoint's contents (weights only: no code runs), its run configuration in
    today's form (`compat.run_config`), or a CheckpointError that says in one line why the file
    is not one or cannot be used."""
    try:
        # Mapped rather than read (a resumed run's Trainer reads it again); mmap needs the zip format.
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"cannot read checkpoint {path}: it holds Python objects that loading would have to run "
            "(a training checkpoint of musical-inpaint holds tensors and plain values only)"
        ) from None
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same clear message
        reason = next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)
        raise CheckpointError(f"cannot read checkpoint {path}: {reason.strip()[:200]}") from None
    if not isinstance(checkpoint, dict) or not checkpoint.get("run_config") or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path} is not a musical-inpaint training checkpoint (no run_config / state_dict)")
    try:
        checkpoint["run_config"] = compat.run_config(checkpoint["run_config"])
    except ValueError as error:
        raise CheckpointError(f"{path}: {error}") from None
    return checkpoint


def network_weights(checkpoint: dict, network: str) -> dict[str, Tensor]:
    """The state dict of one network ("generator", "discriminator") of a training checkpoint."""
    prefix = f"{network}."
    return {k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}


def trust_modules(modules: list[str] | tuple[str, ...]) -> None:
    """Imports the modules a user named to trust: a checkpoint may then build their networks
    (an attention variant, a norm of one's own). Importing runs their code: name only your own."""
    for module in modules or ():
        try:
            importlib.import_module(module)
        except Exception as error:  # noqa: BLE001 - any import failure gets the same message
            raise CheckpointError(f"cannot import the trusted module {module!r}: {error}") from None


def add_trust_argument(parser: argparse.ArgumentParser) -> None:
    """The command-line opt-in of inpaint, export and the web page: `--trust-module M`, repeatable."""
    parser.add_argument(
        "--trust-module",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE so that a checkpoint may build its networks (your own variants; repeat)",
    )


def load_generator(
    path: str | Path, device: str | torch.device = "cpu", trusted: list[str] | tuple[str, ...] = ()
) -> tuple[MusicalGenerator, dict]:
    """The generator of a training checkpoint (eval mode) and the run configuration it carries.

    Loads with weights_only=True, and builds only nn.Module classes named in the checkpoint's own
    configuration (`hydra.utils.instantiate` of its `model.generator` node, so a new attention
    variant loads with no change here) that belong to this package, torch, or a module imported
    already or named in `trusted` (`trust_modules`); weights that do not fit raise a CheckpointError.
    """
    trust_modules(trusted)
    path = resolve_checkpoint(path)
    checkpoint = read_checkpoint(path)
    config = checkpoint["run_config"]
    options = config["model"]["generator"]
    _check_targets(options, path)
    try:
        generator = instantiate(options)
    except Exception as error:  # noqa: BLE001 - a config this code cannot build
        raise CheckpointError(f"{path}: cannot build the generator of its configuration {options}: {error}") from None
    try:
        generator.load_state_dict(network_weights(checkpoint, "generator"))
    except RuntimeError as error:
        raise CheckpointError(
            f"{path}: the weights do not fit the generator of its configuration {options}: {error}"
        ) from None
    return generator.to(device).eval(), config


def pick_device(device: str = "auto") -> torch.device:
    """ "auto": the CUDA GPU when there is one, else Apple's MPS, else the CPU; anything else is
    passed to torch.device."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if torch.backends.mps.is_available() else "cpu")
    return torch.device(device)


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str, option: str = "precision") -> str:
    """`precision` if it is one of PRECISIONS, else an error naming `option`."""
    if precision not in PRECISIONS:
        raise ConfigError(f"{option}={precision}: must be one of {', '.join(PRECISIONS)}")
    return precision


@torch.no_grad()
def predict(generator: MusicalGenerator, image: Tensor, mask: Tensor, precision: str = "fp32") -> Tensor:
    """Raw prediction, in the images' dtype, for B x 3 x H x W images in [-1, 1] of any size, down
    to 1 x 1: padded to the network's stride (and to at least MIN_SIDE a side), cropped back.
    `precision` bf16 or fp16 runs the network under autocast (convolutions and products in that
    type, the softmax and norms in float32), for speed and memory on a GPU."""
    height, width = image.shape[-2:]
    pad_h = max(MIN_SIDE, height + -height % STRIDE) - height
    pad_w = max(MIN_SIDE, width + -width % STRIDE) - width
    if pad_h or pad_w:
        mode = "reflect" if pad_h < height and pad_w < width else "replicate"
        # The padding copies pixels: zero the hole first and pad the mask the same way, so that a
        # copy of a hole pixel is a hole too, and copies of known pixels are known context.
        image = F.pad(image * (1 - mask), (0, pad_w, 0, pad_h), mode=mode)
        mask = F.pad(mask, (0, pad_w, 0, pad_h), mode=mode)
    dtype = PRECISIONS[check_precision(precision)]
    with torch.autocast(image.device.type, dtype=dtype, enabled=dtype is not None):
        prediction = generator(image, mask)
    return prediction[..., :height, :width].to(image.dtype)


def inpaint_uint8(
    generator: MusicalGenerator, image: np.ndarray, hole: np.ndarray, device: torch.device, precision: str = "fp32"
) -> np.ndarray:
    """H x W x 3 uint8 image, H x W bool hole -> H x W x 3 uint8, known pixels exactly unchanged."""
    if not hole.any():
        return image.copy()
    tensor = from_uint8(image)[None].to(device)
    mask = torch.from_numpy(hole)[None, None].float().to(device)
    prediction = predict(generator, tensor, mask, precision)[0].clamp(-1, 1)
    filled = to_uint8(prediction)
    return np.where(hole[..., None], filled, image)
