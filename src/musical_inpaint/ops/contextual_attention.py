"""The contextual-attention kernel: exact, sparse and tiled (the module and its semantics are
musical_inpaint.models.contextual_attention).

The authors' formulation scores every position against every position with p x p x C patch
kernels (an N x N map per sample, N = H * W, costing N^2 p^2 C). Here:
- scores are computed at pixel level: one C-deep product of every query pixel with every key
  pixel, and the patch score is the sum of those products along a diagonal over the p x p pixel
  offsets (about N^2 C multiplies and 2p additions per score, taken one axis at a time, instead
  of N^2 p^2 C multiplies; both over grids padded by r + t); the propagation is the same
  diagonal sum over the k x k offsets, and the paste-back its adjoint, so no p^2 C x N patch
  matrix is ever built;
- only the box of positions whose result reaches the hole is queried (the hole dilated by r,
  plus the propagation halo t);
- the work is cut into exact chunks (whole samples, or tiles of one sample's box) under a budget
  of score entries, and with gradients each chunk is recomputed in the backward pass instead of
  storing its scores, so training memory is bounded as well as inference memory;
- inside the box only the queries that reach a hole pixel count (a stroke mask's box is the
  whole map, mostly known): each tile shrinks to the bounding box of its own, tiles without any
  are skipped, and the matrix products take only the rows of the query pixels those read and
  of the hole pixels they write; the other rows are zero, which the known pixels never see;
- every score-sized stage writes into buffers reused by all tiles of a call, and the backward
  pass is written out by hand (`_AttendTile`), in place where it can be.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from musical_inpaint.ops.floats import drop_negligible

_NORM_EPS = 1e-4
STATIC_MAX_SCORES = 2**28  # the default budget's ceiling in the static-shape mode


def _dilate(flags: Tensor, radius: int) -> Tensor:
    """Boolean B x 1 x H x W map dilated by a (2 radius + 1)^2 square, clipped to the map."""
    if radius == 0:
        return flags
    return F.max_pool2d(flags.float(), 2 * radius + 1, stride=1, padding=radius) > 0


def _window_sum(image: Tensor, size: int) -> Tensor:
    """Sum of a B x 1 x H x W map over the size x size window around each pixel (zero outside)."""
    return F.conv2d(image, image.new_ones(1, 1, size, size), padding=size // 2)


def contextual_attention(
    x: Tensor,
    hole: Tensor,
    patch_size: int,
    propagate_size: int = 3,
    softmax_scale: float = 10.0,
    max_scores: int | None = None,
    static_shapes: bool = False,
) -> Tensor:
    """Contextual attention of B x C x H x W features with a B x 1 x H x W boolean hole (see
    musical_inpaint.models.contextual_attention for the semantics), in the dtype of `x`.
    max_scores: score entries per chunk (None: `default_max_scores`); static_shapes: query every
    position, so that no shape depends on the mask (tracing, export)."""
    batch, channels, height, width = x.shape
    p, r, t = patch_size, patch_size // 2, propagate_size // 2
    background = x.masked_fill(hole, 0)
    near_hole = _dilate(hole, r)  # a hole pixel within the patch radius
    valid_keys = ~near_hole  # no hole pixel inside the key's window
    # A sample without hole or without any valid key is returned unchanged.
    active = hole.flatten(1).any(1) & valid_keys.flatten(1).any(1)
    if not static_shapes and not bool(active.any()):
        return x

    # Queries: the box of positions whose window meets the hole (one size for the batch, placed
    # per sample); the static mode takes the whole map. Keys: every position of the map.
    if static_shapes:
        box = _Box.whole_map(batch, height, width, x.device)
    else:
        box = _Box(near_hole[:, 0] & active[:, None, None])
    margin = r + t  # pixels a query patch reaches, counting the propagation halo
    queries = box.crop(x, margin)  # B x C x (bh + 2m) x (bw + 2m), zero outside the map
    keys = F.pad(background, [margin] * 4).flatten(2)  # B x C x (H + 2m)(W + 2m)
    values = F.pad(background, [r] * 4).flatten(2).transpose(1, 2)  # B x (H + 2r)(W + 2r) x C
    # softmax_scale / |key patch| (the temperature commutes with the propagation sum), and zero
    # for keys outside the map: the propagation counts in-map keys only.
    key_norm = torch.sqrt(_window_sum(background.square().sum(1, keepdim=True), p) + _NORM_EPS)
    key_weight = F.pad(softmax_scale / key_norm, [t] * 4)[:, :, None]  # B x 1 x 1 x (H + 2t) x (W + 2t)
    if r == 0:  # a one-pixel patch's weight scales its key pixel: fold it in, sparing a score-sized pass
        keys, key_weight = keys * key_weight.flatten(2), None
    # Masks as factors and terms, not masked_fill, which is several times slower with a mask
    # broadcast over a score-sized tensor (benchmarks/README.md).
    query_inside = box.inside(height, width, t)  # B x (bh + 2t) x (bw + 2t)
    if not static_shapes and bool(query_inside.all()):
        query_inside = None  # the usual case of a hole away from the border: skip a pass
    else:
        query_inside = query_inside.to(x.dtype)
    key_bias = torch.zeros_like(x[:, :1]).masked_fill(~valid_keys, torch.finfo(x.dtype).min)  # B x 1 x H x W

    # Within the box, only queries that reach a hole pixel matter (the others write onto known
    # pixels only): each tile is shrunk to the bounding box of its own, and inside it only the
    # rows of those (the query pixels they read, the hole pixels they write) are multiplied.
    sparse = not static_shapes
    output_map = query_map = hole_map = None  # (defined either way: a compiled graph reads the closure's cells)
    if sparse:
        outputs = near_hole & active[:, None, None, None]
        output_map = box.crop(outputs.to(x.dtype), 0)[:, 0] > 0  # B x bh x bw
        query_map = box.crop(_dilate(outputs, margin).to(x.dtype), margin)[:, 0] > 0
        hole_map = box.crop((hole & active[:, None, None, None]).to(x.dtype), r)[:, 0] > 0

    # Chunks within the budget: whole boxes of as many samples as fit, else tiles of one
    # sample's box (each re-reads a margin around it). When gradients are needed each chunk
    # is recomputed in the backward pass instead of keeping its score-sized tensors
    # (_AttendTile: it draws no random numbers, so no RNG state is kept either).
    key_pixels = (height + 2 * margin) * (width + 2 * margin)
    box_pixels = (box.height + 2 * margin) * (box.width + 2 * margin)
    budget = max_scores or default_max_scores(x.device, key_pixels)
    if static_shapes and max_scores is None:
        # One chunk where the whole batch fits 2^28 score entries (1 GiB in float32): a static
        # graph holds its tile loop unrolled (torch.compile, CUDA graphs), and on a GPU fewer,
        # larger kernels keep it busy.
        budget = max(budget, min(batch * box_pixels * key_pixels, STATIC_MAX_SCORES))
    if torch.onnx.is_in_onnx_export():
        # One chunk: the exporter unrolls the tile loop, and each tile's write into `pasted` would
        # be a scatter in the graph. The graph's memory is then the runtime's to plan: the score
        # tensors of the whole map (benchmarks/README.md, "Export").
        budget = batch * box_pixels * key_pixels
    pixels_per_chunk = max(1, budget // key_pixels)  # query pixels, margins included
    if box_pixels <= pixels_per_chunk:
        samples_per_chunk, rows, cols = pixels_per_chunk // box_pixels, box.height, box.width
    else:
        samples_per_chunk = 1
        cols = min(box.width, max(1, math.isqrt(pixels_per_chunk) - 2 * margin))
        rows = min(box.height, max(1, pixels_per_chunk // (cols + 2 * margin) - 2 * margin))
        # A short box leaves budget over: widen the tiles to use it.
        cols = min(box.width, max(cols, pixels_per_chunk // (rows + 2 * margin) - 2 * margin))
    # (A traced graph cannot hold a custom Function: under tracing autograd records the stages.)
    recompute = torch.is_grad_enabled() and x.requires_grad and not torch.jit.is_tracing()
    workspace = _Workspace(x.dtype, x.device)

    def attend(samples: slice, top: int, left: int, rows: int, cols: int) -> Tensor:
        """What the queries of the box tile [top, top + rows) x [left, left + cols) of some samples
        write onto their windows (neighbouring tiles' windows overlap by 2r)."""
        query_rows = hole_rows = inside = None
        if sparse:
            query_rows = _raster_rows(
                query_map[samples, top : top + rows + 2 * margin, left : left + cols + 2 * margin]
            )
            hole_rows = _raster_rows(hole_map[samples, top : top + rows + 2 * r, left : left + cols + 2 * r])
        if query_inside is not None:
            inside = query_inside[samples, top : top + rows + 2 * t, left : left + cols + 2 * t, None, None]
        tile = _Tile(rows, cols, height, width, r, t, inside, key_bias[samples, None], query_rows, hole_rows)
        inputs = (
            queries[samples, :, top : top + rows + 2 * margin, left : left + cols + 2 * margin],
            keys[samples],
            None if key_weight is None else key_weight[samples],
            values[samples],
        )
        if recompute:
            return _AttendTile.apply(tile, workspace, *inputs)
        return _attend_tile(tile, workspace, *inputs)

    if samples_per_chunk >= batch and (rows, cols) == (box.height, box.width) and not sparse:
        pasted = attend(slice(None), 0, 0, rows, cols)  # one chunk (static shapes within the budget, ONNX export)
    else:
        pasted = x.new_zeros(batch, box.height + 2 * r, box.width + 2 * r, channels)
        for first in range(0, batch, samples_per_chunk):
            samples = slice(first, first + samples_per_chunk)
            for top in range(0, box.height, rows):
                for left in range(0, box.width, cols):
                    tile = (top, left, min(rows, box.height - top), min(cols, box.width - left))
                    if sparse:
                        tile = _shrink(output_map[samples], *tile)
                    if tile is not None:
                        y, x0, h, w = tile
                        pasted[samples, y : y + h + 2 * r, x0 : x0 + w + 2 * r] += attend(samples, *tile)
    workspace.release()  # the backward pass of the tiles, if any, takes buffers anew

    # Each hole pixel averages the windows of the in-map queries covering it.
    filled = box.place(pasted.permute(0, 3, 1, 2), r, height, width)
    filled = filled / _window_sum(x.new_ones(1, 1, height, width), p)
    return torch.where(hole & active[:, None, None, None], filled, x)


def _shrink(flags: Tensor, top: int, left: int, rows: int, cols: int) -> tuple[int, int, int, int] | None:
    """The bounding box (top, left, rows, cols) of the positions flagged in any sample of a
    b x h x w map within the given one; None if there are none."""
    inside = flags[:, top : top + rows, left : left + cols].any(0)
    ys, xs = inside.any(1).nonzero()[:, 0].tolist(), inside.any(0).nonzero()[:, 0].tolist()  # one sync each
    if not ys:
        return None
    return top + ys[0], left + xs[0], ys[-1] - ys[0] + 1, xs[-1] - xs[0] + 1


def _raster_rows(flags: Tensor, dense_above: float = 0.8) -> Tensor | None:
    """Raster indices of the positions flagged in any sample of a b x h x w map; None (all rows)
    when nearly all are, as the gathers would then cost more than the rows they save."""
    rows = flags.any(0).flatten().nonzero().squeeze(1)
    return None if len(rows) > dense_above * flags[0].numel() else rows


def default_max_scores(device: torch.device, key_pixels: int) -> int:
    """Score entries per chunk when none is given, for keys of `key_pixels` pixels (padded map):
    2^22 on the CPU (the least memory at no cost in time), 2^25 on CUDA (smaller chunks leave the
    device waiting on kernel launches), with a floor of query pixels per chunk (512 on the CPU,
    1024 on CUDA) so that a tile's halo stays a modest part of it on large maps. The measurements
    behind each number are in benchmarks/README.md ("Why the default score budget")."""
    if device.type == "cuda":
        return max(2**25, 1024 * key_pixels)
    return max(2**22, 512 * key_pixels)


class _Box:
    """Query positions: one box size for the batch that holds every sample's output positions,
    placed per sample, with crops of a margin around it (zero outside the map)."""

    whole = False  # the box is the whole map: crops are pads, placing is a slice (no gathers)

    def __init__(self, outputs: Tensor) -> None:
        batch, height, width = outputs.shape
        self.top, bottom = self._extent(outputs.any(2))
        self.left, right = self._extent(outputs.any(1))
        self.height = int((bottom - self.top).max()) + 1
        self.width = int((right - self.left).max()) + 1
        # Keep the common-size box inside the map (samples with smaller boxes get extra positions).
        self.top = self.top.clamp(max=height - self.height)
        self.left = self.left.clamp(max=width - self.width)

    @classmethod
    def whole_map(cls, batch: int, height: int, width: int, device: torch.device) -> _Box:
        box = cls.__new__(cls)
        box.height, box.width, box.whole = height, width, True
        box.top = box.left = torch.zeros(batch, dtype=torch.long, device=device)
        return box

    @staticmethod
    def _extent(flags: Tensor) -> tuple[Tensor, Tensor]:
        index = torch.arange(flags.shape[1], device=flags.device)
        first = torch.where(flags, index, flags.shape[1]).min(1).values
        last = torch.where(flags, index, -1).max(1).values
        empty = last < 0  # samples left unchanged: any placement will do
        return first.masked_fill(empty, 0), last.masked_fill(empty, 0)

    def _coordinates(self, margin: int) -> tuple[Tensor, Tensor]:
        """Map rows B x (bh + 2 margin) and columns B x (bw + 2 margin) of the grown box."""
        device = self.top.device
        ys = self.top[:, None] + torch.arange(-margin, self.height + margin, device=device)
        xs = self.left[:, None] + torch.arange(-margin, self.width + margin, device=device)
        return ys, xs

    def inside(self, height: int, width: int, margin: int) -> Tensor:
        """B x (bh + 2 margin) x (bw + 2 margin): which positions of the grown box lie in the map."""
        return _raster_index(*self._coordinates(margin), height, width) < height * width

    def crop(self, image: Tensor, margin: int) -> Tensor:
        """B x C x H x W -> B x C x (bh + 2 margin) x (bw + 2 margin), zero outside the map."""
        if self.whole:
            return F.pad(image, [margin] * 4)
        height, width = image.shape[-2:]
        return _gather_flat(image, _raster_index(*self._coordinates(margin), height, width))

    def place(self, crop: Tensor, margin: int, height: int, width: int) -> Tensor:
        """The inverse of crop: B x C x (bh + 2 margin) x (bw + 2 margin) -> B x C x H x W, zero
        outside the grown box."""
        if self.whole:
            return crop[..., margin : margin + height, margin : margin + width]
        device = crop.device
        ys = torch.arange(height, device=device) - (self.top[:, None] - margin)  # rows of the crop
        xs = torch.arange(width, device=device) - (self.left[:, None] - margin)
        return _gather_flat(crop, _raster_index(ys, xs, *crop.shape[-2:]))


def _raster_index(ys: Tensor, xs: Tensor, height: int, width: int) -> Tensor:
    """Raster indices ys * width + xs of B x h rows and B x w columns (B x h x w); height * width
    where a position lies outside the height x width map."""
    inside = ((ys >= 0) & (ys < height))[:, :, None] & ((xs >= 0) & (xs < width))[:, None, :]
    return torch.where(inside, ys[:, :, None] * width + xs[:, None, :], height * width)


def _gather_flat(image: Tensor, index: Tensor) -> Tensor:
    """B x C x H x W image, B x h x w raster indices (H * W reads zero) -> B x C x h x w."""
    flat = F.pad(image.flatten(2), (0, 1))
    gathered = flat.gather(2, index.flatten(1)[:, None, :].expand(-1, image.shape[1], -1))
    return gathered.view(*image.shape[:2], *index.shape[1:])


class _Tile(NamedTuple):
    """One chunk: rows x cols queried positions (margins excluded) of a height x width map, patch
    radius r and propagation radius t, and its masks: 1 for queries inside the map, 0 outside
    (b x (rows + 2t) x (cols + 2t) x 1 x 1, or None: all inside), a logit term that rules out the
    invalid keys (0 or the dtype's lowest value, b x 1 x 1 x H x W), and the rows worth computing
    (None: all): the query pixels that reach an output (raster indices in the (rows + 2(r + t)) x
    (cols + 2(r + t)) grid) and the hole pixels of the pasted window ((rows + 2r) x (cols + 2r))."""

    rows: int
    cols: int
    height: int
    width: int
    r: int
    t: int
    inside: Tensor | None
    key_bias: Tensor
    query_rows: Tensor | None
    hole_rows: Tensor | None

    def grid(self, batch: int, halo: int) -> tuple[int, int, int, int, int]:
        """(query, key) grid shape grown by halo on every side of both."""
        return batch, self.rows + 2 * halo, self.cols + 2 * halo, self.height + 2 * halo, self.width + 2 * halo


class _Workspace:
    """Named score-sized buffers shared by the tiles of one call, each stage writing into one.

    Five, named after what they hold for most of a tile: "products" (pixel products; later the
    spread attention and its gradient), "stage" (the first half of every diagonal sum or spread,
    and the rows computed by _rows_product), "scores" (kept until the key weights' gradient),
    "logits" (also rows gathered by _select_rows, and the attention's gradient), "attention"
    (kept until the softmax's backward, then the scores' gradient). A stage writes only into a
    buffer whose content is no longer read.

    On the CPU, a fresh tensor of this size is page-faulted in on every allocation, which costs
    more than the arithmetic on it (benchmarks/README.md). Elsewhere it hands out None and every stage allocates its result: on CUDA, whose caching
    allocator reuses memory already, five buffers of its budget (2^25 entries) would add 0.6 GB;
    under tracing (TorchScript, ONNX), the trace must hold no writes into shared storage.
    The tiles' backward passes take their buffers anew and release them after the last tile.
    """

    def __init__(self, dtype: torch.dtype, device: torch.device) -> None:
        self.dtype, self.device = dtype, device
        # (Not in a traced or compiled graph, which must hold no writes into shared storage and
        # no bookkeeping on Python objects.)
        self.enabled = device.type == "cpu" and not torch.jit.is_tracing() and not torch.compiler.is_compiling()
        self.tiles = 0  # tiles made with a backward pass to come
        self.backward_done = 0  # of those, the ones whose backward ran in the current pass
        self._buffers: dict[str, Tensor] = {}

    def __call__(self, name: str, *shape: int) -> Tensor | None:
        if not self.enabled:
            return None
        size = math.prod(shape)
        buffer = self._buffers.get(name)
        if buffer is None or buffer.numel() < size:
            self._buffers.pop(name, None)  # free the smaller one first
            buffer = self._buffers[name] = torch.empty(size, dtype=self.dtype, device=self.device)
        return buffer[:size].view(shape)

    def release(self) -> None:
        self._buffers.clear()


def _rows_product(left: Tensor, right: Tensor, rows: Tensor | None, out: Tensor | None, work: _Workspace) -> Tensor:
    """left @ right (b x n x k, b x k x m), computed for the given rows of left only: the others are zero."""
    if rows is None:
        return torch.bmm(left, right, out=out)
    product = torch.bmm(
        _select_rows(left, rows, work), right, out=work("stage", left.shape[0], len(rows), right.shape[2])
    )
    out = left.new_zeros(left.shape[0], left.shape[1], right.shape[2]) if out is None else out.zero_()
    return out.index_copy_(1, rows, product)


def _select_rows(grid: Tensor, rows: Tensor | None, work: _Workspace) -> Tensor:
    """grid[:, rows] (b x n x m), into the workspace."""
    if rows is None:
        return grid
    return torch.index_select(grid, 1, rows, out=work("logits", grid.shape[0], len(rows), grid.shape[2]))


def _tile_logits(tile: _Tile, work: _Workspace, query_pixels: Tensor, keys: Tensor, key_weight: Tensor | None):
    """Steps 3-5 for one tile: the weighted patch scores, b x (rows + 2t) x (cols + 2t) x (H + 2t) x (W + 2t),
    and the attention, b x rows x cols x H x W (exact where it reaches a hole pixel).

    Pixel-level products of every query pixel with every key pixel; a patch's cosine score (step 3)
    is their sum along a diagonal over the p x p pixel offsets. key_weight None: the keys carry it."""
    pixel_grid = tile.grid(query_pixels.shape[0], tile.r + tile.t)
    products = work("products", pixel_grid[0], math.prod(pixel_grid[1:3]), math.prod(pixel_grid[3:]))
    products = _rows_product(query_pixels.flatten(2).transpose(1, 2), keys, tile.query_rows, products, work)
    scores = _diagonal(products.view(pixel_grid), tile.r, False, work, "scores")
    del products  # (without a workspace, each stage is freed once the next exists)
    if key_weight is not None:
        scores.mul_(key_weight)
    if tile.inside is not None:
        scores.mul_(tile.inside)
    logits = _diagonal(scores, tile.t, False, work, "logits")  # step 4
    if logits is scores:  # no propagation: the scores are kept for the backward pass
        copy = work("logits", *scores.shape)
        logits = scores.clone() if copy is None else copy.copy_(scores)
    logits.add_(tile.key_bias)  # an invalid key's logit becomes about the lowest value: weight 0
    attention = work("attention", *logits.flatten(3).shape)
    if attention is None:
        attention = torch.softmax(logits.flatten(3), dim=-1)
    else:
        torch.ops.aten._softmax.out(logits.flatten(3), -1, False, out=attention)
    # The softmax at scale 10 is nearly one-hot: most entries would be subnormal, and every matrix
    # product with them slow on x86 (ops/floats.py); set to 0, they change no float32 result.
    attention = drop_negligible(attention)
    shape = logits.shape
    del logits
    return scores, attention.view(shape)


def _attend_tile(
    tile: _Tile, work: _Workspace, query_pixels: Tensor, keys: Tensor, key_weight: Tensor | None, values: Tensor
) -> Tensor:
    """One tile's attention: the sums of pasted values its queries write onto their windows,
    b x (rows + 2r) x (cols + 2r) x C (exact at the hole pixels). Step 6 at pixel level: pixel u of
    query i's window receives sum_j a(i, j) b(j + u - i), the attention spread along the diagonals,
    times the values."""
    _, attention = _tile_logits(tile, work, query_pixels, keys, key_weight)
    spread = _diagonal(attention, tile.r, True, work, "products").flatten(3).flatten(1, 2)
    pasted = _rows_product(spread, values, tile.hole_rows, None, work)
    return pasted.view(-1, tile.rows + 2 * tile.r, tile.cols + 2 * tile.r, values.shape[-1])


class _AttendTile(torch.autograd.Function):
    """_attend_tile with a backward pass that recomputes the tile's scores and attention instead of
    storing them, so that training memory stays within the budget; each stage of both passes
    writes into the call's workspace. Only the rows that reach a hole pixel carry gradient, and
    only those are computed."""

    @staticmethod
    def forward(ctx, tile, work, query_pixels, keys, key_weight, values):
        ctx.tile, ctx.work = tile, work
        if work.enabled:
            work.tiles += 1
        ctx.save_for_backward(query_pixels, keys, key_weight, values)
        return _attend_tile(tile, work, query_pixels, keys, key_weight, values)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_pasted):
        tile, work = ctx.tile, ctx.work
        query_pixels, keys, key_weight, values = ctx.saved_tensors
        with torch.autocast(device_type=grad_pasted.device.type, enabled=False):
            grad_pasted = grad_pasted.to(values.dtype).flatten(1, 2)  # b x pasted pixels x C
            # Only the hole pixels are outputs: the other rows of grad_pasted are zero.
            grad_holes = grad_pasted if tile.hole_rows is None else grad_pasted[:, tile.hole_rows]
            scores, attention = _tile_logits(tile, work, query_pixels, keys, key_weight)
            spread = _diagonal(attention, tile.r, True, work, "products").flatten(3).flatten(1, 2)
            grad_values = _select_rows(spread, tile.hole_rows, work).transpose(1, 2) @ grad_holes
            grad_spread = work("products", *spread.shape)  # the spread is read no more
            del spread
            grad_spread = _rows_product(grad_pasted, values.transpose(1, 2), tile.hole_rows, grad_spread, work)
            grad_attention = _diagonal(grad_spread.view(tile.grid(len(keys), tile.r)), tile.r, False, work, "logits")
            del grad_spread
            # Softmax backward in place: a * (g - <g, a>) over the keys; masked keys have a = 0.
            rows = grad_attention.flatten(3)
            dot = torch.einsum("bijk,bijk->bij", rows, attention.flatten(3))
            grad_logits = rows.sub_(dot[..., None]).mul_(attention.flatten(3)).view_as(grad_attention)
            grad_scores = _diagonal(grad_logits, tile.t, True, work, "attention")
            del attention, grad_attention, rows, grad_logits
            if tile.inside is not None:
                grad_scores.mul_(tile.inside)
            grad_key_weight = None
            if key_weight is not None:
                # d/dw of (unweighted score) * w: sum over the queries of grad * scores / w; the
                # zero weights of keys outside the map get no gradient (their pad discards it).
                total = scores.mul_(grad_scores).sum((1, 2), keepdim=True)
                in_map = key_weight != 0  # (negative with a negative softmax_scale)
                grad_key_weight = torch.where(in_map, total / key_weight.masked_fill(~in_map, 1), 0)
                grad_scores.mul_(key_weight)
            del scores
            grad_products = _diagonal(grad_scores, tile.r, True, work, "products").flatten(3).flatten(1, 2)
            del grad_scores
            grad_products = _select_rows(grad_products, tile.query_rows, work)  # the other rows are zero
            needed_queries = query_pixels.flatten(2)  # b x C x query pixels
            if tile.query_rows is not None:
                needed_queries = needed_queries[:, :, tile.query_rows]
            grad_keys = needed_queries @ grad_products
            grad_needed = keys @ grad_products.transpose(1, 2)
            if tile.query_rows is None:
                grad_queries = grad_needed.view_as(query_pixels)
            else:
                grad_queries = query_pixels.new_zeros(query_pixels.flatten(2).shape)
                grad_queries = grad_queries.index_copy_(2, tile.query_rows, grad_needed).view_as(query_pixels)
        # The last tile of a backward pass frees the buffers; a further pass (retain_graph) starts over.
        if work.enabled:
            work.backward_done += 1
            if work.backward_done == work.tiles:
                work.backward_done = 0
                work.release()
        return None, None, grad_queries, grad_keys, grad_key_weight, grad_values


