#!/usr/bin/env bash
# The paper's ablation (section 4.2) on the real-photo benchmark: one Hydra multirun of
# experiment=ablation_photos over the variants and seeds (two jobs at a time, one per core), each
# run's last checkpoint evaluated on every test set with the paper's protocol, the classical
# floors on the same images, then results.md and the figures into OUT_DIR
# (WRITE=experiments/ablation_photos rewrites the committed ones). Each call's sweep has its own
# folder, OUT_DIR/sweep-seeds-<seeds>; the summary reads every sweep in OUT_DIR.
# Usage: bash experiments/ablation_photos/run.sh DATA_DIR OUT_DIR [overrides...]
#   SEEDS=3,4 VARIANTS=no_adv,no_attention_no_adv bash experiments/ablation_photos/run.sh ...  # more seeds
set -euo pipefail
DATA=${1:?data dir holding bsds500/, urban100/, paris/, places/}; OUT=${2:?output dir}; shift 2
PY=${PYTHON:-python}
HERE=$(cd "$(dirname "$0")" && pwd)
SEEDS=${SEEDS:-0,1,2}
VARIANTS=${VARIANTS:-full,no_adv,single_scale,no_attention_no_adv}
SWEEP="$OUT/sweep-seeds-${SEEDS//,/-}"
[ ! -e "$SWEEP" ] || { echo "$SWEEP exists: choose another OUT_DIR or SEEDS" >&2; exit 2; }
mkdir -p "$OUT"
# seed first: the sweep runs every variant of a seed before the next seed.
$PY -m musical_inpaint.train -m hydra/launcher=joblib hydra.launcher.n_jobs=2 experiment=ablation_photos seed=$SEEDS variant=$VARIANTS \
  paths.data_dir="$DATA" hydra.sweep.dir="$SWEEP" trainer.enable_progress_bar=false "$@" \
  > "$SWEEP.log" 2>&1 || echo "some jobs failed: see $SWEEP/runs.md"
evaluate() {  # one run's last checkpoint on one test set
  OMP_NUM_THREADS=1 $PY -m musical_inpaint.evaluate ckpt_path="$1/checkpoints/last.ckpt" dataset=photos dataset.test_set="$2" \
    crop_size=64 dataset.num_workers=0 paths.data_dir="$DATA" save_images=8 hydra.run.dir="$1/eval/$2" > /dev/null \
    || echo "evaluation failed: $1 on $2"
}
for job in "$SWEEP"/*/; do
  [ -f "$job/checkpoints/last.ckpt" ] || continue
  for test_set in bsds500 urban100 paris places50; do
    evaluate "${job%/}" "$test_set" &
    while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n; done  # two at a time
  done
done
wait
[ -d "$OUT/floors/64" ] || bash "$HERE/../photos_cpu/baselines.sh" "$DATA" "$OUT/floors" 64  # deterministic: once
$PY "$HERE/summarize.py" "$OUT" --write "${WRITE:-$OUT}"
