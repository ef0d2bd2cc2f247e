#!/usr/bin/env bash
# What each change to the CPU recipe buys: runs of equal wall time (max_time), one thread each,
# two at a time, on the real-photo benchmark at 64 x 64, seed 0. Each step adds one change to the
# previous one. Usage: bash experiments/learning/pilots.sh DATA_DIR LOG_DIR [MINUTES]
set -euo pipefail
DATA=${1:?data dir holding bsds500/ and urban100/}; LOGS=${2:?log dir}; MINUTES=${3:-12}
PY=${PYTHON:-python}
COMMON="paths.data_dir=$DATA paths.log_dir=$LOGS dataset.val_size=40 +trainer.max_time=00:00:$MINUTES:00 trainer.max_steps=-1 trainer.enable_progress_bar=false"
# P0: today's quickstart recipe, on the photos.
P0="experiment=quickstart dataset=photos ~dataset.train_size dataset.num_workers=0 dataset.cache=true trainer.val_check_interval=100"
# P1: without the VGG terms (random VGG offline: under 1 % of the gradient, 90 % of the step).
P1="$P0 style_weight=0 perceptual_weight=0 trainer.val_check_interval=500"
# P2: wider (base 32) and batch 16, which the freed time pays for.
P2="$P1 model.generator.base_channels=32 dataset.batch_size=16"
# P3: the loss on the hole, where the metric is, rather than on the whole image.
P3="$P2 l1_weight=10 hole_l1_weight=100"
run() { OMP_NUM_THREADS=1 $PY -m musical_inpaint.train $COMMON hydra.run.dir=$LOGS/$1 ${@:2} > $LOGS/$1.log 2>&1; }
mkdir -p "$LOGS"
run P0 $P0 & run P1 $P1 & wait
run P2 $P2 & run P3 $P3 & wait