def diagonal_sum(grid: Tensor, halo: int) -> Tensor:
    """out[q, k] = sum_d grid[q + halo + d, k + halo + d] over d in {-halo..halo}^2, for a
    B x QH x QW x KH x KW grid of (query, key) pairs: a query and a key shifted together. It is the
    propagation of eq. 2 (halo t) and the sum of a patch's pixel products (halo r)."""
    return _diagonal(grid, halo, spread=False)


def diagonal_spread(grid: Tensor, halo: int) -> Tensor:
    """The adjoint of diagonal_sum: every entry [q, k] is added to [q + halo + d, k + halo + d]."""
    return _diagonal(grid, halo, spread=True)


def _diagonal(grid: Tensor, halo: int, spread: bool, work: _Workspace | None = None, name: str = "") -> Tensor:
    """diagonal_sum or diagonal_spread, one axis pair at a time (2 x (2h + 1) passes instead of
    (2h + 1)^2); with a workspace, the first pass writes into its "stage" buffer and the second
    into buffer `name`. Halo 0 returns the grid itself."""
    if halo == 0:
        return grid
    axes = [(2, 4), (1, 3)]  # the sum shrinks the x axes first; the spread grows the y axes first
    if spread:
        axes.reverse()
    change = 2 * halo if spread else -2 * halo
    for (query_dim, key_dim), buffer in zip(axes, ("stage", name)):
        # (A new list, not `shape[d] += ...`: under ONNX tracing the sizes are traced values.)
        shape = [size + change if dim in (query_dim, key_dim) else size for dim, size in enumerate(grid.shape)]
        out = work(buffer, *shape) if work is not None else None
        if spread and torch.jit.is_tracing():
            grid = _spread_padded(grid, halo, query_dim, key_dim)
        elif spread:
            grid = _spread_shifted(grid, halo, query_dim, key_dim, grid.new_empty(shape) if out is None else out)
        else:
            grid = _sum_shifted(grid, halo, query_dim, key_dim, out)
    return grid


