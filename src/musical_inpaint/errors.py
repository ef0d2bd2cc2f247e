"""The errors a user can fix from the message alone: the entry points print them in one line,
without a traceback, and exit with status 2.

Each option is checked once, by the constructor that consumes it, which raises an `OptionError`
naming the option where the shipped configuration puts it (`model.adversarial.weight`). The
entry points turn it into a `ConfigError` naming the option as the user types it: a value that
comes from a top-level shortcut (`weight: ${adv_weight}`) is named by the shortcut (`adv_weight`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue


class UserError(Exception):
    """Base of the errors whose message alone tells the user what to fix (a missing dataset
    folder, an unreadable image or checkpoint, an option that cannot work)."""


class ConfigError(UserError, ValueError):
    """An option of the run cannot work; the message names it as it is typed on the command line."""


class OptionError(ValueError):
    """An argument of a constructor cannot work. `option` is its key in the shipped configuration
    (e.g. `dataset.batch_size`), `expected` says what would."""

    def __init__(self, option: str, value, expected: str) -> None:
        self.option, self.value, self.expected = option, value, expected
        super().__init__(f"{option}={show(value)}: {expected}")


# Lightning refuses these Trainer options for a manually optimised module; what to do instead.
_MANUAL_OPTIMISATION = {
    "gradient_clip_val": "the GAN loop optimises manually, where Lightning cannot clip; use model.grad_clip instead",
    "accumulate_grad_batches": "the GAN loop optimises manually, where Lightning cannot accumulate; "
    "raise dataset.batch_size instead",
}


def show(value) -> str:
    """A value as it is typed on the command line (null, true, [20, 60])."""
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value, resolve=True)
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return str(value)


def typed_option(cfg: DictConfig | None, option: str) -> str:
    """The key a user types for `option`: the key its value, or the node above it, is
    interpolated from, if it is one (`dataset.mask.root` -> `mask.root` for `mask: ${mask}`)."""
    if cfg is None:
        return option
    raw = OmegaConf.to_container(cfg, resolve=False)
    for _ in range(8):  # a chain of interpolations, followed a few links deep
        value, parts = raw, option.split(".")
        for depth, part in enumerate(parts):
            value = value.get(part) if isinstance(value, dict) else None
            match = re.fullmatch(r"\$\{([\w.]+)\}", value) if isinstance(value, str) else None
            if match is not None:
                option = ".".join([match.group(1), *parts[depth + 1 :]])
                break
        else:
            return option
    return option


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and those it was raised from (Hydra wraps errors raised while building)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__


def user_error(error: BaseException, cfg: DictConfig | None = None) -> BaseException | None:
    """The error to show in one line, if this is one; an option's error names the option as typed
    in `cfg` (the composed configuration, when there is one)."""
    for candidate in _chain(error):
        if isinstance(candidate, OptionError):
            return ConfigError(f"{typed_option(cfg, candidate.option)}={show(candidate.value)}: {candidate.expected}")
        if isinstance(candidate, UserError):
            return candidate
        if isinstance(candidate, MissingMandatoryValue) and candidate.full_key:
            option = typed_option(cfg, candidate.full_key)
            return ConfigError(f"{option} is not set: give it on the command line ({option}=...)")
        if isinstance(candidate, MisconfigurationException):
            for option, advice in _MANUAL_OPTIMISATION.items():
                if option in str(candidate):
                    value = OmegaConf.select(cfg, f"trainer.{option}") if cfg is not None else "..."
                    return ConfigError(f"trainer.{option}={show(value)}: {advice}")
            return ConfigError(str(candidate).replace("\n", " "))
    return None
