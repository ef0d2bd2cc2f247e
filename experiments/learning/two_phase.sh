#!/usr/bin/env bash
# Progressive resizing within the hour (section 10 of README.md): phase 1 trains the photos_cpu
# recipe at 64 x 64 (bf16-mixed) for STEPS1 steps, where a step costs under half of one at 128;
# phase 2 starts from its weights (init_from) at 128 x 128 with H1's settings for STEPS2 steps,
# after a 300-step warm-up of the learning rate (a fresh Adam on trained weights). Then phase 2
# on the four test sets as experiments/photos_cpu/run.sh does, beside the classical floors of a
# photos_cpu run folder (FLOORS, made by its baselines.sh). Extra overrides go to both phases.
#   bash experiments/learning/two_phase.sh DATA_DIR OUT_DIR FLOORS_DIR STEPS1 STEPS2 [overrides...]
set -euo pipefail
DATA=${1:?data dir}; OUT=${2:?output dir}; FLOORS=${3:?floors of a photos_cpu run: OUT/floors}
STEPS1=${4:?steps at 64}; STEPS2=${5:?steps at 128}; shift 5
PY=${PYTHON:-python}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
COMMON="experiment=photos_cpu paths.data_dir=$DATA trainer.precision=bf16-mixed trainer.enable_progress_bar=false"
$PY -m musical_inpaint.train $COMMON trainer.max_steps=$STEPS1 hydra.run.dir=$OUT/phase1 "$@" > $OUT/phase1.log 2>&1
$PY -m musical_inpaint.train $COMMON crop_size=128 'dataset.train_load_size=[128,256]' dataset.batch_size=8 \
  trainer.max_steps=$STEPS2 model.warmup_steps=300 init_from=$OUT/phase1/checkpoints/last.ckpt hydra.run.dir=$OUT/train \
  "$@" > $OUT/train.log 2>&1
for test_set in bsds500 urban100 paris places50; do
  $PY -m musical_inpaint.evaluate ckpt_path=$OUT/train/checkpoints/last.ckpt dataset=photos dataset.test_set=$test_set \
    crop_size=128 dataset.num_workers=0 paths.data_dir=$DATA save_images=8 hydra.run.dir=$OUT/eval/$test_set > /dev/null
done
ln -sfn "$(cd "$FLOORS" && pwd)" $OUT/floors
$PY $HERE/../photos_cpu/summarize.py $OUT --write $OUT
for phase in phase1 train; do  # the hour's budget is both phases' training minutes
  $PY -c "import csv, sys; rows = [r for r in csv.DictReader(open(sys.argv[1])) if r.get('time/train_minutes')]
print(sys.argv[2], rows[-1]['time/train_minutes'], 'training minutes at step', rows[-1]['step'])" $OUT/$phase/csv/metrics.csv $phase
done | tee $OUT/minutes.txt
