"""A dataset layout of one's own: a folder of images with `train.txt` and `test.txt` naming the
files of each split, one per line."""

from pathlib import Path

from musical_inpaint.data import InpaintingDataModule
from musical_inpaint.data.layouts import DatasetLayoutError


class ListedDataModule(InpaintingDataModule):
    def __init__(self, root: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.root = Path(root)

    def split_files(self, split: str) -> list[Path]:
        listing = self.root / f"{split}.txt"
        if not listing.is_file():
            raise DatasetLayoutError(f"{listing} is missing (expected train.txt and test.txt beside the images)")
        return [self.root / line.strip() for line in listing.read_text().splitlines() if line.strip()]
