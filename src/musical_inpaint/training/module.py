"""The GAN training loop: one discriminator step, then one generator step per batch."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Timer
from torch import Tensor, nn
from torchvision.utils import make_grid, save_image

from musical_inpaint.compat import scheduler_states_before_schedulers
from musical_inpaint.errors import OptionError
from musical_inpaint.imaging import panel
from musical_inpaint.losses import AdversarialLoss, InpaintingLoss
from musical_inpaint.metrics import PaperMetrics, per_image_metrics
from musical_inpaint.models.contextual_attention import use_static_shapes
from musical_inpaint.perceptual_metrics import lpips_metric
from musical_inpaint.training.schedules import WarmupCosineLR


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or infinite; the step was not applied."""


@contextmanager
def uncounted(optimiser):
    """Step `optimiser` without advancing Lightning's `global_step`.

    Lightning's manual loop counts every optimiser step (Lightning-AI/pytorch-lightning#17958), so
    a discriminator would make one batch two steps. The loop hooks its counter onto each optimiser
    before every batch; suspending them for the discriminator's step leaves the generator's.
    """
    before, after = optimiser._on_before_step, optimiser._on_after_step
    optimiser._on_before_step = optimiser._on_after_step = lambda: None
    try:
        yield
    finally:
        optimiser._on_before_step, optimiser._on_after_step = before, after


