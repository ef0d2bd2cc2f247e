"""Why training stalled: measurements behind experiments/learning/README.md.

    python experiments/learning/diagnose.py gradients --data DIR [--checkpoint CKPT]
    python experiments/learning/diagnose.py attention [--checkpoint CKPT ...]
    python experiments/learning/diagnose.py speed
    python experiments/learning/diagnose.py grid --data DIR --checkpoint CKPT [CKPT ...]
    python experiments/learning/diagnose.py averaging --data DIR --checkpoint RUN_FOLDER
    python experiments/learning/diagnose.py adversarial --data DIR [--checkpoint RUN_FOLDER]
    python experiments/learning/diagnose.py rings --data DIR --checkpoint CKPT [CKPT ...]
    python experiments/learning/diagnose.py scales --data DIR --checkpoint CKPT [CKPT ...]
    python experiments/learning/diagnose.py ensemble --data DIR --checkpoint CKPT CKPT [CKPT ...]

gradients: the norm of each weighted loss term's gradient on the generator's weights, for the
    quickstart recipe as it was before this study (random VGG16, as offline), on a batch of photos
    and of synthetic images.
attention: a copy task with a known answer. Images are a random smooth 16 x 16 tile repeated,
    so every hole position has true sources (the known positions congruent to it modulo the
    period); at the attention's 1/4 resolution the period is 4 cells. For each attention branch:
    the share of hole positions whose heaviest key is a true source, the attention mass on true
    sources, the entropy over the valid keys (1 = uniform), beside the chance level; and the
    hole L1 of the model's fill beside Telea's.
speed: seconds per generator update (forward, backward, Adam) at 64 x 64 for that recipe with
    and without its VGG16 terms, and for wider models and larger batches.
grid: how much the predicted hole peaks at the periods 4 and 2 pixels (the 1/4-resolution
    paste-back or the transposed convolutions' checkerboard), beside the ground truth's.
adversarial: the gradient norm on the generator of each weighted term, the adversarial one
    included, for experiment=ablation_photos variant=full (no VGG16 terms) and for the paper's
    loss (VGG16 style and perceptual terms at the paper's weights, random offline), on one batch of
    training photos; at initialisation, and with the generator and discriminator of a trained
    full-variant run when given.
averaging: cheap averages of a trained run, without training again: hole L1 on BSDS500 test and
    Urban100 img_081-100 of its last and its best checkpoint, of the mean of their weights, and
    of the last one's prediction averaged with its prediction of the mirrored image.
rings: where in the hole the error is: hole L1 by distance to the hole's edge (1 = the pixels
    next to known ones), for each checkpoint beside Telea and PatchMatch, on the BSDS500 test set
    and Urban100 img_081-100 under evaluate's protocol (quantised composites).
scales: at which spatial scale the error is. For each checkpoint and Telea, the hole L1 of its
    fill, and of its fill with the coarse part (a Gaussian low-pass of width sigma) swapped for the
    truth's: what the fill would score if it had the scene's coarse structure right and kept its
    own detail. Beside them the truth's own low-pass, the error left to a fill that is exactly the
    truth's coarse structure and nothing finer; and the fill shifted to the truth's mean colour in
    the hole. Same test sets and protocol as rings.
ensemble: the hole L1 of each checkpoint and of the mean of their predictions (independently
    trained runs of one size), on the same test sets.
Each prints a markdown table.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from torch import Tensor
from torch.utils.data import DataLoader

from musical_inpaint.baselines import fill_with
from musical_inpaint.config import compose_config
from musical_inpaint.imaging import composite, quantise
from musical_inpaint.inference import load_generator, predict
from musical_inpaint.metrics import paper_metrics
from musical_inpaint.models import ContextualAttention

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from photos_test_sets import photos_test_split  # noqa: E402

PERIOD = 16  # pixels of the copy task's tile: 4 cells at the attention's 1/4 resolution
# The quickstart recipe before this study (commit 608b1b2): random VGG16 terms at the paper's
# weights, the authors' hole term, batch 8, constant learning rate.
OLD_QUICKSTART = [
    "experiment=quickstart",
    "style_weight=250",
    "perceptual_weight=0.07",
    "l1_weight=100",
    "hole_l1_weight=6",
    "dataset.batch_size=8",
    "lr_schedule=constant",
]


# ------------------------------------------------------------------------------------ gradients
def gradient_norms(module, batch: dict) -> dict[str, float]:
    """|d(w * L_term) / d(generator weights)| for each term of the generator's loss."""
    generator, loss = module.generator, module.loss
    params = [p for p in generator.parameters() if p.requires_grad]
    image, mask = batch["image"], batch["mask"]
    terms = loss(generator(image, mask), image, mask)
    norms = {}
    for name, weight in loss.weights.items():
        if weight and name in terms:
            grads = torch.autograd.grad(weight * terms[name], params, retain_graph=True, allow_unused=True)
            norms[name] = math.sqrt(sum(float(g.square().sum()) for g in grads if g is not None))
    if module.discriminator is not None:
        adversarial = module.adversarial.weight * module.adversarial.generator_loss(
            module.discriminator(generator(image, mask))
        )
        grads = torch.autograd.grad(adversarial, params, allow_unused=True)
        norms["adversarial"] = math.sqrt(sum(float(g.square().sum()) for g in grads if g is not None))
    # The hole's share of the whole-image L1, split by where the pixels are.
    if "l1" in terms:
        prediction = generator(image, mask)
        for part, weight_map in (("l1 (hole pixels)", mask), ("l1 (known pixels)", 1 - mask)):
            value = loss.weights["l1"] * ((prediction - image).abs() * weight_map).mean()
            grads = torch.autograd.grad(value, params, retain_graph=True, allow_unused=True)
            norms[part] = math.sqrt(sum(float(g.square().sum()) for g in grads if g is not None))
    return norms


