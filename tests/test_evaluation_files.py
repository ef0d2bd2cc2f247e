"""Any method on the same holes: masks from files, the evaluation's inputs written as files, and a
folder of another method's results scored with the same metric code."""

import csv
import json
import logging
import re

import numpy as np
import pytest
from PIL import Image

from musical_inpaint.baselines import BASELINES
from musical_inpaint.config import compose_config
from musical_inpaint.data import FolderMask
from musical_inpaint.data.datasets import SyntheticDataset
from musical_inpaint.data.images import DuplicateStemError
from musical_inpaint.data.masks import MaskFileError
from musical_inpaint.errors import OptionError, user_error
from musical_inpaint.evaluate import evaluate
from musical_inpaint.evaluation_files import EvaluationFilesError
from tests.helpers import write_image
from tests.helpers.runs import train_run

SYNTHETIC = ["dataset=synthetic", "crop_size=32", "dataset.test_size=8", "save_images=0", "dataset.batch_size=3"]


def compose_evaluate(tmp_path, *overrides):
    return compose_config("evaluate", [*SYNTHETIC, f"paths.output_dir={tmp_path}", *overrides])


def _mask_file(path, levels, mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(levels, np.uint8), mode="L").convert(mode).save(path)
    return path


# -------------------------------------------------------------------------- masks from files


def test_masks_from_a_folder_match_images_by_stem_resized_and_binarised_as_inpaint_reads_them(tmp_path):
    levels = np.zeros((8, 8), np.uint8)
    levels[:4, :4], levels[4:, 4:], levels[:4, 4:] = 255, 127, 126  # white, the threshold, just below
    _mask_file(tmp_path / "masks" / "a.png", levels)
    _mask_file(tmp_path / "masks" / "sub" / "b.jpg", np.full((8, 8), 255), mode="RGB")
    folder = FolderMask(tmp_path / "masks")
    hole = folder(16, 16, np.random.default_rng(0), name="a.jpg")  # another suffix, twice the size
    expected = np.kron(levels >= 127, np.ones((2, 2))).astype(np.float32)
    assert hole.dtype == np.float32 and np.array_equal(hole, expected)
    assert folder(5, 7, None, name="b.png").shape == (5, 7)
    with pytest.raises(MaskFileError, match=r"masks has no mask with the stem of c\.png"):
        folder(8, 8, None, name="c.png")


def test_masks_beside_their_images_in_lamas_layout_and_black_holes_when_inverted(tmp_path):
    levels = np.zeros((8, 8), np.uint8)
    levels[2:6, 2:6] = 255
    write_image(tmp_path / "lama" / "a.png", 8, 8)  # the image itself, beside its mask
    _mask_file(tmp_path / "lama" / "a_mask000.png", levels)
    hole = FolderMask(tmp_path / "lama")(8, 8, None, name="a.jpg")
    assert np.array_equal(hole, (levels >= 127).astype(np.float32))
    inverted = FolderMask(tmp_path / "lama", invert=True)(8, 8, None, name="a.jpg")
    assert np.array_equal(inverted, 1 - hole)
    _mask_file(tmp_path / "lama" / "a_mask001.png", levels)
    with pytest.raises(DuplicateStemError, match="a_mask000.png and .*a_mask001.png have the same stem"):
        FolderMask(tmp_path / "lama")


def test_masks_drawn_from_a_folder_are_the_same_for_an_image_in_every_evaluation(tmp_path):
    for number in range(4):
        levels = np.zeros((8, 8), np.uint8)
        levels[number, :] = 255
        _mask_file(tmp_path / f"{number:05d}.png", levels)
    drawn = FolderMask(tmp_path, match="random")
    dataset = SyntheticDataset(12, 16, drawn, deterministic=True, seed=5)
    first = [dataset[index]["mask"] for index in range(12)]
    again = SyntheticDataset(12, 16, FolderMask(tmp_path, match="random"), deterministic=True, seed=5)
    assert all(np.array_equal(a, again[i]["mask"]) for i, a in enumerate(first))
    assert len({a.numpy().tobytes() for a in first}) > 1  # drawn per image, not one for all
    training = SyntheticDataset(12, 16, drawn, deterministic=False, seed=5)
    assert training[0]["mask"].sum() == 2 * 16  # one row of 8, resized to 16 x 16


