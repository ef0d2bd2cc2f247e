import subprocess
import sys
import zipfile

from tests.helpers import CONFIG_DIR, REPO


def test_a_regular_install_ships_every_config(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    shipped = {name for name in zipfile.ZipFile(wheel).namelist() if name.startswith("musical_inpaint/conf/")}
    expected = {f"musical_inpaint/conf/{p.relative_to(CONFIG_DIR)}" for p in CONFIG_DIR.rglob("*.yaml")}
    assert expected and expected == shipped


def test_ci_runs_the_readme_test_command():
    readme, ci = (REPO / "README.md").read_text(), (REPO / ".ci" / "run").read_text()
    assert "make test" in readme and "\nmake test\n" in ci


SCRIPTS = {
    "musical-train": "musical_inpaint.train",
    "musical-evaluate": "musical_inpaint.evaluate",
    "musical-inpaint": "musical_inpaint.inpaint",
    "musical-export": "musical_inpaint.export",
    "musical-app": "musical_inpaint.app",
    "musical-attention-flow": "musical_inpaint.attention_flow",
}


def test_every_entry_point_is_a_console_script_beside_python_m():
    from importlib.metadata import entry_points

    scripts = {ep.name: ep for ep in entry_points(group="console_scripts") if ep.name.startswith("musical-")}
    assert sorted(scripts) == sorted(SCRIPTS)
    for name, module in SCRIPTS.items():
        assert scripts[name].module == module and callable(scripts[name].load())
    bin_dir = REPO / ".venv" / "bin"
    if (bin_dir / "musical-inpaint").is_file():  # installed by `make install`
        result = subprocess.run(
            [str(bin_dir / "musical-inpaint"), "--help"], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0 and "--checkpoint" in result.stdout


def test_ci_lints_and_checks_the_format_before_the_tests():
    ci = (REPO / ".ci" / "run").read_text()
    assert ci.index("ruff check") < ci.index("ruff format --check") < ci.index("\nmake test\n")
