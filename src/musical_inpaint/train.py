"""Training entry point: `python -m musical_inpaint.train [overrides]`, Hydra multirun with -m.

    python -m musical_inpaint.train experiment=quickstart
    python -m musical_inpaint.train dataset=celeba adv_weight=0
    python -m musical_inpaint.train -m attention=multi_scale,single_scale,none adv_weight=0,0.3
    python -m musical_inpaint.train ckpt_path=logs/train/runs/RUN trainer.max_steps=20000   # resume
"""

from __future__ import annotations

import logging
import math
import sys
import time
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
import yaml

from musical_inpaint.training.callbacks import ClassicalFloor
from musical_inpaint.training.hardware import warn_if_emulated
from musical_inpaint.config import CONFIG_DIR
from musical_inpaint.data.datamodules import check_train_size, load_sizes
from musical_inpaint.errors import ConfigError, user_error
from musical_inpaint.compat import current_name, generator_config
from musical_inpaint.inference import CheckpointError, network_weights, read_checkpoint, resolve_checkpoint
from musical_inpaint.models.generator import DOWNSAMPLINGS, HOLE_FILLS, MIN_SIDE, NORMS, STRIDE, UPSAMPLINGS
from musical_inpaint.training.module import check_lr_options

log = logging.getLogger(__name__)


def run_name(cfg: DictConfig) -> str:
    """A readable run name from the command-line overrides (e.g. 'adv_weight=0,attention=none')."""
    if HydraConfig.initialized():
        overrides = HydraConfig.get().job.override_dirname
        if overrides:
            return overrides[:128]  # W&B and file systems limit name lengths
    return "default"


def build_loggers(cfg: DictConfig) -> list:
    loggers = []
    for name, logger_cfg in (cfg.get("logger") or {}).items():
        extra = {}
        if "name" in logger_cfg and logger_cfg.name is None:
            extra["name"] = run_name(cfg)
        if name == "wandb" and cfg.ckpt_path:
            run_id = _checkpoint_entry(cfg.ckpt_path, "wandb_run_id")
            if run_id:  # continue the same W&B run, under its own name
                extra.update(id=run_id, resume="allow")
                extra.pop("name", None)
        loggers.append(instantiate(logger_cfg, **extra))
    return loggers


def _checkpoint_entry(path: str, key: str):
    checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return checkpoint.get(key)


@rank_zero_only
def _write_config(cfg: DictConfig, output_dir: Path) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))


LOSS_WEIGHTS = ("adv_weight", "style_weight", "perceptual_weight", "tv_weight", "l1_weight", "hole_l1_weight")


def check_config(cfg: DictConfig) -> None:
    """The checks that need no data, before anything is built."""
    crop = cfg.crop_size
    if not isinstance(crop, int) or crop < MIN_SIDE or crop % STRIDE:
        nearest = max(MIN_SIDE, round(crop / STRIDE) * STRIDE) if isinstance(crop, (int, float)) else 256
        raise ConfigError(f"crop_size={crop}: must be a multiple of {STRIDE} and at least {MIN_SIDE} "
                          f"(the generator halves the image up to four times), e.g. crop_size={nearest}")
    for name in (*LOSS_WEIGHTS, "model.adversarial.r1_weight"):
        value = OmegaConf.select(cfg, name)
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0):
            raise ConfigError(f"{name}={value}: must be a finite number >= 0 (0 turns the term off)")
    trainer = cfg.get("trainer") or {}
    if trainer.get("gradient_clip_val") is not None:
        raise ConfigError(f"trainer.gradient_clip_val={trainer.gradient_clip_val}: the GAN loop optimises manually, "
                          "where Lightning cannot clip; use model.grad_clip instead")
    if trainer.get("accumulate_grad_batches", 1) != 1:
        raise ConfigError(f"trainer.accumulate_grad_batches={trainer.accumulate_grad_batches}: the GAN loop optimises "
                          "manually, where Lightning cannot accumulate; raise dataset.batch_size instead")
    upsample = OmegaConf.select(cfg, "model.generator.upsample", default="transposed")
    if upsample not in UPSAMPLINGS:
        raise ConfigError(f"model.generator.upsample={upsample}: must be one of {', '.join(UPSAMPLINGS)}")
    downsamplings = OmegaConf.select(cfg, "model.generator.downsamplings", default=4)
    if type(downsamplings) is not int or downsamplings not in DOWNSAMPLINGS:
        raise ConfigError(f"model.generator.downsamplings={downsamplings}: must be 3 or 4 (the attention works at 1/4 "
                          "resolution, after the decoder's second upsampling)")
    norm = OmegaConf.select(cfg, "model.generator.norm", default="instance")
    if norm not in NORMS:
        raise ConfigError(f"model.generator.norm={norm}: must be one of {', '.join(NORMS)}")
    hole_fill = OmegaConf.select(cfg, "model.generator.hole_fill", default="zero")
    if hole_fill not in HOLE_FILLS:
        raise ConfigError(f"model.generator.hole_fill={hole_fill}: must be one of {', '.join(HOLE_FILLS)}")
    if cfg.model.get("lr_schedule") == "cosine" and (trainer.get("max_steps") or -1) <= 0:
        raise ConfigError("model.lr_schedule=cosine decays to 0 at trainer.max_steps: set trainer.max_steps=N")
    try:
        check_lr_options(cfg.model.get("lr_schedule", "constant"), cfg.model.get("lr_clock", "steps"))
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if cfg.ckpt_path and not Path(cfg.ckpt_path).is_file():
        raise ConfigError(f"ckpt_path={cfg.ckpt_path}: no such checkpoint file")
    if cfg.get("init_from") and not cfg.ckpt_path:  # a resumed run continues its own weights
        try:
            resolve_checkpoint(cfg.init_from)
        except CheckpointError as error:
            raise ConfigError(f"init_from={cfg.init_from}: {error}") from None
    dataset = cfg.get("dataset") or {}
    for name in ("random_crop", "flip", "rotate", "permute_channels", "cache"):
        if name in dataset and not isinstance(dataset[name], bool):
            raise ConfigError(f"dataset.{name}={dataset[name]}: must be true or false")
    try:
        check_train_size(dataset.get("train_size"), synthetic=str(dataset.get("_target_", "")).endswith("SyntheticDataModule"))
        low, _ = load_sizes(OmegaConf.select(cfg, "dataset.train_load_size"))
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if low is not None and low < crop:
        raise ConfigError(f"dataset.train_load_size={OmegaConf.select(cfg, 'dataset.train_load_size')}: the short side "
                          f"before the crop must be at least crop_size={crop}")
    if current_name(cfg.monitor) != cfg.monitor:
        raise ConfigError(f"monitor={cfg.monitor}: the L1 metrics carry their unit in their name, in %: "
                          f"monitor={current_name(cfg.monitor)}")