@pytest.mark.parametrize(
    "setup, options, message",
    [
        (lambda root: None, {}, "mask.root=.*: must be a folder of mask images"),
        (lambda root: root.mkdir(), {}, r"holds no readable mask image \(0 image file"),
        (lambda root: _broken(root / "a.png"), {}, r"holds no readable mask image \(1 image file"),
        (lambda root: root.mkdir(), {"match": "name"}, "mask.match=name: must be one of stem, random"),
    ],
)
def test_a_mask_folder_that_cannot_work_is_named(tmp_path, setup, options, message):
    setup(tmp_path / "masks")
    with pytest.raises(OptionError, match=message):
        FolderMask(tmp_path / "masks", **options)


def _broken(path):
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an image")


def _shown(config) -> str:
    """The one line the command prints for the error evaluating `config` raises."""
    with pytest.raises(Exception) as raised:
        evaluate(config)
    shown = user_error(raised.value, config)
    assert shown is not None, raised.value
    return str(shown)


def test_images_without_a_mask_of_their_stem_are_named_before_any_is_read(tmp_path):
    _mask_file(tmp_path / "masks" / "synthetic_2_000000.png", np.full((4, 4), 255))
    config = compose_evaluate(tmp_path / "out", "method=telea", "mask=folder", f"mask.root={tmp_path / 'masks'}")
    assert re.search("no mask with the stem of synthetic_2_000001, .* and 2 more", _shown(config))
    (tmp_path / "masks" / "synthetic_2_000001.png").write_bytes(b"not an image")
    for number in range(2, 8):
        _mask_file(tmp_path / "masks" / f"synthetic_2_{number:06d}.png", np.full((4, 4), 255))
    assert re.search("cannot read mask .*synthetic_2_000001.png", _shown(config))  # before any image is scored
    _mask_file(tmp_path / "masks" / "x" / "synthetic_2_000000.jpg", np.full((4, 4), 255))
    assert "have the same stem" in _shown(config)
    unset = compose_evaluate(tmp_path / "out", "method=telea", "mask=folder")
    assert _shown(unset) == "mask.root is not set: give it on the command line (mask.root=...)"
    missing = compose_evaluate(tmp_path / "out", "method=telea", "mask=folder", f"mask.root={tmp_path / 'none'}")
    assert _shown(missing) == f"mask.root={tmp_path / 'none'}: must be a folder of mask images (white = hole)"


def test_training_draws_its_holes_from_a_folder_of_masks(tmp_path):
    for number in range(3):
        levels = np.zeros((16, 16), np.uint8)
        levels[4 * number : 4 * number + 8, 4:12] = 255
        _mask_file(tmp_path / "masks" / f"{number}.png", levels)
    run = train_run(tmp_path / "run", "mask=folder", f"mask.root={tmp_path / 'masks'}", "mask.match=random")
    assert run.last.exists() and np.isfinite(run.value)


# ----------------------------------------------------------------- inputs out, results back


def _fill_folder(inputs, output, method):
    """What another program would do: read the written inputs, write its results by stem."""
    output.mkdir()
    for image_file in sorted((inputs / "images").iterdir()):
        image = np.asarray(Image.open(image_file).convert("RGB"))
        hole = np.asarray(Image.open(inputs / "masks" / image_file.name)) >= 127
        Image.fromarray(BASELINES[method](image, hole)).save(output / f"{image_file.stem}.png")


