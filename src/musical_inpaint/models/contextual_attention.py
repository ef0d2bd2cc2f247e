"""Contextual attention (Yu et al. 2018) as a module.

`ContextualAttention` fills the hole of a feature map with a softmax-weighted average of the
fully known patches around it. Its semantics, for patch size p = 2r + 1 and propagation size
k = 2t + 1 (m = 1 marks a hole):

1. b = x * (1 - m): the known features only.
2. Keys: the p x p patch of b around every position j (zero outside the map), L2-normalised
   with the epsilon inside the square root. Key j is valid iff its window holds no hole pixel.
3. Queries: the raw p x p patch of x around every position i. s(i, j) = <Q_i, K^_j>.
4. Propagation before the softmax (paper eq. 2): s'(i, j) = sum_d s(i + d, j + d) over
   d in {-t..t}^2, a term counting only where both i + d and j + d lie inside the map.
5. a(i, .) = softmax over the valid keys of softmax_scale * s'(i, .).
6. Paste-back: every query i writes sum_j a(i, j) V_j (V_j the raw patch of b) onto its
   p x p window; each pixel averages what the in-map windows covering it wrote.
7. Output x * (1 - m) + y * m: known features pass through unchanged.

The kernel behind it, and how it computes this exactly at a fraction of the authors' cost, is
musical_inpaint.ops.contextual_attention.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from musical_inpaint.ops.contextual_attention import contextual_attention, contextual_attention_dense

IMPLEMENTATIONS = ("fast", "reference")


class ContextualAttention(nn.Module):
    """Parameter-free contextual attention; see the module docstring for the exact semantics.

    Args:
        patch_size: side p of the matched and pasted patches (odd).
        propagate_size: side k of the score propagation (odd; 1 disables it).
        softmax_scale: temperature applied to the propagated cosine scores.
        max_scores: memory budget, in score entries held at once (a few such tensors are alive
            together): whole samples, or 2-D tiles of one sample's query box, are processed in
            exact chunks that respect it; with gradients, each chunk is recomputed in the backward
            pass (always, so that training memory does not grow with the batch). None: a default
            for the device and map size (`default_max_scores`).
        static_shapes: query every position, so that no tensor shape depends on the mask (for
            TorchScript tracing, ONNX export, torch.compile). Same result, more work; without
            max_scores, one chunk up to 2^28 score entries (STATIC_MAX_SCORES).
        impl: "fast" (the sparse, tiled kernel) or "reference" (the authors' dense formulation in
            float64, N^2 scores per sample: the yardstick, for checks on small maps).
    """

    def __init__(
        self,
        patch_size: int,
        propagate_size: int = 3,
        softmax_scale: float = 10.0,
        max_scores: int | None = None,
        static_shapes: bool = False,
        impl: str = "fast",
    ) -> None:
        super().__init__()
        if impl not in IMPLEMENTATIONS:
            raise ValueError(f"ContextualAttention: impl must be one of {IMPLEMENTATIONS}, got {impl!r}")
        for name, size in (("patch_size", patch_size), ("propagate_size", propagate_size)):
            if size < 1 or size % 2 == 0:
                raise ValueError(f"ContextualAttention: {name} must be a positive odd integer, got {size}")
        if max_scores is not None and max_scores < 1:
            raise ValueError(f"ContextualAttention: max_scores must be positive, got {max_scores}")
        self.patch_size = patch_size
        self.propagate_size = propagate_size
        self.softmax_scale = softmax_scale
        self.max_scores = max_scores
        self.static_shapes = static_shapes
        self.impl = impl

    def extra_repr(self) -> str:
        return (
            f"patch_size={self.patch_size}, propagate_size={self.propagate_size}, "
            f"softmax_scale={self.softmax_scale}" + (f", impl={self.impl}" if self.impl != "fast" else "")
        )

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        if x.dim() != 4 or mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[0] != x.shape[0]:
            raise ValueError(
                "ContextualAttention expects x of shape B x C x H x W and mask of shape B x 1 x H x W, "
                f"got {tuple(x.shape)} and {tuple(mask.shape)}"
            )
        if mask.shape[-2:] != x.shape[-2:]:
            raise ValueError(
                f"ContextualAttention: mask size {tuple(mask.shape[-2:])} differs from the features' "
                f"{tuple(x.shape[-2:])}"
            )
        if self.impl == "reference":
            with torch.autocast(device_type=x.device.type, enabled=False):
                filled = contextual_attention_dense(
                    x.double(), mask.double(), self.patch_size, self.propagate_size, self.softmax_scale
                )
            return filled.to(x.dtype)
        hole = mask > 0.5
        if not self.static_shapes and not bool(hole.any()):
            return x
        # Scores and softmax stay in fp32 under mixed precision (float64 is kept as is).
        compute_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        with torch.autocast(device_type=x.device.type, enabled=False):
            filled = contextual_attention(
                x.to(compute_dtype),
                hole,
                self.patch_size,
                self.propagate_size,
                self.softmax_scale,
                self.max_scores,
                self.static_shapes,
            )
        return filled.to(x.dtype)


def use_static_shapes(network: nn.Module) -> nn.Module:
    """`network` with every ContextualAttention in it querying every position, so that no shape
    depends on the mask (tracing, export, CUDA graphs); the same results."""
    for module in network.modules():
        if isinstance(module, ContextualAttention):
            module.static_shapes = True
    return network