def start_from(module: L.LightningModule, typed: str, run_config: dict) -> None:
    """`init_from`: the networks start from a checkpoint's weights (its generator; its
    discriminator too when both runs have one), while the step count, optimisers and schedule
    start afresh: fine-tuning, or a second phase at another size. A network that does not fit
    is a ConfigError naming the options in which the two runs differ."""
    try:
        path = resolve_checkpoint(typed)
        checkpoint = read_checkpoint(path)
    except CheckpointError as error:
        raise ConfigError(f"init_from={typed}: {error}") from None
    for name in ("generator", "discriminator"):
        network, weights = getattr(module, name, None), network_weights(checkpoint, name)
        if network is None or (name == "discriminator" and not weights):
            continue
        ours = network.state_dict()
        if ours.keys() == weights.keys() and all(ours[k].shape == weights[k].shape for k in ours):
            network.load_state_dict(weights)
            continue
        theirs_options = checkpoint["run_config"]["model"].get(name) or {}
        if name == "generator":
            theirs_options = generator_config(theirs_options)
        our_options = run_config["model"][name]
        differ = [f"model.{name}.{key} is {theirs_options[key]} there, {our_options[key]} here"
                  for key in sorted(theirs_options.keys() & our_options.keys()) if theirs_options[key] != our_options[key]]
        raise ConfigError(f"init_from={typed}: the {name} of {path} does not fit this run's "
                          f"({'; '.join(differ) or 'the same options, other weights'}): build the same model.{name} as that run")
    log.info("init_from: weights of %s", path)


def train(cfg: DictConfig) -> float | None:
    """Train with the composed configuration; returns the final value of `cfg.monitor`."""
    check_config(cfg)
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
    elif cfg.get("init_from"):
        start_from(module, cfg.init_from, run_config)
    loggers = build_loggers(cfg)
    for logger in loggers:
        logger.log_hyperparams(run_config)
        if type(logger).__name__ == "WandbLogger":  # the resolved config among the run's files (rank 0)
            logger.experiment.save(str(output_dir / "config.yaml"), base_path=str(output_dir), policy="now")
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values()]
    trainer = instantiate(cfg.trainer, default_root_dir=str(output_dir), logger=loggers or False, callbacks=callbacks)
    warn_if_emulated(trainer)

    # weights_only: resuming never runs code from the checkpoint file (ours hold plain types only).
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path, weights_only=True)
    value = trainer.callback_metrics.get(cfg.monitor)
    value = float(value) if value is not None else None
    if trainer.is_global_zero:
        _report(output_dir, trainer, cfg.monitor, value)
    return value


def _report(output_dir: Path, trainer: L.Trainer, monitor: str, value: float | None) -> None:
    best = getattr(trainer.checkpoint_callback, "best_model_path", "")
    last, images = output_dir / "checkpoints" / "last.ckpt", output_dir / "images"
    lines = [f"run folder:       {output_dir.resolve()}"]
    lines += [f"last checkpoint:  {last.resolve()}"] if last.is_file() else ["last checkpoint:  none (no step ran)"]
    lines += [f"best checkpoint:  {best}" if best else "best checkpoint:  none (no validation ran)"]
    lines += [f"validation images: {images.resolve()}"] if images.is_dir() else []
    lines += [f"{monitor}: {value if value is not None else 'not computed (no validation ran)'}"]
    lines += _standing(trainer)
    log.info("\n".join(lines))


