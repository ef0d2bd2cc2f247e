#!/usr/bin/env bash
# Link the classical floors of an earlier run (deterministic, so measured once) into a run folder:
# every test set and method at SIZE must be there, and an OUT_DIR/floors of the run's own is kept.
# Usage: bash experiments/photos_cpu/link_floors.sh FLOORS_DIR SIZE OUT_DIR [--check-only]
set -euo pipefail
FLOORS=${1:?floors dir: RUN/floors}; SIZE=${2:?size}; OUT=${3:?run folder}
for test_set in bsds500 urban100 paris places50; do
  for method in telea navier_stokes patchmatch; do
    [ -f "$FLOORS/$SIZE/$test_set/$method/metrics.json" ] || { echo "no floors at $FLOORS/$SIZE/$test_set/$method" \
      "(make them with: bash experiments/photos_cpu/baselines.sh DATA_DIR $FLOORS $SIZE)" >&2; exit 2; }
  done
done
if [ -e "$OUT/floors" ] && [ ! -L "$OUT/floors" ]; then
  echo "$OUT/floors holds floors of its own: not replaced" >&2; exit 2
fi
[ "${4:-}" = --check-only ] || { mkdir -p "$OUT"; ln -sfn "$(cd "$FLOORS" && pwd)" "$OUT/floors"; }
