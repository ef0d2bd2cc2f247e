#!/usr/bin/env bash
# Copies the small files of an ablation OUT_DIR (every run's overrides, config, metrics CSV and
# test figures, and the floors; no checkpoints) into DEST, so that summarize.py reruns on them.
# Usage: bash experiments/ablation_photos/collect.sh OUT_DIR DEST
set -euo pipefail
OUT=${1:?ablation output dir}; DEST=${2:?destination}
mkdir -p "$DEST" && DEST=$(cd "$DEST" && pwd)
cd "$OUT"
find -L sweep-seeds-* floors \( -name overrides.yaml -o -name config.yaml -o -name metrics.csv -o -name runs.md \
  -o -name metrics.json -o -name per_image.csv \) -not -path "*/.hydra/config.yaml" | while read -r f; do
  mkdir -p "$DEST/$(dirname "$f")" && cp "$f" "$DEST/$f"
done
