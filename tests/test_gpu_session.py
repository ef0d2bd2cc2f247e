"""benchmarks/gpu_session.sh works the first time on a machine like the GPU machines: their image
holds torch, Lightning and the rest, but not Hydra, and the project is not installed. A dry run
on the CPU, in a fresh virtual environment that sees this environment's packages but those."""

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What the GPU machines' image lacks: Hydra and what only it needs, and this project.
NOT_IN_THE_IMAGE = ("hydra", "omegaconf", "antlr4", "musical_inpaint", "__editable__")


def image_like_environment(folder: Path) -> Path:
    """A fresh virtual environment whose only packages are this one's, less NOT_IN_THE_IMAGE
    (linked from a folder named in a .pth file); its python."""
    site = folder / "image_site"
    site.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.lower().startswith(NOT_IN_THE_IMAGE) and entry.suffix != ".pth":
            (site / entry.name).symlink_to(entry)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder / "venv")], check=True)
    python = folder / "venv" / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "image.pth").write_text(f"{site}\n")
    return python


def test_the_gpu_session_runs_end_to_end_from_its_carried_wheels(tmp_path):
    python = image_like_environment(tmp_path)
    assert subprocess.run([python, "-c", "import torch, lightning"], check=False).returncode == 0
    assert subprocess.run([python, "-c", "import hydra"], capture_output=True, check=False).returncode != 0

    wheels, out = tmp_path / "wheels", tmp_path / "out"
    tree = lambda: subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    before = tree()
    subprocess.run(
        ["bash", "benchmarks/gpu_wheels.sh", str(wheels)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
    )
    done = subprocess.run(
        ["bash", "benchmarks/gpu_session.sh", "--dry-run"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHON": str(python),
            "WHEELS": str(wheels),
            "OUT": str(out),
            "HOME": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    log = (out / "gpu_session.log").read_text()
    assert done.returncode == 0 and log.rstrip().endswith("done"), done.stdout[-3000:] + done.stderr[-3000:]
    assert "installing 3 carried wheels" in log
    assert "skipped" in (out / "gpu_tests.txt").read_text()  # no CUDA here: every CUDA test skips
    results = [json.loads(line) for line in (out / "gpu_step_variants.jsonl").read_text().splitlines()]
    assert [r["variant"] for r in results] == ["default", "fast_step", "fast_step, compiled"]
    assert all(r["images_per_second"] > 0 and r["flops_per_image"] > 0 for r in results)
    assert [r["compile"] for r in results] == [False, False, "eager"]
    assert (out / "gpu_variants.json").is_file()  # the whole run, beside the lines
    assert tree() == before  # nothing written into the repository
