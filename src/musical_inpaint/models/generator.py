"""MUSICAL's generator: a U-Net whose innermost levels are stride-1 dilated convolutions, with
multi-scale contextual attention on the decoder features at 1/4 resolution (64 x 64 at 256).

Layout for the paper's defaults (base_channels=64, 256 x 256 input):

    E1  conv 4 -> 64, k4 s2                         128^2    (no norm)
    E2  LReLU conv 64 -> 128, k4 s2, IN              64^2
    E3  LReLU conv 128 -> 256, k4 s2, IN             32^2
    E4  LReLU conv 256 -> 512, k4 s2, IN             16^2
    4 x dilated block (LReLU conv3x3, IN, LReLU conv3x3 dilated, IN)   512 x 16^2
    decoder, innermost first, each level's input concatenated with its encoder skip:
    4 x (ReLU conv3x3, IN) at 16^2, then ReLU convT k4 s2 to 32^2, 64^2 (attention here),
    128^2 and finally 256^2 with Tanh.

`downsamplings=3` scales the depth to a small input: three stride-2 levels, so that at 64 x 64
the dilated levels work on 8 x 8 features instead of 4 x 4 (the attention stays at 1/4). Their
width is then that of the third level, half the paper's innermost (a quarter of their weights).

`upsample="resize"` replaces each convT k4 s2 with nearest x2 resizing and a 3x3 convolution
(Odena et al., Distill 2016): a transposed convolution of stride 2 computes even and odd output
pixels with different taps of its kernel (1 and 3 against 0 and 2 along each axis), so unless
training balances them it prints a period-2 checkerboard into fills; after nearest resizing one
kernel computes every output pixel.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from musical_inpaint.imaging import harmonic_fill
from musical_inpaint.models.multi_scale_attention import MultiScaleAttention

# An attention variant: channels -> a module `(features B x C x h x w, hole B x 1 x h x w) -> B x C x h x w`.
AttentionFactory = Callable[[int], nn.Module]
DOWNSAMPLINGS = (3, 4)  # stride-2 levels: the paper's 4, or 3 for small inputs; the attention needs 3
STRIDE = 2 ** max(DOWNSAMPLINGS)  # input sides must be multiples of this (the deepest layout's stride)
MIN_SIDE = 2 * STRIDE  # the innermost levels' instance norms need more than one value per channel
ATTENTION_LEVEL = 2  # attention runs on the output of decoder level 2 (0 = outermost): 1/4 resolution
UPSAMPLINGS = ("transposed", "resize")
# How each level's features are normalised: the paper's per-image, per-channel "instance" norm; "batch"
# (per channel over the batch: an image keeps its own channel means, which at 64 x 64 the 4 x 4
# innermost instance norms take away); "layer" (per image over all channels and positions: one
# GroupNorm group, which keeps the channels' means relative to each other). Each has an affine
# scale and shift per channel.
NORMS = ("instance", "batch", "layer")
# What the network sees in the hole: 0 (mid grey, the paper's), or the known pixels' harmonic
# interpolation (imaging.harmonic_fill), a smooth guess that the network corrects.
HOLE_FILLS = ("zero", "harmonic")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    return nn.InstanceNorm2d(channels, affine=True)


def _upsampling(upsample: str, in_channels: int, out_channels: int) -> list[nn.Module]:
    """The layers that double the resolution of a decoder level."""
    if upsample == "transposed":
        return [nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1)]
    return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(in_channels, out_channels, 3, padding=1)]


class _DilatedBlock(nn.Module):
    """A stride-1 level that replaces one of the U-Net's innermost downsamplings."""

    def __init__(self, channels: int, dilation: int, norm: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.LeakyReLU(0.2, inplace=False),
            nn.Conv2d(channels, channels, 3, padding=1),
            _norm(norm, channels),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation),
            _norm(norm, channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class MusicalGenerator(nn.Module):
    """The MUSICAL generator.

    Args:
        attention: a factory `channels -> module` for the attention on the 1/4-resolution decoder
            features (the module is called with the features and the hole at their resolution),
            or None for the plain dilated U-Net. Default: the paper's `MultiScaleAttention` (1x1
            and 3x3 patches); its single-scale ablation is
            `functools.partial(MultiScaleAttention, patch_sizes=(3,))`. The configs build these
            from `conf/attention/<variant>.yaml` (`_target_` + `_partial_: true`).
        base_channels: width of the first level (paper: 64); deeper levels double up to 8x.
        dilated_blocks: number of stride-1 dilated levels at the bottom (paper: 4).
        dilation: dilation of the second convolution of each dilated level (paper: 2).
        upsample: how the decoder doubles the resolution: "transposed" (the paper's transposed
            convolutions, k4 s2) or "resize" (nearest x2, then a 3x3 convolution: one kernel for every output pixel).
        downsamplings: stride-2 levels before the dilated ones (paper: 4); 3 for small inputs.
        norm: the normalisation after each convolution but the first and the last: "instance"
            (the paper's), "batch" or "layer" (`NORMS`).
        hole_fill: what the input holds in the hole: "zero" (the paper's: the image times 1 - mask) or
            "harmonic" (`imaging.harmonic_fill`: pixels with mask > 0.5 are hole, the others kept whole;
            it reads the hole on the host to pick its solver, so it synchronises a GPU once a call).

    `forward(image, mask)`: image B x 3 x H x W in [-1, 1], mask B x 1 x H x W (1 = hole), H and W
    multiples of 16 -> the raw prediction in [-1, 1] (use `composite` to keep the known pixels).
    """

    def __init__(
        self,
        attention: AttentionFactory | None = MultiScaleAttention,
        base_channels: int = 64,
        dilated_blocks: int = 4,
        dilation: int = 2,
        upsample: str = "transposed",
        downsamplings: int = 4,
        norm: str = "instance",
        hole_fill: str = "zero",
    ) -> None:
        super().__init__()
        if attention is not None and not callable(attention):
            raise ValueError(
                "MusicalGenerator: attention must be a factory channels -> module (e.g. MultiScaleAttention or "
                f"functools.partial(MultiScaleAttention, patch_sizes=(3,))) or None, got {attention!r}"
            )
        if base_channels < 1 or dilated_blocks < 0 or dilation < 1:
            raise ValueError(
                "MusicalGenerator: base_channels and dilation must be positive and dilated_blocks >= 0, "
                f"got {base_channels}, {dilation}, {dilated_blocks}"
            )
        if upsample not in UPSAMPLINGS:
            raise ValueError(f"MusicalGenerator: upsample must be one of {', '.join(UPSAMPLINGS)}, got {upsample!r}")
        if type(downsamplings) is not int or downsamplings not in DOWNSAMPLINGS:
            raise ValueError(f"MusicalGenerator: downsamplings must be 3 or 4, got {downsamplings!r}")
        if norm not in NORMS:
            raise ValueError(f"MusicalGenerator: norm must be one of {', '.join(NORMS)}, got {norm!r}")
        if hole_fill not in HOLE_FILLS:
            raise ValueError(f"MusicalGenerator: hole_fill must be one of {', '.join(HOLE_FILLS)}, got {hole_fill!r}")
        self.hole_fill = hole_fill
        # Level widths, outermost first: 64, 128, 256, 512, then 512 for every dilated level (with
        # 3 downsamplings 64, 128, 256, then 256: the dilated levels are half as wide).
        widths = [base_channels * min(2**level, 8) for level in range(downsamplings)]
        widths += [widths[-1]] * dilated_blocks

        # Encoder levels, outermost first: the stride-2 convolutions, then the dilated levels.
        self.down = nn.ModuleList()
        in_channels = 4  # the image with its hole zeroed, plus the mask
        for level, width in enumerate(widths):
            if level >= downsamplings:
                self.down.append(_DilatedBlock(width, dilation, norm))
            elif level == 0:
                self.down.append(nn.Conv2d(in_channels, width, 4, stride=2, padding=1))
            else:
                self.down.append(
                    nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(in_channels, width, 4, stride=2, padding=1), _norm(norm, width))
                )
            in_channels = width

        # Decoder levels, stored outermost first and run innermost first. The innermost reads its
        # encoder level's output; every other level reads [decoded, its encoder level's output].
        self.up = nn.ModuleList()
        for level, width in enumerate(widths):
            # Every decoder level outputs the width of the encoder level above it, so a level reads
            # twice its own width, except the innermost, which has no decoded input yet.
            reads = width if level == len(widths) - 1 else 2 * width
            if level >= downsamplings:
                self.up.append(nn.Sequential(nn.ReLU(), nn.Conv2d(reads, width, 3, padding=1), _norm(norm, width)))
                continue
            out = 3 if level == 0 else widths[level - 1]
            head = nn.Tanh() if level == 0 else _norm(norm, out)
            self.up.append(nn.Sequential(nn.ReLU(), *_upsampling(upsample, reads, out), head))

        self.attention = attention(widths[ATTENTION_LEVEL - 1]) if attention is not None else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The pix2pix / Shift-Net initialisation: convolutions N(0, 0.02), norm scales N(1, 0.02)."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(module.weight, 0.0, 0.02)
                nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.InstanceNorm2d, nn.BatchNorm2d, nn.GroupNorm)) and module.affine:
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        self._check_inputs(image, mask)
        filled = image * (1 - mask) if self.hole_fill == "zero" else harmonic_fill(image, mask)
        x = torch.cat([filled, mask], 1)
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        x = skips.pop()
        for level in reversed(range(len(self.up))):
            x = self.up[level](x)
            if level == ATTENTION_LEVEL and self.attention is not None:
                x = self.attention(x, self.feature_mask(mask, x.shape[-2:]))
            if level > 0:
                x = torch.cat([x, skips.pop()], 1)
        return x

    @staticmethod
    def feature_mask(mask: Tensor, size: tuple[int, int]) -> Tensor:
        """The hole at feature resolution: a cell is a hole if any of its pixels is.

        For the paper's centre hole (aligned to the cell size) this equals nearest resizing; for
        thin free-form strokes it keeps holes that nearest resizing would drop.
        """
        factor = mask.shape[-1] // size[-1]
        return F.max_pool2d(mask, factor) if factor > 1 else mask

    @staticmethod
    def _check_inputs(image: Tensor, mask: Tensor) -> None:
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"MusicalGenerator: image must be B x 3 x H x W, got {tuple(image.shape)}")
        if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[0] != image.shape[0] or mask.shape[-2:] != image.shape[-2:]:
            raise ValueError(
                f"MusicalGenerator: mask must be B x 1 x H x W matching the image {tuple(image.shape)}, "
                f"got {tuple(mask.shape)}"
            )
        height, width = image.shape[-2:]
        if height % STRIDE or width % STRIDE or (height // STRIDE) * (width // STRIDE) < 2:
            raise ValueError(
                f"MusicalGenerator: height and width must be multiples of {STRIDE}, and at least {MIN_SIDE} on "
                f"one side, got {height} x {width} (musical_inpaint.inference.predict pads any image and crops "
                "the result back)"
            )
