"""Contextual attention (Yu et al. 2018) and MUSICAL's multi-scale attention module (paper eq. 3).

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

The authors' formulation scores every position against every position (an N x N map per
sample, N = H * W). Here only the positions whose result reaches the hole are queried (the
hole dilated by r, plus the propagation halo t), keys are gathered from the valid positions
only (plus the halo the propagation reads), samples of a batch are padded to a common length
instead of looped over, and queries are processed in exact chunks under a memory budget, so a
1024 x 1024 image fits in a few GB.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

_NORM_EPS = 1e-4


def _dilate(flags: Tensor, radius: int) -> Tensor:
    """Boolean B x 1 x H x W map dilated by a (2 radius + 1)^2 square, clipped to the map."""
    if radius == 0:
        return flags
    return F.max_pool2d(flags.float(), 2 * radius + 1, stride=1, padding=radius) > 0


def _positions(flags: Tensor) -> tuple[Tensor, Tensor]:
    """Raster-ordered indices of the True entries of each row of a B x N boolean matrix.

    Rows are padded to the longest one with the sentinel index N. Returns (indices B x n, count B).
    """
    batch, n = flags.shape
    count = flags.sum(1)
    longest = int(count.max())
    # A stable sort of "not flagged" brings the flagged positions first, still in raster order.
    order = torch.sort((~flags).to(torch.uint8), dim=1, stable=True).indices[:, :longest]
    padding = torch.arange(longest, device=flags.device) >= count[:, None]
    return order.masked_fill(padding, n), count


def _gather_columns(matrix: Tensor, indices: Tensor) -> Tensor:
    """matrix B x D x M, indices B x n (values < M) -> B x D x n."""
    return matrix.gather(2, indices[:, None, :].expand(-1, matrix.shape[1], -1))


def _with_zero_column(matrix: Tensor) -> Tensor:
    """Append a zero column so that sentinel indices gather zeros."""
    return F.pad(matrix, (0, 1))


class ContextualAttention(nn.Module):
    """Parameter-free contextual attention; see the module docstring for the exact semantics.

    Args:
        patch_size: side p of the matched and pasted patches (odd).
        propagate_size: side k of the score propagation (odd; 1 disables it).
        softmax_scale: temperature applied to the propagated cosine scores.
        max_scores: memory budget, in score entries held at once over the batch; queries are
            processed in exact chunks that respect it (each chunk is recomputed in the backward
            pass when gradients are needed, so training memory is bounded too).
        static_shapes: query and key every position, so that no tensor shape depends on the mask
            (for TorchScript tracing and ONNX export). Same result, N x N cost.
    """

    def __init__(
        self,
        patch_size: int,
        propagate_size: int = 3,
        softmax_scale: float = 10.0,
        max_scores: int = 2**26,
        static_shapes: bool = False,
    ) -> None:
        super().__init__()
        for name, size in (("patch_size", patch_size), ("propagate_size", propagate_size)):
            if size < 1 or size % 2 == 0:
                raise ValueError(f"ContextualAttention: {name} must be a positive odd integer, got {size}")
        if max_scores < 1:
            raise ValueError(f"ContextualAttention: max_scores must be positive, got {max_scores}")
        self.patch_size = patch_size
        self.propagate_size = propagate_size
        self.softmax_scale = softmax_scale
        self.max_scores = max_scores
        self.static_shapes = static_shapes

    def extra_repr(self) -> str:
        return (
            f"patch_size={self.patch_size}, propagate_size={self.propagate_size}, "
            f"softmax_scale={self.softmax_scale}"
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
        hole = mask > 0.5
        if not self.static_shapes and not bool(hole.any()):
            return x
        # Scores and softmax stay in fp32 under mixed precision (float64 is kept as is).
        compute_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        with torch.autocast(device_type=x.device.type, enabled=False):
            filled = self._fill(x.to(compute_dtype), hole)
        return filled.to(x.dtype)

    def _fill(self, x: Tensor, hole: Tensor) -> Tensor:
        batch, channels, height, width = x.shape
        n = height * width
        r, t = self.patch_size // 2, self.propagate_size // 2
        hole_f = hole.to(x.dtype)
        background = x * (1 - hole_f)

        valid_keys = ~_dilate(hole, r)  # no hole pixel inside the key's window
        # A sample without hole or without any valid key is returned unchanged.
        active = hole.flatten(1).any(1) & valid_keys.flatten(1).any(1)
        if not self.static_shapes and not bool(active.any()):
            return x

        unfold = dict(kernel_size=self.patch_size, padding=r)
        query_patches = _with_zero_column(F.unfold(x, **unfold))  # B x Cp^2 x (N + 1)
        raw_patches = _with_zero_column(F.unfold(background, **unfold))
        key_patches = raw_patches / torch.sqrt(raw_patches.square().sum(1, keepdim=True) + _NORM_EPS)

        if self.static_shapes:
            # Every position is a query and a key, so that no shape depends on the mask (export).
            keys = values = torch.arange(n, device=x.device).expand(batch, n)
            value_padding = ~valid_keys.flatten(1)
            box = _OutputBox.whole_map(batch, height, width, t, x.device)
        else:
            # Keys: the valid positions and the halo the propagation reads (padded lists, sentinel N).
            keys, _ = _positions(_dilate(valid_keys, t).flatten(1))
            values, value_count = _positions(valid_keys.flatten(1))
            value_padding = torch.arange(values.shape[1], device=x.device) >= value_count[:, None]
            # Queries: the box of positions whose window meets the hole (one box size for the batch,
            # placed per sample), grown by the propagation halo; outside the map they read zeros.
            box = _OutputBox(_dilate(hole, r)[:, 0] & active[:, None, None], t)
        key_matrix = _gather_columns(key_patches, keys)  # B x Cp^2 x nk
        value_matrix = _gather_columns(raw_patches, values)  # B x Cp^2 x nv
        padded = (height + 2 * t, width + 2 * t)
        # Cell of each key in the zero-padded H+2t x W+2t score grid; the sentinel gets an extra cell.
        ys, xs = torch.div(keys, width, rounding_mode="floor"), keys % width
        key_cells = torch.where(keys < n, (ys + t) * padded[1] + xs + t, padded[0] * padded[1])
        value_cells = values.clamp(max=n - 1)  # padding entries are masked out of the softmax

        query_positions = box.query_positions(height, width)  # B x (bh + 2t) x (bw + 2t)

        def attend(first_row: int, rows: int) -> Tensor:
            window = query_positions[:, first_row : first_row + rows + 2 * t].flatten(1)
            scores = _gather_columns(query_patches, window).transpose(1, 2) @ key_matrix
            grid = scores.new_zeros(*scores.shape[:2], padded[0] * padded[1] + 1)
            grid = grid.scatter(2, key_cells[:, None, :].expand_as(scores), scores)[..., :-1]
            grid = grid.view(batch, rows + 2 * t, box.width + 2 * t, *padded)
            propagate = _DiagonalPropagation.apply if grid.requires_grad else _propagate
            propagated = propagate(grid, t).reshape(batch, rows * box.width, n)
            logits = self.softmax_scale * propagated.gather(
                2, value_cells[:, None, :].expand(-1, propagated.shape[1], -1)
            )
            logits = logits.masked_fill(value_padding[:, None, :], torch.finfo(logits.dtype).min)
            return torch.softmax(logits, dim=-1) @ value_matrix.transpose(1, 2)  # B x rows*bw x Cp^2

        row_cost = batch * (box.width + 2 * t) * padded[0] * padded[1]
        rows_per_chunk = max(1, self.max_scores // row_cost - 2 * t)
        chunked = rows_per_chunk < box.height and torch.is_grad_enabled() and x.requires_grad
        pasted = []
        for first_row in range(0, box.height, rows_per_chunk):
            rows = min(rows_per_chunk, box.height - first_row)
            # Recompute each chunk in the backward pass, so training memory stays within budget too.
            pasted.append(
                checkpoint(attend, first_row, rows, use_reentrant=False) if chunked else attend(first_row, rows)
            )
        pasted = torch.cat(pasted, 1)

        # Paste-back: a transposed convolution (fold) divided by the true overlap count. Box
        # positions that do not reach the hole only write onto known pixels, which are discarded.
        output_positions = query_positions[:, t : t + box.height, t : t + box.width].flatten(1)
        columns = x.new_zeros(batch, n + 1, pasted.shape[2])
        columns = columns.scatter(1, output_positions[:, :, None].expand_as(pasted), pasted)
        filled = _fold(columns[:, :n].transpose(1, 2), self.patch_size, height, width)
        overlap = _fold(F.unfold(x.new_ones(1, 1, height, width), **unfold), self.patch_size, height, width)
        result = x * (1 - hole_f) + (filled / overlap) * hole_f
        return torch.where(active[:, None, None, None], result, x)


def _fold(columns: Tensor, patch_size: int, height: int, width: int) -> Tensor:
    """F.fold with padding patch_size // 2 (the adjoint of the unfold above): every column's
    patch is summed onto its window. Written as slice sums, which also export to ONNX."""
    batch, r = columns.shape[0], patch_size // 2
    patches = columns.view(batch, -1, patch_size, patch_size, height, width)
    out = columns.new_zeros(batch, patches.shape[1], height + 2 * r, width + 2 * r)
    for dy in range(patch_size):
        for dx in range(patch_size):
            out[:, :, dy : dy + height, dx : dx + width] += patches[:, :, dy, dx]
    return out[:, :, r : r + height, r : r + width]


class _OutputBox:
    """One box size for the batch that holds every sample's output positions, placed per sample."""

    def __init__(self, outputs: Tensor, halo: int) -> None:
        batch, height, width = outputs.shape
        rows, cols = outputs.any(2), outputs.any(1)
        self.halo = halo
        self.top, bottom = self._extent(rows)
        self.left, right = self._extent(cols)
        self.height = int((bottom - self.top).max()) + 1
        self.width = int((right - self.left).max()) + 1
        # Keep the common-size box inside the map (samples with smaller boxes get extra positions).
        self.top = self.top.clamp(max=height - self.height)
        self.left = self.left.clamp(max=width - self.width)

    @classmethod
    def whole_map(cls, batch: int, height: int, width: int, halo: int, device: torch.device) -> "_OutputBox":
        box = cls.__new__(cls)
        box.halo, box.height, box.width = halo, height, width
        box.top = box.left = torch.zeros(batch, dtype=torch.long, device=device)
        return box

    @staticmethod
    def _extent(flags: Tensor) -> tuple[Tensor, Tensor]:
        index = torch.arange(flags.shape[1], device=flags.device)
        first = torch.where(flags, index, flags.shape[1]).min(1).values
        last = torch.where(flags, index, -1).max(1).values
        empty = last < 0  # samples left unchanged: any placement will do
        return first.masked_fill(empty, 0), last.masked_fill(empty, 0)

    def query_positions(self, height: int, width: int) -> Tensor:
        """B x (bh + 2t) x (bw + 2t) raster positions of the grown box; N where outside the map."""
        t, device = self.halo, self.top.device
        ys = self.top[:, None] + torch.arange(-t, self.height + t, device=device)
        xs = self.left[:, None] + torch.arange(-t, self.width + t, device=device)
        inside = ((ys >= 0) & (ys < height))[:, :, None] & ((xs >= 0) & (xs < width))[:, None, :]
        positions = ys[:, :, None] * width + xs[:, None, :]
        return torch.where(inside, positions, height * width)


