"""Image reading, transforms, masks, datasets and DataModules."""

import logging

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, DistributedSampler

from musical_inpaint.data import (
    CelebADataModule,
    CenterMask,
    FolderDataModule,
    FreeFormMask,
    ImageReadError,
    ParisStreetViewDataModule,
    PhotosDataModule,
    PlacesDataModule,
    RandomBoxMask,
    SyntheticDataModule,
    layouts,
    read_rgb,
)
from musical_inpaint.data.datasets import ImageFilesDataset
from musical_inpaint.data.masks import FREE_FORM_PRESETS
from musical_inpaint.data.synthetic import synthetic_image, synthetic_sample
from musical_inpaint.data.transforms import ResizeCrop, train_load_size_for
from tests.helpers import write_image
from tests.helpers.layouts import make_celeba, make_paris, make_photos, make_places_small

# ------------------------------------------------------------------------------------ reading


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "I;16", "1", "CMYK"])
def test_every_image_mode_becomes_8bit_rgb(tmp_path, mode):
    path = write_image(tmp_path / ("a.jpg" if mode == "CMYK" else "a.png"), 40, 30, mode="RGB")
    image = Image.open(path)
    if mode == "I;16":
        gray = np.asarray(image.convert("L"), dtype=np.uint16) * 257  # full 16-bit range
        Image.fromarray(gray).save(path)
    else:
        image.convert(mode).save(path)
    out = read_rgb(path)
    assert out.mode == "RGB" and out.size == (40, 30)
    if mode == "I;16":
        expected = np.asarray(Image.open(write_image(tmp_path / "b.png", 40, 30)).convert("L"))
        assert np.abs(np.asarray(out)[..., 0].astype(int) - expected).max() <= 1  # scaled, not clipped to 255


def test_rgba_sample_from_places(shared_data):
    path = shared_data / "places" / "generative_inpainting" / "case1_raw.png"
    assert Image.open(path).mode == "RGBA"
    image = read_rgb(path)
    assert image.mode == "RGB" and image.size == (680, 512)


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n broken", None])
def test_unreadable_files_name_their_path(tmp_path, content):
    path = tmp_path / "bad.png"
    if content is None:  # a truncated real JPEG
        write_image(tmp_path / "good.jpg", 64, 64)
        path = tmp_path / "bad.jpg"
        path.write_bytes((tmp_path / "good.jpg").read_bytes()[:300])
    else:
        path.write_bytes(content)
    with pytest.raises(ImageReadError, match=str(path)):
        read_rgb(path)
    with pytest.raises(ImageReadError, match="missing.png"):
        read_rgb(tmp_path / "missing.png")


# --------------------------------------------------------------------------------- transforms


def test_paper_transforms_sizes():
    paris = Image.new("RGB", (936, 537))
    rng = np.random.default_rng(0)
    assert ResizeCrop(350, 256, random_crop=True, flip=True)(paris, rng).shape == (3, 256, 256)
    celeba = Image.new("RGB", (178, 218), (255, 0, 0))
    out = ResizeCrop(256, 256)(celeba, rng)  # smaller than the crop: upscaled
    assert out.shape == (3, 256, 256) and out[0].min() == 1 and out[1].max() == -1


def test_centre_crop_is_centred_and_random_crop_reproducible():
    array = np.zeros((300, 400, 3), np.uint8)
    array[:, 200:] = 255  # right half white
    image = Image.fromarray(array)
    out = ResizeCrop(300, 100)(image, np.random.default_rng(0))
    assert out[:, :, :50].max() == -1 and out[:, :, 50:].min() == 1
    crop = ResizeCrop(300, 100, random_crop=True, flip=True)
    runs = [torch.stack([crop(image, np.random.default_rng(s)) for s in range(8)]) for _ in range(2)]
    assert torch.equal(runs[0], runs[1]) and len({r.sum().item() for r in runs[0]}) > 1


def test_training_load_size_keeps_the_test_scale_at_every_crop():
    # The paper's 350 / 256 at any crop, so that a 64 crop is not a detail patch of a large image
    # while the test image is the whole photo at 64.
    assert [train_load_size_for(c) for c in (256, 128, 64)] == [350, 175, 88]
    for crop in (64, 256):
        paris = ParisStreetViewDataModule("x", mask=CenterMask(), crop_size=crop)
        assert paris.train_transform == ResizeCrop(train_load_size_for(crop), crop, True, True)
        assert paris.eval_transform == ResizeCrop(crop, crop)
        assert CelebADataModule("x", mask=CenterMask(), crop_size=crop).train_transform == ResizeCrop(crop, crop)
    assert (
        FolderDataModule(
            "x", mask=CenterMask(), crop_size=64, train_load_size=100, random_crop=True
        ).train_transform.load_size
        == 100
    )


