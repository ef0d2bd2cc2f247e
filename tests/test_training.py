"""The Lightning GAN loop and the Hydra configuration, with real trainers on tiny models."""

import copy
import csv
import inspect
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
import torch.nn.functional as F
import yaml
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback, Timer
from omegaconf import OmegaConf

from musical_inpaint.baselines import fill_with
from musical_inpaint.compat import run_config, upgrade_run_config
from musical_inpaint.errors import ConfigError, user_error
from musical_inpaint.imaging import composite
from musical_inpaint.losses import HingeLoss, NonSaturatingLoss, gram_matrix
from musical_inpaint.metrics import paper_metrics
from musical_inpaint.runs_table import main as runs_table_main
from musical_inpaint.train import train
from musical_inpaint.training.init_from import read_init, start_from
from musical_inpaint.training.module import MusicalInpainting, NonFiniteLossError
from tests.helpers import CONFIG_DIR, REPO, write_image
from tests.helpers.configs import TINY, compose_train, tiny_config
from tests.helpers.runs import train_run

PATCH_SIZES = {"multi_scale": [1, 3], "single_scale": [3]}


def group_options(group):
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


# ------------------------------------------------------------------------------ configuration


def test_the_papers_celeba_command_composes_exactly_as_typed():
    config = compose_train(["dataset=celeba", "adv_weight=0"])
    assert config.model.adversarial.weight == 0 and config.dataset._target_.endswith("CelebADataModule")
    assert list(config.model.generator.attention.patch_sizes) == [1, 3] and config.model.loss.terms.style.weight == 250


