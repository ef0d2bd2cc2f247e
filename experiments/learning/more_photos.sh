#!/usr/bin/env bash
# What more photos buy (experiments/learning/README.md, section 19): the photos_cpu preset over its 18,000 steps (the
# cosine on the step clock, no time guard, seed 0) with the 174 other Paris and Places photos of DATA_DIR added to its
# training photos (dataset.extra_train, after the validation photos are carved out), then evaluated on the two test sets
# it did not train on, BSDS500 test and Urban100 img_081-100 (evaluate refuses the other two: it trained on them).
# EXTRA=[FOLDER,...] adds other folders instead.
#   bash experiments/learning/more_photos.sh DATA_DIR OUT_DIR [overrides...]
# Paired with the preset's run of the same seed on the benchmark's photos alone:
#   python experiments/learning/paired.py experiments/learning/runs/B1/eval OUT_DIR/eval
set -euo pipefail
DATA=${1:?data dir holding bsds500/, urban100/, paris/, places/}; OUT=${2:?output dir}; shift 2
PY=${PYTHON:-python}
EXTRA=${EXTRA:-'[paris/context_encoder_pytorch,places/GPDM_Places50,places/generative_inpainting,places/inpainting_gmcnn,places/PUT,places/Pluralistic-Inpainting,places/MAT]'}
mkdir -p "$OUT"
"$PY" -m musical_inpaint.train experiment=photos_cpu "paths.data_dir=$DATA" "hydra.run.dir=$OUT/train" model.lr_clock=steps \
  trainer.max_time=null "dataset.extra_train=$EXTRA" trainer.enable_progress_bar=false "$@" > "$OUT/train.log" 2>&1
SIZE=$(grep '^crop_size:' "$OUT/train/config.yaml" | awk '{print $2}')
for test_set in bsds500 urban100; do
  "$PY" -m musical_inpaint.evaluate "ckpt_path=$OUT/train/checkpoints/last.ckpt" dataset=photos "dataset.test_set=$test_set" \
    "crop_size=$SIZE" dataset.num_workers=0 "paths.data_dir=$DATA" save_images=8 "hydra.run.dir=$OUT/eval/$test_set" > /dev/null
done
