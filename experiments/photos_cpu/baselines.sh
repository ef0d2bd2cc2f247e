#!/usr/bin/env bash
# The classical floors on every test set of the real-photo benchmark, with the paper's protocol
# (centre hole of half the side), at the given sizes. Deterministic: no seed involved.
# Usage: bash experiments/photos_cpu/baselines.sh DATA_DIR OUT_DIR [SIZES...]
set -euo pipefail
DATA=${1:?data dir holding bsds500/, urban100/, paris/, places/}; OUT=${2:?output dir}; shift 2
SIZES=${*:-64}
PY=${PYTHON:-python}
for size in $SIZES; do
  for test_set in bsds500 urban100 paris places50; do
    for method in telea navier_stokes patchmatch harmonic; do
      $PY -m musical_inpaint.evaluate method=$method dataset=photos dataset.test_set=$test_set crop_size=$size \
        dataset.num_workers=0 paths.data_dir=$DATA save_images=4 hydra.run.dir=$OUT/$size/$test_set/$method \
        > /dev/null
    done
  done
  for method in telea patchmatch harmonic; do  # Urban100, all 100 images (figures over the whole set)
    $PY -m musical_inpaint.evaluate method=$method dataset=folder dataset.root=$DATA/urban100 dataset.test_root=$DATA/urban100 \
      crop_size=$size dataset.num_workers=0 save_images=0 hydra.run.dir=$OUT/$size/urban100_all/$method > /dev/null
  done
done