@pytest.mark.parametrize(
    "group, option",
    [
        (g, o)
        for g in (
            "dataset",
            "mask",
            "attention",
            "trainer",
            "logger",
            "callbacks",
            "experiment",
            "debug",
            "model",
            "lr_schedule",
            "adversarial",
        )
        for o in group_options(g)
    ],
)
def test_every_option_of_every_group_composes_and_instantiates(group, option, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    overrides = [f"{group}={option}", "pretrained=false", f"paths.output_dir={tmp_path}"]
    if group == "dataset" and option == "folder":
        overrides.append("dataset.root=/data/photos")  # the one option without a default
    if group == "mask" and option == "folder":  # the other: a folder of masks, one drawn per image
        masks = write_image(tmp_path / "masks" / "hole.png", 8, 8).parent
        overrides += [f"mask.root={masks}", "mask.match=random"]
    if group == "lr_schedule":
        overrides.append("trainer.max_steps=10")  # where the cosine ends
    if group != "experiment":  # presets keep their own (paper-sized) networks
        overrides += ["model.generator.base_channels=4", "model.generator.dilated_blocks=1"]
    config = compose_train(overrides)
    if group in ("dataset", "mask", "experiment"):
        assert isinstance(instantiate(config.dataset), L.LightningDataModule)
    if group in ("model", "attention", "experiment", "variant", "lr_schedule", "adversarial", "norm"):
        module = instantiate(config.model)
        assert isinstance(module, MusicalInpainting)
        assert (module.discriminator is None) == (config.adv_weight == 0)
    if group == "trainer":
        if not torch.cuda.is_available() and config.trainer.accelerator == "gpu":
            config.trainer.accelerator, config.trainer.devices = "cpu", 1  # the GPU options, checked on a CPU
        assert isinstance(instantiate(config.trainer), L.Trainer)
    if group == "logger":
        assert all(instantiate(c) is not None for c in config.logger.values())
    if group == "callbacks":
        assert all(instantiate(c) is not None for c in config.callbacks.values())
    if group == "debug":
        assert config.trainer.fast_dev_run or config.trainer.max_steps <= 8


@pytest.mark.parametrize(
    "experiment, adv, attention, extra",
    [
        ("paris", 0.3, "multi_scale", {}),
        ("places", 0.3, "multi_scale", {"dataset.category": "canyon"}),
        ("celeba", 0.0, "multi_scale", {}),
        ("paris variant=no_adv", 0.0, "multi_scale", {}),
        ("paris variant=single_scale", 0.3, "single_scale", {}),
        ("official", 0.06, "multi_scale", {"hole_l1_weight": 6.0}),
    ],
)
def test_experiment_presets_hold_the_papers_settings(experiment, adv, attention, extra):
    config = compose_train(f"experiment={experiment}".split())
    assert config.adv_weight == adv and list(config.model.generator.attention.patch_sizes) == PATCH_SIZES[attention]
    assert config.dataset.batch_size == 5 and config.model.lr == 2e-4 and list(config.model.betas) == [0.5, 0.999]
    weights = {name: term.weight for name, term in config.model.loss.terms.items()}
    assert weights == {
        "perceptual": 0.07,
        "style": 250,
        "tv": 0.001,
        "l1": 100,
        "hole_l1": extra.get("hole_l1_weight", 0),
    }
    assert config.model.scheduler.total_steps is None  # constant rates
    for key, value in extra.items():
        assert OmegaConf.select(config, key) == value
    assert (
        compose_train([*f"experiment={experiment}".split(), "adv_weight=0.5"]).model.adversarial.weight == 0.5
    )  # overrides win


# variant -> (the attention's patch sizes, adv_weight)
VARIANTS = {
    "full": ([1, 3], 0.3),
    "no_adv": ([1, 3], 0.0),
    "single_scale": ([3], 0.3),
    "no_attention_no_adv": (None, 0.0),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_sets_its_attention_and_adversarial_weight_and_nothing_else(variant):
    assert group_options("variant") == sorted(VARIANTS)
    patch_sizes, adv = VARIANTS[variant]
    for preset in ([], ["experiment=celeba"]):  # with and without an adversarial loss to begin with
        config = compose_train([*preset, f"variant={variant}"])
        attention = config.model.generator.attention
        assert (None if attention is None else list(attention.patch_sizes)) == patch_sizes
        assert config.adv_weight == config.model.adversarial.weight == adv
        changed, before = (OmegaConf.to_container(c) for c in (config, compose_train(preset)))
        for tree in (changed, before):
            del tree["adv_weight"], tree["model"]["generator"]["attention"]
        assert changed == before
    small = ["pretrained=false", "model.generator.base_channels=4", "model.generator.dilated_blocks=1"]
    module = instantiate(compose_train([f"variant={variant}", *small]).model)
    built = module.generator.attention
    assert (None if built is None else [b.patch_size for b in built.branches]) == patch_sizes
    assert (module.discriminator is None) == (module.adversarial is None) == (adv == 0)


@pytest.mark.parametrize("option, loss", [("non_saturating", NonSaturatingLoss), ("hinge", HingeLoss)])
def test_every_adversarial_option_builds_its_loss_at_adv_weight(option, loss):
    assert group_options("adversarial") == ["hinge", "non_saturating"]
    assert compose_train([]).model.adversarial._target_.endswith(".NonSaturatingLoss")  # the paper's
    small = ["pretrained=false", "model.generator.base_channels=4", "model.generator.dilated_blocks=1"]
    config = compose_train([f"adversarial={option}", "adv_weight=0.7", *small])
    assert config.model.adversarial._target_ == f"musical_inpaint.losses.{loss.__name__}"
    assert config.model.adversarial.weight == 0.7 and config.model.adversarial.r1_weight == 0
    module = instantiate(config.model)
    assert type(module.adversarial) is loss and module.adversarial.weight == 0.7 and module.discriminator is not None
    off = instantiate(compose_train([f"adversarial={option}", "adv_weight=0", *small]).model)
    assert off.adversarial is None and off.discriminator is None


def test_cpu_presets_keep_the_recipes_their_committed_runs_used():
    # photos_cpu gained the scale jitter and batch norms after experiments/ablation_photos ran: the
    # ablation keeps the recipe it was run with, so its command reproduces its committed results.
    photos = compose_train(["experiment=photos_cpu"])
    assert list(photos.dataset.train_load_size) == [64, 128] and photos.trainer.max_steps == 18000
    assert photos.model.generator.norm._target_ == "torch.nn.BatchNorm2d"
    ablation = compose_train(["experiment=ablation_photos"])
    assert ablation.dataset.train_load_size is None and ablation.trainer.max_steps == 800
    assert ablation.model.generator.norm._target_ == "torch.nn.InstanceNorm2d"
    assert ablation.model.loss.terms.hole_l1.weight == photos.model.loss.terms.hole_l1.weight == 100
    assert ablation.model.lr == photos.model.lr
    # a cosine to 0 at the last step, or by the guard where 18,000 steps do not fit it; the ablation has no guard
    for preset in (photos, ablation, compose_train(["experiment=quickstart"])):
        assert preset.model.scheduler.total_steps == preset.trainer.max_steps and preset.model.scheduler.clock == "time"
    assert photos.trainer.max_time and ablation.trainer.max_time is None


def test_every_trainer_argument_can_be_set_as_typed():
    built_by_train = {"self", "logger", "callbacks", "default_root_dir"}
    arguments = set(inspect.signature(L.Trainer.__init__).parameters) - built_by_train
    for trainer in group_options("trainer"):
        config = compose_train([f"trainer={trainer}"])
        assert arguments <= set(config.trainer), (trainer, sorted(arguments - set(config.trainer)))
    config = compose_train(["trainer.limit_val_batches=1", "trainer.max_time=00:00:01:00", "trainer.profiler=simple"])
    trainer = instantiate(config.trainer, accelerator="cpu", logger=False)
    timer = next(c for c in trainer.callbacks if type(c).__name__ == "Timer")
    assert (
        trainer.limit_val_batches == 1 and timer._duration == 60 and type(trainer.profiler).__name__ == "SimpleProfiler"
    )


def test_adv_weight_zero_builds_no_discriminator_and_one_optimiser(tmp_path):
    module = instantiate(tiny_config(tmp_path, "adv_weight=0").model)
    optimisers, schedulers = module.configure_optimizers()
    assert module.discriminator is None and len(optimisers) == len(schedulers) == 1
    module = instantiate(tiny_config(tmp_path, "adv_weight=0.3").model)
    optimisers, schedulers = module.configure_optimizers()
    assert module.discriminator is not None and len(optimisers) == len(schedulers) == 2


# ----------------------------------------------------------------------------------- training


@pytest.mark.parametrize("attention", ["multi_scale", "single_scale", "none"])
@pytest.mark.parametrize("adv_weight", [0.0, 0.3])
def test_fast_dev_run_for_every_variant(attention, adv_weight, tmp_path, fits):
    # debug=fdr: one training batch that updates every weight of the variant's networks, one
    # validation batch that gives the monitored metric, and no checkpoint.
    value = train(tiny_config(tmp_path, f"attention={attention}", f"adv_weight={adv_weight}", "debug=fdr"))
    (fit,) = fits
    assert fit.trainer.fast_dev_run and fit.trainer.global_step == 1
    assert value is not None and math.isfinite(value) and fit.trainer.callback_metrics["val/ssim"] > 0
    built = fit.module.generator.attention
    assert (None if built is None else [b.patch_size for b in built.branches]) == PATCH_SIZES.get(attention)
    networks = ["generator"] + (["discriminator"] if adv_weight else [])
    assert (fit.module.discriminator is None) == (adv_weight == 0)
    assert ("train/d_loss" in fit.trainer.callback_metrics) == (adv_weight > 0)
    for network in networks:
        # (the squeeze-excitation's few ReLU units of a 4-channel model may all be off for one
        # batch: their weights then get no gradient; the bias after them still moves)
        dead = ("attention.se.fc.0.", "attention.se.fc.2.weight")
        still = [name for name, moved in fit.moved(network).items() if not moved and not name.startswith(dead)]
        assert not still and fit.moved(network), (network, still)
    assert not (tmp_path / "checkpoints").exists()


def test_bf16_mixed_precision_stays_finite(tmp_path, fits):
    config = tiny_config(tmp_path, "adv_weight=0.3", "trainer.precision=bf16-mixed", "trainer.max_steps=4")
    train(config)
    (fit,) = fits
    assert fit.trainer.precision == "bf16-mixed" and all(fit.moved("discriminator").values())
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert all(torch.isfinite(v).all() for v in checkpoint["state_dict"].values() if v.is_floating_point())


def test_hinge_loss_with_an_r1_penalty_trains(tmp_path):
    train(tiny_config(tmp_path, "adv_weight=0.3", "adversarial=hinge", "model.adversarial.r1_weight=10"))
    rows = list(csv.DictReader(open(tmp_path / "csv" / "metrics.csv")))
    r1 = [float(r["train/r1"]) for r in rows if r.get("train/r1")]
    d_loss = [float(r["train/d_loss"]) for r in rows if r.get("train/d_loss")]
    assert len(r1) == len(d_loss) == 4 and all(math.isfinite(v) and v >= 0 for v in r1 + d_loss)


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    """The tiny 4-step run without a discriminator, validated at steps 2 and 4 (read-only)."""
    return train_run(tmp_path_factory.mktemp("plain_run"), "adv_weight=0")


def test_a_run_folder_holds_config_logs_checkpoints_and_images(adversarial_run):
    folder, value = adversarial_run.folder, adversarial_run.value
    assert isinstance(value, float) and 0 < value <= 100  # the monitored metric: the quickstart's val/hole_l1_pct
    assert (folder / "config.yaml").is_file() and "adv_weight: 0.3" in (folder / "config.yaml").read_text()
    checkpoints = sorted(p.name for p in (folder / "checkpoints").iterdir())
    assert "last.ckpt" in checkpoints and any(name.startswith("best-") for name in checkpoints)
    assert [p.suffix for p in (folder / "images").iterdir()] == [".png", ".png"]  # a panel per validation
    columns = set(adversarial_run.metrics()[0])
    for name in (
        "train/d_loss",
        "train/g_total",
        "train/g_style",
        "train/g_perceptual",
        "train/g_adversarial",
        "train/g_tv",
        "train/g_l1",
        "val/ssim",
        "val/psnr",
        "val/l1_pct",
        "val/hole_l1_pct",
    ):
        assert name in columns, name
    checkpoint = torch.load(adversarial_run.last, weights_only=False)
    assert checkpoint["global_step"] == 4 and len(checkpoint["optimizer_states"]) == 2
    assert any(k.startswith("generator.") for k in checkpoint["state_dict"])
    assert any(k.startswith("discriminator.") for k in checkpoint["state_dict"])
    assert checkpoint["run_config"]["adv_weight"] == 0.3  # the checkpoint describes itself


@pytest.mark.parametrize("run", ["adversarial_run", "plain_run"])
def test_every_step_number_counts_batches_with_or_without_a_discriminator(request, run):
    # Both runs: trainer.max_steps=4, trainer.val_check_interval=2 (TINY).
    run = request.getfixturevalue(run)
    checkpoint = torch.load(run.last, weights_only=False)
    assert (len(checkpoint["optimizer_states"]) == 2) == (checkpoint["run_config"]["adv_weight"] > 0)
    batches = checkpoint["loops"]["fit_loop"]["epoch_loop.batch_progress"]["total"]["completed"]
    assert batches == 4 and checkpoint["global_step"] == 4  # max_steps=4 trained 4 batches
    rows = run.metrics()
    assert [int(r["step"]) for r in rows if r.get("train/g_total")] == [1, 2, 3, 4]
    assert [int(r["step"]) for r in rows if r.get("val/hole_l1_pct")] == [2, 4]
    assert sorted(p.name for p in (run.folder / "images").iterdir()) == ["val_step00000002.png", "val_step00000004.png"]
    assert [p.name for p in (run.folder / "checkpoints").glob("best-*")][0].endswith(
        ("step00000002.ckpt", "step00000004.ckpt")
    )


@pytest.mark.parametrize("limit", ["trainer.max_steps=5", "trainer.max_epochs=2"])
def test_a_run_ends_with_a_validation_of_its_last_weights(tmp_path, limit):
    # 8 images at batch 2: 4 batches an epoch; validation every 2 batches, and after the last one.
    train(tiny_config(tmp_path, "adv_weight=0", "trainer.max_steps=-1", "trainer.max_epochs=-1", limit))
    rows = list(csv.DictReader(open(tmp_path / "csv" / "metrics.csv")))
    steps = [int(r["step"]) for r in rows if r.get("val/hole_l1_pct")]
    assert steps == ([2, 4, 5] if "max_steps" in limit else [2, 4, 6, 8])
    assert (tmp_path / "images" / f"val_step{steps[-1]:08d}.png").is_file()


def test_resume_continues_exactly(tmp_path):
    # 8 training images at batch 2 = 4 batches an epoch; without a discriminator one batch is one step.
    straight = tmp_path / "straight"
    train(tiny_config(straight, "adv_weight=0", "trainer.max_steps=8", "trainer.val_check_interval=4"))
    first = tmp_path / "first"
    train(tiny_config(first, "adv_weight=0", "trainer.max_steps=4", "trainer.val_check_interval=4"))
    resumed = tmp_path / "resumed"
    train(
        tiny_config(
            resumed,
            "adv_weight=0",
            "trainer.max_steps=8",
            "trainer.val_check_interval=4",
            f"ckpt_path={first / 'checkpoints' / 'last.ckpt'}",
        )
    )
    load = lambda folder: torch.load(folder / "checkpoints" / "last.ckpt", weights_only=False)
    a, b = load(straight), load(resumed)
    assert a["global_step"] == b["global_step"] == 8
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][key], value, msg=key)
    torch.testing.assert_close(b["optimizer_states"][0]["state"], a["optimizer_states"][0]["state"])
    # The time axis continues: the resumed run's minutes start from the first run's.
    before = load(first)["train_minutes"]
    minutes = [
        float(r["time/train_minutes"])
        for r in csv.DictReader(open(resumed / "csv" / "metrics.csv"))
        if r.get("time/train_minutes")
    ]
    assert before > 0 and minutes and min(minutes) > before and b["train_minutes"] >= max(minutes)


