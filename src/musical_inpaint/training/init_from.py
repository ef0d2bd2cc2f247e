"""`init_from`: a new run whose networks start from another run's weights (its generator; its
discriminator too when both runs have one), while the step count, optimisers and schedule start
afresh: fine-tuning, or a second phase at another size."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L

from musical_inpaint.errors import ConfigError
from musical_inpaint.inference import CheckpointError, network_weights, read_checkpoint, resolve_checkpoint

log = logging.getLogger(__name__)


def read_init(typed: str) -> tuple[Path, dict]:
    """The checkpoint `init_from=typed` names (a .ckpt file or a run folder) and its contents."""
    try:
        path = resolve_checkpoint(typed)
        return path, read_checkpoint(path)
    except CheckpointError as error:
        raise ConfigError(f"init_from={typed}: {error}") from None


def start_from(module: L.LightningModule, typed: str, path: Path, checkpoint: dict, run_config: dict) -> None:
    """Loads the checkpoint's networks into `module`'s. A network that does not fit is a
    ConfigError naming the options in which the two runs differ."""
    for name in ("generator", "discriminator"):
        network, weights = getattr(module, name, None), network_weights(checkpoint, name)
        if network is None or (name == "discriminator" and not weights):
            continue
        ours = network.state_dict()
        if ours.keys() == weights.keys() and all(ours[k].shape == weights[k].shape for k in ours):
            network.load_state_dict(weights)
            continue
        theirs_options = checkpoint["run_config"]["model"].get(name) or {}
        our_options = run_config["model"][name]
        differ = [
            f"model.{name}.{key} is {theirs_options[key]} there, {our_options[key]} here"
            for key in sorted(theirs_options.keys() & our_options.keys())
            if theirs_options[key] != our_options[key]
        ]
        raise ConfigError(
            f"init_from={typed}: the {name} of {path} does not fit this run's "
            f"({'; '.join(differ) or 'the same options, other weights'}): build the same model.{name} as that run"
        )
    log.info("init_from: weights of %s", path)
