#!/usr/bin/env bash
# The attention half of the paper's ablation on images whose holes copying can fill: the
# quickstart's recipe (no discriminator, no VGG16 terms) on the synthetic textures at 64 x 64 for
# a fixed number of steps, with attention=multi_scale, single_scale (the paper's 3x3) and none,
# every seed of SEEDS for each (the variants of a seed draw the same data and start the layers
# they share from the same weights); one Hydra multirun, two jobs at a time. Then every run's last
# checkpoint, Telea, PatchMatch and the harmonic fill on the same 200 held-out synthetic images,
# and the summary (results.md, samples.png) into OUT_DIR (WRITE=experiments/attention_textures
# rewrites the committed ones).
# Usage: bash experiments/attention_textures/run.sh OUT_DIR [overrides...]
#   STEPS=8000 SEEDS=0,1,2,3,4 bash experiments/attention_textures/run.sh /tmp/textures
set -euo pipefail
OUT=${1:?output dir}; shift
PY=${PYTHON:-python}
HERE=$(cd "$(dirname "$0")" && pwd)
STEPS=${STEPS:-8000}
SEEDS=${SEEDS:-0,1,2}
SWEEP="$OUT/sweep"
[ ! -e "$SWEEP" ] || { echo "$SWEEP exists: choose another OUT_DIR" >&2; exit 2; }
mkdir -p "$OUT"
# seed first: the sweep runs every variant of a seed before the next seed.
OMP_NUM_THREADS=1 $PY -m musical_inpaint.train -m hydra/launcher=joblib hydra.launcher.n_jobs=2 experiment=quickstart \
  seed="$SEEDS" attention=multi_scale,single_scale,none trainer.max_steps="$STEPS" trainer.max_time=null \
  model.scheduler.clock=steps hydra.sweep.dir="$SWEEP" trainer.enable_progress_bar=false "$@" \
  > "$SWEEP.log" 2>&1 || echo "some jobs failed: see $SWEEP/runs.md"
checkpoints=$(ls "$SWEEP"/*/checkpoints/last.ckpt | sort -V | paste -sd, -)
$PY -m musical_inpaint.evaluate "method=[musical,telea,patchmatch,harmonic]" "ckpt_path=[$checkpoints]" \
  dataset=synthetic crop_size=64 dataset.test_size=200 save_images=0 hydra.run.dir="$OUT/eval" > "$OUT/eval.log" 2>&1
$PY "$HERE/summarize.py" "$OUT" --write "${WRITE:-$OUT}"
