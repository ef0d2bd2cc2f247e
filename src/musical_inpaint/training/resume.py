"""Resuming a run: `python -m musical_inpaint.train ckpt_path=RUN_OR_CKPT [overrides]` continues
a run exactly (step, optimisers, schedule, random states, W&B run), with the run's own
configuration and in its own folder."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import yaml

from musical_inpaint import compat
from musical_inpaint.errors import ConfigError
from musical_inpaint.inference import CheckpointError, read_checkpoint

# What a resumed run may change; the rest is the run's own configuration.
RESUMABLE = ("trainer.", "paths.data_dir", "dataset.root", "dataset.num_workers", "model.val_images", "hydra.")
# What Lightning's own checkpoints hold beside the weights (and ours beside them, run_config).
_TRAINING_STATE = ("global_step", "optimizer_states", "loops")


def training_checkpoint(path: str | Path, option: str = "ckpt_path") -> dict:
    """The contents of a checkpoint to resume from, read without running code; a ConfigError
    naming `option` and the file when it is not one a run of this project wrote."""
    try:
        if not Path(path).is_file():
            raise CheckpointError("no such checkpoint file")
        checkpoint = read_checkpoint(Path(path))
    except CheckpointError as error:
        raise ConfigError(f"{option}={path}: {error}") from None
    missing = [key for key in _TRAINING_STATE if key not in checkpoint]
    if missing:
        raise ConfigError(
            f"{option}={path}: holds weights but no training state ({', '.join(missing)}): "
            "resume from a checkpoint of a run's checkpoints/ folder, or start from its weights "
            "with init_from="
        )
    return checkpoint


def resume_arguments(argv: list[str]) -> list[str]:
    """The command line `ckpt_path=RUN_OR_CKPT [overrides]` as Hydra arguments that rebuild the
    run's own configuration (its .hydra/config.yaml, in today's form) with the overrides on top,
    writing into the run's folder (Hydra's files of this call in .hydra/resumed_<time>/, the CSV
    continued). Other command lines, a checkpoint outside a run folder and an explicit
    hydra.run.dir= pass through."""
    given = [a for a in argv if a.startswith("ckpt_path=")]
    if not given or {"--config-path", "-cp"} & set(argv):  # (DDP re-runs the rewritten command line)
        return argv
    if {"-m", "--multirun"} & set(argv):
        raise ConfigError(f"{given[-1]}: a run resumes on its own, not in a multirun (drop -m)")
    path = Path(given[-1].split("=", 1)[1]).expanduser()
    checkpoint = path if path.is_file() else path / "checkpoints" / "last.ckpt"
    if not checkpoint.is_file():
        raise ConfigError(
            f"{given[-1]}: no checkpoint there (expected a .ckpt file or a run folder with checkpoints/last.ckpt)"
        )
    training_checkpoint(checkpoint, given[-1].split("=", 1)[0])
    run = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else None
    stored = run / ".hydra" / "config.yaml" if run is not None else None
    if stored is None or not stored.is_file():
        return argv
    config = yaml.safe_load(stored.read_text()) or {}
    if "adversarial" not in (config.get("model") or {}):
        raise ConfigError(
            f"{given[-1]}: this run was written by an older version of musical-inpaint (its configuration "
            "has no model.adversarial node), which cannot be resumed from its folder"
        )
    try:
        upgraded = compat.run_config(config)
    except ValueError as error:
        raise ConfigError(f"{given[-1]}: {error}") from None
    rest = [a for a in argv if not a.startswith("ckpt_path=")]
    for argument in rest:
        key = argument.split("=", 1)[0].lstrip("+~")
        # (A word without "=" is a Hydra flag's value, as in `--cfg job`.)
        if not argument.startswith("-") and "=" in argument and not key.startswith(RESUMABLE):
            raise ConfigError(
                f"{argument}: resuming {run} keeps its configuration; only {', '.join(p.rstrip('.') for p in RESUMABLE)} "
                "can change (start a new run to change anything else)"
            )
    config_dir = stored.parent
    if upgraded != config:  # written by an older version: composed from its configuration in today's form
        config_dir = Path(tempfile.mkdtemp(prefix="musical_inpaint_resume_"))
        (config_dir / "config.yaml").write_text(yaml.safe_dump(upgraded, sort_keys=False))
    extra = [f"ckpt_path={checkpoint.resolve()}"]
    if not any(a.startswith("hydra.run.dir=") for a in rest):
        extra += [
            f"hydra.run.dir={run.resolve()}",
            f"hydra.output_subdir=.hydra/resumed_{time.strftime('%Y-%m-%d_%H-%M-%S')}",
        ]
    if "csv" in (config.get("logger") or {}):  # continue the run's metrics.csv, which CSVLogger would replace
        extra.append("logger.csv._target_=musical_inpaint.training.loggers.AppendingCSVLogger")
    return ["--config-path", str(config_dir.resolve()), "--config-name", "config", *extra, *rest]
