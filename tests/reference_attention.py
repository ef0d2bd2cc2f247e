"""A slow, literal float64 transcription of the contextual attention semantics.

Loops over positions exactly as the definition reads (see musical_inpaint.models.contextual_attention);
it is the yardstick the fast module is checked against, so it must stay obviously correct.
"""

from __future__ import annotations

import numpy as np


def _patch(image: np.ndarray, y: int, x: int, r: int) -> np.ndarray:
    """The (2r+1)^2 patch of a C x H x W array around (y, x), zero outside the image."""
    channels, height, width = image.shape
    patch = np.zeros((channels, 2 * r + 1, 2 * r + 1))
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            yy, xx = y + dy, x + dx
            if 0 <= yy < height and 0 <= xx < width:
                patch[:, dy + r, dx + r] = image[:, yy, xx]
    return patch


def attention_reference(
    x: np.ndarray, mask: np.ndarray, patch_size: int, propagate_size: int, softmax_scale: float
) -> tuple[np.ndarray, list[bool]]:
    """x: C x H x W, mask: H x W (1 = hole) -> the N x N attention a(i, j) (zero on invalid keys;
    all zero without a valid key) and the validity of each key, for one sample."""
    x = x.astype(np.float64)
    m = (mask > 0.5).astype(np.float64)
    _, height, width = x.shape
    r, t = patch_size // 2, propagate_size // 2
    positions = [(y, xx) for y in range(height) for xx in range(width)]
    n = len(positions)
    b = x * (1 - m)

    keys = [_patch(b, y, xx, r) for y, xx in positions]
    keys_hat = [k / np.sqrt((k**2).sum() + 1e-4) for k in keys]
    valid = []
    for y, xx in positions:
        window = _patch(m[None], y, xx, r)  # zero outside the image: those pixels do not count
        valid.append(window.sum() == 0)
    queries = [_patch(x, y, xx, r) for y, xx in positions]

    s = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            s[i, j] = (queries[i] * keys_hat[j]).sum()

    def index(y: int, xx: int) -> int | None:
        return y * width + xx if 0 <= y < height and 0 <= xx < width else None

    s_prop = np.zeros((n, n))
    for i, (yi, xi) in enumerate(positions):
        for j, (yj, xj) in enumerate(positions):
            total = 0.0
            for dy in range(-t, t + 1):
                for dx in range(-t, t + 1):
                    a, c = index(yi + dy, xi + dx), index(yj + dy, xj + dx)
                    if a is not None and c is not None:
                        total += s[a, c]
            s_prop[i, j] = total

    attention = np.zeros((n, n))
    valid_idx = [j for j in range(n) if valid[j]]
    for i in range(n):
        if valid_idx:
            logits = softmax_scale * s_prop[i, valid_idx]
            e = np.exp(logits - logits.max())
            attention[i, valid_idx] = e / e.sum()
    return attention, valid


def contextual_attention_reference(
    x: np.ndarray, mask: np.ndarray, patch_size: int, propagate_size: int, softmax_scale: float
) -> np.ndarray:
    """x: C x H x W, mask: H x W (1 = hole) -> C x H x W, for one sample."""
    x = x.astype(np.float64)
    m = (mask > 0.5).astype(np.float64)
    channels, height, width = x.shape
    r = patch_size // 2
    positions = [(y, xx) for y in range(height) for xx in range(width)]
    if m.sum() == 0:
        return x.copy()
    attention, valid = attention_reference(x, mask, patch_size, propagate_size, softmax_scale)
    if not any(valid):
        return x.copy()
    valid_idx = [j for j in range(len(positions)) if valid[j]]
    keys = [_patch(x * (1 - m), y, xx, r) for y, xx in positions]

    y_out = np.zeros_like(x)
    for uy in range(height):
        for ux in range(width):
            acc = np.zeros(channels)
            count = 0
            for i, (yi, xi) in enumerate(positions):
                if abs(uy - yi) <= r and abs(ux - xi) <= r:
                    pasted = sum(attention[i, j] * keys[j] for j in valid_idx)
                    acc += pasted[:, uy - yi + r, ux - xi + r]
                    count += 1
            y_out[:, uy, ux] = acc / count
    return x * (1 - m) + y_out * m
