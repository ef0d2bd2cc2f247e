#!/bin/bash
# The wheels gpu_session.sh installs on a GPU machine whose image lacks them (Hydra and what it
# needs), at the versions of this environment, into DIR (default .whl/, which git ignores).
# antlr4-python3-runtime 4.9.3, which Hydra pins, exists on the package index only as source:
# pip builds its wheel here. The wheels are pure Python, for any Python 3.
set -euo pipefail
dir=${1:-.whl}
python=${PYTHON:-python3}
mkdir -p "$dir"
pins=$("$python" - <<'PY'
from importlib.metadata import version
print(" ".join(f"{name}=={version(name)}" for name in ("hydra-core", "omegaconf", "antlr4-python3-runtime")))
PY
)
"$python" -m pip wheel -q --no-deps --wheel-dir "$dir" $pins
ls "$dir"
