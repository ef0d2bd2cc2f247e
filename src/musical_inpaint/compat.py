"""Every upgrade of what older versions wrote, in one place: checkpoints' configurations and
the names of metrics in logs and evaluation files. Code elsewhere reads today's form only."""

from __future__ import annotations

# Checkpoints written before attention became a config node named it by a string and passed its
# options to the generator.
_OLD_ATTENTION = {"multi_scale": [1, 3], "single_scale": [3], "none": None}
_OLD_ATTENTION_OPTIONS = ("propagate_size", "softmax_scale", "se_reduction", "max_scores")


# Generator options added after checkpoints were written, with the layout those checkpoints have.
_LATER_OPTIONS = {"upsample": "transposed", "downsamplings": 4, "norm": "instance", "hole_fill": "zero"}


def generator_config(options: dict) -> dict:
    """A checkpoint's `model.generator` node in today's form (old string-named attention upgraded,
    options added since filled in with the layout the checkpoint has)."""
    options = dict(options)
    if str(options.get("_target_", "")).endswith("MusicalGenerator"):
        options = {**_LATER_OPTIONS, **options}
    attention = options.get("attention")
    if isinstance(attention, str):
        if attention not in _OLD_ATTENTION:
            raise ValueError(f"unknown attention {attention!r} in the checkpoint's configuration")
        moved = {k: options.pop(k) for k in _OLD_ATTENTION_OPTIONS if k in options}
        patch_sizes = _OLD_ATTENTION[attention]
        options["attention"] = None if patch_sizes is None else {
            "_target_": "musical_inpaint.models.MultiScaleAttention", "_partial_": True, "patch_sizes": patch_sizes, **moved}
    return options


def current_name(name: str) -> str:
    """A metric's name today: the L1 figures of files written before the units were named
    (`l1`, `hole_l1`, `val/hole_l1`, `val/telea_hole_l1`, ...) gained `_pct`; `train/` holds
    losses, not metrics, and keeps its names."""
    return f"{name}_pct" if name.endswith("l1") and not name.startswith("train/") else name


def upgrade_legacy(record: dict, fractions: bool) -> dict:
    """A record (a CSV row, a metrics.json dict) under today's names and unit. `fractions`: its
    old L1 values are fractions (the CSVs), else already % (metrics.json). Where a record holds
    both names (a run resumed on today's code appends to its old CSV, whose rows then have both
    columns, one of them empty), the filled one counts; nested dicts (bins) are upgraded too."""
    upgraded = {}
    for key, value in record.items():
        if isinstance(value, dict):
            value = upgrade_legacy(value, fractions)
        new = current_name(key) if isinstance(key, str) else key
        if new != key:
            if value in (None, ""):
                upgraded.setdefault(new, value)
                continue
            value = 100 * float(value) if fractions else value
        if upgraded.get(new) in (None, ""):
            upgraded[new] = value
    return upgraded
