"""Your own parts through every entry point: an attention variant defined outside the package
trains, and its checkpoint serves inpaint, export and the web page's methods once the user names
its module to trust (and is refused, naming the module, until then)."""

import subprocess
import sys

import pytest

from tests.helpers import REPO, write_image
from tests.helpers.configs import TINY

PLUGIN_CONF = REPO / "tests" / "plugins" / "conf"
MODULE = "tests.helpers.attention"


def run(args, cwd, module="musical_inpaint.train"):
    # A fresh process: nothing of the tests is imported there but what the command imports.
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO}:{REPO / 'src'}"},
    )


@pytest.fixture(scope="module")
def variant_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("variant")
    result = run(
        [
            *TINY,
            "attention=mean_fill",
            f"hydra.searchpath=[file://{PLUGIN_CONF}]",
            "adv_weight=0",
            "trainer.max_steps=2",
            "hydra.run.dir=run",
        ],
        cwd=folder,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return folder / "run"


def test_a_variant_of_ones_own_is_refused_until_its_module_is_trusted_then_inpaints(variant_run, tmp_path):
    write_image(tmp_path / "in" / "a.png", 40, 36)
    args = ["--checkpoint", str(variant_run), "--image", str(tmp_path / "in"), "--mask", "center"]
    refused = run([*args, "--output", str(tmp_path / "refused")], tmp_path, "musical_inpaint.inpaint")
    assert refused.returncode == 2 and f"--trust-module {MODULE}" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "refused").exists()
    done = run(
        [*args, "--output", str(tmp_path / "out"), "--trust-module", MODULE], tmp_path, "musical_inpaint.inpaint"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "out" / "a.png").is_file()


def test_a_variant_of_ones_own_is_evaluated_once_trusted(variant_run, tmp_path):
    args = ["dataset=synthetic", "crop_size=32", f"ckpt_path={variant_run}", "limit=2", "save_images=0"]
    refused = run([*args, "hydra.run.dir=refused"], tmp_path, "musical_inpaint.evaluate")
    assert refused.returncode == 2 and f"trust_modules=[{MODULE}]" in refused.stderr + refused.stdout
    done = run([*args, f"trust_modules=[{MODULE}]", "hydra.run.dir=done"], tmp_path, "musical_inpaint.evaluate")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "MUSICAL, ours" in (tmp_path / "done" / "table.md").read_text()


def test_a_variant_of_ones_own_exports_and_serves_the_web_page(variant_run, tmp_path):
    exported = run(
        [
            "--checkpoint",
            str(variant_run),
            "--size",
            "32",
            "32",
            "--output",
            str(tmp_path / "x"),
            "--format",
            "torchscript",
            "--trust-module",
            MODULE,
        ],
        tmp_path,
        "musical_inpaint.export",
    )
    assert exported.returncode == 0, exported.stderr[-2000:]
    assert (tmp_path / "x" / "musical_32x32.pt").is_file()
    code = (
        f"from musical_inpaint.app import Methods; methods = Methods([{str(variant_run)!r}], 'cpu', [{MODULE!r}]); "
        "print(methods.names)"
    )
    page = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO}:{REPO / 'src'}"},
    )
    assert page.returncode == 0 and "MUSICAL: run" in page.stdout, page.stderr[-2000:]


def test_a_trusted_module_that_cannot_be_imported_is_named(variant_run, tmp_path):
    write_image(tmp_path / "a.png", 40, 36)
    result = run(
        [
            "--checkpoint",
            str(variant_run),
            "--image",
            str(tmp_path / "a.png"),
            "--mask",
            "center",
            "--output",
            str(tmp_path / "out"),
            "--trust-module",
            "no_such_module",
        ],
        tmp_path,
        "musical_inpaint.inpaint",
    )
    assert result.returncode == 2 and "cannot import the trusted module 'no_such_module'" in result.stderr


def test_a_dataset_layout_of_ones_own_trains_and_evaluates(tmp_path):
    from musical_inpaint.config import compose_config
    from musical_inpaint.evaluate import evaluate
    from musical_inpaint.train import train
    from tests.helpers.configs import tiny_config

    data = tmp_path / "data"
    for i in range(10):
        write_image(data / f"{i}.png", 40, 40, seed=i)
    (data / "train.txt").write_text("\n".join(f"{i}.png" for i in range(8)))
    (data / "test.txt").write_text("8.png\n9.png\n")
    layout = ["dataset=listed", f"dataset.root={data}", f"hydra.searchpath=[file://{PLUGIN_CONF}]"]
    train(tiny_config(tmp_path / "run", *layout, "~dataset.train_size", "adv_weight=0", "trainer.max_steps=2"))
    summary = evaluate(
        compose_config(
            "evaluate",
            [*layout, "crop_size=32", f"ckpt_path={tmp_path / 'run'}", f"paths.output_dir={tmp_path / 'eval'}"],
        )
    )
    assert summary["images"] == 2 and (tmp_path / "eval" / "per_image.csv").read_text().count("\n") == 3


def test_a_metric_of_ones_own_is_logged_by_validation(tmp_path):
    import csv

    from musical_inpaint.train import train
    from tests.helpers.configs import tiny_config

    metric = (
        "+model.val_per_image.hole_max_error={_target_: musical_inpaint.metrics.MetricSpec, better: lower, "
        "definition: largest difference in the hole, compute: {_target_: tests.test_evaluation.hole_max_error, "
        "_partial_: true}}"
    )
    train(tiny_config(tmp_path, metric, "adv_weight=0", "trainer.max_steps=2"))
    rows = [r for r in csv.DictReader(open(tmp_path / "csv" / "metrics.csv")) if r.get("val/hole_max_error")]
    assert rows and all(0 <= float(r["val/hole_max_error"]) <= 255 for r in rows)
