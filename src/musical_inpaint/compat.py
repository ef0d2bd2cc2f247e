"""Every upgrade of what older versions wrote or accepted, in one place: checkpoints' and run
folders' configurations, options that were removed, and the names of metrics in logs and
evaluation files. Code elsewhere reads today's form only."""

from __future__ import annotations

# Options removed from the package because experiments/learning/ measured them to buy nothing,
# with the value that is today's behaviour. The last commit that had them, to rerun what used them:
REMOVED_AT = "9e88cef"
REMOVED_OPTIONS = {
    "model.generator.hole_fill": "zero",
    "model.generator.downsamplings": 4,
    "dataset.rotate": False,
    "dataset.permute_channels": False,
    "dataset.extra_train": [],
}
# Generator parts once named by a string, now Hydra nodes (conf/norm/, conf/model/musical.yaml);
# None: a choice that was removed.
_PART_NODES = {
    "norm": {
        "instance": {"_target_": "torch.nn.InstanceNorm2d", "_partial_": True, "affine": True},
        "batch": {"_target_": "torch.nn.BatchNorm2d", "_partial_": True},
        "layer": None,
    },
    "upsample": {
        "transposed": {
            "_target_": "torch.nn.ConvTranspose2d",
            "_partial_": True,
            "kernel_size": 4,
            "stride": 2,
            "padding": 1,
        },
        "resize": None,
    },
}

# Checkpoints written before attention became a config node named it by a string and passed its
# options to the generator.
_OLD_ATTENTION = {"multi_scale": [1, 3], "single_scale": [3], "none": None}
_OLD_ATTENTION_OPTIONS = ("propagate_size", "softmax_scale", "se_reduction", "max_scores")


def removed(option: str, value) -> ValueError:
    """The error for a configuration that used a removed option at another value than today's."""
    return ValueError(
        f"{option}={value}: this option was removed after commit {REMOVED_AT}, which measured it in "
        f"experiments/learning/ (git checkout {REMOVED_AT} to use it)"
    )


def generator_config(options: dict) -> dict:
    """A checkpoint's `model.generator` node in today's form: old string-named attention, norm and
    upsampling as Hydra nodes, options added since filled in with the layout the checkpoint has;
    a ValueError for one that used a removed option."""
    options = dict(options)
    if str(options.get("_target_", "")).endswith("MusicalGenerator"):
        for option in ("hole_fill", "downsamplings"):
            value = options.pop(option, REMOVED_OPTIONS[f"model.generator.{option}"])
            if value != REMOVED_OPTIONS[f"model.generator.{option}"]:
                raise removed(f"model.generator.{option}", value)
        for part, nodes in _PART_NODES.items():
            value = options.get(part, next(iter(nodes)))  # before the option: the paper's
            if isinstance(value, str):
                if nodes.get(value) is None:
                    raise removed(f"model.generator.{part}", value)
                options[part] = nodes[value]
    attention = options.get("attention")
    if isinstance(attention, str):
        if attention not in _OLD_ATTENTION:
            raise ValueError(f"unknown attention {attention!r} in the checkpoint's configuration")
        moved = {k: options.pop(k) for k in _OLD_ATTENTION_OPTIONS if k in options}
        patch_sizes = _OLD_ATTENTION[attention]
        options["attention"] = (
            None
            if patch_sizes is None
            else {
                "_target_": "musical_inpaint.models.MultiScaleAttention",
                "_partial_": True,
                "patch_sizes": patch_sizes,
                **moved,
            }
        )
    return options


def run_config(config: dict) -> dict:
    """A run's resolved configuration (a checkpoint's `run_config`, a run folder's config.yaml) in
    today's form, or a ValueError naming the removed option it used."""
    config = upgrade_run_config(config)
    model = config.get("model")
    if isinstance(model, dict) and isinstance(model.get("generator"), dict):
        config["model"] = {**model, "generator": generator_config(model["generator"])}
    dataset = config.get("dataset")
    if isinstance(dataset, dict):
        dataset = dict(dataset)
        for option in ("rotate", "permute_channels", "extra_train"):
            value = dataset.pop(option, REMOVED_OPTIONS[f"dataset.{option}"])
            if value != REMOVED_OPTIONS[f"dataset.{option}"] and value is not None:
                raise removed(f"dataset.{option}", value)
        config["dataset"] = dataset
    if "monitor" in config:
        config["monitor"] = current_name(config["monitor"])
    return config