def _rows(folder):
    with open(folder / "per_image.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_results_written_to_a_folder_score_exactly_as_the_method_itself(tmp_path):
    inputs = tmp_path / "inputs"
    written = evaluate(compose_evaluate(tmp_path / "w", "mask=free_form", f"write_inputs={inputs}"))
    assert written["written"] == 8
    about = json.loads((inputs / "inputs.json").read_text())
    assert about["images"] == 8 and about["mask"]["_target_"].endswith("FreeFormMask") and about["seed"] == 0
    names = sorted(p.name for p in (inputs / "images").iterdir())
    assert names == sorted(p.name for p in (inputs / "masks").iterdir()) and len(names) == 8
    assert not (tmp_path / "w" / "metrics.json").exists()  # writing the inputs scores nothing
    for method in ("telea", "harmonic"):
        _fill_folder(inputs, tmp_path / method, method)
    both = f"results=[{tmp_path / 'telea'},{tmp_path / 'harmonic'}]"
    methods = "method=[results,telea,harmonic]"
    summaries = evaluate(compose_evaluate(tmp_path / "scored", "mask=free_form", methods, both))
    assert [s["label"] for s in summaries][:2] == [
        f"results ({tmp_path / 'telea'})",
        f"results ({tmp_path / 'harmonic'})",
    ]
    scored = tmp_path / "scored"
    assert sorted(p.name for p in scored.iterdir()) == ["harmonic", "results_0", "results_1", "table.md", "telea"]
    assert _rows(scored / "results_0") == _rows(scored / "telea")
    assert _rows(scored / "results_1") == _rows(scored / "harmonic")
    # The written masks, read back as a mask folder, are the holes the evaluation drew.
    from_files = evaluate(
        compose_evaluate(tmp_path / "files", "mask=folder", f"mask.root={inputs / 'masks'}", "method=telea")
    )
    assert _rows(tmp_path / "files") == _rows(scored / "telea") and from_files["images"] == 8
    # limit: the first images only, a folder of them all is still the right one.
    # limit=4 with batches of 3: the inputs and results of the first four images only.
    few = tmp_path / "few"
    evaluate(compose_evaluate(tmp_path / "w4", "mask=free_form", f"write_inputs={few}", "limit=4"))
    assert len(list((few / "images").iterdir())) == 4
    _fill_folder(few, tmp_path / "telea4", "telea")
    one = f"results={tmp_path / 'telea4'}"
    limited = evaluate(compose_evaluate(tmp_path / "four", "mask=free_form", "method=results", one, "limit=4"))
    assert limited["images"] == 4 and _rows(tmp_path / "four") == _rows(scored / "telea")[:4]


def test_results_made_for_other_holes_are_scored_with_a_warning(tmp_path, caplog):
    inputs = tmp_path / "inputs"
    evaluate(compose_evaluate(tmp_path / "w", "mask=free_form", f"write_inputs={inputs}"))
    _fill_folder(inputs, tmp_path / "telea", "telea")
    with caplog.at_level(logging.WARNING, logger="musical_inpaint.evaluate"):
        evaluate(
            compose_evaluate(tmp_path / "same", "mask=free_form", "method=results", f"results={tmp_path / 'telea'}")
        )
        assert "differ from their test image" not in caplog.text
        evaluate(compose_evaluate(tmp_path / "other", "mask=center", "method=results", f"results={tmp_path / 'telea'}"))
    assert re.search(r"result\(s\) differ from their test image outside the hole .*worst: .*telea", caplog.text)


def test_results_that_do_not_match_the_test_images_are_named(tmp_path):
    inputs = tmp_path / "inputs"
    evaluate(compose_evaluate(tmp_path / "w", f"write_inputs={inputs}"))
    with pytest.raises(EvaluationFilesError, match="images/ exists|images exists"):
        evaluate(compose_evaluate(tmp_path / "w2", f"write_inputs={inputs}"))
    results = tmp_path / "results"
    _fill_folder(inputs, results, "telea")

    def score():
        return evaluate(compose_evaluate(tmp_path / "out", "method=results", f"results={results}"))

    (results / "synthetic_2_000003.png").unlink()
    with pytest.raises(EvaluationFilesError, match=r"none with the stem of synthetic_2_000003 \(1 of the 8"):
        score()
    write_image(results / "synthetic_2_000003.png", 32, 31)
    with pytest.raises(EvaluationFilesError, match=r"synthetic_2_000003.png is 32x31, the test image 32x32"):
        score()
    write_image(results / "synthetic_2_000003.png", 32, 32)
    write_image(results / "holiday.png", 32, 32)
    with pytest.raises(EvaluationFilesError, match="holiday.png matches no test image"):
        score()
    assert not (tmp_path / "out" / "metrics.json").exists()  # every check comes before anything is scored
    with pytest.raises(EvaluationFilesError, match="holiday.png matches no test image"):
        evaluate(compose_evaluate(tmp_path / "both", "method=[telea,results]", f"results={results}"))
    assert not (tmp_path / "both" / "telea").exists()  # not even the method listed first
    (results / "holiday.png").unlink()
    assert score()["images"] == 8
    with pytest.raises(EvaluationFilesError, match="is not a folder of inpainted images"):
        evaluate(compose_evaluate(tmp_path / "out2", "method=results", f"results={tmp_path / 'nowhere'}"))
    with pytest.raises(SystemExit, match=r"method=results needs results="):
        evaluate(compose_evaluate(tmp_path / "out3", "method=results"))
