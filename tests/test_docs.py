"""The documentation holds true: every command of the README and of docs/ is valid (a training or
evaluation command composes with Hydra's `--cfg job`; the other commands' options exist in their
`--help`), and docs/configuration.md is what conf/ generates."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir

from musical_inpaint.compat import check_overrides
from musical_inpaint.training.resume import resume_arguments
from tests.helpers import CONFIG_DIR, REPO

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
COMMAND = re.compile(
    r"(?:python -m musical_inpaint\.(?P<module>\w+)|(?P<script>musical-(?:train|evaluate|inpaint|export|app|attention-flow)))"
    r"(?P<args>[^`\n]*)"
)
SCRIPTS = {
    "musical-train": "train",
    "musical-evaluate": "evaluate",
    "musical-inpaint": "inpaint",
    "musical-export": "export",
    "musical-app": "app",
    "musical-attention-flow": "attention_flow",
}
HYDRA = ("train", "evaluate")


def documented_commands() -> list[tuple[str, str, str]]:
    """(document, module, arguments) of every command in a code block or code span."""
    commands = []
    for document in DOCUMENTS:
        text = document.read_text()
        spans = re.findall(r"```(?:bash|sh|console)?\n(.*?)```", text, re.S) + re.findall(r"`([^`\n]+)`", text)
        for span in spans:
            for line in span.splitlines():
                line = re.sub(r"\s+#.*$", "", line.strip())
                for match in COMMAND.finditer(line):
                    module = match["module"] or SCRIPTS[match["script"]]
                    commands.append((document.name, module, match["args"].strip().rstrip("\\").strip()))
    return commands


COMMANDS = documented_commands()


def test_the_documents_hold_commands_of_every_entry_point():
    assert {module for _, module, _ in COMMANDS} >= {"train", "evaluate", "inpaint", "export", "app", "attention_flow"}


def placeholders(tmp_path, checkpoint) -> dict[str, str]:
    """What a placeholder of the documents stands for: files the test makes."""
    run = checkpoint.parent.parent
    return {
        "RUN_OR_CKPT": str(run),
        "RUN1": str(run),
        "RUN2": str(checkpoint),
        "RUN": str(run),
        "CKPT": str(checkpoint),
        "DIR": str(tmp_path),
        "OUT": str(tmp_path / "out"),
    }


def sweep_values(arguments: list[str]) -> list[list[str]]:
    """A multirun's command lines without -m: each value of each comma-separated sweep once."""
    plain = [a for a in arguments if a not in ("-m", "--multirun")]
    swept = {i: split_sweep(a) for i, a in enumerate(plain)}
    count = max(len(values) for values in swept.values()) if swept else 1
    return [[values[min(job, len(values) - 1)] for values in swept.values()] for job in range(count)]


def split_sweep(argument: str) -> list[str]:
    key, sep, value = argument.partition("=")
    if not sep or value.startswith("[") or "," not in value or "(" in value:
        return [argument]
    return [f"{key}={v}" for v in value.split(",")]


HELP: dict[str, str] = {}


def help_text(module: str) -> str:
    """The `--help` of an argparse entry point, once per module."""
    if module not in HELP:
        result = subprocess.run(
            [sys.executable, "-m", f"musical_inpaint.{module}", "--help"],
            capture_output=True,
            text=True,
            timeout=300,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "src")},
        )
        assert result.returncode == 0, result.stderr[-2000:]
        HELP[module] = result.stdout
    return HELP[module]


def compose_as_typed(module: str, arguments: list[str]) -> None:
    """What `--cfg job` does, in this process: the command line as the entry point reads it
    (a resumed run's rewritten, removed options refused), composed by Hydra."""
    config_dir, name = CONFIG_DIR, module
    if module == "train":
        check_overrides(arguments)
        arguments = resume_arguments(arguments)
        if arguments[:1] == ["--config-path"]:
            config_dir, name, arguments = Path(arguments[1]), arguments[3], arguments[4:]
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        compose(config_name=name, overrides=arguments, return_hydra_config=True)


@pytest.mark.parametrize("document, module, arguments", COMMANDS, ids=[f"{d}:{m} {a}"[:90] for d, m, a in COMMANDS])
def test_every_documented_command_is_valid(document, module, arguments, checkpoint, tmp_path, monkeypatch):
    for placeholder, value in placeholders(tmp_path, checkpoint).items():
        arguments = re.sub(rf"\b{placeholder}\b", value, arguments)
    # Placeholders of the grammar itself: `[key=value]`, `...`.
    split = [a for a in shlex.split(arguments) if not (a.startswith("[") or a == "...")]
    monkeypatch.chdir(REPO)  # the documents' commands run from the repository root; composing writes nothing
    monkeypatch.setenv("WANDB_MODE", "offline")
    if module in HYDRA:
        for job in sweep_values(split):
            try:
                compose_as_typed(module, job)
            except Exception as error:  # noqa: BLE001 - the document and the command say what failed
                pytest.fail(f"{document}: {module} {' '.join(job)}: {type(error).__name__}: {error}")
        return
    for option in (a.split("=")[0] for a in split if a.startswith("--")):
        assert option in help_text(module), f"{document}: {module} has no option {option}"


def test_the_configuration_reference_is_what_conf_generates():
    generated = subprocess.run(
        [sys.executable, str(REPO / "docs" / "generate_configuration.py")], capture_output=True, text=True, check=True
    ).stdout
    committed = (REPO / "docs" / "configuration.md").read_text()
    assert committed == generated, "regenerate: python docs/generate_configuration.py > docs/configuration.md"


def test_every_key_of_conf_is_in_the_configuration_reference():
    reference = (REPO / "docs" / "configuration.md").read_text()
    for path in CONFIG_DIR.rglob("*.yaml"):
        for key in leaf_keys(yaml.safe_load(path.read_text()) or {}):
            if key.split(".")[0] != "defaults":
                assert f"{key}`" in reference, f"{path.relative_to(CONFIG_DIR)}: {key} is not in docs/configuration.md"


def leaf_keys(node, prefix=""):
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value and "_target_" not in value:
            yield from leaf_keys(value, f"{dotted}.")
        elif not key.startswith("_") or not prefix:
            yield dotted


def test_the_readme_is_a_front_door():
    words = len((REPO / "README.md").read_text().split())
    assert words <= 1600, f"README.md has {words} words; the rest belongs in docs/"
