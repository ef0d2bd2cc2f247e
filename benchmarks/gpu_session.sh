#!/bin/bash
# Everything a GPU session measures, in one call (the device tool lends about 15 minutes in all):
# the CUDA tests, then the GPU benchmark with today's step and model.fast_step side by side.
#     bash benchmarks/gpu_session.sh            # about 8 minutes on an H200
# Each part's output is kept in $OUT (or benchmarks/results/) even if a later part fails.
set -u
out="${OUT:-benchmarks/results}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu_card.txt"
python -m pytest -q tests/test_cuda.py tests/test_fast_step.py 2>&1 | tail -15 | tee "$out/gpu_tests.txt"
python -m benchmarks.bench_gpu --only training inference 2>&1 | tee "$out/gpu_bench.txt"
cp benchmarks/results/gpu_training_inference.json "$out/" 2>/dev/null || true