def test_init_from_starts_a_new_run_from_a_checkpoints_weights(tmp_path):
    first = tmp_path / "first"
    train(tiny_config(first, "adv_weight=0.3", "trainer.max_steps=2"))
    trained = torch.load(first / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    # Both networks start from the first run's weights, before any step.
    config = tiny_config(tmp_path / "unused", "adv_weight=0.3")
    module = instantiate(config.model)
    start_from(module, str(first), *read_init(str(first)), OmegaConf.to_container(config, resolve=True))
    for key, value in module.state_dict().items():
        if key.startswith(("generator.", "discriminator.")):
            torch.testing.assert_close(value, trained[key], msg=key)
    # A second phase at twice the size, without a discriminator, from step 0 with a fresh Adam:
    # at a learning rate of 0 it ends with the first run's generator exactly.
    second = tmp_path / "second"
    train(
        tiny_config(second, "adv_weight=0", "crop_size=64", "model.lr=0", "trainer.max_steps=2", f"init_from={first}")
    )
    checkpoint = torch.load(second / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 2 and checkpoint["run_config"]["init_from"] == str(first)
    assert len(checkpoint["optimizer_states"]) == 1 and checkpoint["optimizer_states"][0]["state"][0]["step"] == 2
    for key, value in checkpoint["state_dict"].items():
        if key.startswith("generator."):
            torch.testing.assert_close(value, trained[key], msg=key)
    # Resuming the second run continues its own weights, even once the first run is gone.
    shutil.rmtree(first)
    train(
        tiny_config(
            second,
            "adv_weight=0",
            "crop_size=64",
            "model.lr=0",
            "trainer.max_steps=4",
            f"init_from={first}",
            f"ckpt_path={second / 'checkpoints' / 'last.ckpt'}",
        )
    )
    assert torch.load(second / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4


def test_init_from_names_what_does_not_fit(tmp_path):
    first = tmp_path / "first"
    train(tiny_config(first, "adv_weight=0", "trainer.max_steps=1"))
    with pytest.raises(ConfigError, match=r"init_from=.*nowhere: no checkpoint at .*nowhere \(expected"):
        train(tiny_config(tmp_path / "a", f"init_from={first / 'nowhere'}"))
    (tmp_path / "notes.ckpt").write_text("not a checkpoint")
    with pytest.raises(ConfigError, match=r"init_from=.*notes.ckpt: cannot read checkpoint .*notes.ckpt"):
        train(tiny_config(tmp_path / "c", f"init_from={tmp_path / 'notes.ckpt'}"))
    for override, differs in (
        ("model.generator.base_channels=8", "model.generator.base_channels is 4 there, 8 here"),
        ("model.generator.dilated_blocks=2", "model.generator.dilated_blocks is 1 there, 2 here"),
    ):
        with pytest.raises(
            ConfigError, match=rf"init_from=.*first: the generator of .* does not fit this run's \({differs}\)"
        ):
            train(tiny_config(tmp_path / "b", override, f"init_from={first}"))
    # A checkpoint of an older version that used a removed option is refused, naming it.
    old = torch.load(first / "checkpoints" / "last.ckpt", weights_only=True)
    old["run_config"]["model"]["generator"]["hole_fill"] = "harmonic"
    torch.save(old, tmp_path / "old.ckpt")
    with pytest.raises(
        ConfigError,
        match=r"init_from=.*old.ckpt: .*model.generator.hole_fill=harmonic: this option was "
        r"removed after commit",
    ):
        train(tiny_config(tmp_path / "b", f"init_from={tmp_path / 'old.ckpt'}"))
    assert not (tmp_path / "b" / "checkpoints").exists()


def test_every_run_reports_telea_on_its_validation_images(plain_run, tmp_path):
    config = tiny_config(tmp_path, "adv_weight=0")  # plain_run's: its data and masks
    rows = [r for r in plain_run.metrics() if r.get("val/hole_l1_pct")]
    assert len(rows) == 2  # steps 2 and 4: Telea computed once, logged beside both
    assert rows[0]["val/telea_hole_l1_pct"] == rows[1]["val/telea_hole_l1_pct"] and "time/train_minutes" in rows[0]
    # The same value as Telea run directly on the same validation images and masks.
    datamodule = instantiate(config.dataset)
    datamodule.setup("fit")
    batches = list(datamodule.val_dataloader())
    image, mask = torch.cat([b["image"] for b in batches]), torch.cat([b["mask"] for b in batches])
    expected = paper_metrics(fill_with("telea", image, mask), image, mask)["hole_l1_pct"].mean()
    assert float(rows[0]["val/telea_hole_l1_pct"]) == pytest.approx(float(expected), rel=1e-6)
    assert "final validation hole L1" in plain_run.log and "telea on the same images" in plain_run.log
    assert "data: 8 train, 2 val" in plain_run.log  # the split sizes, said at the start


@pytest.mark.parametrize("native", [False, True])
def test_bfloat16_on_a_cpu_that_emulates_it_is_warned_about(tmp_path, caplog, monkeypatch, native):
    """On a CPU without oneDNN's bfloat16 kernels (AVX2 only) autocast's bfloat16 was measured 15x
    slower than float32 (benchmarks/README.md): a run there says so at its start."""
    monkeypatch.setattr("musical_inpaint.training.hardware.cpu_has_bfloat16_kernels", lambda: native)
    with caplog.at_level("WARNING"):
        train(
            tiny_config(
                tmp_path,
                "adv_weight=0",
                "style_weight=0",
                "perceptual_weight=0",
                "trainer.max_steps=1",
                "trainer.precision=bf16-mixed",
                "~callbacks.classical_floor",
            )
        )
    warned = "trainer.precision=bf16-mixed on a CPU without bfloat16 kernels" in caplog.text
    assert warned != native and (native or "trainer.precision=32-true is the fast choice" in caplog.text)


def todays_lr_factor(step, warmup_steps, schedule, max_steps, clock="steps", time_share=0.0):
    """The learning rates' multiplier as MusicalInpainting.lr_factor computed it before the schedules
    were torch schedulers (commit 9e88cef), written out."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, max_steps - warmup_steps)
    if clock == "time":
        progress = max(progress, time_share)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
@pytest.mark.parametrize("warmup", [0, 1, 3, 12])
@pytest.mark.parametrize("clock", ["steps", "time"])
def test_schedules_give_the_rates_of_todays_formula_exactly(schedule, warmup, clock):
    config = compose_train(
        [f"lr_schedule={schedule}", f"model.scheduler.warmup_steps={warmup}", "trainer.max_steps=10"]
        + ([f"model.scheduler.clock={clock}"] if schedule == "cosine" else [])
    )
    lr = 3e-4
    optimiser = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=lr)
    scheduler = instantiate(config.model.scheduler)(optimiser)
    shares = [0.0, 0.05, 0.5, 0.31, 0.9, 1.0, 1.3]  # the time limit's share at each step (any order)
    for step in range(16):
        if step:
            optimiser.step()
            scheduler.time_share = shares[step % len(shares)]
            scheduler.step()
        expected = lr * todays_lr_factor(step, warmup, schedule, 10, clock, shares[step % len(shares)] if step else 0.0)
        assert optimiser.param_groups[0]["lr"] == expected, step  # bit for bit
    assert scheduler.state_dict() == {
        "last_epoch": 15,
        "_step_count": 16,
        "_last_lr": [optimiser.param_groups[0]["lr"]],
    }


class _Rates(Callback):
    """The learning rate each optimiser steps with, at each generator step."""

    def __init__(self):
        self.rates = []

    def on_before_optimizer_step(self, trainer, module, optimizer):
        self.rates.append((trainer.global_step, optimizer.param_groups[0]["lr"]))


class _StepClock(Timer):
    """Lightning's Timer on a clock that advances `seconds` per generator step, whatever the machine."""

    def __init__(self, duration, seconds):
        super().__init__(duration={"seconds": duration})
        self.seconds = seconds

    def on_fit_start(self, trainer, *args, **kwargs):
        self.trainer = trainer
        super().on_fit_start(trainer, *args, **kwargs)

    def time_elapsed(self, stage="train"):
        return self.seconds * self.trainer.global_step if stage == "train" else 0.0


def test_time_clock_decays_by_the_time_limit_whichever_limit_comes_first(tmp_path):
    """model.scheduler.clock=time: the cosine's progress is the larger of the steps' and the time
    limit's share, so that a run stopped by trainer.max_time ends with the rate near 0, not half-way
    down; each step's rates are today's formula at the share of the time limit spent as it starts."""
    config = tiny_config(
        tmp_path,
        "adv_weight=0.3",
        "lr_schedule=cosine",
        "model.scheduler.clock=time",
        "model.scheduler.warmup_steps=2",
        "trainer.max_steps=1000",
        "style_weight=0",
        "perceptual_weight=0",
        "~callbacks.classical_floor",
        "dataset.train_size=24",
    )
    module, rates = instantiate(config.model), _Rates()
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=1000,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        limit_val_batches=0,
        callbacks=[_StepClock(100, 10.0), rates],
    )
    trainer.fit(module, datamodule=instantiate(config.dataset))
    assert trainer.global_step == 10  # stopped by the clock: 10 steps of 10 seconds
    lr = config.model.lr
    expected = [(s, lr * todays_lr_factor(s, 2, "cosine", 1000, "time", s / 10)) for s in range(10) for _ in "gd"]
    assert sorted(rates.rates) == sorted(expected) and rates.rates[-1][1] < 0.03 * lr
    # Without a time limit the time clock is the step clock (`trainer.max_time=null` on a preset that uses it).
    unguarded, rates = instantiate(config.model), _Rates()
    L.Trainer(
        accelerator="cpu",
        max_steps=4,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        limit_val_batches=0,
        callbacks=[rates],
    ).fit(unguarded, datamodule=instantiate(config.dataset))
    assert unguarded.time_share() == 0.0
    assert rates.rates[::2] == [(s, lr * todays_lr_factor(s, 2, "cosine", 1000)) for s in range(4)]


def test_resume_keeps_the_schedules_position(tmp_path):
    # A cosine to 0 at step 8, stopped at step 4 and resumed, against the run straight through.
    common = (
        "adv_weight=0",
        "style_weight=0",
        "perceptual_weight=0",
        "lr_schedule=cosine",
        "model.scheduler.clock=steps",
        "model.scheduler.warmup_steps=2",
        "model.scheduler.total_steps=8",
        "trainer.val_check_interval=4",
    )
    straight, first = tmp_path / "straight", tmp_path / "first"
    train(tiny_config(straight, *common, "trainer.max_steps=8"))
    train(tiny_config(first, *common, "trainer.max_steps=4"))
    load = lambda folder: torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    assert load(first)["global_step"] == 4 and load(first)["lr_schedulers"][0]["last_epoch"] == 3
    train(tiny_config(first, *common, "trainer.max_steps=8", f"ckpt_path={first / 'checkpoints' / 'last.ckpt'}"))
    a, b = load(straight), load(first)
    assert a["global_step"] == b["global_step"] == 8 and a["lr_schedulers"] == b["lr_schedulers"]
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][key], value, rtol=0, atol=0, msg=key)