def training_batch_and_module(overrides: list[str]):
    """The first training batch of the composed recipe and its (untrained) LightningModule."""
    cfg = compose_config("train", overrides)
    datamodule = instantiate(cfg.dataset)
    datamodule.setup("fit")
    return next(iter(datamodule.train_dataloader())), instantiate(cfg.model)


def run_gradients(args) -> None:
    torch.manual_seed(0)
    rows = []
    for label, data in (
        ("photos", ["dataset=photos", f"paths.data_dir={args.data}", "~dataset.train_size", "dataset.num_workers=0"]),
        ("synthetic", []),
    ):
        batch, module = training_batch_and_module([*OLD_QUICKSTART, *data])
        states = [("initialisation", None)] + ([("checkpoint", args.checkpoint)] if args.checkpoint else [])
        for state, path in states:
            if path:
                module.generator.load_state_dict(load_generator(path)[0].state_dict())
            for name, norm in gradient_norms(module, batch).items():
                rows.append((label, state, name, norm))
    print("| data | weights | term (weighted) | gradient norm on G |\n|---|---|---|---|")
    for label, state, name, norm in rows:
        print(f"| {label} | {state} | {name} | {norm:.4g} |")


def run_adversarial(args) -> None:
    data = ["experiment=ablation_photos", "variant=full", f"paths.data_dir={args.data}", "dataset.num_workers=0"]
    recipes = {
        "ablation_photos full": data,
        "the paper's loss": [*data, "style_weight=250", "perceptual_weight=0.07", "l1_weight=100", "hole_l1_weight=0"],
    }
    print("| loss | weights | term (weighted) | gradient norm on G |\n|---|---|---|---|")
    for label, overrides in recipes.items():
        torch.manual_seed(0)  # the same batch of photos (crops, flips) and initialisation for both losses
        batch, module = training_batch_and_module(overrides)
        module.train()  # batch statistics in the discriminator, as in its training steps
        states = [("initialisation", None)] + ([("trained", args.checkpoint[0])] if args.checkpoint else [])
        for state, path in states:
            if path:
                trained = torch.load(Path(path) / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
                loaded = module.load_state_dict(trained["state_dict"], strict=False)
                if loaded.unexpected_keys or not all(key.startswith("loss.") for key in loaded.missing_keys):
                    raise SystemExit(
                        f"{path}: not a checkpoint of this recipe's networks ({loaded})"
                    )  # only the VGG16 may be missing
            for name, norm in gradient_norms(module, batch).items():
                print(f"| {label} | {state} | {name} | {norm:.4g} |")


# ------------------------------------------------------------------------------------ attention
def attention_probabilities(branch: ContextualAttention, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Dense attention of one sample (1 x C x H x W, mask 1 x 1 x H x W) with the module's
    semantics: -> (N x N probabilities, rows of hole queries only meaningful; N-vector of valid keys)."""
    p, t, scale = branch.patch_size, branch.propagate_size // 2, branch.softmax_scale
    r = p // 2
    height, width = x.shape[-2:]
    hole = (mask > 0.5).double()
    x = x.double()
    background = x * (1 - hole)
    keys = F.unfold(background, p, padding=r)[0]  # C p p x N
    keys = keys / torch.sqrt(keys.square().sum(0, keepdim=True) + 1e-4)
    queries = F.unfold(x, p, padding=r)[0]
    scores = (queries.T @ keys).reshape(height, width, height, width)
    padded = F.pad(scores, [t] * 8)
    propagated = torch.zeros_like(scores)
    for dy in range(-t, t + 1):
        for dx in range(-t, t + 1):
            propagated += padded[
                t + dy : t + dy + height, t + dx : t + dx + width, t + dy : t + dy + height, t + dx : t + dx + width
            ]
    valid = F.max_pool2d(hole, p, stride=1, padding=r).flatten() == 0
    logits = (scale * propagated.reshape(height * width, -1)).masked_fill(~valid[None], -math.inf)
    return torch.softmax(logits, 1), valid


def periodic_images(count: int, size: int, seed: int = 0) -> Tensor:
    """count x 3 x size x size in [-1, 1]: a smooth random PERIOD x PERIOD tile, repeated."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 3, 4, 4, generator=generator) * 2 - 1
    tile = F.interpolate(
        F.pad(coarse, [0, 1, 0, 1], mode="circular"), size=PERIOD + PERIOD // 4, mode="bicubic", align_corners=True
    )[..., :PERIOD, :PERIOD].clamp(-1, 1)
    return tile.repeat(1, 1, size // PERIOD, size // PERIOD)


def copy_task(generator, size: int = 64, count: int = 16) -> dict:
    images = periodic_images(count, size)
    mask = torch.zeros(count, 1, size, size)
    mask[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    captured = []
    hooks = (
        [
            b.register_forward_pre_hook(lambda m, inputs: captured.append((m, *inputs)))
            for b in generator.attention.branches
        ]
        if generator.attention is not None
        else []
    )
    with torch.no_grad():
        prediction = generator(images, mask)
    for hook in hooks:
        hook.remove()
    result = dict(
        hole_l1_pct=float(paper_metrics(prediction, images, mask)["hole_l1_pct"].mean()),
        telea_hole_l1_pct=float(paper_metrics(fill_with("telea", images, mask), images, mask)["hole_l1_pct"].mean()),
    )
    for branch, features, feature_mask in captured:
        period = PERIOD * features.shape[-1] // size
        height, width = features.shape[-2:]
        ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
        ys, xs = ys.flatten(), xs.flatten()
        true = ((ys[:, None] - ys[None]) % period == 0) & ((xs[:, None] - xs[None]) % period == 0)
        hits = mass = entropy = chance = 0.0
        queries = 0
        for i in range(count):
            probabilities, valid = attention_probabilities(branch, features[i : i + 1], feature_mask[i : i + 1])
            hole_queries = feature_mask[i, 0].flatten() > 0.5
            a = probabilities[hole_queries]
            truth = true[hole_queries] & valid[None]
            hits += float(truth.gather(1, a.argmax(1, keepdim=True)).sum())
            mass += float((a * truth).sum())
            entropy += float(-(a.clamp_min(1e-30).log() * a).sum() / math.log(int(valid.sum())))
            chance += float(truth.sum(1).double().mean() / valid.sum()) * int(hole_queries.sum())
            queries += int(hole_queries.sum())
        result[f"{branch.patch_size}x{branch.patch_size}"] = dict(
            top1=hits / queries, mass=mass / queries, entropy=entropy / queries, chance=chance / queries
        )
    return result


def run_attention(args) -> None:
    states = [("initialisation", None)] + [(path, path) for path in args.checkpoint or []]
    print(
        "| weights | branch | top-1 on a true source | attention mass on true sources | entropy (1 = uniform) "
        "| chance | model hole L1 % | Telea hole L1 % |\n|---|---|---|---|---|---|---|---|"
    )
    for label, path in states:
        if path:
            generator = load_generator(path)[0]
        else:
            torch.manual_seed(0)
            # instance norms as when section 4 measured it: an untrained batch norm's running
            # statistics are still 0 and 1, so evaluation would see unnormalised features
            cfg = compose_config("train", ["experiment=photos_cpu", "norm=instance"])
            generator = instantiate(cfg.model.generator).eval()
        result = copy_task(generator)
        for name, values in result.items():
            if isinstance(values, dict):
                print(
                    f"| {label} | {name} | {values['top1']:.3f} | {values['mass']:.3f} | {values['entropy']:.3f} "
                    f"| {values['chance']:.3f} | {result['hole_l1_pct']:.2f} | {result['telea_hole_l1_pct']:.2f} |"
                )


# ---------------------------------------------------------------------------------------- speed
def run_speed(args) -> None:
    import time

    torch.manual_seed(0)
    images = torch.rand(16, 3, 64, 64) * 2 - 1
    mask = torch.zeros(16, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1
    print(
        f"| generator width | batch | VGG16 terms | seconds per update ({torch.get_num_threads()} threads) |\n|---|---|---|---|"
    )
    for base, batch, vgg in ((16, 8, True), (16, 8, False), (16, 16, False), (32, 16, False)):
        terms = [] if vgg else ["style_weight=0", "perceptual_weight=0"]
        cfg = compose_config("train", [*OLD_QUICKSTART, f"model.generator.base_channels={base}", *terms])
        module = instantiate(cfg.model)
        optimiser = torch.optim.Adam(module.generator.parameters(), lr=1e-3)
        image, hole = images[:batch], mask[:batch]
        times = []
        for _ in range(6):
            start = time.perf_counter()
            loss = module.loss(module.generator(image, hole), image, hole)["total"]
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            times.append(time.perf_counter() - start)
        print(f"| {base} | {batch} | {'yes' if vgg else 'no'} | {float(np.median(times[1:])):.3f} |")


# ----------------------------------------------------------------------------------------- grid
def period_peaks(hole: Tensor) -> dict[str, float]:
    """How much B x 3 x n x n crops peak at the periods 4 and 2 pixels: the spectral power at that
    frequency over the mean of its two neighbours along the same axis (both axes, then averaged
    over images). A regular grid of that period shows as a peak well above 1."""
    gray = hole.mean(1)
    gray = gray - gray.mean((-2, -1), keepdim=True)
    power = torch.fft.fft2(gray).abs().square()
    n = gray.shape[-1]
    result = {}
    for period in (4, 2):
        k = n // period
        neighbours = [(k - 1) % n, (k + 1) % n]
        peak = power[:, 0, k] + power[:, k, 0]
        around = (power[:, 0, neighbours].sum(-1) + power[:, neighbours, 0].sum(-1)) / 2
        result[f"period {period}"] = float((peak / around.clamp_min(1e-12)).mean())
    return result


def run_grid(args) -> None:
    print(
        "| checkpoint | test set | peak at period 4: ours | ground truth | peak at period 2: ours | ground truth |\n"
        "|---|---|---|---|---|---|"
    )
    for path in args.checkpoint:
        generator, config = load_generator(path)
        predicted, truth = [], []
        size = config["crop_size"]
        box = slice(size // 4, 3 * size // 4)
        with torch.no_grad():
            for batch in DataLoader(photos_test_split(args.data, "bsds500", size), batch_size=16):
                predicted.append(generator(batch["image"], batch["mask"])[..., box, box])
                truth.append(batch["image"][..., box, box])
        ours, theirs = period_peaks(torch.cat(predicted)), period_peaks(torch.cat(truth))
        print(
            f"| {path} | bsds500 | {ours['period 4']:.2f} | {theirs['period 4']:.2f} | {ours['period 2']:.2f} "
            f"| {theirs['period 2']:.2f} |"
        )


# ------------------------------------------------------------------------------------ averaging
def run_averaging(args) -> None:
    folder = Path(args.checkpoint[0]) / "checkpoints"
    bests = sorted(folder.glob("best-*.ckpt"))
    if not bests or not (folder / "last.ckpt").is_file():
        raise SystemExit(f"averaging: {folder} needs last.ckpt and a best-*.ckpt")
    last, config = load_generator(folder / "last.ckpt")
    best, _ = load_generator(bests[-1])
    mean = copy.deepcopy(last)
    with torch.no_grad():
        other = best.state_dict()
        for name, value in mean.state_dict().items():
            if value.dtype.is_floating_point:
                value.copy_((value + other[name]) / 2)
    fills = {
        "last": lambda image, mask: predict(last, image, mask),
        "best": lambda image, mask: predict(best, image, mask),
        "mean of last and best weights": lambda image, mask: predict(mean, image, mask),
        "last, averaged with its mirror": lambda image, mask: (
            (predict(last, image, mask) + predict(last, image.flip(-1), mask.flip(-1)).flip(-1)) / 2
        ),
    }
    print("| test set | images | " + " | ".join(fills) + " |\n|---|---|" + "---|" * len(fills))
    for test_set in ("bsds500", "urban100"):
        sums, count = dict.fromkeys(fills, 0.0), 0
        with torch.no_grad():
            for batch in DataLoader(photos_test_split(args.data, test_set, config["crop_size"]), batch_size=16):
                image, mask = batch["image"], batch["mask"]
                for name, fill in fills.items():
                    sums[name] += float(paper_metrics(fill(image, mask), image, mask)["hole_l1_pct"].sum())
                count += image.shape[0]
        print(f"| {test_set} | {count} | " + " | ".join(f"{total / count:.2f}" for total in sums.values()) + " |")


# ---------------------------------------------------------------------------------------- rings
RINGS = ((1, 1), (2, 2), (3, 4), (5, 8), (9, 16), (17, 32), (33, 64))


def edge_distance(mask: Tensor) -> Tensor:
    """B x 1 x H x W hole -> each hole pixel's chessboard distance to the nearest known pixel
    (1 next to one, 0 outside the hole): repeated 3 x 3 erosions."""
    distance, inside = torch.zeros_like(mask), mask.clone()
    while inside.any():
        distance += inside
        inside = -F.max_pool2d(-inside, 3, stride=1, padding=1) * mask
        if (distance > mask.shape[-1]).any():  # a hole without known pixels
            break
    return distance


def ring_errors(filled: Tensor, image: Tensor, distance: Tensor) -> list[tuple[float, float]]:
    """(summed absolute error in % of the range, pixel count) per ring of `RINGS`, as the metric counts them."""
    error = (quantise(filled) - quantise(image)).abs().mean(1, keepdim=True) * 100 / 255
    rings = [(distance >= low) & (distance <= high) for low, high in RINGS]
    return [(float((error * ring).sum()), float(ring.sum())) for ring in rings]


def run_rings(args) -> None:
    generators = [load_generator(path) for path in args.checkpoint]
    size = _one_size(generators, "rings")
    names = ["telea", "patchmatch", *_run_names(args.checkpoint)]
    print(
        "| test set | ring (pixels from the edge) | share of the hole | " + " | ".join(names) + " |\n"
        "|---|---|---|" + "---|" * len(names)
    )
    for test_set in ("bsds500", "urban100"):
        totals = np.zeros((len(names), len(RINGS), 2))
        with torch.no_grad():
            for batch in DataLoader(photos_test_split(args.data, test_set, size), batch_size=16):
                image, mask = batch["image"], batch["mask"]
                distance = edge_distance(mask)
                fills = [fill_with(name, image, mask) for name in names[:2]]
                fills += [composite(predict(generator, image, mask), image, mask) for generator, _ in generators]
                for index, filled in enumerate(fills):
                    totals[index] += ring_errors(filled, image, distance)
        pixels = totals[0, :, 1]
        for ring, (low, high) in enumerate(RINGS):
            if pixels[ring]:
                label = str(low) if low == high else f"{low}-{high}"
                print(
                    f"| {test_set} | {label} | {pixels[ring] / pixels.sum():.1%} | "
                    + " | ".join(f"{totals[i, ring, 0] / pixels[ring]:.2f}" for i in range(len(names)))
                    + " |"
                )
        print(
            f"| {test_set} | all | 100% | "
            + " | ".join(f"{totals[i, :, 0].sum() / pixels.sum():.2f}" for i in range(len(names)))
            + " |"
        )


# --------------------------------------------------------------------------------------- scales
SIGMAS = (1.0, 2.0, 4.0)  # pixels: a sigma of s keeps structure coarser than about 2 s


def low_pass(images: Tensor, sigma: float) -> Tensor:
    """A separable Gaussian blur of B x C x H x W images, reflected at the borders (3 sigma each side)."""
    radius = min(int(math.ceil(3 * sigma)), min(images.shape[-2:]) - 1)
    taps = torch.arange(-radius, radius + 1, dtype=images.dtype)
    kernel = torch.exp(-taps.square() / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    x = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def scale_fills(filled: Tensor, image: Tensor, mask: Tensor) -> dict[str, Tensor]:
    """The variants of one method's fill that `scales` scores (see the module's docstring), made
    from its composite, so that a network and Telea are treated alike: near the hole's edge the
    low-passes read the known pixels, not a network's reconstruction of them."""
    filled = composite(filled, image, mask)
    hole_mean = lambda x: (x * mask).sum((2, 3), keepdim=True) / mask.sum((2, 3), keepdim=True).clamp_min(1)
    variants = {"fill": filled, "fill at the true hole mean": filled + hole_mean(image) - hole_mean(filled)}
    for sigma in SIGMAS:
        variants[f"true coarse (sigma {sigma:g}) + own detail"] = (
            low_pass(image, sigma) + filled - low_pass(filled, sigma)
        )
    return variants


def run_scales(args) -> None:
    generators = [load_generator(path) for path in args.checkpoint]
    size = _one_size(generators, "scales")
    names = ["telea", *_run_names(args.checkpoint)]
    for test_set in ("bsds500", "urban100"):
        sums, truth_sums, count = defaultdict(float), defaultdict(float), 0  # keyed by (method, variant) and sigma
        with torch.no_grad():
            for batch in DataLoader(photos_test_split(args.data, test_set, size), batch_size=16):
                image, mask = batch["image"], batch["mask"]
                fills = [fill_with("telea", image, mask)] + [
                    predict(generator, image, mask) for generator, _ in generators
                ]
                for method, filled in enumerate(fills):
                    for variant, values in scale_fills(filled, image, mask).items():
                        sums[method, variant] += _hole_l1_sum(values, image, mask)
                for sigma in SIGMAS:
                    truth_sums[sigma] += _hole_l1_sum(low_pass(image, sigma), image, mask)
                count += image.shape[0]
        print(
            f"\n{test_set} ({count} images), hole L1 %:\n\n| | " + " | ".join(names) + " |\n|---|" + "---|" * len(names)
        )
        for variant in dict.fromkeys(variant for _, variant in sums):
            print(
                f"| {variant} | "
                + " | ".join(f"{sums[method, variant] / count:.2f}" for method in range(len(names)))
                + " |"
            )
        for sigma, total in truth_sums.items():
            print(
                f"| the truth's coarse part (sigma {sigma:g}) alone | {total / count:.2f} |" + " |" * (len(names) - 1)
            )


# ------------------------------------------------------------------------------------- ensemble
def run_ensemble(args) -> None:
    if not args.checkpoint or len(args.checkpoint) < 2:
        raise SystemExit("ensemble: give two or more checkpoints")
    generators = [load_generator(path) for path in args.checkpoint]
    size = _one_size(generators, "ensemble")
    names = [*_run_names(args.checkpoint), f"mean of the {len(generators)} predictions"]
    print("| test set | images | " + " | ".join(names) + " |\n|---|---|" + "---|" * len(names))
    for test_set in ("bsds500", "urban100"):
        sums, count = [0.0] * len(names), 0
        with torch.no_grad():
            for batch in DataLoader(photos_test_split(args.data, test_set, size), batch_size=16):
                image, mask = batch["image"], batch["mask"]
                predictions = [predict(generator, image, mask) for generator, _ in generators]
                for index, prediction in enumerate([*predictions, torch.stack(predictions).mean(0)]):
                    sums[index] += _hole_l1_sum(prediction, image, mask)
                count += image.shape[0]
        print(f"| {test_set} | {count} | " + " | ".join(f"{total / count:.2f}" for total in sums) + " |")


def _one_size(generators: list, what: str) -> int:
    sizes = {config["crop_size"] for _, config in generators}
    if len(sizes) != 1:
        raise SystemExit(
            f"{what}: the checkpoints were trained at different sizes ({sorted(sizes)}); give one size at a time"
        )
    return sizes.pop()


def _run_names(paths: list[str]) -> list[str]:
    """Column labels for checkpoints: each one's run folder (RUN for RUN/checkpoints/NAME.ckpt, the
    folder above for run.sh's RUN/train/checkpoints), or the paths as given where those repeat."""

    def run(path: Path) -> str:
        if path.suffix != ".ckpt":
            return str(path)
        folder = path.parent.parent
        return folder.parent.name if folder.name == "train" else folder.name

    names = [run(Path(path)) for path in paths]
    return names if len(set(names)) == len(names) else [str(path) for path in paths]


def _hole_l1_sum(prediction: Tensor, image: Tensor, mask: Tensor) -> float:
    """The batch's summed hole L1 (%), as evaluate scores it (the quantised composite)."""
    return float(paper_metrics(prediction, image, mask)["hole_l1_pct"].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "what",
        choices=("gradients", "attention", "speed", "grid", "averaging", "adversarial", "rings", "scales", "ensemble"),
    )
    parser.add_argument("--data", default="../shared/data", help="folder holding bsds500/ and urban100/")
    parser.add_argument("--checkpoint", nargs="*", help="checkpoints or run folders")
    args = parser.parse_args()
    if args.what == "gradients" and args.checkpoint:
        args.checkpoint = args.checkpoint[0]
    runs = dict(
        gradients=run_gradients,
        attention=run_attention,
        speed=run_speed,
        grid=run_grid,
        averaging=run_averaging,
        adversarial=run_adversarial,
        rings=run_rings,
        scales=run_scales,
        ensemble=run_ensemble,
    )
    runs[args.what](args)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
