"""ImageNet weights for the VGG16 loss network and the DenseNet121 discriminator.

A weights source is one of:
- "imagenet" (or True): torchvision's weights API, downloaded once into torch's hub cache
  (`$TORCH_HOME/hub/checkpoints`) and checked against its published hash;
- a path to a local file holding the torchvision model's state dict (the file torchvision
  downloads, or `model.state_dict()` saved with torch.save), for machines without internet;
- None (or False): random initialisation, only when asked for explicitly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torchvision.models import WeightsEnum

from musical_inpaint.errors import UserError

WeightsSource = str | Path | bool | None
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PretrainedWeightsError(UserError, RuntimeError):
    """ImageNet weights were asked for but cannot be obtained or do not fit the network."""


class ImageNetNormalise(nn.Module):
    """[-1, 1] RGB -> ImageNet-normalised input for torchvision's backbones, ((x + 1) / 2 - mean) / std,
    as one multiply-add. The constants are buffers, which move with the network (a tensor made
    from Python numbers on every call would be a blocking host-to-device copy on a GPU); not
    persistent, so state dicts are torchvision's."""

    def __init__(self) -> None:
        super().__init__()
        mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
        self.register_buffer("scale", 0.5 / std, persistent=False)
        self.register_buffer("shift", (0.5 - mean) / std, persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.shift.to(image.dtype), image, self.scale.to(image.dtype))


def build_backbone(
    builder: Callable[[], nn.Module],
    weights: WeightsEnum,
    source: WeightsSource,
    option: str,
    fix_keys: Callable[[dict], dict] = lambda state: state,
    needed: Callable[[str], bool] = lambda key: True,
) -> nn.Module:
    """`builder()` with the weights named by `source` loaded (see the module docstring).

    `option` names the configuration option that sets `source`, so that errors say what to change.
    A file may leave out the parameters for which `needed(key)` is false (a VGG16 used up to
    pool3 needs no classifier); every parameter it holds must fit.
    """
    model = builder()
    if source is None or source is False:
        return model
    if source is True or source == "imagenet":
        state = _download(weights, option)
        origin = f"torchvision's {weights}"
    else:
        state = _read_file(Path(source), option)
        origin = str(source)
    try:
        missing, unexpected = model.load_state_dict(fix_keys(state), strict=False)
    except RuntimeError as error:  # shape mismatches
        raise PretrainedWeightsError(
            f"{option}: the weights in {origin} do not fit {type(model).__name__}: {error}"
        ) from None
    missing = [key for key in missing if needed(key)]
    if missing or unexpected:
        raise PretrainedWeightsError(
            f"{option}: the weights in {origin} do not fit {type(model).__name__}: "
            f"missing {_preview(missing)}, unexpected {_preview(unexpected)}"
        )
    return model


def _preview(keys: list[str], shown: int = 3) -> str:
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return f"[{', '.join(keys[:shown])}{more}]"


def _download(weights: WeightsEnum, option: str) -> dict:
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except (OSError, RuntimeError) as error:  # URLError is an OSError; a bad hash a RuntimeError
        cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        raise PretrainedWeightsError(
            f"{option}: cannot obtain ImageNet weights {weights} from {weights.url} ({error}). "
            f"Without internet, download the file elsewhere and either place it at {cache} "
            f"or set {option}=/path/to/{Path(weights.url).name}; "
            f"or train from random initialisation with pretrained=false (both networks) or {option}=null."
        ) from None


def _read_file(path: Path, option: str) -> dict:
    if not path.is_file():
        raise PretrainedWeightsError(
            f"{option}: weights file {path} does not exist (expected a torchvision state dict, "
            f"'imagenet' to download, or null for random initialisation)"
        )
    try:
        # weights_only: a weights file must never be able to run code when loaded.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise PretrainedWeightsError(f"{option}: cannot read weights file {path}: {error}") from None
    if not isinstance(state, dict):
        raise PretrainedWeightsError(f"{option}: {path} holds a {type(state).__name__}, expected a state dict")
    return state


_LEGACY_DENSE_LAYER_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$"
)


def densenet_keys(state: dict) -> dict:
    """torchvision's published DenseNet files name layers 'norm.1'; the modules say 'norm1'."""
    return {
        (f"{match.group(1)}{match.group(2)}" if (match := _LEGACY_DENSE_LAYER_KEY.match(key)) else key): value
        for key, value in state.items()
    }