OLD_RUN = REPO / "tests" / "fixtures" / "run_before_schedulers"


def test_a_checkpoint_from_before_the_schedulers_resumes_at_its_step(tmp_path, recwarn):
    # Its cosine over 8 steps after 2 of warm-up stopped at step 4 (tests/fixtures/run_before_schedulers/README.md).
    old = torch.load(OLD_RUN / "last.ckpt", weights_only=True)
    assert old["global_step"] == 4 and old["lr_schedulers"] == []
    config = tiny_config(
        tmp_path,
        "adv_weight=0",
        "style_weight=0",
        "perceptual_weight=0",
        "lr_schedule=cosine",
        "model.scheduler.clock=steps",
        "model.scheduler.warmup_steps=2",
        "trainer.max_steps=8",
        "trainer.max_epochs=2",
    )
    module, rates = instantiate(config.model), _Rates()
    callbacks = [instantiate(c) for c in config.callbacks.values()] + [rates]
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=8,
        logger=False,
        enable_progress_bar=False,
        limit_val_batches=0,
        callbacks=callbacks,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, datamodule=instantiate(config.dataset), ckpt_path=OLD_RUN / "last.ckpt", weights_only=True)
    lr = config.model.lr
    assert rates.rates == [(s, lr * todays_lr_factor(s, 2, "cosine", 8)) for s in range(4, 8)]
    resumed = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert resumed["global_step"] == 8 and resumed["lr_schedulers"][0]["last_epoch"] == 7
    assert not [w for w in recwarn if "lr_scheduler.step()" in str(w.message)]  # stepped as torch expects


