#!/usr/bin/env bash
# More variety per photo against the photos_cpu run's overfitting (section 7 of README.md): the
# photos_cpu recipe, seed 0, 18,000 steps, with (V1) a scale jitter of the training short side
# over [64, 128] and (V2) that plus training holes of the same size at random places; side by
# side, one thread each; then each run on the four test sets as experiments/photos_cpu/run.sh does,
# beside the classical floors of a photos_cpu run folder (FLOORS, made by its baselines.sh). The
# paper's instance norms, as then (the preset has batch norms since commit 69b0ac2).
#   bash experiments/learning/variety.sh DATA_DIR OUT_DIR FLOORS_DIR
set -euo pipefail
DATA=${1:?data dir}; OUT=${2:?output dir}; FLOORS=${3:?floors of a photos_cpu run: OUT/floors}
PY=${PYTHON:-python}
HERE=$(cd "$(dirname "$0")" && pwd)
export OMP_NUM_THREADS=1
COMMON="experiment=photos_cpu paths.data_dir=$DATA trainer.max_time=null dataset.train_load_size=[64,128] norm=instance trainer.enable_progress_bar=false"
$PY -m musical_inpaint.train $COMMON hydra.run.dir=$OUT/V1/train > $OUT/V1.log 2>&1 &
$PY -m musical_inpaint.train $COMMON '+mask@dataset.train_mask=random_box' dataset.train_mask.min_fraction=0.5 \
  dataset.train_mask.max_fraction=0.5 hydra.run.dir=$OUT/V2/train > $OUT/V2.log 2>&1 &
wait
for run in V1 V2; do
  for test_set in bsds500 urban100 paris places50; do
    $PY -m musical_inpaint.evaluate ckpt_path=$OUT/$run/train/checkpoints/last.ckpt dataset=photos dataset.test_set=$test_set \
      crop_size=64 dataset.num_workers=0 paths.data_dir=$DATA save_images=8 hydra.run.dir=$OUT/$run/eval/$test_set > /dev/null
  done
  ln -sfn "$(cd "$FLOORS" && pwd)" $OUT/$run/floors
  $PY $HERE/../photos_cpu/summarize.py $OUT/$run --write $OUT/$run
done
