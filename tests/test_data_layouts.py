"""The benchmarks' release layouts, on real image files made in tmp_path at the real sizes."""

import pytest

from musical_inpaint.data import layouts
from musical_inpaint.data.layouts import DatasetLayoutError
from tests.helpers import write_image
from tests.helpers.layouts import make_celeba, make_paris, make_photos, make_places_small


def test_celeba_partitions(tmp_path):
    root = make_celeba(tmp_path)
    assert [p.name for p in layouts.celeba_files(root, "train")] == [f"{i:06d}.jpg" for i in range(1, 9)]
    assert [p.name for p in layouts.celeba_files(root, "test")] == ["000009.jpg", "000010.jpg"]


def test_celeba_torchvision_nesting(tmp_path):
    make_celeba(tmp_path / "celeba")
    assert len(layouts.celeba_files(tmp_path, "test")) == 2


def test_celeba_bad_partition_line_names_file_and_line(tmp_path):
    root = make_celeba(tmp_path, count=2)
    (root / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg\n")
    with pytest.raises(DatasetLayoutError, match=r"list_eval_partition.txt:2"):
        layouts.celeba_files(root, "train")


def test_paris_splits(tmp_path):
    root = make_paris(tmp_path)
    assert len(layouts.paris_files(root, "train")) == 6  # upper-case suffixes count too
    assert [p.name for p in layouts.paris_files(root, "test")] == [
        "001_im.png",
        "002_im.png",
        "003_im.png",
        "004_im.png",
    ]


def test_places_small_images_layout(tmp_path):
    root = make_places_small(tmp_path)
    assert len(layouts.places_files(root, "train")) == 5
    assert all("canyon" in str(p) for p in layouts.places_files(root, "train"))
    test = layouts.places_files(root, "test")
    assert [p.name for p in test] == [
        "Places365_val_00000001.jpg",
        "Places365_val_00000003.jpg",
        "Places365_val_00000005.jpg",
    ]
    assert [p.name for p in layouts.places_files(root, "test", category="beach")] == ["Places365_val_00000002.jpg"]
    with pytest.raises(DatasetLayoutError, match="'desert' is not listed"):
        layouts.places_files(root, "test", category="desert")


def test_places_easy_format(tmp_path):
    for split, count in (("train", 4), ("val", 2)):
        for i in range(count):
            write_image(tmp_path / "places365_standard" / split / "canyon" / f"{i:08d}.jpg", 256, 256, seed=i)
    assert len(layouts.places_files(tmp_path, "train")) == 4
    assert len(layouts.places_files(tmp_path, "test")) == 2


def test_photos_benchmark_splits(tmp_path):
    root = make_photos(tmp_path)
    train = layouts.photos_files(root, "train")
    assert len(train) == 3 + 2 + 80 and {p.parent.name for p in train} == {"train", "val", "urban100"}
    urban_train = [p.name for p in train if p.parent.name == "urban100"]
    assert urban_train[0] == "img_001.png" and urban_train[-1] == "img_080.png"
    assert [p.name for p in layouts.photos_files(root, "test", "urban100")] == ["img_081.png", "img_082.png"]
    assert [p.parent.name for p in layouts.photos_files(root, "test")] == ["test", "test"]  # BSDS500 test
    assert len(layouts.photos_files(root, "test", "paris")) == len(layouts.photos_files(root, "test", "places50")) == 1
    with pytest.raises(ValueError, match="dataset.test_set must be one of"):
        layouts.photos_files(root, "test", "bsds")
    with pytest.raises(DatasetLayoutError, match=r"urban100 \(img_081-100\)"):
        layouts.photos_files(make_photos(tmp_path / "short", urban=80), "test", "urban100")


def test_real_photos_benchmark(shared_data):
    assert len(layouts.photos_files(shared_data, "train")) == 200 + 100 + 80
    sizes = {name: len(layouts.photos_files(shared_data, "test", name)) for name in layouts.PHOTOS_TEST_SETS}
    assert sizes == dict(bsds500=200, urban100=20, paris=100, places50=50)


def test_folder_takes_a_list_of_roots(tmp_path):
    for folder, count in (("a", 3), ("b", 2), ("c", 1)):
        for i in range(count):
            write_image(tmp_path / folder / f"{i}.png", 16, 16, seed=i)
    roots = [tmp_path / "a", str(tmp_path / "b")]
    assert len(layouts.folder_files(roots, "train", test_root=[tmp_path / "c"])) == 5
    assert len(layouts.folder_files(roots, "test", test_root=[tmp_path / "c", tmp_path / "a"])) == 4
    assert len(layouts.folder_files(roots, "test", test_fraction=0.4)) == 2
    with pytest.raises(DatasetLayoutError, match=r"missing is not a directory"):
        layouts.folder_files([tmp_path / "a", tmp_path / "missing"], "train")
    with pytest.raises(DatasetLayoutError, match="no folder given"):
        layouts.folder_files([], "train")


def test_folder_with_second_folder_or_fraction(tmp_path):
    for i in range(10):
        write_image(tmp_path / "mine" / ("sub" if i % 2 else "") / f"{i}.png", 64, 48, seed=i)
    write_image(tmp_path / "held_out" / "a.png", 64, 48)
    (tmp_path / "mine" / "notes.txt").write_text("not an image")
    assert len(layouts.folder_files(tmp_path / "mine", "train", test_root=tmp_path / "held_out")) == 10
    assert len(layouts.folder_files(tmp_path / "mine", "test", test_root=tmp_path / "held_out")) == 1
    train = layouts.folder_files(tmp_path / "mine", "train", test_fraction=0.3, seed=1)
    test = layouts.folder_files(tmp_path / "mine", "test", test_fraction=0.3, seed=1)
    assert len(test) == 3 and not set(train) & set(test) and len(train) + len(test) == 10
    assert test == layouts.folder_files(tmp_path / "mine", "test", test_fraction=0.3, seed=1)  # seeded
    assert test != layouts.folder_files(tmp_path / "mine", "test", test_fraction=0.3, seed=2)


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda root: layouts.celeba_files(root, "train"),
            r"img_align_celeba is not a directory; expected root/img_align_celeba",
        ),
        (
            lambda root: layouts.paris_files(root, "test"),
            r"paris_eval_gt is not a directory; expected root/paris_train_original",
        ),
        (
            lambda root: layouts.places_files(root, "train"),
            r"canyon is not a directory; expected the small-images layout",
        ),
        (lambda root: layouts.folder_files(root / "nope", "train"), r"nope is not a directory"),
    ],
)
def test_missing_roots_name_path_and_layout(tmp_path, call, message):
    with pytest.raises(DatasetLayoutError, match=message):
        call(tmp_path)


def test_empty_split_names_the_folder(tmp_path):
    (tmp_path / "paris_train_original").mkdir()
    with pytest.raises(DatasetLayoutError, match=r"no images found in .*paris_train_original"):
        layouts.paris_files(tmp_path, "train")


def test_real_samples_in_the_official_formats(shared_data, tmp_path):
    celeba = shared_data / "celeba" / "HumanFaceImageGenerator"
    names = sorted(p.name for p in celeba.glob("*.jpg"))
    (tmp_path / "img_align_celeba").symlink_to(celeba)
    (tmp_path / "list_eval_partition.txt").write_text(
        "".join(f"{n} {2 if i % 4 == 0 else 0}\n" for i, n in enumerate(names))
    )
    assert len(layouts.celeba_files(tmp_path, "test")) == len(names[::4])
    paris = tmp_path / "paris"
    (paris / "paris_eval_gt").mkdir(parents=True)
    (paris / "paris_eval_gt").rmdir()
    (paris / "paris_eval_gt").symlink_to(shared_data / "paris" / "context_encoder_pytorch")
    test = layouts.paris_files(paris, "test")
    assert len(test) == 100 and test[0].name == "001_im.png"