def test_an_old_run_configuration_is_upgraded_to_todays_loss_and_schedule():
    model = lambda config: OmegaConf.to_container(OmegaConf.create(config).model, resolve=True)  # resolved
    # The same run today: its overrides (tests/fixtures/run_before_schedulers/README.md) as typed now.
    today = model(
        compose_train(
            [
                "experiment=quickstart",
                "style_weight=0",
                "perceptual_weight=0",
                "adv_weight=0",
                "crop_size=32",
                "trainer.max_steps=8",
                "lr_schedule=cosine",
                "model.scheduler.clock=steps",
                "model.scheduler.warmup_steps=2",
            ]
        )
    )
    stored = yaml.safe_load((OLD_RUN / "config.yaml").read_text())  # its .hydra/config.yaml, unresolved
    checkpoint = torch.load(OLD_RUN / "last.ckpt", weights_only=True)["run_config"]  # resolved
    for old in (stored, checkpoint):
        upgraded = run_config(old)  # every upgrade: the generator's old strings too
        assert upgrade_run_config(old)["model"]["scheduler"] == upgraded["model"]["scheduler"]
        assert "lr_schedule" in old["model"] and not {"lr_schedule", "lr_clock", "warmup_steps"} & set(
            upgraded["model"]
        )
        assert old["model"]["loss"].get("style") is not None  # the argument is left as it was
        assert model(upgraded)["loss"] == today["loss"] and model(upgraded)["scheduler"] == today["scheduler"]
        assert upgrade_run_config(upgraded) == upgraded  # today's form stays as it is
        module = instantiate(OmegaConf.create(upgraded).model)
        assert list(module.loss.terms) == ["tv", "l1", "hole_l1"] and module.scheduler.keywords["total_steps"] == 8
    # A real run of the photos_cpu recipe, from before the time clock: a cosine by steps.
    photos = upgrade_run_config(
        yaml.safe_load((REPO / "experiments" / "photos_cpu" / "run" / "config.yaml").read_text())
    )
    recipe = model(compose_train(["experiment=photos_cpu", "model.scheduler.clock=steps"]))
    assert model(photos)["scheduler"] == recipe["scheduler"] and model(photos)["loss"] == recipe["loss"]
    # Older still: no schedule at all is the constant rate; an unknown one is refused.
    assert upgrade_run_config({"model": {"lr": 1e-3}})["model"]["scheduler"] == model(compose_train([]))["scheduler"]
    with pytest.raises(ValueError, match="unknown model.lr_schedule 'linear'"):
        upgrade_run_config({"model": {"lr_schedule": "linear"}})


@pytest.mark.parametrize(
    "overrides, message",
    [
        ("style_weight=-1", r"^style_weight=-1: must be a finite number >= 0 \(0 turns the term off\)$"),
        ("l1_weight=nan", r"^l1_weight=nan: must be a finite number >= 0"),
        ("adv_weight=-1", r"^adv_weight=-1: must be a finite number >= 0 \(0 turns the term off\)$"),
        (
            "adv_weight=0.3 model.adversarial.r1_weight=-5",
            r"^model.adversarial.r1_weight=-5: must be a finite number >= 0",
        ),
        (
            "+model.loss.terms.sharpness={weight:-1,term:{_target_:tests.plugins.losses.sharpness,_partial_:true}}",
            r"^model.loss.terms.sharpness.weight=-1: must be a finite number >= 0",
        ),
        ("lr_schedule=cosine model.scheduler.clock=wall", r"^model.scheduler.clock=wall: must be one of steps, time$"),
        ("model.scheduler.warmup_steps=-2", r"^model.scheduler.warmup_steps=-2: must be an integer >= 0$"),
        (
            "lr_schedule=cosine trainer.max_steps=-1",
            r"^lr_schedule=cosine decays to 0 at trainer.max_steps .* set trainer",
        ),
    ],
)
def test_loss_and_schedule_options_are_checked_when_the_model_is_built(tmp_path, overrides, message):
    config = tiny_config(tmp_path, *overrides.split())
    with pytest.raises(Exception) as raised:
        instantiate(config.model)
    error = user_error(raised.value, config)  # named as typed: interpolated shortcuts by their own name
    assert isinstance(error, ConfigError) and re.search(message, str(error)), raised.value


def test_a_schedule_that_does_not_exist_is_refused_with_the_options(tmp_path):
    with pytest.raises(
        Exception,
        match=r"Could not find 'lr_schedule/linear'\n\nAvailable options in 'lr_schedule':\n\tconstant\n\tcosine\n",
    ):
        tiny_config(tmp_path, "lr_schedule=linear")


def test_a_loss_term_from_outside_the_package_trains_from_configuration_alone(tmp_path):
    sharpness = "+model.loss.terms.sharpness={weight: 2, term: {_target_: tests.plugins.losses.sharpness, _partial_: true, scale: 3}}"
    train(
        tiny_config(tmp_path, "adv_weight=0", "style_weight=0", "perceptual_weight=0", "trainer.max_steps=2", sharpness)
    )
    rows = [r for r in csv.DictReader(open(tmp_path / "csv" / "metrics.csv")) if r.get("train/g_total")]
    assert len(rows) == 2
    for row in rows:
        weighted = {"tv": 0.001, "l1": 10.0, "hole_l1": 100.0, "sharpness": 2.0}
        total = sum(weight * float(row[f"train/g_{name}"]) for name, weight in weighted.items())
        assert float(row["train/g_sharpness"]) > 0 and float(row["train/g_total"]) == pytest.approx(total, rel=1e-5)