def test_resized_image_cache_serves_the_same_items_without_reading_again(tmp_path):
    files = _files(tmp_path)
    transform = ResizeCrop(72, 64, random_crop=True, flip=True)
    plain = ImageFilesDataset(files, transform, CenterMask(), deterministic=True, seed=1)
    cached = ImageFilesDataset(files, transform, CenterMask(), deterministic=True, seed=1, cache=True)
    first = [cached[i] for i in range(len(files))]
    assert all(torch.equal(a["image"], plain[i]["image"]) for i, a in enumerate(first))
    for path in files:
        path.unlink()  # later reads come from the cache
    again = [cached[i] for i in range(len(files))]
    for a, b in zip(first, again):
        assert torch.equal(a["image"], b["image"]) and a["name"] == b["name"]
    with pytest.raises(ImageReadError):
        plain[0]  # without the cache the same item needs its file


def test_scale_jitter_draws_the_short_side_from_its_range(tmp_path):
    # A literal reference: the cached image is the largest, each item resizes it again to a drawn
    # short side and crops; a 200 x 100 gradient shows the scale as the crop's range of values.
    ramp = np.tile(np.linspace(0, 255, 200).astype(np.uint8)[None, :, None], (100, 1, 3))
    image = Image.fromarray(ramp)
    jitter = ResizeCrop(32, 32, random_crop=True, max_load_size=96)
    resized = jitter.resize(image)
    assert min(resized.size) == 96
    spans, sides = [], []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        side = int(rng.integers(32, 97))  # the jitter's first draw, then the crop's
        expected = ResizeCrop(side, 32, random_crop=True)(image, rng)
        ours = jitter.crop(resized, np.random.default_rng(seed))
        assert ours.shape == (3, 32, 32)
        # the same draws as resizing the original to `side` (up to the double bicubic resampling)
        assert (ours - expected).abs().max() < 0.05
        spans.append(float(ours[0, 0, -1] - ours[0, 0, 0])), sides.append(side)
    assert len(set(sides)) > 20  # the whole range is drawn, not one scale
    assert spans[int(np.argmin(sides))] > 2.5 * spans[int(np.argmax(sides))]  # small side: a wide view
    with pytest.raises(ValueError, match="load_size <= max_load_size"):
        ResizeCrop(64, 32, max_load_size=48)


def test_train_load_size_range_and_training_mask_reach_the_training_split_only(tmp_path):
    root = make_photos(tmp_path)
    datamodule = PhotosDataModule(
        root, mask=CenterMask(), train_mask=RandomBoxMask(0.5, 0.5), crop_size=16, train_load_size=[16, 40], val_size=4
    )
    assert datamodule.train_transform == ResizeCrop(16, 16, True, True, max_load_size=40)
    datamodule.setup("fit")
    centre = torch.from_numpy(CenterMask()(16, 16))[None]
    assert all(torch.equal(datamodule.datasets["val"][i]["mask"], centre) for i in range(4))
    train_masks = [datamodule.datasets["train"][i]["mask"] for i in range(20)]
    assert all(m.sum() == 64 for m in train_masks) and any(not torch.equal(m, centre) for m in train_masks)
    for bad in ([40, 16], [16, 24, 32], "x", 0):
        with pytest.raises(ValueError, match="dataset.train_load_size=.*: must be null, a short side"):
            PhotosDataModule(root, mask=CenterMask(), crop_size=16, train_load_size=bad)


