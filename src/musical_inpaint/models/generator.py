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

Three parts are injected rather than chosen by name, so that a variant of your own needs no edit
here: the attention (`channels -> module`), the normalisation (`channels -> module`, IN above) and
the decoder's upsampling (`(in_channels, out_channels) -> module` doubling the resolution, convT
above). The configs build each as a Hydra `_partial_` node (conf/attention/, conf/norm/,
conf/model/musical.yaml).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from musical_inpaint.models.multi_scale_attention import MultiScaleAttention

# An attention variant: channels -> a module `(features B x C x h x w, hole B x 1 x h x w) -> B x C x h x w`.
AttentionFactory = Callable[[int], nn.Module]
# A normalisation: channels -> a module that keeps the shape (the paper's: instance norm with an
# affine scale and shift per channel).
NormFactory = Callable[[int], nn.Module]
# An upsampling: (in_channels, out_channels) -> a module doubling height and width.
UpsampleFactory = Callable[[int, int], nn.Module]

DOWNSAMPLINGS = 4  # the stride-2 levels before the dilated ones
STRIDE = 2**DOWNSAMPLINGS  # input sides must be multiples of this
MIN_SIDE = 2 * STRIDE  # the innermost levels' instance norms need more than one value per channel
ATTENTION_LEVEL = 2  # attention runs on the output of decoder level 2 (0 = outermost): 1/4 resolution

instance_norm: NormFactory = functools.partial(nn.InstanceNorm2d, affine=True)
transposed_convolution: UpsampleFactory = functools.partial(nn.ConvTranspose2d, kernel_size=4, stride=2, padding=1)


class _DilatedBlock(nn.Module):
    """A stride-1 level that replaces one of the U-Net's innermost downsamplings."""

    def __init__(self, channels: int, dilation: int, norm: NormFactory) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.LeakyReLU(0.2, inplace=False),
            nn.Conv2d(channels, channels, 3, padding=1),
            norm(channels),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation),
            norm(channels),
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
        norm: a factory `channels -> module` for the normalisation after each convolution but the
            first and the last (paper: instance norm with affine parameters, `instance_norm`).
        upsample: a factory `(in_channels, out_channels) -> module` that doubles the resolution
            of a decoder level (paper: a transposed convolution k4 s2, `transposed_convolution`).

    `forward(image, mask)`: image B x 3 x H x W in [-1, 1], mask B x 1 x H x W (1 = hole), H and W
    multiples of `stride` (16) -> the raw prediction in [-1, 1] (use `composite` to keep the known
    pixels).
    """

    stride, min_side = STRIDE, MIN_SIDE

    def __init__(
        self,
        attention: AttentionFactory | None = MultiScaleAttention,
        base_channels: int = 64,
        dilated_blocks: int = 4,
        dilation: int = 2,
        norm: NormFactory = instance_norm,
        upsample: UpsampleFactory = transposed_convolution,
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
        for name, factory in (("norm", norm), ("upsample", upsample)):
            if not callable(factory):
                raise ValueError(
                    f"MusicalGenerator: {name} must be a factory (a class or a functools.partial), got {factory!r}"
                )
        # Level widths, outermost first: 64, 128, 256, 512, then 512 for every dilated level.
        widths = [base_channels * min(2**level, 8) for level in range(DOWNSAMPLINGS)]
        widths += [widths[-1]] * dilated_blocks

        # Encoder levels, outermost first: the stride-2 convolutions, then the dilated levels.
        self.down = nn.ModuleList()
        in_channels = 4  # the image with its hole zeroed, plus the mask
        for level, width in enumerate(widths):
            if level >= DOWNSAMPLINGS:
                self.down.append(_DilatedBlock(width, dilation, norm))
            elif level == 0:
                self.down.append(nn.Conv2d(in_channels, width, 4, stride=2, padding=1))
            else:
                self.down.append(
                    nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(in_channels, width, 4, stride=2, padding=1), norm(width))
                )
            in_channels = width

        # Decoder levels, stored outermost first and run innermost first. The innermost reads its
        # encoder level's output; every other level reads [decoded, its encoder level's output].
        self.up = nn.ModuleList()
        for level, width in enumerate(widths):
            # Every decoder level outputs the width of the encoder level above it, so a level reads
            # twice its own width, except the innermost, which has no decoded input yet.
            reads = width if level == len(widths) - 1 else 2 * width
            if level >= DOWNSAMPLINGS:
                self.up.append(nn.Sequential(nn.ReLU(), nn.Conv2d(reads, width, 3, padding=1), norm(width)))
                continue
            out = 3 if level == 0 else widths[level - 1]
            head = nn.Tanh() if level == 0 else norm(out)
            self.up.append(nn.Sequential(nn.ReLU(), upsample(reads, out), head))

        # The attention draws its initial weights from a copy of the random state, and is
        # initialised last: with one seed, every attention variant (none included) starts the rest
        # of the network from the same weights, as an ablation's runs should.
        with torch.random.fork_rng(devices=[]):
            self.attention = attention(widths[ATTENTION_LEVEL - 1]) if attention is not None else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The pix2pix / Shift-Net initialisation: convolutions N(0, 0.02), norm scales N(1, 0.02)."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(module.weight, 0.0, 0.02)
                nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.modules.batchnorm._NormBase, nn.GroupNorm)) and module.affine:
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        self._check_inputs(image, mask)
        x = torch.cat([image * (1 - mask), mask], 1)
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
        if (
            mask.dim() != 4
            or mask.shape[1] != 1
            or mask.shape[0] != image.shape[0]
            or mask.shape[-2:] != image.shape[-2:]
        ):
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
