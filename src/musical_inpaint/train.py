"""Training entry point: `python -m musical_inpaint.train [overrides]` (or `musical-train`), Hydra
multirun with -m.

    python -m musical_inpaint.train experiment=quickstart
    python -m musical_inpaint.train dataset=celeba adv_weight=0
    python -m musical_inpaint.train -m attention=multi_scale,single_scale,none adv_weight=0,0.3
    python -m musical_inpaint.train ckpt_path=logs/train/runs/RUN trainer.max_steps=20000   # resume

It composes the run and runs it; what each part checks and does lives with that part: the options
in the constructors that take them (`errors` names them as typed), resuming in
`training.resume`, `init_from` in `training.init_from`, loggers in `training.loggers`, the
end-of-run report in `training.report`, old configurations in `compat`.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from musical_inpaint import compat
from musical_inpaint.config import CONFIG_DIR
from musical_inpaint.errors import ConfigError, user_error
from musical_inpaint.ops.floats import flush_subnormals
from musical_inpaint.training.hardware import warn_if_emulated
from musical_inpaint.training.init_from import read_init, start_from
from musical_inpaint.training.loggers import build_loggers, finish_wandb
from musical_inpaint.training.report import mark_failed, report
from musical_inpaint.training.resume import resume_arguments, training_checkpoint

log = logging.getLogger(__name__)


@rank_zero_only
def _write_config(cfg: DictConfig, output_dir: Path) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))


def train(cfg: DictConfig) -> float | None:
    """Train with the composed configuration; returns the final value of `cfg.monitor`. An option
    that cannot work raises a ConfigError naming it as typed, before any training step."""
    try:
        return _train(cfg)
    except Exception as error:
        shown = user_error(error, cfg)
        if isinstance(shown, ConfigError) and shown is not error:
            raise shown from None
        raise


def _train(cfg: DictConfig) -> float | None:
    try:
        compat.check_monitor(cfg.monitor)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    # Checkpoints are read first: a file that is not one stops the run before anything is written.
    resumed = training_checkpoint(cfg.ckpt_path) if cfg.ckpt_path else None
    init = read_init(cfg.init_from) if cfg.get("init_from") and not cfg.ckpt_path else None
    L.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    run_config = OmegaConf.to_container(cfg, resolve=True)
    _write_config(cfg, output_dir)

    datamodule = instantiate(cfg.dataset)
    datamodule.setup("fit")  # missing or empty dataset folders fail here, before any model is built
    sizes = {split: len(dataset) for split, dataset in datamodule.datasets.items()}
    log.info("data: %s", ", ".join(f"{count} {split}" for split, count in sizes.items()))
    module = instantiate(cfg.model)
    module.run_config = run_config  # saved in every checkpoint: a checkpoint describes itself
    if cfg.get("init_from") and cfg.ckpt_path:
        log.info("init_from=%s: not loaded, the resumed run continues its own weights (ckpt_path)", cfg.init_from)
    elif init is not None:
        start_from(module, cfg.init_from, *init, run_config)
    loggers = build_loggers(cfg, output_dir, run_config, resumed.get("wandb_run_id") if resumed else None)
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values()]
    trainer = instantiate(cfg.trainer, default_root_dir=str(output_dir), logger=loggers or False, callbacks=callbacks)
    warn_if_emulated(trainer)

    # weights_only: resuming never runs code from the checkpoint file (ours hold plain types only).
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path, weights_only=True)
    value = trainer.callback_metrics.get(cfg.monitor)
    value = float(value) if value is not None else None
    if trainer.is_global_zero:
        report(output_dir, trainer, cfg.monitor, value)
    return value


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    flush_subnormals()  # before the first parallel operator: its threads inherit the setting
    try:
        return train(cfg)
    except Exception as error:
        shown = user_error(error, cfg)
        mark_failed(Path(cfg.paths.output_dir), shown or error)
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            # One failed job must not stop the sweep: record it and let the others run.
            log.exception("job %s failed; the sweep goes on", HydraConfig.get().job.num)
            return None
        if shown:
            log.error("%s", shown)
            sys.exit(2)
        raise
    finally:
        finish_wandb()


def cli() -> None:
    """`python -m musical_inpaint.train` and `musical-train`: a resumed run's command line
    rewritten (`training.resume`), removed options named, then Hydra."""
    try:
        compat.check_overrides([a for a in sys.argv[1:] if not a.startswith("-")])
        sys.argv[1:] = resume_arguments(sys.argv[1:])
    except (ConfigError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    main()


if __name__ == "__main__":
    cli()