class MusicalInpainting(L.LightningModule):
    """MUSICAL's generator and discriminator trained with manual optimisation.

    Args:
        generator: the inpainting network, `generator(image, mask) -> prediction`.
        loss: the generator's objective (its configured terms: style, perceptual, TV, L1), which
            sums them with the adversarial term once.
        adversarial: the GAN objective, which runs the discriminator for both networks' updates; a
            discriminator exists iff it is given with a positive weight.
        discriminator: a factory for the discriminator, called only when the adversarial weight is
            positive, so that at adv_weight=0 neither it nor its optimiser is ever built.
        lr, betas: Adam for both networks (paper: 2e-4, (0.5, 0.999)); d_lr defaults to lr.
        d_every, g_every: update the discriminator / generator on every n-th batch (paper: 1 : 1).
        grad_clip: clip each network's gradient norm to this value (None: no clipping).
        scheduler: `scheduler(optimiser) -> torch LRScheduler` (a Hydra `_partial_` node, the
            `lr_schedule` group), one for each optimiser, stepped with the generator: during
            generator step s both rates follow the schedule's step s. None: constant rates. The
            time clock of `WarmupCosineLR` reads Lightning's Timer (from the start of training, the
            warm-up included, over every start of a resumed run): to train a time-clocked run
            longer, raise `trainer.max_time` with `trainer.max_steps`.
        val_images: how many validation images go into the saved and logged panels.
        run_config: the resolved run configuration, stored in every checkpoint.
        val_lpips_weights: torchvision's AlexNet weights file (alexnet-owt-7be5be79.pth): validation
            also logs `val/lpips` of the composites (musical_inpaint.perceptual_metrics); None: not.
        val_per_image: per-image metrics of one's own, logged as `val/<name>` (name -> a node that
            builds a `musical_inpaint.metrics.MetricSpec`, as evaluate's `metrics.per_image`).
        fast_step: the same losses and updates with fewer launches and no host synchronisation,
            for accelerators: the discriminator sees real and fake in one forward
            (`DenseNetDiscriminator.pair`), the attention queries every position
            (`static_shapes`: no shape depends on the mask, so the generator is one graph for
            CUDA graphs / torch.compile), Adam runs fused, and the non-finite check stays on the
            device: a non-finite gradient makes the fused Adam skip that update, and the run
            stops with NonFiniteLossError when the flag is next read (every `log_every_n_steps`
            steps and when training ends).
        compile: torch.compile the networks (the generator, with its attention in the static-shape
            mode, the discriminator and VGG16), not this module, whose manual optimisation
            Lightning drives in Python; true: the default backend (inductor), or a backend's name
            ("aot_eager" traces and runs the same graphs without generating code). Modules are
            compiled in place: checkpoints keep their keys.

    Steps count generator updates (one per batch at g_every=1), with or without a discriminator:
    `global_step`, `trainer.max_steps`, the schedule, the logs' step and the files' names agree.
    """

    def __init__(
        self,
        generator: nn.Module,
        loss: InpaintingLoss,
        adversarial: AdversarialLoss | None = None,
        discriminator: Callable[[], nn.Module] | None = None,
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        d_lr: float | None = None,
        d_every: int = 1,
        g_every: int = 1,
        grad_clip: float | None = None,
        scheduler: Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler] | None = None,
        val_images: int = 4,
        run_config: dict | None = None,
        fast_step: bool = False,
        val_lpips_weights: str | None = None,
        val_per_image: Mapping[str, Any] | None = None,
        compile: bool | str = False,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        if d_every < 1 or g_every < 1:
            raise ValueError(f"d_every and g_every must be >= 1, got {d_every} and {g_every}")
        self.generator = generator
        self.loss = loss
        self.adversarial = adversarial if adversarial is not None and adversarial.enabled else None
        if self.adversarial is not None and discriminator is None:
            raise ValueError("the adversarial weight is positive but no discriminator was given")
        self.discriminator = discriminator() if self.adversarial is not None else None
        self.lr, self.betas, self.d_lr = lr, tuple(betas), d_lr or lr
        self.d_every, self.g_every, self.grad_clip = d_every, g_every, grad_clip
        self.scheduler = scheduler
        if scheduler is not None:  # built once on a stand-in, so that bad options fail before any data is read
            scheduler(torch.optim.SGD([nn.Parameter(torch.zeros(()))], lr=1.0))
        self.val_images = val_images
        self.run_config = run_config
        self.fast_step = fast_step
        if fast_step or compile:
            use_static_shapes(self.generator)
        if compile:
            backend = "inductor" if compile is True else compile
            if not isinstance(compile, bool) and backend not in torch._dynamo.list_backends(exclude_tags=()):
                raise OptionError(
                    "model.compile",
                    compile,
                    "must be true, false or a torch.compile backend, e.g. inductor or aot_eager",
                )
            networks = [self.generator, self.discriminator, self.loss.vgg]
            for network in (n for n in networks if n is not None):
                network.compile(backend=backend)
        extra = per_image_metrics(val_per_image, "model.val_per_image")
        if val_lpips_weights:
            extra.append(lpips_metric(val_lpips_weights, "model.val_lpips_weights"))
        self.val_metrics = PaperMetrics(extra)

    def setup(self, stage: str) -> None:
        """The data's image size must suit the generator (before the sanity check's first batch)."""
        crop, stride = getattr(self.trainer.datamodule, "crop_size", None), getattr(self.generator, "stride", None)
        if crop is not None and stride is not None and (crop % stride or crop < self.generator.min_side):
            nearest = max(self.generator.min_side, round(crop / stride) * stride)
            raise OptionError(
                "dataset.crop_size",
                crop,
                f"must be a multiple of {stride} and at least "
                f"{self.generator.min_side} (the generator halves the image four times), e.g. "
                f"crop_size={nearest}",
            )

    # ------------------------------------------------------------------------------ training
    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        return self.generator(image, mask)

    def configure_optimizers(self):
        options = dict(fused=True) if self.fast_step else {}  # (fused reads `found_inf`: _step)
        make = lambda params, lr: torch.optim.Adam(params, lr=lr, betas=self.betas, **options)
        optimisers = [make(self.generator.parameters(), self.lr)]
        if self.discriminator is not None:
            optimisers.append(make(self.discriminator.parameters(), self.d_lr))
        if self.scheduler is None:
            return optimisers
        return optimisers, [self.scheduler(optimiser) for optimiser in optimisers]

    def on_fit_start(self) -> None:
        resumed = getattr(self, "_minutes_before", 0.0) if self.trainer.ckpt_path else 0.0  # not for a fresh fit
        self._started = time.monotonic() - 60 * resumed
        # fast_step: the first step whose loss was not finite, on the device (-1: none yet)
        self._non_finite_step = torch.full((), -1, dtype=torch.long, device=self.device)

    def train_minutes(self) -> float:
        """Wall minutes spent training, over every start of a resumed run."""
        return (time.monotonic() - self._started) / 60

    def time_share(self) -> float:
        """The share of `trainer.max_time` spent training so far (over every start of a resumed
        run); 0 without a time limit. Rank 0's clock on every process, so that under DDP all
        replicas step with the same rate and stay identical."""
        timer = next(
            (c for c in self.trainer.callbacks if isinstance(c, Timer) and c.time_remaining() is not None), None
        )
        if timer is None:
            return 0.0
        elapsed = timer.time_elapsed()
        return self.trainer.strategy.broadcast(elapsed / (elapsed + timer.time_remaining()), src=0)

    def _follow_schedules(self) -> None:
        """Step every scheduler up to the generator's step count, before the step's updates: each
        steps after the optimiser steps of the step before, as torch expects, and the time clock
        is read once, as the step starts."""
        schedulers = self.lr_schedulers()
        schedulers = schedulers if isinstance(schedulers, list) else [schedulers] if schedulers else []
        behind = [s for s in schedulers if s.last_epoch < self.global_step]
        timed = [s for s in behind if isinstance(s, WarmupCosineLR) and s.clock == "time"]
        share = self.time_share() if timed else 0.0
        for scheduler in behind:
            if scheduler in timed:
                scheduler.time_share = share
            while scheduler.last_epoch < self.global_step:
                scheduler.step()

    def training_step(self, batch: dict, batch_idx: int) -> None:
        image, mask = batch["image"], batch["mask"]
        self._follow_schedules()
        optimisers = self.optimizers()
        optimisers = optimisers if isinstance(optimisers, list) else [optimisers]
        prediction = self.generator(image, mask)
        logs: dict[str, Tensor] = {}

        if self.discriminator is not None and batch_idx % self.d_every == 0:
            d_optimiser = optimisers[1]
            self.toggle_optimizer(d_optimiser)
            d_loss, d_terms = self.adversarial.discriminator_loss(
                self.discriminator, image, prediction, one_pass=self.fast_step
            )
            with uncounted(d_optimiser):
                self._step(d_optimiser, d_loss, d_terms, self.discriminator)
            self.untoggle_optimizer(d_optimiser)
            logs.update({name: value.detach() for name, value in d_terms.items()})

        if batch_idx % self.g_every == 0:
            g_optimiser = optimisers[0]
            self.toggle_optimizer(g_optimiser)
            # the adversarial term joins the objective last, through the discriminator just updated
            adversarial = lambda context: self.adversarial.generator_term(self.discriminator, context.prediction)
            extra = {} if self.discriminator is None else {"adversarial": (self.adversarial.weight, adversarial)}
            terms = self.loss(prediction, image, mask, extra)
            self._step(g_optimiser, terms["total"], terms, self.generator)
            self.untoggle_optimizer(g_optimiser)
            # g_*: the generator's loss terms (on [-1, 1] images, before weighting), apart from the
            # val/ metrics, which are the paper's, in their own units (metrics.py)
            logs.update({f"g_{name}": value.detach() for name, value in terms.items()})

        # Each process logs its own batch's losses: averaging them over processes would cost a
        # collective per value per step, for curves that say the same.
        self.log_dict({f"train/{name}": value for name, value in logs.items()}, prog_bar=False)
        self._log_step()

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if self.fast_step and self.global_step % self.trainer.log_every_n_steps == 0:
            self._check_finite()

    def _log_step(self) -> None:
        # A logged "step" is the loggers' x value (else Lightning's 0-based batch index): the
        # CSV, W&B, the panels and the checkpoints then all say how many batches were trained.
        # Made on the device: a Python number would be copied there, blocking, on every call.
        self.log("step", torch.full((), float(self.global_step), device=self.device))

    def _step(self, optimiser, loss: Tensor, terms: dict[str, Tensor], network: nn.Module) -> None:
        if not self.fast_step and not torch.isfinite(loss):
            values = ", ".join(f"{name}={value.item():.4g}" for name, value in terms.items())
            raise NonFiniteLossError(
                f"non-finite loss at global step {self.global_step} (epoch {self.current_epoch}): {values}. "
                "The step was not applied; the last checkpoint is intact. Lower the learning rate or "
                "the loss weights, or check the input data."
            )
        optimiser.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if self.grad_clip is not None:
            self.clip_gradients(optimiser, gradient_clip_val=self.grad_clip, gradient_clip_algorithm="norm")
        if self.fast_step:
            self._skip_if_not_finite(optimiser.optimizer)
        optimiser.step()

    def _skip_if_not_finite(self, optimiser: torch.optim.Optimizer) -> None:
        """fast_step's non-finite check, without a host synchronisation: the fused Adam skips its
        update on the device when a gradient is not finite (its `found_inf`, as under a
        GradScaler), and the first such step is kept on the device for _check_finite. The
        gradients, not the loss: under DDP they are the same on every process, so every replica
        skips the same steps."""
        grads = [p.grad for group in optimiser.param_groups for p in group["params"] if p.grad is not None]
        # float32 flags whatever the default dtype (trainer.precision=64-true makes it float64)
        found = torch.zeros((), dtype=torch.float32, device=self.device)
        unscale = torch.ones((), dtype=torch.float32, device=self.device)
        torch._amp_foreach_non_finite_check_and_unscale_(grads, found, unscale)
        optimiser.found_inf = found
        first = self._non_finite_step
        self._non_finite_step = torch.where((found > 0) & (first < 0), self.global_step, first)

    def _check_finite(self) -> None:
        """fast_step: stop if a step was skipped since the run started (one host synchronisation)."""
        step = int(self._non_finite_step) if hasattr(self, "_non_finite_step") else -1
        if step >= 0:
            raise NonFiniteLossError(
                f"non-finite loss or gradient at global step {step} (found at step {self.global_step}): its "
                "update, and that of any later step whose gradients were not finite, was skipped, so the "
                "weights and the checkpoints hold finite updates only. Lower the learning rate or the loss "
                "weights, or check the input data."
            )

    def on_train_end(self) -> None:
        if self.fast_step:
            self._check_finite()

    # ---------------------------------------------------------------------------- validation
    def validation_step(self, batch: dict, batch_idx: int) -> None:
        image, mask = batch["image"], batch["mask"]
        prediction = self.generator(image, mask).float()
        self.val_metrics.update(prediction, image, mask)
        if batch_idx == 0 and self.val_images > 0:
            self._save_panel(image, mask, prediction)

    def on_validation_epoch_end(self) -> None:
        values = self.val_metrics.compute()
        self.val_metrics.reset()
        # compute() already summed the states over processes, so every rank holds the same values;
        # sync_dist averages these equal values (a no-op) and keeps Lightning from warning per key.
        self.log_dict({f"val/{name}": value.float() for name, value in values.items()}, sync_dist=True)
        self._log_step()
        if not self.trainer.sanity_checking and hasattr(self, "_started"):
            # Wall time since training started, to draw the curves against time as well as steps.
            self.log("time/train_minutes", self.train_minutes(), sync_dist=True)

    def _save_panel(self, image: Tensor, mask: Tensor, prediction: Tensor) -> None:
        """Rows of masked input | output | composite | ground truth, on rank 0 only."""
        if not self.trainer.is_global_zero or self.trainer.sanity_checking:
            return
        n = min(self.val_images, image.shape[0])
        image, mask, prediction = image[:n].float(), mask[:n].float(), prediction[:n]
        grid, columns = panel(image, mask, prediction)
        folder = Path(self.trainer.default_root_dir) / "images"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"val_step{self.global_step:08d}.png"
        save_image(grid, path, nrow=columns)
        for logger in self.loggers:
            if hasattr(logger, "log_image"):  # W&B
                logger.log_image(
                    "val/panel",
                    [str(path)],
                    step=self.global_step,
                    caption=["masked | output | composite | ground truth"],
                )
            elif hasattr(getattr(logger, "experiment", None), "add_image"):  # TensorBoard
                logger.experiment.add_image("val/panel", make_grid(grid.cpu(), nrow=columns), self.global_step)

    # --------------------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.run_config is not None:
            checkpoint["run_config"] = self.run_config
        if hasattr(self, "_started"):
            checkpoint["train_minutes"] = self.train_minutes()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # A resumed run's time axis continues where the checkpoint left it (0 for older files).
        self._minutes_before = float(checkpoint.get("train_minutes", 0.0))
        if self.scheduler is not None and not checkpoint.get("lr_schedulers"):
            optimisers = 1 + (self.discriminator is not None)
            checkpoint["lr_schedulers"] = scheduler_states_before_schedulers(checkpoint["global_step"], optimisers)
