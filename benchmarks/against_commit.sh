#!/usr/bin/env bash
# This tree against COMMIT's, alternating processes (the machine's drift hits both alike).
# Usage: bash benchmarks/against_commit.sh COMMIT [attention|step ...]   (run alone on the machine)
set -euo pipefail
COMMIT=${1:?a commit to compare with}; shift
WHAT=${*:-attention step}
HERE=$(cd "$(dirname "$0")/.." && pwd)
OTHER=$(mktemp -d)
git -C "$HERE" worktree add -q --detach "$OTHER" "$COMMIT"
trap 'git -C "$HERE" worktree remove --force "$OTHER"' EXIT
PY=${PYTHON:-python}
for what in $WHAT; do
  for round in 1 2 3; do
    (cd "$OTHER" && PYTHONPATH="$OTHER/src:$OTHER" $PY "$HERE/benchmarks/against_commit.py" "$COMMIT" "$what")
    (cd "$HERE" && PYTHONPATH="$HERE/src:$HERE" $PY "$HERE/benchmarks/against_commit.py" this "$what")
  done
done
