"""The errors a user can fix from the message alone: the entry points print them in one line,
without a traceback, and exit with status 2."""

from __future__ import annotations

from musical_inpaint.data.images import ImageReadError
from musical_inpaint.data.layouts import DatasetLayoutError
from musical_inpaint.inference import CheckpointError
from musical_inpaint.backbones import PretrainedWeightsError


class ConfigError(ValueError):
    """An option of the run cannot work; the message names it as it is typed on the command line."""


USER_ERRORS = (ConfigError, CheckpointError, DatasetLayoutError, ImageReadError, PretrainedWeightsError)


def user_error(error: BaseException) -> BaseException | None:
    """The error to show in one line, if this is one (Hydra wraps errors raised while building)."""
    for candidate in (error, error.__cause__):
        if isinstance(candidate, USER_ERRORS):
            return candidate
    return None
