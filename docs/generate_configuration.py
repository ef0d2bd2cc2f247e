"""Writes docs/configuration.md from conf/: every config group, every option of it and every key,
with its default and the comment that documents it in the YAML file, which stays the one place
where a key is explained. A test regenerates the page and fails when it differs.

    python docs/generate_configuration.py > docs/configuration.md
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

CONF = Path(__file__).resolve().parents[1] / "conf"
ROOTS = ("train.yaml", "evaluate.yaml")
KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w.-]*):(?P<value>[^#]*?)(?:\s+#\s?(?P<comment>.*))?$")
PAPER = re.compile(r"\bpaper(?:'s)?:? (?P<value>[^;,()]+)", re.IGNORECASE)


def package(path: Path, text: str) -> str:
    """Where the file's keys land in the composed configuration (Hydra's `# @package`)."""
    match = re.search(r"^# @package (\S+)", text, re.MULTILINE)
    if match:
        return "" if match.group(1) == "_global_" else match.group(1)
    relative = path.relative_to(CONF)
    return "" if len(relative.parts) == 1 else ".".join(relative.parts[:-1])


def header(text: str) -> str:
    """The file's leading comment, as one paragraph."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        if not line.startswith("# @package"):
            lines.append(line.lstrip("#").strip())
    return " ".join(lines).strip()


def keys(path: Path) -> list[tuple[str, str, str]]:
    """(dotted key, default, comment) of every key of a file, in file order; a node with a
    `_target_` appears as one row showing its target. A comment continues on the next lines that
    start with a `#` in the same column as the key's own."""
    text = path.read_text()
    prefix = package(path, text)
    values = yaml.safe_load(text) or {}
    rows, stack, column, above, in_header = [], [], None, [], True
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            if column is not None and line.index("#") == column:
                key, default, comment = rows[-1]
                rows[-1] = (key, default, f"{comment} {line.strip().lstrip('#').strip()}".strip())
            elif not in_header:
                column = None
                above.append(line.strip().lstrip("#").strip())  # a block comment: the next key's
            continue
        in_header, column = False, None
        comment_above, above = " ".join(above), []
        match = KEY.match(line)
        if not match or line.lstrip().startswith("- "):
            continue
        depth = len(match["indent"])
        stack = [(d, k) for d, k in stack if d < depth] + [(depth, match["key"])]
        dotted = ".".join(k for _, k in stack)
        value = values
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if dotted.split(".")[0] == "defaults" or (isinstance(value, dict) and "_target_" not in value and value):
            continue  # the defaults list, or a plain node whose keys have rows of their own
        if len(stack) > 1 and stack[-1][1].startswith("_"):
            continue  # _target_ and _partial_ of a node: shown on the node's row
        if re.match(r"\w+: set by the ", comment_above):
            comment_above = ""  # a note where a group's key would be (`scheduler: set by the lr_schedule group`)
        comment = " ".join(c for c in (comment_above, (match["comment"] or "").strip()) if c)
        rows.append((".".join(p for p in (prefix, dotted) if p), show(value), comment))
        if match["comment"]:
            column = line.index("#", len(match["indent"]) + len(match["key"]) + 1 + len(match["value"]))
    return rows


def show(value) -> str:
    if isinstance(value, dict):
        target = value.get("_target_", "")
        return f"`{target}`" + (" (partial)" if value.get("_partial_") else "")
    if value is None:
        return "`null`"
    if value == {} or value == []:
        return f"`{value}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    return f"`{text}`".replace("|", "\\|")


def described(rows: list[tuple[str, str, str]], explained: dict[str, str]) -> list[tuple[str, str, str]]:
    """Rows whose key has no comment in its file take the comment of the same key in another file
    (a dataset's `val_size` is explained once); the Trainer's arguments are Lightning's, and a
    node's other arguments are its class's."""
    out = []
    targets = {
        key: default.split("`")[1]
        for key, default, _ in rows
        if default.startswith("`")
        and "." in default
        and default.split("`")[1][:1].islower()
        and "(" not in default.split("`")[1]
    }
    for key, default, comment in rows:
        parent = key.rsplit(".", 1)[0]
        if not comment and not explained.get(key) and parent in targets and targets[parent].count(".") >= 1:
            comment = f"argument `{key.rsplit('.', 1)[1]}` of `{targets[parent].rsplit('.', 1)[1]}`"
        if not comment and key.startswith("trainer.") and key.count(".") == 1:
            comment = f"Lightning's `Trainer({key.split('.')[1]}=...)`"
        if not comment and key.endswith("._target_"):
            comment = "the class built"
        if not comment and default.startswith("`") and "." in default and not explained.get(key):
            comment = "the part this option builds (described above)"
        out.append((key, default, comment or explained.get(key, "")))
    return out


def table(rows: list[tuple[str, str, str]]) -> list[str]:
    if not rows:
        return ["(no keys of its own)", ""]
    lines = ["| key | default | paper | what it does |", "|---|---|---|---|"]
    for key, default, comment in rows:
        paper = PAPER.search(comment)
        lines.append(
            f"| `{key}` | {default} | {paper['value'].strip() if paper else ''} | {comment.replace('|', '/')} |"
        )
    return lines + [""]


def page() -> str:
    files = [CONF / root for root in ROOTS] + sorted(p for p in CONF.rglob("*.yaml") if p.parent != CONF)
    explained: dict[str, str] = {}
    for path in files:
        for key, _, comment in keys(path):
            if comment:
                explained.setdefault(key, comment)
    out = [
        "# Configuration",
        "",
        "Every key of `conf/`, generated from the YAML files by `python docs/generate_configuration.py > "
        "docs/configuration.md` (the comments there are the one place each key is explained; a test "
        "keeps this page in step). Set any key on the command line: `python -m musical_inpaint.train "
        "dataset=paris dataset.batch_size=8 model.lr=1e-4`; choose an option of a group with "
        "`group=option`. The *paper* column gives the paper's value where a comment states it.",
        "",
    ]
    for root in ROOTS:
        path = CONF / root
        out += [f"## `{root}`", "", header(path.read_text()), "", *table(described(keys(path), explained))]
    groups = sorted({p.parent for p in CONF.rglob("*.yaml") if p.parent != CONF})
    for group in groups:
        name = "/".join(group.relative_to(CONF).parts)
        options = sorted(group.glob("*.yaml"))
        out += [f"## Group `{name}`", "", "Options: " + ", ".join(f"`{name}={p.stem}`" for p in options), ""]
        for path in options:
            out += [
                f"### `{name}={path.stem}`",
                "",
                header(path.read_text()),
                "",
                *table(described(keys(path), explained)),
            ]
    return "\n".join(line for line in out).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(page())
