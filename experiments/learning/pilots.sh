#!/usr/bin/env bash
# What each change to the CPU recipe buys, on the real-photo benchmark at 64 x 64, seed 0; each
# pilot adds one change to the one before. Usage:
#   bash experiments/learning/pilots.sh DATA_DIR LOG_DIR 1   # P0-P3: equal wall time, one thread each, two at a time
#   bash experiments/learning/pilots.sh DATA_DIR LOG_DIR 2   # P4, S1, S2: step budgets, three at a time
#   bash experiments/learning/pilots.sh DATA_DIR LOG_DIR 3   # P1 and three variations of it: 3,000 steps, four at a time
set -euo pipefail
DATA=${1:?data dir holding bsds500/ and urban100/}; LOGS=${2:?log dir}; ROUND=${3:?round 1, 2 or 3}
MINUTES=${MINUTES:-12}
PY=${PYTHON:-python}
# The cosine by steps, as when these pilots ran (the quickstart they start from now also decays by its time limit).
COMMON="paths.data_dir=$DATA paths.log_dir=$LOGS trainer.enable_progress_bar=false model.lr_clock=steps"
TIMED="$COMMON trainer.max_time=00:00:$MINUTES:00 trainer.max_steps=-1"
STEPPED="$COMMON trainer.max_time=null"
# P0: the quickstart recipe before this study (commit 608b1b2), on the photos (validation: 40 photos).
OLD="style_weight=250 perceptual_weight=0.07 l1_weight=100 hole_l1_weight=6 dataset.batch_size=8 model.lr_schedule=constant
     monitor=val/ssim monitor_mode=max"
P0="experiment=quickstart $OLD dataset=photos ~dataset.train_size dataset.val_size=40 dataset.num_workers=0 dataset.cache=true"
# P1: without the VGG terms (random VGG offline: under 1 % of the gradient, about 90 % of the step).
P1="$P0 style_weight=0 perceptual_weight=0 trainer.val_check_interval=500"
# P2: wider (base 32) and batch 16, which the freed time pays for.
P2="$P1 model.generator.base_channels=32 dataset.batch_size=16"
# P3: the loss on the hole, where the metric is, rather than on the whole image.
P3="$P2 l1_weight=10 hole_l1_weight=100"
# P4: P3 with a cosine decay of the learning rate over about the steps P3 reached in its time.
P4="$P3 model.lr_schedule=cosine trainer.max_steps=2500"
# S1, S2: that loss and schedule on the synthetic set (now the quickstart), narrow (16) and wide (32).
S="experiment=quickstart style_weight=0 perceptual_weight=0 l1_weight=10 hole_l1_weight=100 dataset.batch_size=16
   dataset.train_size=20000 dataset.val_size=64 model.lr_schedule=cosine trainer.val_check_interval=500"
S1="$S model.generator.base_channels=16 trainer.max_steps=6000"
S2="$S model.generator.base_channels=32 trainer.max_steps=2500"  # stopped by hand at step 1,000 in the reported run
# P5-P8: P1 for 3,000 steps, with the paper's learning rate, with Adam's usual betas, and without attention.
P5="$P1 trainer.max_steps=3000"
P6="$P5 model.lr=2e-4"
P7="$P5 model.betas=[0.9,0.999]"
P8="$P5 attention=none"
run() { OMP_NUM_THREADS=1 $PY -m musical_inpaint.train hydra.run.dir=$LOGS/$1 ${@:2} > $LOGS/$1.log 2>&1; }
mkdir -p "$LOGS"
case $ROUND in
  1) run P0 $TIMED $P0 trainer.val_check_interval=100 & run P1 $TIMED $P1 & wait
     run P2 $TIMED $P2 & run P3 $TIMED $P3 & wait ;;
  2) run P4 $STEPPED $P4 & run S1 $STEPPED $S1 & run S2 $STEPPED $S2 & wait ;;
  3) run P5 $STEPPED $P5 & run P6 $STEPPED $P6 & run P7 $STEPPED $P7 & run P8 $STEPPED $P8 & wait ;;
  *) echo "pilots.sh: the round must be 1, 2 or 3, got $ROUND" >&2; exit 2 ;;
esac
# A failed pilot shows in its log ($LOGS/NAME.log) and has no validation rows in the table.
