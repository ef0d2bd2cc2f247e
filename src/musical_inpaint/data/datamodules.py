"""LightningDataModules: the three benchmarks in their release layouts, a user's folder, and the
embedded synthetic default.

Splits: `fit` trains on the training split minus a small fixed validation set carved out of it
with `seed` (the paper has no validation set; checkpoints are chosen on it, never on the test
set); `test` uses the official test split. Training batches are shuffled and drop their last
incomplete batch; evaluation batches are fixed. Under DDP, Lightning shards every split across
ranks; evaluation masks depend only on the image index, so every rank draws the same ones.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from musical_inpaint.data import layouts
from musical_inpaint.data.datasets import ImageFilesDataset, MaskGenerator, SyntheticDataset
from musical_inpaint.data.transforms import ResizeCrop, train_load_size_for
from musical_inpaint.errors import OptionError


def _is_integer(value, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def load_sizes(train_load_size, crop_size: int) -> tuple[int | None, int | None]:
    """`dataset.train_load_size` as (short side or the jitter's low end, the jitter's high end)."""
    if train_load_size is None:
        return None, None
    sizes = [train_load_size] if isinstance(train_load_size, (int, str)) else list(train_load_size)
    if not (all(_is_integer(s, 1) for s in sizes) and (len(sizes) == 1 or (len(sizes) == 2 and sizes[0] <= sizes[1]))):
        raise OptionError(
            "dataset.train_load_size",
            sizes if len(sizes) > 1 else train_load_size,
            "must be null, a short side (an integer >= 1) or a range [low, high] of them for a scale jitter",
        )
    if sizes[0] < crop_size:
        raise OptionError(
            "dataset.train_load_size",
            sizes if len(sizes) > 1 else train_load_size,
            f"the short side before the crop must be at least crop_size={crop_size}",
        )
    return sizes[0], sizes[1] if len(sizes) == 2 else None


class InpaintingDataModule(L.LightningDataModule):
    """Common loading logic; subclasses say which files form the train and test splits.

    Args:
        mask: the hole generator (musical_inpaint.data.masks), used for every split but, when
            `train_mask` is given, the training split.
        train_mask: the training split's own hole generator (None: `mask`), e.g. holes at random
            places for variety while evaluation keeps the paper's centre hole.
        batch_size: training batch size (paper: 5); eval_batch_size defaults to it.
        num_workers: DataLoader worker processes (persistent between epochs when > 0).
        crop_size: side of the square training and evaluation images (paper: 256).
        train_load_size: short side before the training crop. None: the paper's ratio to the crop
            (350 for a 256 crop, `train_load_size_for`) with random crops, the crop itself without;
            so a small crop shows the same scale as the test images, whose short side is always
            resized to crop_size. A pair [low, high]: a scale jitter, the short side drawn per
            image from that range (`ResizeCrop.max_load_size`).
        random_crop, flip: training augmentation (paper: both for Paris and Places).
        val_size: images carved out of the training split for validation.
        train_size: train on only this many of the training images (None: all of them), a subset
            fixed by `seed`, each smaller one inside the larger ones: for learning curves over the
            amount of data. Taken after the validation images are carved out, so every size is
            validated on the same images.
        seed: fixes the validation carve-out, the `train_size` subset and the evaluation masks.
        on_corrupt: "fail" (default) or "skip" unreadable images (skips are logged and counted).
        cache: keep the resized images in memory (`ImageFilesDataset`): for small sets.

    `paper_benchmark` names the paper's table a test split belongs to (None: not one of them).
    """

    paper_benchmark: str | None = None
    train_size_may_be_all = True  # train_size=None: every training image

    def __init__(
        self,
        mask: MaskGenerator,
        batch_size: int = 5,
        num_workers: int = 0,
        crop_size: int = 256,
        train_load_size: int | Sequence[int] | None = None,
        random_crop: bool = False,
        flip: bool = False,
        val_size: int = 100,
        train_size: int | None = None,
        eval_batch_size: int | None = None,
        seed: int = 0,
        on_corrupt: str = "fail",
        cache: bool = False,
        train_mask: MaskGenerator | None = None,
    ) -> None:
        super().__init__()
        for name, value, minimum in (
            ("batch_size", batch_size, 1),
            ("num_workers", num_workers, 0),
            ("val_size", val_size, 1),
            ("crop_size", crop_size, 1),
        ):
            if not _is_integer(value, minimum):
                raise OptionError(f"dataset.{name}", value, f"must be an integer >= {minimum}")
        for name, value in (("random_crop", random_crop), ("flip", flip), ("cache", cache)):
            if not isinstance(value, bool):
                raise OptionError(f"dataset.{name}", value, "must be true or false")
        if not (_is_integer(train_size, 1) or (train_size is None and self.train_size_may_be_all)):
            raise OptionError(
                "dataset.train_size",
                train_size,
                "must be an integer >= 1 (the number of training "
                "images)" + (" or null (all of them)" if self.train_size_may_be_all else ""),
            )
        self.mask, self.train_mask = mask, train_mask or mask
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.num_workers = num_workers
        self.crop_size = crop_size
        load_size, max_load_size = load_sizes(train_load_size, crop_size)
        load_size = load_size or (train_load_size_for(crop_size) if random_crop else crop_size)
        self.train_transform = ResizeCrop(load_size, crop_size, random_crop, flip, max_load_size)
        self.eval_transform = ResizeCrop(crop_size, crop_size)
        self.val_size, self.seed, self.on_corrupt, self.cache = val_size, seed, on_corrupt, cache
        self.train_size = train_size
        self.datasets: dict[str, Dataset] = {}

    def split_files(self, split: str) -> list[Path]:
        """The files of the official 'train' or 'test' split."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate") and "train" not in self.datasets:
            train, val = self._carve_validation(self.split_files("train"))
            train = self._subset(train, carved=len(val))
            self.datasets["train"] = self._files_dataset(
                train, self.train_transform, self.train_mask, deterministic=False
            )
            self.datasets["val"] = self._files_dataset(val, self.eval_transform, self.mask, deterministic=True)
        if stage in (None, "test", "predict") and "test" not in self.datasets:
            self.datasets["test"] = self._files_dataset(
                self.split_files("test"), self.eval_transform, self.mask, deterministic=True
            )

    def _files_dataset(
        self, files: list[Path], transform: ResizeCrop, mask: MaskGenerator, deterministic: bool
    ) -> ImageFilesDataset:
        return ImageFilesDataset(files, transform, mask, deterministic, self.seed, self.on_corrupt, self.cache)

    def _carve_validation(self, files: list[Path]) -> tuple[list[Path], list[Path]]:
        if len(files) < 2:
            raise layouts.DatasetLayoutError(
                f"the training split holds {len(files)} image(s); at least 2 are needed to carve out a validation set"
            )
        count = min(self.val_size, max(1, len(files) // 5))  # never more than a fifth of the training data
        chosen = set(random.Random(self.seed).sample(range(len(files)), count))
        train = [f for i, f in enumerate(files) if i not in chosen]
        val = [f for i, f in enumerate(files) if i in chosen]
        return train, val

    def _subset(self, train: list[Path], carved: int) -> list[Path]:
        """The first `train_size` files of one seeded order of the training files, in file order."""
        if self.train_size is None:
            return train
        if self.train_size > len(train):
            raise layouts.DatasetLayoutError(
                f"dataset.train_size={self.train_size}, but the training split holds {len(train)} images once the "
                f"{carved} validation images are carved out"
            )
        # Its own stream: Random(seed), which carved out the validation set, would draw the same
        # first indices again, so that the subset held the validation images' neighbours in file order.
        order = random.Random(f"{self.seed} train_size").sample(range(len(train)), len(train))
        kept = set(order[: self.train_size])
        return [f for i, f in enumerate(train) if i in kept]

    def _loader(self, split: str, train: bool) -> DataLoader:
        if split not in self.datasets:
            self.setup("fit" if split in ("train", "val") else "test")
        dataset = self.datasets[split]
        return DataLoader(
            dataset,
            batch_size=self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            drop_last=train and len(dataset) >= self.batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)


class CelebADataModule(InpaintingDataModule):
    """CelebA aligned faces: train on partitions 0 + 1, test on 2 (paper: short side 256, centre crop)."""

    paper_benchmark = "celeba"

    def __init__(self, root: str | Path, **kwargs) -> None:
        super().__init__(**kwargs)
        self.root = Path(root)

    def split_files(self, split: str) -> list[Path]:
        return layouts.celeba_files(self.root, split)


class ParisStreetViewDataModule(InpaintingDataModule):
    """Paris StreetView: paris_train_original/ for training, the 100 paris_eval_gt/ images for test."""

    paper_benchmark = "paris"

    def __init__(self, root: str | Path, random_crop: bool = True, flip: bool = True, **kwargs) -> None:
        super().__init__(random_crop=random_crop, flip=flip, **kwargs)
        self.root = Path(root)

    def split_files(self, split: str) -> list[Path]:
        return layouts.paris_files(self.root, split)


class PlacesDataModule(InpaintingDataModule):
    """One Places365 category (paper: canyon): its training images, tested on its validation images."""

    paper_benchmark = "places"

    def __init__(
        self,
        root: str | Path,
        category: str = "canyon",
        random_crop: bool = True,
        flip: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(random_crop=random_crop, flip=flip, **kwargs)
        self.root, self.category = Path(root), category

    def split_files(self, split: str) -> list[Path]:
        return layouts.places_files(self.root, split, self.category)


class FolderDataModule(InpaintingDataModule):
    """Any tree of images, or several (`root` a list); the test split is `test_root` (one folder or
    a list) or a seeded `test_fraction` of the training images."""

    def __init__(
        self, root: layouts.Roots, test_root: layouts.Roots | None = None, test_fraction: float = 0.1, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.root, self.test_root, self.test_fraction = root, test_root, test_fraction

    def split_files(self, split: str) -> list[Path]:
        return layouts.folder_files(self.root, split, self.test_root, self.test_fraction, self.seed)


class PhotosDataModule(InpaintingDataModule):
    """The real-photo benchmark that fits a CPU (`layouts.photos_files`): BSDS500 train + val and
    Urban100 img_001-080 for training; `test_set` picks the test split: bsds500 (BSDS500 test),
    urban100 (img_081-100), paris (the 100 Paris eval images) or places50."""

    def __init__(
        self, root: str | Path, test_set: str = "bsds500", random_crop: bool = True, flip: bool = True, **kwargs
    ) -> None:
        super().__init__(random_crop=random_crop, flip=flip, **kwargs)
        layouts.check_photos_test_set(test_set)  # at construction: before any file is listed
        self.root, self.test_set = Path(root), test_set

    def split_files(self, split: str) -> list[Path]:
        return layouts.photos_files(self.root, split, self.test_set)


class SyntheticDataModule(InpaintingDataModule):
    """The embedded procedural dataset (musical_inpaint.data.synthetic): no files, no download.

    Train, validation and test images come from disjoint seeds derived from `seed`.
    """

    train_size_may_be_all = False  # the images are drawn: train_size says how many

    def __init__(self, train_size: int = 2000, val_size: int = 16, test_size: int = 100, **kwargs) -> None:
        unused = [name for name in ("random_crop", "flip") if kwargs.get(name)]
        if unused:
            raise ValueError(
                f"{', '.join(f'dataset.{n}=true' for n in unused)}: dataset=synthetic draws its images at "
                "crop_size and takes no crop or flip"
            )
        super().__init__(val_size=val_size, train_size=train_size, **kwargs)
        self.sizes = dict(train=train_size, val=val_size, test=test_size)

    def setup(self, stage: str | None = None) -> None:
        crop = self.eval_transform.crop_size
        splits = {"fit": ("train", "val"), "validate": ("train", "val"), "test": ("test",), "predict": ("test",)}
        for split, offset in (("train", 0), ("val", 1), ("test", 2)):
            if split not in self.datasets and split in splits.get(stage, ("train", "val", "test")):
                self.datasets[split] = SyntheticDataset(
                    self.sizes[split],
                    crop,
                    self.train_mask if split == "train" else self.mask,
                    deterministic=split != "train",
                    seed=self.seed * 3 + offset,
                )