def check_overrides(overrides: list[str]) -> None:
    """Command-line overrides that name a removed option, or a generator part by its old string,
    get a ValueError that says what to type instead."""
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if key in REMOVED_OPTIONS:
            raise removed(key, value)
        part = key.removeprefix("model.generator.")
        if key.startswith("model.generator.") and part in _PART_NODES and value in _PART_NODES[part]:
            if _PART_NODES[part][value] is None:
                raise removed(key, value)
            if part == "norm":
                raise ValueError(f"{override}: the norm is a config group now: norm={value}")
            raise ValueError(f"{override}: model.generator.{part} is a Hydra node now (conf/model/musical.yaml)")
        if key == "monitor":
            check_monitor(value)


def check_monitor(monitor: str) -> None:
    """`monitor` under an old metric name gets a ValueError naming today's."""
    if current_name(monitor) != monitor:
        raise ValueError(
            f"monitor={monitor}: the L1 metrics carry their unit in their name, in %: monitor={current_name(monitor)}"
        )


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


# The reconstruction loss before its terms were configured: one keyword per weight, with these
# defaults; today's terms are named alike and summed in this order.
_OLD_LOSS_WEIGHTS = {"perceptual": 0.07, "style": 250.0, "tv": 0.001, "l1": 100.0, "hole_l1": 0.0}
_SCHEDULER = "musical_inpaint.training.schedules.WarmupCosineLR"


def upgrade_run_config(config: dict) -> dict:
    """A run's configuration (a checkpoint's `run_config` or a run folder's .hydra/config.yaml,
    resolved or not) with `model.loss` and the learning-rate schedule in today's form: the old
    loss's weights become the weights of today's terms, and the old `model.lr_schedule`,
    `model.lr_clock` and `model.warmup_steps` the `model.scheduler` node that conf/lr_schedule/
    builds (a cosine ends at `${trainer.max_steps}`, as it did). Today's form is returned as it is."""
    config = dict(config)
    model = dict(config.get("model") or {})
    loss = model.get("loss")
    if isinstance(loss, dict) and "terms" not in loss:
        terms = {
            name: {
                "weight": loss.get(name, default),
                "term": {"_target_": f"musical_inpaint.losses.terms.{name}", "_partial_": True},
            }
            for name, default in _OLD_LOSS_WEIGHTS.items()
        }
        model["loss"] = {
            "_target_": loss["_target_"],
            "terms": terms,
            "vgg_weights": loss.get("vgg_weights", "imagenet"),
        }
    if "model" in config and "scheduler" not in model:
        schedule, clock = model.pop("lr_schedule", "constant"), model.pop("lr_clock", "steps")
        scheduler = {"_target_": _SCHEDULER, "_partial_": True, "warmup_steps": model.pop("warmup_steps", 0)}
        if schedule == "cosine":
            scheduler.update(total_steps="${trainer.max_steps}", clock=clock)
        elif schedule == "constant":
            scheduler.update(total_steps=None)
        else:
            raise ValueError(f"unknown model.lr_schedule {schedule!r} in the run's configuration")
        model["scheduler"] = scheduler
    if "model" in config:
        config["model"] = model
    return config


def scheduler_states_before_schedulers(global_step: int, count: int) -> list[dict]:
    """The state of each of `count` schedulers for a checkpoint written before the learning rates
    had torch schedulers: it holds none, and its optimisers hold the rates of the step before
    `global_step`. The schedulers start at that step; the training module steps them on."""
    return [{"last_epoch": global_step - 1, "_step_count": global_step} for _ in range(count)]
