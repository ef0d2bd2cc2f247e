"""The benchmarks' release layouts with real image files, made in a test's tmp_path."""

from tests.helpers import write_image


def make_celeba(root, count=10):
    lines = []
    for i in range(1, count + 1):
        name = f"{i:06d}.jpg"
        write_image(root / "img_align_celeba" / name, 178, 218, seed=i)
        lines.append(f"{name} {0 if i <= 6 else 1 if i <= 8 else 2}")
    (root / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return root


def make_paris(root, train=6, test=4):
    for i in range(train):
        write_image(root / "paris_train_original" / f"{i:02d}_train.JPG", 936, 537, seed=i)
    for i in range(1, test + 1):
        write_image(root / "paris_eval_gt" / f"{i:03d}_im.png", 227, 227, seed=100 + i)
    return root


def make_places_small(root):
    for i in range(5):
        write_image(root / "data_256" / "c" / "canyon" / f"{i:08d}.jpg", 256, 256, seed=i)
        write_image(root / "data_256" / "b" / "beach" / f"{i:08d}.jpg", 256, 256, seed=50 + i)
    labels = [81, 48, 81, 12, 81]
    for i in range(1, len(labels) + 1):
        write_image(root / "val_256" / f"Places365_val_{i:08d}.jpg", 256, 256, seed=200 + i)
    (root / "places365_val.txt").write_text(
        "".join(f"Places365_val_{i:08d}.jpg {label}\n" for i, label in enumerate(labels, 1))
    )
    devkit = root / "filelist_places365-standard"
    devkit.mkdir()
    (devkit / "categories_places365.txt").write_text("/b/beach 48\n/c/canyon 81\n/a/apartment_building/outdoor 8\n")
    return root


def make_photos(root, urban=82):
    """The real-photo benchmark's layout with tiny images (Urban100 numbered as released)."""
    for part, count in (("train", 3), ("val", 2), ("test", 2)):
        for i in range(count):
            write_image(root / "bsds500" / part / f"{part}{i}.jpg", 24, 16, seed=i)
    for i in range(1, urban + 1):
        write_image(root / "urban100" / f"img_{i:03d}.png", 20, 20, seed=100 + i)
    write_image(root / "paris" / "context_encoder_pytorch" / "001_im.png", 20, 20)
    write_image(root / "places" / "GPDM_Places50" / "1.jpg", 20, 20)
    return root