def test_training_steps_are_the_objective_written_out(tmp_path):
    """Four batches of the GAN loop through Lightning against the same computation in plain torch:
    a discriminator step on real and detached generated images, then a generator step on paper
    eq. 7 through the updated discriminator, both with clipped gradients at today's rates of a
    cosine with a warm-up; the losses of every step and the weights after the last agree bit for
    bit. (The R1 penalty and the hinge loss are checked against their closed forms in test_losses.py.)"""
    config = tiny_config(
        tmp_path,
        "adv_weight=0.3",
        "model.grad_clip=0.5",
        "lr_schedule=cosine",
        "model.scheduler.clock=steps",
        "model.scheduler.warmup_steps=2",
        "trainer.max_steps=4",
    )
    torch.manual_seed(0)
    module = instantiate(config.model)
    generator, discriminator, vgg = (
        copy.deepcopy(module.generator),
        copy.deepcopy(module.discriminator),
        module.loss.vgg,
    )
    images = torch.rand(8, 3, 32, 32) * 2 - 1
    masks = torch.zeros(8, 1, 32, 32)
    masks[:, :, 8:24, 4:20] = 1
    batches = [dict(image=i, mask=m) for i, m in zip(images, masks)]

    class Losses(Callback):
        def __init__(self):
            self.steps = []

        def on_train_batch_end(self, trainer, *args):
            self.steps.append({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")})

    logged = Losses()
    L.Trainer(
        accelerator="cpu",
        max_steps=4,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        limit_val_batches=0,
        callbacks=[logged],
    ).fit(module, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=2, shuffle=False))

    adam = lambda network: torch.optim.Adam(network.parameters(), lr=config.model.lr, betas=(0.5, 0.999))
    g_optimiser, d_optimiser = adam(generator), adam(discriminator)
    generator.train(), discriminator.train()
    bce = F.binary_cross_entropy_with_logits
    w = {"perceptual": 0.07, "style": 250.0, "tv": 0.001, "l1": 10.0, "hole_l1": 100.0, "adversarial": 0.3}
    for step in range(4):
        image, mask = images[2 * step : 2 * step + 2], masks[2 * step : 2 * step + 2]
        for optimiser in (g_optimiser, d_optimiser):
            optimiser.param_groups[0]["lr"] = config.model.lr * todays_lr_factor(step, 2, "cosine", 4)
        prediction = generator(image, mask)
        # the discriminator's step (the generator frozen, as Lightning's toggle_optimizer does)
        generator.requires_grad_(False)
        real_logits, fake_logits = discriminator(image), discriminator(prediction.detach())
        d_loss = 0.5 * (
            bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))
        )
        d_optimiser.zero_grad(set_to_none=True)
        d_loss.backward()
        torch.nn.utils.clip_grad_norm_(discriminator.parameters(), 0.5)
        d_optimiser.step()
        generator.requires_grad_(True)
        # the generator's step, paper eq. 7 (the composite's VGG16 maps with the raw output's)
        discriminator.requires_grad_(False)
        with torch.no_grad():
            target_maps = vgg(image)
        maps = vgg(torch.cat([prediction, composite(prediction, image, mask)]))
        raw_maps, composite_maps = zip(*(m.chunk(2) for m in maps))
        grams = [gram_matrix(m) for m in target_maps]
        terms = {
            "perceptual": sum(F.l1_loss(p, t) for p, t in zip(raw_maps, target_maps))
            + sum(F.l1_loss(p, t) for p, t in zip(composite_maps, target_maps)),
            "style": sum(F.l1_loss(gram_matrix(p), g) for p, g in zip(raw_maps, grams))
            + sum(F.l1_loss(gram_matrix(p), g) for p, g in zip(composite_maps, grams)),
            "tv": (prediction[..., 1:, :] - prediction[..., :-1, :]).abs().mean()
            + (prediction[..., 1:] - prediction[..., :-1]).abs().mean(),
            "l1": F.l1_loss(prediction, image),
            "hole_l1": ((prediction - image).abs() * mask).mean(),
        }
        fake_logits = discriminator(prediction)
        terms["adversarial"] = bce(fake_logits, torch.ones_like(fake_logits))
        total = torch.zeros(())
        for name, value in terms.items():
            total = total + w[name] * value
        g_optimiser.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(generator.parameters(), 0.5)
        g_optimiser.step()
        discriminator.requires_grad_(True)
        expected = {"train/d_loss": d_loss, "train/g_total": total, **{f"train/g_{k}": v for k, v in terms.items()}}
        assert logged.steps[step] == {name: float(value.detach()) for name, value in expected.items()}, step
    for ours, theirs in ((module.generator, generator), (module.discriminator, discriminator)):
        for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


class _PoisonedData(L.LightningDataModule):
    """Synthetic-like batches whose third training batch holds a NaN image."""

    def train_dataloader(self):
        images = torch.rand(8, 3, 32, 32) * 2 - 1
        images[4] = float("nan")
        mask = torch.zeros(8, 1, 32, 32)
        mask[..., 8:24, 8:24] = 1
        return torch.utils.data.DataLoader(
            [dict(image=i, mask=m) for i, m in zip(images, mask)], batch_size=2, shuffle=False
        )


@pytest.mark.parametrize(
    "fast_step, message",
    [
        (False, r"non-finite loss at global step 2 .*l1=nan"),
        # checked on the device, read before the next checkpoint is written
        (True, r"non-finite loss or gradient at global step 2 \(found at step 10\): its update.*was skipped"),
    ],
)
def test_non_finite_loss_stops_with_a_clear_message_and_an_intact_checkpoint(tmp_path, fast_step, message):
    config = tiny_config(tmp_path, "adv_weight=0", "trainer.max_steps=10", f"model.fast_step={fast_step}")
    module = instantiate(config.model)
    callbacks = [instantiate(c) for c in config.callbacks.values()]
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=10,
        callbacks=callbacks,
        logger=False,
        enable_progress_bar=False,
        default_root_dir=tmp_path,
        limit_val_batches=0,
    )
    with pytest.raises(NonFiniteLossError, match=message):
        trainer.fit(module, datamodule=_PoisonedData())
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert checkpoint["global_step"] == (10 if fast_step else 2)  # the bad step skipped, the others applied
    assert all(torch.isfinite(v).all() for v in checkpoint["state_dict"].values() if v.is_floating_point())


# --------------------------------------------------------------------------- the command line


