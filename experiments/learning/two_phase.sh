#!/usr/bin/env bash
# Progressive resizing within the hour (experiments/learning/README.md, section 10): phase 1
# trains the photos_cpu recipe at 64 x 64 (bf16-mixed) for STEPS1 steps, where a step costs under
# half of one at 128; phase 2 starts from its weights (init_from) at 128 x 128 with H1's settings
# for STEPS2 steps, after a 300-step warm-up of the learning rate (a fresh Adam on trained
# weights), stopped by the hour's guard if phase 1 left less than STEPS2 need. Then phase 2 on the
# four test sets as experiments/photos_cpu/run.sh does, beside the classical floors at 128 of a
# photos_cpu run folder (FLOORS/128, made by `baselines.sh DATA FLOORS 128`; checked first).
# Extra overrides go to both phases; the paper's instance norms unless they say otherwise, as when
# section 10 ran it (the preset has batch norms since commit 69b0ac2).
#   bash experiments/learning/two_phase.sh DATA_DIR OUT_DIR FLOORS_DIR STEPS1 STEPS2 [overrides...]
set -euo pipefail
DATA=${1:?data dir}; OUT=${2:?output dir}; FLOORS=${3:?floors of a photos_cpu run: RUN/floors}
STEPS1=${4:?steps at 64}; STEPS2=${5:?steps at 128}; shift 5
PY=${PYTHON:-python}
HERE=$(cd "$(dirname "$0")" && pwd)
bash "$HERE/../photos_cpu/link_floors.sh" "$FLOORS" 128 "$OUT"
minutes() {  # training minutes at the last logged step of a run folder
  "$PY" -c "import sys; from pathlib import Path; from musical_inpaint.runs_table import validations
print(round(float(validations(Path(sys.argv[1]), 'time/train_minutes')[-1]['time/train_minutes']), 1))" "$1"
}
# bf16-mixed unless PRECISION says otherwise (32-true where the CPU emulates bfloat16: the training
# log warns); the cosine by steps, as when section 10's runs were made.
COMMON=(experiment=photos_cpu "paths.data_dir=$DATA" "trainer.precision=${PRECISION:-bf16-mixed}" model.lr_clock=steps
        norm=instance trainer.enable_progress_bar=false)
"$PY" -m musical_inpaint.train "${COMMON[@]}" "trainer.max_steps=$STEPS1" "hydra.run.dir=$OUT/phase1" "$@" \
  > "$OUT/phase1.log" 2>&1
LEFT=$("$PY" -c "import sys; s = max(60, int((58 - float(sys.argv[1])) * 60))  # the preset's guard, over both phases
print(f'00:{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}')" "$(minutes "$OUT/phase1")")
"$PY" -m musical_inpaint.train "${COMMON[@]}" crop_size=128 'dataset.train_load_size=[128,256]' dataset.batch_size=8 \
  "trainer.max_steps=$STEPS2" "trainer.max_time=$LEFT" model.warmup_steps=300 \
  "init_from=$OUT/phase1/checkpoints/last.ckpt" "hydra.run.dir=$OUT/train" "$@" > "$OUT/train.log" 2>&1
SIZE=$(grep '^crop_size:' "$OUT/train/config.yaml" | awk '{print $2}')
for test_set in bsds500 urban100 paris places50; do
  "$PY" -m musical_inpaint.evaluate "ckpt_path=$OUT/train/checkpoints/last.ckpt" dataset=photos "dataset.test_set=$test_set" \
    "crop_size=$SIZE" dataset.num_workers=0 "paths.data_dir=$DATA" save_images=8 "hydra.run.dir=$OUT/eval/$test_set" > /dev/null
done
"$PY" "$HERE/../photos_cpu/summarize.py" "$OUT" --write "$OUT"
echo "training minutes: phase 1 $(minutes "$OUT/phase1"), phase 2 $(minutes "$OUT/train")" | tee "$OUT/minutes.txt"
