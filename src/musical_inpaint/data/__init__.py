"""Data: image reading, the benchmarks' layouts, masks, transforms, datasets and DataModules."""

from musical_inpaint.data.datamodules import (
    CelebADataModule,
    FolderDataModule,
    InpaintingDataModule,
    ParisStreetViewDataModule,
    PhotosDataModule,
    PlacesDataModule,
    SyntheticDataModule,
)
from musical_inpaint.data.images import ImageReadError, read_rgb
from musical_inpaint.data.layouts import DatasetLayoutError
from musical_inpaint.data.masks import CenterMask, FolderMask, FreeFormMask, RandomBoxMask

__all__ = [
    "CelebADataModule",
    "CenterMask",
    "DatasetLayoutError",
    "FolderDataModule",
    "FolderMask",
    "FreeFormMask",
    "ImageReadError",
    "InpaintingDataModule",
    "ParisStreetViewDataModule",
    "PhotosDataModule",
    "PlacesDataModule",
    "RandomBoxMask",
    "SyntheticDataModule",
    "read_rgb",
]
