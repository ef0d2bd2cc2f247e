#!/usr/bin/env bash
# The whole CPU ablation: 3 attention variants x adversarial loss off/on x 3 seeds = 18 runs of
# one epoch each, then every run evaluated on 100 held-out synthetic images with fixed centre
# holes, the seed-0 runs also on the 100 real Paris StreetView test images, the classical
# baselines on both, then the summary table and plot. About 58 minutes alone on 2 CPU cores. Run from the repository root: bash experiments/ablation_cpu/run.sh
set -euo pipefail
here=experiments/ablation_cpu
sweep=$here/sweep
python=${PYTHON:-.venv/bin/python}

$python -m musical_inpaint.train -m experiment=ablation_cpu \
    attention=multi_scale,single_scale,none adv_weight=0,0.3 seed=0,1,2 \
    hydra.sweep.dir=$sweep

for job in "$sweep"/*/; do
    $python -m musical_inpaint.evaluate ckpt_path="$job" dataset=synthetic crop_size=64 \
        dataset.test_size=100 save_images=4 paths.output_dir="$job/eval_synthetic" > /dev/null
    # The real photos: the seed-0 model of each variant (jobs 0, 3, 6, ...), to keep the CPU budget.
    if [ -d ../shared/data/paris/context_encoder_pytorch ] && grep -q "seed=0" "$job/.hydra/overrides.yaml"; then
        $python -m musical_inpaint.evaluate ckpt_path="$job" dataset=folder \
            dataset.root=../shared/data/paris/context_encoder_pytorch \
            dataset.test_root=../shared/data/paris/context_encoder_pytorch \
            save_images=4 paths.output_dir="$job/eval_paris" > /dev/null
    fi
done
for method in telea navier_stokes patchmatch; do
    $python -m musical_inpaint.evaluate method=$method dataset=synthetic crop_size=64 dataset.test_size=100 \
        save_images=0 paths.output_dir="$here/baselines/${method}_synthetic" > /dev/null
    if [ -d ../shared/data/paris/context_encoder_pytorch ]; then
        $python -m musical_inpaint.evaluate method=$method dataset=folder \
            dataset.root=../shared/data/paris/context_encoder_pytorch \
            dataset.test_root=../shared/data/paris/context_encoder_pytorch \
            save_images=0 paths.output_dir="$here/baselines/${method}_paris" > /dev/null
    fi
done
$python $here/summarize.py $here