def test_train_size_takes_nested_seeded_subsets_and_keeps_validation(tmp_path):
    for i in range(30):
        write_image(tmp_path / "photos" / f"{i:02d}.png", 40, 40, seed=i)
    make = lambda size, seed=0: FolderDataModule(
        tmp_path / "photos", mask=CenterMask(), crop_size=32, batch_size=2, val_size=5, train_size=size, seed=seed
    )
    modules = {size: make(size) for size in (None, 22, 12, 3)}  # 30 - 3 test - 5 validation
    for datamodule in modules.values():
        datamodule.setup("fit")
    files = {size: datamodule.datasets["train"].files for size, datamodule in modules.items()}
    assert [len(files[size]) for size in (None, 22, 12, 3)] == [22, 22, 12, 3]
    assert set(files[3]) < set(files[12]) < set(files[22]) == set(files[None])  # nested
    assert files[12] == sorted(files[12])  # in file order
    assert len({tuple(datamodule.datasets["val"].files) for datamodule in modules.values()}) == 1
    again, other = make(12), make(12, seed=1)
    again.setup("fit"), other.setup("fit")
    assert again.datasets["train"].files == files[12] != other.datasets["train"].files
    # The subset's draws are not the validation carve-out's again: they were, and the subset held
    # the validation images' neighbours in file order. At the photos benchmark's sizes (380 files,
    # 40 carved out, 40 kept), by chance about 40 * 40 / 340 = 4.7 positions coincide.
    files = [tmp_path / f"{i:03d}.png" for i in range(380)]
    for seed in range(5):
        datamodule = FolderDataModule(tmp_path, mask=CenterMask(), val_size=40, train_size=40, seed=seed)
        train, val = datamodule._carve_validation(files)
        carved = {files.index(f) for f in val}
        kept = {train.index(f) for f in datamodule._subset(train, carved=len(val))}
        assert len(carved & kept) < 15
    with pytest.raises(
        layouts.DatasetLayoutError, match="dataset.train_size=23, but the training split holds 22 images"
    ):
        make(23).setup("fit")
    for bad in (0, -1, True, "12", 1.5):
        with pytest.raises(
            ValueError, match=r"dataset.train_size=.*: must be an integer >= 1 .* or null \(all of them\)"
        ):
            make(bad)


def test_synthetic_data_take_a_count_and_no_augmentation():
    with pytest.raises(
        ValueError, match=r"dataset.train_size=null: must be an integer >= 1 \(the number of training images\)$"
    ):
        SyntheticDataModule(train_size=None, mask=CenterMask())
    with pytest.raises(ValueError, match="dataset.random_crop=true, dataset.flip=true: dataset=synthetic"):
        SyntheticDataModule(mask=CenterMask(), random_crop=True, flip=True)


def test_transform_rejects_crop_larger_than_load():
    with pytest.raises(ValueError, match="crop_size <= load_size"):
        ResizeCrop(128, 256)


# -------------------------------------------------------------------------------------- masks


def test_centre_mask_is_the_papers_hole():
    mask = CenterMask()(256, 256)
    assert mask.dtype == np.float32 and mask.sum() == 128 * 128
    assert mask[64:192, 64:192].all() and mask[:64].sum() == 0 and mask[:, 192:].sum() == 0
    small = CenterMask()(64, 96)
    assert small.sum() == 32 * 48 and small[16:48, 24:72].all()


@pytest.mark.parametrize(
    "make", [lambda: RandomBoxMask(0.2, 0.4)] + [lambda p=p: FreeFormMask(p) for p in FREE_FORM_PRESETS]
)
def test_random_masks_are_binary_seeded_and_varied(make):
    generator = make()
    masks = [generator(96, 128, np.random.default_rng(seed)) for seed in range(20)]
    again = [generator(96, 128, np.random.default_rng(seed)) for seed in range(20)]
    assert all(np.array_equal(a, b) for a, b in zip(masks, again))
    assert all(m.shape == (96, 128) and m.dtype == np.float32 and set(np.unique(m)) <= {0.0, 1.0} for m in masks)
    coverage = [m.mean() for m in masks]
    assert min(coverage) > 0 and max(coverage) < 0.7 and len(set(coverage)) > 5


def test_free_form_presets_grow_in_coverage():
    coverage = {
        preset: np.mean([FreeFormMask(preset)(256, 256, np.random.default_rng(s)).mean() for s in range(100)])
        for preset in FREE_FORM_PRESETS
    }
    assert 0.03 < coverage["thin"] < coverage["medium"] < coverage["thick"] < 0.4


def test_random_box_stays_within_its_fractions():
    for seed in range(20):
        mask = RandomBoxMask(0.25, 0.5)(100, 200, np.random.default_rng(seed))
        rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
        assert 25 <= len(rows) <= 50 and 50 <= len(cols) <= 100


@pytest.mark.parametrize("make", [lambda: CenterMask(0), lambda: RandomBoxMask(0.6, 0.5), lambda: FreeFormMask("huge")])
def test_bad_mask_options_are_rejected(make):
    with pytest.raises(ValueError):
        make()


# ----------------------------------------------------------------------------------- datasets


def _files(tmp_path, count=6):
    return [write_image(tmp_path / f"{i}.jpg", 80, 60, seed=i) for i in range(count)]