def _standing(trainer: L.Trainer) -> list[str]:
    """The last validation's hole L1 beside each classical floor's on the same images."""
    metrics = trainer.callback_metrics
    if "val/hole_l1_pct" not in metrics:
        return []
    ours = float(metrics["val/hole_l1_pct"])
    lines = [f"final validation hole L1: {ours:.2f} %"]
    for floor in (c for c in trainer.callbacks if isinstance(c, ClassicalFloor) and c.values):
        theirs = floor.values["hole_l1_pct"]
        verdict = "below" if ours < theirs else "NOT below"
        lines.append(f"  {floor.method} on the same images: {theirs:.2f} % (ours {verdict} it: {ours / theirs - 1:+.1%})")
    return lines


@rank_zero_only
def mark_failed(output_dir: Path, error: BaseException) -> None:
    """A FAILED note in the run folder, saying whether any training result is there at all."""
    last = output_dir / "checkpoints" / "last.ckpt"
    state = (f"{last} holds the state when it stopped" if last.is_file()
             else "no training step ran: nothing in this folder is a result")
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "FAILED").write_text(f"{type(error).__name__}: {error}\n{state}\n")


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    try:
        return train(cfg)
    except Exception as error:
        mark_failed(Path(cfg.paths.output_dir), user_error(error) or error)
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            # One failed job must not stop the sweep: record it and let the others run.
            log.exception("job %s failed; the sweep goes on", HydraConfig.get().job.num)
            return None
        if user_error(error):
            log.error("%s", user_error(error))
            sys.exit(2)
        raise
    finally:
        _finish_wandb()


def _finish_wandb() -> None:
    """Close the W&B run of this job, so that the next job of a sweep starts a run of its own."""
    try:
        import wandb
    except ImportError:
        return
    if wandb.run is not None:
        wandb.finish()


# What a resumed run may change; the rest is the run's own configuration.
RESUMABLE = ("trainer.", "paths.data_dir", "dataset.root", "dataset.num_workers", "model.val_images", "hydra.")


def resume_arguments(argv: list[str]) -> list[str]:
    """The command line `ckpt_path=RUN_OR_CKPT [overrides]` as Hydra arguments that rebuild the
    run's own configuration (its .hydra/config.yaml) with the overrides on top, writing into the
    run's folder (Hydra's files of this call in .hydra/resumed_<time>/, the CSV continued). Other
    command lines, a checkpoint outside a run folder and an explicit hydra.run.dir= pass through."""
    given = [a for a in argv if a.startswith("ckpt_path=")]
    if not given or {"--config-path", "-cp"} & set(argv):  # (DDP re-runs the rewritten command line)
        return argv
    if {"-m", "--multirun"} & set(argv):
        raise ConfigError(f"{given[-1]}: a run resumes on its own, not in a multirun (drop -m)")
    path = Path(given[-1].split("=", 1)[1]).expanduser()
    checkpoint = path if path.is_file() else path / "checkpoints" / "last.ckpt"
    if not checkpoint.is_file():
        raise ConfigError(f"{given[-1]}: no checkpoint there (expected a .ckpt file or a run folder with "
                          "checkpoints/last.ckpt)")
    run = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else None
    stored = run / ".hydra" / "config.yaml" if run is not None else None
    if stored is None or not stored.is_file():
        return argv
    config = yaml.safe_load(stored.read_text()) or {}
    if "adversarial" not in (config.get("model") or {}):
        raise ConfigError(f"{given[-1]}: this run was written by an older version of musical-inpaint (its configuration "
                          "has no model.adversarial node), which cannot be resumed from its folder")
    rest = [a for a in argv if not a.startswith("ckpt_path=")]
    for argument in rest:
        key = argument.split("=", 1)[0].lstrip("+~")
        if not argument.startswith("-") and not key.startswith(RESUMABLE):
            raise ConfigError(
                f"{argument}: resuming {run} keeps its configuration; only {', '.join(p.rstrip('.') for p in RESUMABLE)} "
                "can change (start a new run to change anything else)")
    extra = [f"ckpt_path={checkpoint.resolve()}"]
    if not any(a.startswith("hydra.run.dir=") for a in rest):
        extra += [f"hydra.run.dir={run.resolve()}", f"hydra.output_subdir=.hydra/resumed_{time.strftime('%Y-%m-%d_%H-%M-%S')}"]
    if current_name(config.get("monitor", "")) != config.get("monitor", ""):  # a run from before the L1 units
        extra.append(f"monitor={current_name(config['monitor'])}")
    if "csv" in (config.get("logger") or {}):  # continue the run's metrics.csv, which CSVLogger would replace
        extra.append("logger.csv._target_=musical_inpaint.training.loggers.AppendingCSVLogger")
    return ["--config-path", str(stored.parent.resolve()), "--config-name", "config", *extra, *rest]


def cli() -> None:
    try:
        sys.argv[1:] = resume_arguments(sys.argv[1:])
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    main()


if __name__ == "__main__":
    cli()
