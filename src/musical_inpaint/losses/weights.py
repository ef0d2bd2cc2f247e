"""The one check of a loss weight, made by the constructor that takes it."""

from __future__ import annotations

import math

from musical_inpaint.errors import ConfigError


def check_weight(value, option: str, what: str = "the term") -> float:
    """`value` as a float if it is a finite number >= 0, else a ConfigError naming `option` as the
    user types it (e.g. `adv_weight`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{option}={value}: must be a finite number >= 0 (0 turns {what} off)")
    return float(value)