def test_evaluation_items_identical_across_instances_and_workers(tmp_path):
    files = _files(tmp_path)

    def masks(num_workers):
        dataset = ImageFilesDataset(files, ResizeCrop(64, 64), FreeFormMask("thin"), deterministic=True, seed=3)
        loader = DataLoader(dataset, batch_size=2, num_workers=num_workers)
        return torch.cat([batch["mask"] for batch in loader])

    single = masks(0)
    assert torch.equal(single, masks(0)) and torch.equal(single, masks(2))
    assert len({m.sum().item() for m in single}) > 1  # a different mask per image


def test_training_items_follow_torch_seed(tmp_path):
    dataset = ImageFilesDataset(_files(tmp_path), ResizeCrop(72, 64, True, True), FreeFormMask(), deterministic=False)

    def draw(seed):
        torch.manual_seed(seed)
        return [dataset[i]["mask"] for i in range(len(dataset))]

    assert all(torch.equal(a, b) for a, b in zip(draw(0), draw(0)))
    assert not all(torch.equal(a, b) for a, b in zip(draw(0), draw(1)))


def test_item_layout(tmp_path):
    item = ImageFilesDataset(_files(tmp_path), ResizeCrop(64, 64), CenterMask(), deterministic=True)[2]
    assert item["image"].shape == (3, 64, 64) and item["image"].dtype == torch.float32
    assert -1 <= item["image"].min() and item["image"].max() <= 1
    assert item["mask"].shape == (1, 64, 64) and item["mask"].sum() == 32 * 32
    assert item["index"] == 2 and item["name"] == "2.jpg"


def test_corrupt_images_fail_by_default_or_are_skipped_and_counted(tmp_path, caplog):
    files = _files(tmp_path, 3)
    files[1].write_bytes(b"garbage")
    failing = ImageFilesDataset(files, ResizeCrop(64, 64), CenterMask(), deterministic=True)
    with pytest.raises(ImageReadError, match=r"1.jpg.*on_corrupt=skip"):
        failing[1]
    skipping = ImageFilesDataset(files, ResizeCrop(64, 64), CenterMask(), deterministic=True, on_corrupt="skip")
    with caplog.at_level(logging.WARNING):
        item = skipping[1]
    assert item["name"] == "2.jpg" and skipping.skipped == [files[1]]
    assert "skipping unreadable image" in caplog.text and "1.jpg" in caplog.text


# ------------------------------------------------------------------------------------ synthetic


def test_synthetic_images_are_deterministic_and_varied():
    images = [synthetic_image(64, np.random.default_rng([0, i])) for i in range(12)]
    assert all(np.array_equal(a, synthetic_image(64, np.random.default_rng([0, i]))) for i, a in enumerate(images))
    assert all(a.shape == (64, 64, 3) and a.dtype == np.uint8 for a in images)
    assert len({a.tobytes() for a in images}) == 12 and all(a.std() > 5 for a in images)


def test_about_half_of_the_synthetic_images_hold_a_distractor_and_say_so():
    samples = [synthetic_sample(64, np.random.default_rng([0, i])) for i in range(40)]
    assert all(
        np.array_equal(image, synthetic_image(64, np.random.default_rng([0, i])))
        for i, (image, _) in enumerate(samples)
    )
    assert 10 <= sum(distractor for _, distractor in samples) <= 30


def test_synthetic_datamodule_splits_are_disjoint_and_fixed():
    datamodule = SyntheticDataModule(
        mask=CenterMask(), train_size=20, val_size=4, test_size=6, crop_size=32, batch_size=4
    )
    datamodule.setup()
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["image"].shape == (4, 3, 32, 32) and batch["mask"].shape == (4, 1, 32, 32)
    seen = {
        split: {
            datamodule.datasets[split][i]["image"].numpy().tobytes() for i in range(len(datamodule.datasets[split]))
        }
        for split in ("train", "val", "test")
    }
    assert not seen["train"] & seen["val"] and not seen["train"] & seen["test"] and not seen["val"] & seen["test"]
    assert len(datamodule.datasets["test"]) == 6


# --------------------------------------------------------------------------------- datamodules


def _check_batches(datamodule, size):
    datamodule.setup()
    for loader in (datamodule.train_dataloader(), datamodule.val_dataloader(), datamodule.test_dataloader()):
        batch = next(iter(loader))
        assert batch["image"].shape[1:] == (3, size, size) and batch["mask"].shape[1:] == (1, size, size)
        assert batch["image"].min() >= -1 and batch["image"].max() <= 1
        assert set(batch["mask"].unique().tolist()) <= {0.0, 1.0}
        assert len(batch["name"]) == batch["image"].shape[0]


