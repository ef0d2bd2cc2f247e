#!/usr/bin/env bash
# Coarse structure first (experiments/learning/README.md, section 18): the photos_cpu preset
# (batch norms) at 32 x 32 for STEPS1 steps, short sides drawn from [32, 64], so each crop shows
# the whole view or a detail at half the test scale and a step costs a fraction of one at 64; then
# STEPS2 steps at 64 x 64 from those weights (init_from; a 300-step warm-up of the learning rate,
# as the fresh Adam starts on trained weights), each phase with its cosine over its steps. As
# short_runs.sh: bf16-mixed unless PRECISION says otherwise, no time guard, SEED (default 0) with
# dataset.seed=0, evaluated on the four test sets at 64 beside FLOORS/64; into OUT_DIR/NAME.
#   bash experiments/learning/coarse_first.sh DATA_DIR OUT_DIR FLOORS_DIR STEPS1 STEPS2 NAME [overrides...]
set -euo pipefail
DATA=${1:?data dir}; OUT=${2:?output dir}; FLOORS=${3:?floors of a photos_cpu run: RUN/floors}
STEPS1=${4:?steps at 32}; STEPS2=${5:?steps at 64}; NAME=${6:?run name}; shift 6
PY=${PYTHON:-python}
HERE=$(cd "$(dirname "$0")" && pwd)
run=$OUT/$NAME
bash "$HERE/../photos_cpu/link_floors.sh" "$FLOORS" 64 "$run"
COMMON=(experiment=photos_cpu "paths.data_dir=$DATA" "trainer.precision=${PRECISION:-bf16-mixed}" trainer.max_time=null
        trainer.enable_progress_bar=false "seed=${SEED:-0}" dataset.seed=0)
"$PY" -m musical_inpaint.train "${COMMON[@]}" crop_size=32 'dataset.train_load_size=[32,64]' \
  "trainer.max_steps=$STEPS1" "hydra.run.dir=$run/phase1" "$@" > "$run/phase1.log" 2>&1
"$PY" -m musical_inpaint.train "${COMMON[@]}" "trainer.max_steps=$STEPS2" model.warmup_steps=300 \
  "init_from=$run/phase1/checkpoints/last.ckpt" "hydra.run.dir=$run/train" "$@" > "$run/train.log" 2>&1
for test_set in bsds500 urban100 paris places50; do
  "$PY" -m musical_inpaint.evaluate "ckpt_path=$run/train/checkpoints/last.ckpt" dataset=photos "dataset.test_set=$test_set" \
    crop_size=64 dataset.num_workers=0 "paths.data_dir=$DATA" save_images=8 "hydra.run.dir=$run/eval/$test_set" > /dev/null
done
"$PY" "$HERE/../photos_cpu/summarize.py" "$run" --write "$run"