def _sum_shifted(grid: Tensor, halo: int, query_dim: int, key_dim: int, out: Tensor | None = None) -> Tensor:
    """Sum over s in 0..2h of grid shifted by s along query_dim and key_dim together."""
    query_size, key_size = grid.shape[query_dim] - 2 * halo, grid.shape[key_dim] - 2 * halo
    views = [grid.narrow(query_dim, s, query_size).narrow(key_dim, s, key_size) for s in range(2 * halo + 1)]
    out = torch.add(views[0], views[1], out=out)
    for view in views[2:]:
        out += view
    return out


def _spread_shifted(grid: Tensor, halo: int, query_dim: int, key_dim: int, out: Tensor) -> Tensor:
    """The adjoint of _sum_shifted: grid added at every shift s in 0..2h of `out`, 2h larger."""
    query_size, key_size = grid.shape[query_dim], grid.shape[key_dim]

    def region(query: slice, key: slice) -> tuple[slice, ...]:
        index = [slice(None)] * grid.dim()
        index[query_dim], index[key_dim] = query, key
        return tuple(index)

    # The first shift is copied rather than added, so only the strips it leaves need zeroing.
    out[region(slice(0, query_size), slice(0, key_size))] = grid
    out[region(slice(query_size, None), slice(None))] = 0
    out[region(slice(0, query_size), slice(key_size, None))] = 0
    for s in range(1, 2 * halo + 1):
        out[region(slice(s, s + query_size), slice(s, s + key_size))].add_(grid)  # not `+=`: it copies back
    return out