class _DiagonalPropagation(torch.autograd.Function):
    """Paper eq. 2 on a dense score grid: out[q, k] = sum_d grid[q + t + d, k + t + d].

    grid: B x (qh + 2t) x (qw + 2t) x (H + 2t) x (W + 2t), zero where a query or key lies
    outside the map, so a term counts only where both lie inside. Written as in-place sums of
    shifted views (and their adjoint in the backward pass) to avoid one temporary per offset.
    """

    @staticmethod
    def forward(ctx, grid: Tensor, halo: int) -> Tensor:
        ctx.halo = halo
        ctx.grid_shape = grid.shape
        return _propagate(grid, halo)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor, None]:
        grad_grid = grad_out.new_zeros(ctx.grid_shape)
        for view in _shifted_views(grad_grid, grad_out.shape, ctx.halo):
            view += grad_out
        return grad_grid, None


def _propagate(grid: Tensor, halo: int) -> Tensor:
    """The forward computation of _DiagonalPropagation, also used where no gradient is needed
    (tracing for export cannot record a custom autograd Function)."""
    out_shape = (grid.shape[0], *(size - 2 * halo for size in grid.shape[1:]))
    out = grid.new_zeros(out_shape)
    for view in _shifted_views(grid, out_shape, halo):
        out += view
    return out


