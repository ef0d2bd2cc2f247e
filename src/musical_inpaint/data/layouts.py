"""The official release layouts of the benchmarks: which files form the train and test splits.

Each function returns sorted file lists and raises `DatasetLayoutError`, naming the path and the
layout it expected, when a root is missing or a split is empty.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from musical_inpaint.data.images import is_image_file, list_images
from musical_inpaint.errors import UserError

SPLITS = ("train", "test")


class DatasetLayoutError(UserError, FileNotFoundError):
    """A dataset root does not hold the expected layout, or a split is empty."""


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def _require_dir(path: Path, layout: str) -> Path:
    if not path.is_dir():
        raise DatasetLayoutError(f"{path} is not a directory; expected {layout}")
    return path


def _non_empty(files: list[Path], where: Path | str, layout: str) -> list[Path]:
    if not files:
        raise DatasetLayoutError(f"no images found in {where}; expected {layout}")
    return files


# ----------------------------------------------------------------------------------- CelebA
CELEBA_LAYOUT = "root/img_align_celeba/*.jpg with root/list_eval_partition.txt (or the same under root/celeba/)"
CELEBA_PARTITIONS = {"train": {0, 1}, "test": {2}}  # 0 train, 1 val, 2 test: the paper trains on 0 + 1


def celeba_files(root: str | Path, split: str) -> list[Path]:
    _check_split(split)
    root = Path(root)
    base = root / "celeba" if not (root / "img_align_celeba").is_dir() and (root / "celeba").is_dir() else root
    images = _require_dir(base / "img_align_celeba", CELEBA_LAYOUT)
    partition_file = base / "list_eval_partition.txt"
    if not partition_file.is_file():
        raise DatasetLayoutError(f"{partition_file} is missing; expected {CELEBA_LAYOUT}")
    files = []
    for number, line in enumerate(partition_file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            name, partition = line.split()
            partition = int(partition)
        except ValueError:
            raise DatasetLayoutError(
                f"{partition_file}:{number}: expected '<image name> <partition 0|1|2>', got {line!r}"
            ) from None
        if partition in CELEBA_PARTITIONS[split]:
            files.append(images / name)
    return _non_empty(sorted(files), f"{partition_file} ({split} partitions)", CELEBA_LAYOUT)


# ---------------------------------------------------------------------------- Paris StreetView
PARIS_LAYOUT = "root/paris_train_original/ (training images) and root/paris_eval_gt/ (the 100 test images)"
PARIS_FOLDERS = {"train": "paris_train_original", "test": "paris_eval_gt"}


def paris_files(root: str | Path, split: str) -> list[Path]:
    _check_split(split)
    folder = _require_dir(Path(root) / PARIS_FOLDERS[split], PARIS_LAYOUT)
    return _non_empty(list_images(folder), folder, PARIS_LAYOUT)


# ------------------------------------------------------------------------------------- Places365
PLACES_LAYOUT = (
    "the small-images layout root/data_256/<letter>/<category>/ (train) and root/val_256/ with "
    "places365_val.txt and categories_places365.txt (test), or the easy format "
    "root/places365_standard/{train,val}/<category>/"
)


def places_files(root: str | Path, split: str, category: str = "canyon") -> list[Path]:
    """A category's training images (train) or its validation images (test), the paper's protocol.

    `category` is written as in categories_places365.txt without the leading letter, e.g.
    "canyon" or "apartment_building/outdoor" ("apartment_building-outdoor" in the easy format).
    """
    _check_split(split)
    root = Path(root)
    category = category.strip("/")
    easy = root / "places365_standard"
    if easy.is_dir():
        folder = _require_dir(
            easy / ("train" if split == "train" else "val") / category.replace("/", "-"), PLACES_LAYOUT
        )
        return _non_empty(list_images(folder), folder, PLACES_LAYOUT)
    if split == "train":
        folder = _require_dir(root / "data_256" / category[0] / category, PLACES_LAYOUT)
        return _non_empty(list_images(folder), folder, PLACES_LAYOUT)
    val_folder = _require_dir(root / "val_256", PLACES_LAYOUT)
    label = _places_label(_find_list(root, "categories_places365.txt"), category)
    val_list = _find_list(root, "places365_val.txt")
    files = []
    for line in val_list.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == str(label):
            files.append(val_folder / parts[0])
    return _non_empty(sorted(files), f"{val_list} (label {label} = {category})", PLACES_LAYOUT)


def _find_list(root: Path, name: str) -> Path:
    """The devkit lists may sit in root or in the extracted devkit folder below it."""
    for candidate in (root / name, *sorted(root.glob(f"*/{name}"))):
        if candidate.is_file():
            return candidate
    raise DatasetLayoutError(f"{name} not found in {root} or its subfolders; expected {PLACES_LAYOUT}")


def _places_label(categories: Path, category: str) -> int:
    for line in categories.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].split("/", 2)[-1] == category:
            return int(parts[1])
    raise DatasetLayoutError(f"category {category!r} is not listed in {categories}")


# ----------------------------------------------------------------------------------- any folder
FOLDER_LAYOUT = "a folder of images (any depth), or a list of folders; test images in a second folder (or list) or a seeded fraction"

Roots = str | Path | list[str | Path] | tuple[str | Path, ...]


def images_below(roots: Roots) -> list[Path]:
    """Every image below one folder or a list of folders, each folder checked to exist and hold images."""
    roots = [roots] if isinstance(roots, (str, Path)) else list(roots)
    if not roots:
        raise DatasetLayoutError(f"no folder given; expected {FOLDER_LAYOUT}")
    files: list[Path] = []
    for root in roots:
        folder = _require_dir(Path(root), FOLDER_LAYOUT)
        files += _non_empty(list_images(folder), folder, FOLDER_LAYOUT)
    return list(dict.fromkeys(files))  # nested or repeated roots: each image once


def folder_files(
    root: Roots, split: str, test_root: Roots | None = None, test_fraction: float = 0.1, seed: int = 0
) -> list[Path]:
    """Every image below `root` (one folder or several); the test split is `test_root`, or else a
    seeded `test_fraction` of the images."""
    _check_split(split)
    if test_root is not None:
        return images_below(root if split == "train" else test_root)
    if not 0 < test_fraction < 1:
        raise ValueError(f"folder dataset: test_fraction must be in (0, 1), got {test_fraction}")
    files = images_below(root)
    if len(files) < 2:
        raise DatasetLayoutError(f"{root} holds a single image; a train and a test split need at least 2")
    shuffled = files.copy()
    random.Random(seed).shuffle(shuffled)
    test_count = min(len(files) - 1, max(1, round(len(files) * test_fraction)))
    test = set(shuffled[:test_count])
    return [f for f in files if (f in test) == (split == "test")]


# ------------------------------------------------------------------------- the real-photo benchmark
# Small real-photo sets that fit a CPU (../shared/data/SOURCES.md): train on BSDS500 train + val and
# Urban100 img_001-080; test on BSDS500 test, or on one of the further test sets.
PHOTOS_LAYOUT = (
    "root/bsds500/{train,val,test}/*.jpg, root/urban100/img_001.png..img_100.png, "
    "root/paris/context_encoder_pytorch/ (the 100 Paris eval images) and root/places/GPDM_Places50/"
)
URBAN100_TRAIN = 80  # img_001..img_080 train; img_081..img_100 are held out
PHOTOS_TEST_SETS = {
    "bsds500": "bsds500/test",
    "urban100": "urban100",
    "paris": "paris/context_encoder_pytorch",
    "places50": "places/GPDM_Places50",
}


def check_photos_test_set(test_set: str) -> None:
    if test_set not in PHOTOS_TEST_SETS:
        raise ValueError(f"dataset.test_set must be one of {sorted(PHOTOS_TEST_SETS)}, got {test_set!r}")


def _urban100(root: Path, held_out: bool) -> list[Path]:
    folder = _require_dir(root / "urban100", PHOTOS_LAYOUT)
    numbered = {}
    for path in list_images(folder):
        match = re.fullmatch(r"img_(\d+)", path.stem)
        if match:
            numbered[path] = int(match.group(1))
    files = [p for p, n in numbered.items() if (n > URBAN100_TRAIN) == held_out]
    return _non_empty(sorted(files), f"{folder} (img_{'081-100' if held_out else '001-080'})", PHOTOS_LAYOUT)


def photos_files(root: str | Path, split: str, test_set: str = "bsds500") -> list[Path]:
    """The real-photo benchmark: its training images, or the images of one test set
    (`test_set`: bsds500 = BSDS500 test, urban100 = Urban100 img_081-100, paris, places50)."""
    _check_split(split)
    root = Path(root)
    if split == "train":
        files = []
        for part in ("train", "val"):
            folder = _require_dir(root / "bsds500" / part, PHOTOS_LAYOUT)
            files += _non_empty(list_images(folder), folder, PHOTOS_LAYOUT)
        return files + _urban100(root, held_out=False)
    check_photos_test_set(test_set)
    if test_set == "urban100":
        return _urban100(root, held_out=True)
    folder = _require_dir(root / PHOTOS_TEST_SETS[test_set], PHOTOS_LAYOUT)
    return _non_empty(list_images(folder), folder, PHOTOS_LAYOUT)


__all__ = [
    "DatasetLayoutError",
    "celeba_files",
    "folder_files",
    "images_below",
    "is_image_file",
    "paris_files",
    "photos_files",
    "places_files",
]