def _spread_padded(grid: Tensor, halo: int, query_dim: int, key_dim: int) -> Tensor:
    """_spread_shifted out of place, as a sum of zero-padded shifts: what a traced graph holds
    (TorchScript, ONNX). Written through indexing, each shift would export to ONNX as a scatter
    whose indices, as large as the grid, ONNX Runtime's constant folding materialises: gigabytes
    at 256 x 256."""
    total = None
    for s in range(2 * halo + 1):
        pad = [0] * (2 * (grid.dim() - 1))  # F.pad's list: the last dim first, (before, after) each
        for dim in (query_dim, key_dim):
            pad[2 * (grid.dim() - 1 - dim)], pad[2 * (grid.dim() - 1 - dim) + 1] = s, 2 * halo - s
        shifted = F.pad(grid, pad)
        total = shifted if total is None else total + shifted
    return total


def contextual_attention_dense(
    x: Tensor, mask: Tensor, patch_size: int, propagate_size: int = 3, softmax_scale: float = 10.0
) -> Tensor:
    """The same semantics written the authors' way, batched in torch: an N x N score matrix of
    normalised p x p patches per sample, propagation by shifting the H x W x H x W score grid,
    paste-back with fold. Independent of the pixel-level formulation above, differentiable, and
    memory-hungry (N^2 scores per sample): the yardstick that ContextualAttention(impl="reference")
    runs in float64. x: B x C x H x W, mask: B x 1 x H x W (1 = hole)."""
    batch, _, height, width = x.shape
    r, t = patch_size // 2, propagate_size // 2
    hole = mask > 0.5
    queries, values, keys, valid = _dense_patches(x, hole, patch_size)
    scores = (queries.transpose(1, 2) @ keys).view(batch, height, width, height, width)
    padded = F.pad(scores, [t] * 8)  # zero outside the map on the query and key sides
    propagated = _propagate(padded, t, height, height, width).reshape(batch, height * width, height * width)
    logits = (softmax_scale * propagated).masked_fill(~valid[:, None, :], float("-inf"))
    attention = torch.softmax(logits, dim=-1).nan_to_num()  # a sample without valid keys: zeros
    pasted = F.fold((attention @ values.transpose(1, 2)).transpose(1, 2), (height, width), patch_size, padding=r)
    ones = F.unfold(torch.ones_like(x[:1, :1]), patch_size, padding=r)
    overlap = F.fold(ones, (height, width), patch_size, padding=r)
    changed = hole & valid.any(1)[:, None, None, None]
    return torch.where(changed, pasted / overlap, x)