def _shifted_views(grid: Tensor, out_shape: Sequence[int], halo: int):
    """The views grid[:, t+dy, t+dx, t+dy, t+dx] of size out_shape, for every offset (dy, dx)."""
    _, qh, qw, kh, kw = out_shape
    for dy in range(-halo, halo + 1):
        for dx in range(-halo, halo + 1):
            y, x = halo + dy, halo + dx
            yield grid[:, y : y + qh, x : x + qw, y : y + kh, x : x + kw]


class SqueezeExcitation(nn.Module):
    """Channel reweighting of Hu et al. 2018: GAP -> FC -> ReLU -> FC -> sigmoid -> scale."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels), nn.Sigmoid()
        )

    def forward(self, x: Tensor) -> Tensor:
        return x * self.fc(x.mean((2, 3)))[:, :, None, None]


class MultiScaleAttention(nn.Module):
    """MUSICAL's attention module, paper eq. 3: Conv1x1(SE(concat[x, CA_p(x, m) for p])).

    `patch_sizes=(1, 3)` is the paper's module; `(3,)` is its single-scale ablation.
    """

    def __init__(
        self,
        channels: int,
        patch_sizes: Sequence[int] = (1, 3),
        propagate_size: int = 3,
        softmax_scale: float = 10.0,
        se_reduction: int = 16,
        max_scores: int = 2**26,
    ) -> None:
        super().__init__()
        if not patch_sizes:
            raise ValueError("MultiScaleAttention needs at least one patch size")
        self.branches = nn.ModuleList(
            ContextualAttention(p, propagate_size, softmax_scale, max_scores) for p in patch_sizes
        )
        concat_channels = channels * (1 + len(self.branches))
        self.se = SqueezeExcitation(concat_channels, se_reduction)
        self.fuse = nn.Conv2d(concat_channels, channels, kernel_size=1)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        attended = [branch(x, mask) for branch in self.branches]
        return self.fuse(self.se(torch.cat([x, *attended], 1)))