def run_cli(args, cwd, env=None, timeout=600):
    environment = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", **(env or {}))
    result = subprocess.run(
        [sys.executable, "-m", "musical_inpaint.train", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.mark.parametrize(
    "override, message",
    [
        ("crop_size=60", r"crop_size=60: must be a multiple of 16 and at least 32 .* e\.g\. crop_size=64"),
        ("crop_size=16", r"crop_size=16: must be a multiple of 16 and at least 32"),
        ("ckpt_path=/no/such.ckpt", r"ckpt_path=/no/such.ckpt: no such checkpoint file"),
        ("trainer.gradient_clip_val=1", r"trainer.gradient_clip_val=1: .* use model.grad_clip"),
        ("trainer.accumulate_grad_batches=2", r"trainer.accumulate_grad_batches=2: .* raise dataset.batch_size"),
        ("dataset=folder dataset.root=x dataset.cache=yes", r"dataset.cache=yes: must be true or false"),
        ("monitor=val/hole_l1", r"monitor=val/hole_l1: the L1 metrics carry their unit .* monitor=val/hole_l1_pct"),
        ("+dataset.train_load_size=[80,60]", r"dataset.train_load_size=\[80, 60\]: must be null, a short side"),
        ("+dataset.train_load_size=[20,60]", r"dataset.train_load_size=\[20, 60\]: the short side .* crop_size=32"),
        ("+dataset.train_load_size=true", r"dataset.train_load_size=true: must be null, a short side"),
        ("dataset=folder dataset.root=x dataset.flip=yes", r"dataset.flip=yes: must be true or false"),
        ("dataset.train_size=0", r"dataset.train_size=0: must be an integer >= 1 \(the number of training images\)$"),
        ("dataset.train_size=null", r"dataset.train_size=null: must be an integer >= 1"),
        (
            "dataset=folder dataset.root=x dataset.train_size=half",
            r"dataset.train_size=half: .* or null \(all of them\)",
        ),
    ],
)
def test_config_errors_name_the_option_as_typed_before_anything_is_built(tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        train(tiny_config(tmp_path, *override.split()))
    assert not (tmp_path / "checkpoints").exists()


def test_a_failed_start_leaves_no_checkpoint_and_a_failed_note(tmp_path):
    missing = tmp_path / "my_photos"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "musical_inpaint.train",
            *TINY,
            "dataset=folder",
            f"dataset.root={missing}",
            "~dataset.train_size",
            "hydra.run.dir=run",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    output = result.stdout + result.stderr
    assert f"{missing} is not a directory" in output and "Traceback" not in output
    run = tmp_path / "run"
    assert not list(run.rglob("*.ckpt"))
    assert "no training step ran" in (run / "FAILED").read_text()


def test_debug_quick_checks_the_whole_loop_in_seconds(tmp_path):
    run_cli(["debug=quick", "hydra.run.dir=run", "dataset.train_size=8"], cwd=tmp_path)
    rows = [r for r in csv.DictReader(open(tmp_path / "run" / "csv" / "metrics.csv")) if r.get("val/hole_l1_pct")]
    # 4 batches (steps count batches, discriminator or not), validation every 2.
    assert len(rows) == 2 and (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()


def test_multirun_gives_each_job_its_folder_and_survives_a_failed_job(tmp_path):
    # dilation=0 is invalid: that job fails, the other one still trains.
    run_cli(
        ["-m", *TINY, "trainer.max_steps=2", "model.generator.dilation=0,2", f"hydra.sweep.dir={tmp_path}"],
        cwd=tmp_path,
    )
    jobs = sorted(p for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [p.name for p in jobs] == ["0", "1"]
    assert "model.generator.dilation=2" in (jobs[1] / ".hydra" / "overrides.yaml").read_text()
    assert not (jobs[0] / "checkpoints").exists() and "dilation" in (jobs[0] / "train.log").read_text()
    assert (jobs[1] / "checkpoints" / "last.ckpt").is_file()
    # The sweep ends with one table of its jobs; the same command builds it for any run folders.
    rows = list(csv.DictReader(open(tmp_path / "runs.csv")))
    assert [(r["status"], r["overrides"].split()[-1]) for r in rows] == [
        ("failed", "model.generator.dilation=0"),
        ("validated", "model.generator.dilation=2"),
    ]
    assert rows[1]["monitor"] == "val/hole_l1_pct" and float(rows[1]["final"]) > 0 and rows[1]["Telea hole L1 %"]
    assert "no training step ran" in (jobs[0] / "FAILED").read_text()
    assert runs_table_main([str(jobs[1]), str(jobs[0])]) == 0
    assert runs_table_main([str(tmp_path), "--output", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "runs.md").read_text() == (tmp_path / "runs.md").read_text()


@pytest.mark.slow
def test_multirun_through_the_submitit_local_launcher(tmp_path):
    run_cli(
        [
            "-m",
            "hydra/launcher=submitit_local",
            *TINY,
            "trainer.max_steps=2",
            "attention=none,single_scale",
            f"hydra.sweep.dir={tmp_path}",
        ],
        cwd=tmp_path,
    )
    for name in ("0", "1"):
        assert (tmp_path / name / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(tmp_path):
    # With the time clock: every step broadcasts rank 0's share of the time limit (one rate for all replicas).
    run_cli(
        TINY
        + [
            "trainer=ddp_sim",
            "adv_weight=0.3",
            "trainer.max_steps=2",
            "hydra.run.dir=run",
            "lr_schedule=cosine",
            "model.scheduler.clock=time",
            "trainer.max_time=00:00:10:00",
        ],
        cwd=tmp_path,
    )
    run = tmp_path / "run"
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    # 8 images on 2 ranks at batch 2: 2 batches per rank per epoch.
    assert checkpoint["global_step"] == 2
    rows = list(csv.DictReader(open(run / "csv" / "metrics.csv")))
    assert any(r["val/ssim"] for r in rows) and any(r["train/d_loss"] for r in rows)
    assert [p.name for p in (run / "images").iterdir()] == ["val_step00000002.png"]  # one validation
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # one run folder
    assert sorted(p.name for p in run.iterdir() if not p.name.startswith(".")) == [
        "checkpoints",
        "config.yaml",
        "csv",
        "images",
        "train.log",
        "train_ddp_process_1.log",
    ]  # a log per process


@pytest.mark.slow
def test_wandb_offline_writes_a_run_with_images_and_resume_continues_it(tmp_path):
    run_cli(TINY + ["logger=wandb", "hydra.run.dir=first", "attention=none"], cwd=tmp_path)
    runs = list((tmp_path / "first" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert list(runs[0].glob("files/media/images/val/*.png"))
    assert "attention: null" in (runs[0] / "files" / "config.yaml").read_text()  # the resolved config
    assert (tmp_path / "first" / "csv" / "metrics.csv").is_file()  # the CSV logger stays on
    run_id = runs[0].name.rsplit("-", 1)[-1]
    checkpoint = torch.load(tmp_path / "first" / "checkpoints" / "last.ckpt", weights_only=False)
    assert checkpoint["wandb_run_id"] == run_id
    # Resuming from the run folder: its own configuration (W&B included), the same W&B run.
    run_cli(["trainer.max_steps=6", f"ckpt_path={tmp_path / 'first'}"], cwd=tmp_path)
    resumed = list((tmp_path / "first" / "wandb").glob("offline-run-*"))
    assert [p.name.rsplit("-", 1)[-1] for p in resumed] == [run_id, run_id]


def test_the_csv_logger_continues_an_existing_metrics_file(tmp_path):
    from musical_inpaint.training.loggers import AppendingCSVLogger

    first = AppendingCSVLogger(tmp_path, name="csv", version="")
    first.log_metrics({"a": 1.0}, step=1)
    first.save()
    second = AppendingCSVLogger(tmp_path, name="csv", version="")
    second.log_metrics({"a": 2.0, "b": 3.0}, step=2)
    second.save()
    rows = list(csv.DictReader(open(tmp_path / "csv" / "metrics.csv")))
    assert [(r["step"], r["a"], r["b"]) for r in rows] == [("1", "1.0", ""), ("2", "2.0", "3.0")]


def test_resume_from_a_run_folder_keeps_its_configuration_folder_and_logs(tmp_path):
    # Run from another working directory than the repository's: the run folder is made there.
    run_cli(TINY + ["adv_weight=0", "hydra.run.dir=run"], cwd=tmp_path)
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file() and not (REPO / "run").exists()
    before = (tmp_path / "run" / "csv" / "metrics.csv").read_text()
    run_cli(["ckpt_path=run", "trainer.max_steps=6"], cwd=tmp_path)  # none of TINY typed again
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no second run folder
    after = (tmp_path / "run" / "csv" / "metrics.csv").read_text()
    steps = [int(r["step"]) for r in csv.DictReader(after.splitlines()) if r.get("val/hole_l1_pct")]
    assert after.startswith(before.splitlines()[0]) and steps == [2, 4, 6]  # the earlier rows kept
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 6
    assert (tmp_path / "run" / ".hydra" / "overrides.yaml").read_text().count("adv_weight=0") == 1  # the original
    # An architecture change is refused, naming the option, and nothing is written.
    result = subprocess.run(
        [sys.executable, "-m", "musical_inpaint.train", "ckpt_path=run", "model.generator.base_channels=8"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2 and "model.generator.base_channels=8: resuming" in result.stderr
    assert "Traceback" not in result.stderr and after == (tmp_path / "run" / "csv" / "metrics.csv").read_text()


def test_resume_arguments_edge_cases(tmp_path):
    from musical_inpaint.train import resume_arguments

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    torch.save(
        {"state_dict": {}, "run_config": {"seed": 0}, "global_step": 1, "optimizer_states": [], "loops": {}},
        run / "checkpoints" / "last.ckpt",
    )
    (run / ".hydra").mkdir()
    (run / ".hydra" / "config.yaml").write_text("model:\n  adversarial: {}\n  scheduler: null\nlogger:\n  csv: {}\n")
    args = resume_arguments([f"ckpt_path={run}", "trainer.max_steps=9"])
    assert args[:4] == ["--config-path", str((run / ".hydra").resolve()), "--config-name", "config"]
    assert resume_arguments(args) == args  # DDP's child processes re-run the rewritten command line
    with pytest.raises(ConfigError, match="not in a multirun"):
        resume_arguments(["-m", f"ckpt_path={run}"])
    with pytest.raises(ConfigError, match="attention=none: resuming"):
        resume_arguments([f"ckpt_path={run}", "attention=none"])
    # A run of an older version resumes from its configuration in today's form: metric names with
    # their unit, the generator's parts as nodes; one that used a removed option is refused.
    (run / ".hydra" / "config.yaml").write_text(
        "monitor: val/hole_l1\nmodel:\n  adversarial: {}\n  generator: {_target_: musical_inpaint.models.MusicalGenerator, "
        "norm: batch, downsamplings: 4}\n"
    )
    args = resume_arguments([f"ckpt_path={run}"])
    upgraded = yaml.safe_load((Path(args[1]) / "config.yaml").read_text())
    assert upgraded["monitor"] == "val/hole_l1_pct" and "downsamplings" not in upgraded["model"]["generator"]
    assert upgraded["model"]["generator"]["norm"] == {"_target_": "torch.nn.BatchNorm2d", "_partial_": True}
    (run / ".hydra" / "config.yaml").write_text("model:\n  adversarial: {}\ndataset: {rotate: true}\n")
    with pytest.raises(ConfigError, match="dataset.rotate=True: this option was removed after commit"):
        resume_arguments([f"ckpt_path={run}"])
    (run / ".hydra" / "config.yaml").write_text("model:\n  loss: {adversarial: 0.3}\n")
    with pytest.raises(ConfigError, match="older version"):
        resume_arguments([f"ckpt_path={run}"])
    assert resume_arguments(["trainer.max_steps=3"]) == ["trainer.max_steps=3"]


class RunsCode:
    """A pickled object that would run code when unpickled: what a malicious checkpoint holds."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize(
    "kind, reason",
    [
        ("pickle", "it holds Python objects that loading would have to run"),
        ("raw pickle", "it holds Python objects that loading would have to run"),
        ("truncated", "cannot read checkpoint"),
        ("another project's", "is not a musical-inpaint training checkpoint"),
        ("weights only", "holds weights but no training state"),
    ],
)
@pytest.mark.parametrize("option", ["ckpt_path", "init_from"])
def test_a_file_that_is_not_a_training_checkpoint_is_refused_in_one_line(checkpoint, tmp_path, kind, reason, option):
    import pickle

    path, marker = tmp_path / "given.ckpt", tmp_path / "code_ran"
    if kind == "pickle":
        torch.save({"state_dict": {}, "payload": RunsCode(marker)}, path)
    elif kind == "raw pickle":
        path.write_bytes(pickle.dumps({"state_dict": RunsCode(marker)}))
    elif kind == "truncated":
        path.write_bytes(checkpoint.read_bytes()[:5000])
    elif kind == "another project's":
        torch.save(
            {"state_dict": {"model.weight": torch.zeros(2)}, "global_step": 3, "optimizer_states": [], "loops": {}},
            path,
        )
    else:
        content = torch.load(checkpoint, weights_only=True)
        torch.save({"state_dict": content["state_dict"], "run_config": content["run_config"]}, path)
    if option == "init_from" and kind == "weights only":
        return  # weights are all init_from needs
    result = subprocess.run(
        [sys.executable, "-m", "musical_inpaint.train", *TINY, f"{option}={path}", "hydra.run.dir=run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    output = result.stdout + result.stderr  # a resumed run's command line is refused before Hydra logs anything
    lines = [line for line in output.splitlines() if str(path) in line]
    assert len(lines) == 1 and reason in lines[0] and f"{option}=" in lines[0], output[-2000:]
    assert "Traceback" not in result.stderr and not marker.exists()
    assert not list((tmp_path / "run").rglob("*.ckpt")) and not (tmp_path / "run" / "config.yaml").exists()


def test_a_removed_option_on_the_command_line_names_the_commit_that_had_it(tmp_path):
    from musical_inpaint.compat import REMOVED_AT, check_overrides

    for override, message in (
        ("model.generator.hole_fill=harmonic", f"removed after commit {REMOVED_AT}"),
        ("+dataset.rotate=true", f"removed after commit {REMOVED_AT}"),
        ("model.generator.norm=batch", "the norm is a config group now: norm=batch"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "musical_inpaint.train", override],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
        assert not list(tmp_path.iterdir())
    check_overrides(["norm=batch", "lr_schedule=cosine", "monitor=val/hole_l1_pct"])  # today's spellings pass


@pytest.mark.parametrize("warn_hours, level", [(0, "WARNING"), (2, "INFO")])
def test_a_cpu_run_says_how_long_it_would_take_after_its_first_steps(tmp_path, caplog, warn_hours, level):
    caplog.set_level("INFO", logger="musical_inpaint.training.hardware")
    train(
        tiny_config(
            tmp_path, "adv_weight=0", "trainer.max_steps=6", f"callbacks.run_time_estimate.warn_hours={warn_hours}"
        )
    )
    (record,) = [r for r in caplog.records if r.name == "musical_inpaint.training.hardware"]
    assert record.levelname == level and "the 6 steps configured would take about" in record.getMessage()
    assert ("experiment=photos_cpu" in record.getMessage()) == (level == "WARNING")
