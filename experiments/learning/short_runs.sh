#!/usr/bin/env bash
# Short runs of the photos_cpu recipe at 64 x 64, or 128 with SIZE (experiments/learning/README.md, section 11): is
# it limited by its 340 training photos, and what do more views per photo or a shallower U-Net buy?
# Their baseline keeps the paper's instance norms, as when sections 11 and 16 ran them (the preset
# has batch norms since commit 69b0ac2: the run named batch).
# Each run: bf16-mixed (PRECISION=32-true where the CPU emulates bfloat16: the training log warns),
# STEPS steps, its cosine over them, no time guard (so the figures do not depend on what else the
# machine ran), the same validation photos; NAMES from:
#   all      every training photo                 half / quarter  170 / 85 of them (nested)
#   batch    all, the generator's instance norms replaced by batch norms
#   beta09   batch, and Adam's first moment decay 0.9 (the preset's 0.5 is the GAN setting)
#   lr2e3    batch, at twice the preset's learning rate (2e-3)
#   jitter192  batch, short sides drawn from [64, 192] instead of [64, 128]: more detail views
#   batch8   batch, 8 photos a batch instead of 16 (give it twice the STEPS for the same photos seen)
# The pilots rotate, channels, depth3, combined, layer and harmonic used options that bought nothing
# and were removed after commit 9e88cef; `git checkout 9e88cef` runs them as they ran.
# Each is evaluated on the four test sets as experiments/photos_cpu/run.sh does, beside the
# classical floors at 64 of a photos_cpu run folder (FLOORS/64, made by `baselines.sh DATA FLOORS 64`).
#   bash experiments/learning/short_runs.sh DATA_DIR OUT_DIR FLOORS_DIR STEPS [NAMES...]
# SEED=N (default 0) trains with another seed (initialisation, crops, batch order; the same training and
# validation photos: dataset.seed=0), into OUT_DIR/NAME_seedN. SIZE=128 trains and evaluates at
# 128 x 128 with section 9's settings (short sides drawn from [128, 256], batch 8), beside
# FLOORS/128, into OUT_DIR/NAME_128 (NAME_seedN_128).
set -euo pipefail
DATA=${1:?data dir}; OUT=${2:?output dir}; FLOORS=${3:?floors of a photos_cpu run: RUN/floors}; STEPS=${4:?steps}
shift 4
NAMES=${*:-all half quarter}
PY=${PYTHON:-python}
HERE=$(cd "$(dirname "$0")" && pwd)
SIZE=${SIZE:-64}
case $SIZE in
  64) at_size=(); suffix= ;;
  128) at_size=(crop_size=128 'dataset.train_load_size=[128,256]' dataset.batch_size=8); suffix=_128 ;;
  *) echo "short_runs.sh: SIZE must be 64 or 128, got $SIZE" >&2; exit 2 ;;
esac
bash "$HERE/../photos_cpu/link_floors.sh" "$FLOORS" "$SIZE" "$OUT" --check-only
for name in $NAMES; do
  norm=instance
  case $name in
    all) extra=() ;;
    half) extra=(dataset.train_size=170) ;;
    quarter) extra=(dataset.train_size=85) ;;
    batch) extra=(); norm=batch ;;
    beta09) extra=('model.betas=[0.9,0.999]'); norm=batch ;;
    lr2e3) extra=(model.lr=2e-3); norm=batch ;;
    jitter192) extra=('dataset.train_load_size=[64,192]'); norm=batch ;;
    batch8) extra=(dataset.batch_size=8); norm=batch ;;
    *) echo "short_runs.sh: unknown run $name (all, half, quarter, batch, beta09, lr2e3, jitter192, batch8)" >&2; exit 2 ;;
  esac
  run=$OUT/$name${SEED:+_seed$SEED}$suffix
  bash "$HERE/../photos_cpu/link_floors.sh" "$FLOORS" "$SIZE" "$run"
  "$PY" -m musical_inpaint.train experiment=photos_cpu "paths.data_dir=$DATA" "trainer.precision=${PRECISION:-bf16-mixed}" \
    "trainer.max_steps=$STEPS" trainer.max_time=null trainer.enable_progress_bar=false "hydra.run.dir=$run/train" \
    "seed=${SEED:-0}" dataset.seed=0 "norm=$norm" "${at_size[@]}" "${extra[@]}" > "$run/train.log" 2>&1
  for test_set in bsds500 urban100 paris places50; do
    "$PY" -m musical_inpaint.evaluate "ckpt_path=$run/train/checkpoints/last.ckpt" dataset=photos "dataset.test_set=$test_set" \
      "crop_size=$SIZE" dataset.num_workers=0 "paths.data_dir=$DATA" save_images=8 "hydra.run.dir=$run/eval/$test_set" > /dev/null
  done
  "$PY" "$HERE/../photos_cpu/summarize.py" "$run" --write "$run"
done