def test_celeba_datamodule(tmp_path):
    datamodule = CelebADataModule(make_celeba(tmp_path), mask=CenterMask(), batch_size=2, crop_size=64, val_size=2)
    _check_batches(datamodule, 64)
    train, val = datamodule.datasets["train"].files, datamodule.datasets["val"].files
    assert len(train) + len(val) == 8 and not set(train) & set(val) and len(val) == 1  # at most a fifth
    assert len(datamodule.datasets["test"]) == 2


def test_paris_datamodule_has_the_papers_training_transform(tmp_path):
    datamodule = ParisStreetViewDataModule(
        make_paris(tmp_path), mask=FreeFormMask(), batch_size=2, crop_size=64, train_load_size=88
    )
    assert datamodule.train_transform == ResizeCrop(88, 64, random_crop=True, flip=True)
    assert ParisStreetViewDataModule("x", mask=CenterMask()).train_transform == ResizeCrop(350, 256, True, True)
    _check_batches(datamodule, 64)


def test_places_datamodule(tmp_path):
    datamodule = PlacesDataModule(
        make_places_small(tmp_path), mask=RandomBoxMask(), batch_size=2, crop_size=64, num_workers=2
    )
    _check_batches(datamodule, 64)
    assert len(datamodule.datasets["test"]) == 3


def test_folder_datamodule_validation_carve_out_is_seeded(tmp_path):
    for i in range(12):
        write_image(tmp_path / "photos" / f"{i}.png", 50, 70, seed=i)
    make = lambda seed: FolderDataModule(tmp_path / "photos", mask=CenterMask(), crop_size=32, batch_size=2, seed=seed)
    first, again, other = make(0), make(0), make(1)
    for datamodule in (first, again, other):
        datamodule.setup("fit")
    assert first.datasets["val"].files == again.datasets["val"].files != other.datasets["val"].files
    _check_batches(first, 32)


def test_photos_datamodule_and_its_test_sets(tmp_path):
    root = make_photos(tmp_path)
    datamodule = PhotosDataModule(root, mask=CenterMask(), batch_size=2, crop_size=16, val_size=4, cache=True)
    _check_batches(datamodule, 16)
    assert datamodule.train_transform == ResizeCrop(22, 16, True, True)
    assert len(datamodule.datasets["train"]) + len(datamodule.datasets["val"]) == 85
    assert len(datamodule.datasets["test"]) == 2  # BSDS500 test
    held_out = PhotosDataModule(root, test_set="urban100", mask=CenterMask(), crop_size=16)
    held_out.setup("test")
    assert [held_out.datasets["test"][i]["name"] for i in range(2)] == ["img_081.png", "img_082.png"]
    with pytest.raises(
        ValueError, match=r"dataset.test_set must be one of \['bsds500', 'paris', 'places50', 'urban100'\], got 'urban'"
    ):
        PhotosDataModule(root, test_set="urban", mask=CenterMask())


def test_every_rank_gets_its_own_shard_and_the_same_evaluation_masks(tmp_path):
    datamodule = CelebADataModule(make_celeba(tmp_path), mask=FreeFormMask(), crop_size=32, val_size=2)
    datamodule.setup("test")
    dataset = datamodule.datasets["test"]
    shards = [list(DistributedSampler(dataset, num_replicas=2, rank=rank, shuffle=False)) for rank in (0, 1)]
    assert sorted(shards[0] + shards[1]) == list(range(len(dataset)))
    other_process = CelebADataModule(tmp_path, mask=FreeFormMask(), crop_size=32, val_size=2)
    other_process.setup("test")
    for index in range(len(dataset)):
        assert torch.equal(dataset[index]["mask"], other_process.datasets["test"][index]["mask"])


def test_bad_options_are_named(tmp_path):
    with pytest.raises(ValueError, match="dataset.batch_size"):
        CelebADataModule(tmp_path, mask=CenterMask(), batch_size=0)
    with pytest.raises(ValueError, match="on_corrupt"):
        ImageFilesDataset([], ResizeCrop(8, 8), CenterMask(), True, on_corrupt="ignore")


def test_real_paris_eval_images(shared_data, tmp_path):
    (tmp_path / "paris_eval_gt").symlink_to(shared_data / "paris" / "context_encoder_pytorch")
    (tmp_path / "paris_train_original").symlink_to(shared_data / "paris" / "context_encoder_pytorch")
    datamodule = ParisStreetViewDataModule(tmp_path, mask=CenterMask(), batch_size=5)
    datamodule.setup("test")
    batch = next(iter(datamodule.test_dataloader()))
    assert batch["image"].shape == (5, 3, 256, 256) and batch["name"][0] == "001_im.png"
    assert batch["mask"][:, :, 64:192, 64:192].all()