def _dense_patches(x: Tensor, hole: Tensor, patch_size: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The dense formulation's patches of B x C x H x W features with a B x 1 x H x W boolean hole:
    queries (raw patches of x), values (raw patches of the known features) and keys (the values
    L2-normalised), each B x C p^2 x N, and which keys are valid (B x N: no hole pixel in the window)."""
    r = patch_size // 2
    queries = F.unfold(x, patch_size, padding=r)
    values = F.unfold(x.masked_fill(hole, 0), patch_size, padding=r)
    keys = values / torch.sqrt(values.square().sum(1, keepdim=True) + _NORM_EPS)
    valid = F.max_pool2d(hole.to(x.dtype), patch_size, stride=1, padding=r).flatten(1) == 0
    return queries, values, keys, valid


def _propagate(padded: Tensor, t: int, rows: int, height: int, width: int) -> Tensor:
    """Step 4 on a (query, key) score grid whose last four axes (`rows` query rows, `width` query
    columns, height x width keys) are zero-padded by t on both sides: the sum over d in {-t..t}^2 of
    the grid with query and key shifted together by d."""
    return sum(
        padded[..., t + dy : t + dy + rows, t + dx : t + dx + width, t + dy : t + dy + height, t + dx : t + dx + width]
        for dy in range(-t, t + 1)
        for dx in range(-t, t + 1)
    )


def heaviest_sources(
    x: Tensor,
    mask: Tensor,
    patch_size: int,
    propagate_size: int = 3,
    softmax_scale: float = 10.0,
    max_scores: int = 2**24,
) -> Tensor:
    """Where each hole position copies from most: B x H x W raster indices (y * W + x) of the key
    with the largest attention weight, the argmax of the propagated, scaled scores over the valid
    keys (the softmax keeps the order); -1 at known positions and in samples without a valid key.
    The dense formulation of contextual_attention_dense, a block of query rows at a time, so that
    at most about `max_scores` scores are held at once. x: B x C x H x W, mask: B x 1 x H x W."""
    batch, _, height, width = x.shape
    t = propagate_size // 2
    hole = mask > 0.5
    queries, _, keys, valid = _dense_patches(x, hole, patch_size)
    rows = max(1, max_scores // (width * height * width) - 2 * t)
    sources = torch.full((batch, height, width), -1, dtype=torch.long, device=x.device)
    for b in range(batch):
        if not valid[b].any():
            continue
        for top in range(0, height, rows):
            bottom = min(height, top + rows)
            first, last = max(0, top - t), min(height, bottom + t)  # query rows whose scores propagate here
            block = queries[b, :, first * width : last * width].T @ keys[b]
            block = block.view(last - first, width, height, width)
            # zero rows outside the map, then zero borders on the query columns and the key grid
            block = F.pad(block, [t, t, t, t, t, t, t - (top - first), t - (last - bottom)])
            propagated = _propagate(block, t, bottom - top, height, width)
            logits = (softmax_scale * propagated.reshape(bottom - top, width, -1)).masked_fill(~valid[b], -math.inf)
            sources[b, top:bottom] = logits.argmax(-1)
    return sources.masked_fill(~hole[:, 0], -1)
