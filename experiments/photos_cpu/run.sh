#!/usr/bin/env bash
# The CPU recipe on the real-photo benchmark: train `experiment=photos_cpu` (at most 60 minutes on
# 2 cores), evaluate it on every test set with the paper's protocol, beside the classical floors,
# then write results.md, curve.png and samples.png into OUT_DIR (WRITE=experiments/photos_cpu
# rewrites the committed ones). Usage: bash experiments/photos_cpu/run.sh DATA_DIR OUT_DIR [overrides...]
# FLOORS=RUN/floors reuses the classical floors of an earlier run (deterministic) instead of measuring them.
set -euo pipefail
DATA=${1:?data dir holding bsds500/, urban100/, paris/, places/}; OUT=${2:?output dir}; shift 2
PY=${PYTHON:-python}
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -n "${FLOORS:-}" ]; then  # checked before the hour of training, at the crop_size among the overrides
  SIZE=64
  for override in "$@"; do case $override in crop_size=*) SIZE=${override#crop_size=} ;; esac; done
  bash "$HERE/link_floors.sh" "$FLOORS" "$SIZE" "$OUT" --check-only
fi
mkdir -p "$OUT"
$PY -m musical_inpaint.train experiment=photos_cpu paths.data_dir="$DATA" hydra.run.dir="$OUT/train" "$@" \
  trainer.enable_progress_bar=false > "$OUT/train.log" 2>&1
SIZE=$(grep '^crop_size:' $OUT/train/config.yaml | awk '{print $2}')
for test_set in bsds500 urban100 paris places50; do
  $PY -m musical_inpaint.evaluate ckpt_path=$OUT/train/checkpoints/last.ckpt dataset=photos dataset.test_set=$test_set \
    crop_size=$SIZE dataset.num_workers=0 paths.data_dir=$DATA save_images=8 hydra.run.dir=$OUT/eval/$test_set > /dev/null
done
if [ -n "${FLOORS:-}" ]; then
  bash "$HERE/link_floors.sh" "$FLOORS" "$SIZE" "$OUT"
else
  bash $HERE/baselines.sh $DATA $OUT/floors $SIZE
fi
$PY $HERE/summarize.py "$OUT" --write "${WRITE:-$OUT}"
