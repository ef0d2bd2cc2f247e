"""The one check of a loss weight, made by the constructor that takes it."""

from __future__ import annotations

import math

from musical_inpaint.errors import OptionError


def check_weight(value, option: str, what: str = "the term") -> float:
    """`value` as a float if it is a finite number >= 0, else an OptionError naming `option`, its
    key in the configuration (the entry points name the shortcut the user typed, e.g. `adv_weight`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise OptionError(option, value, f"must be a finite number >= 0 (0 turns {what} off)")
    return float(value)
