#!/bin/bash
# Everything a lent GPU machine measures, in one call of the device tool (which lends about 15 minutes
# in all): the tests that need CUDA, then the training step's variants (default, model.fast_step,
# fast_step compiled) at bf16-mixed, 256 x 256, batch 5 and 16, interleaved. About 5 minutes on
# an H100 or H200 after the machine has started. The machine's image has torch, Lightning and
# the rest, but not Hydra: its wheels travel with the tree (benchmarks/gpu_wheels.sh makes them):
#
#     bash benchmarks/gpu_wheels.sh                    # here, once: .whl/ (git-ignored)
#     device run, carry [".whl"]: bash benchmarks/gpu_session.sh
#
# Each result is written to $OUT (else benchmarks/results/gpu_session/) as soon as it exists, so
# a run stopped at the time limit still returns what it measured. --dry-run: the same steps on
# the CPU at a tiny size (tests/test_gpu_session.py runs it in a fresh virtual environment).
set -u
export PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
wheels=${WHEELS:-.whl}
out=${OUT:-benchmarks/results/gpu_session}
dry_run=""
[ "${1:-}" = "--dry-run" ] && dry_run="--dry-run"
mkdir -p "$out"
start=$(date +%s)
step() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$out/gpu_session.log"; }

site=$(mktemp -d)
step "installing $(ls "$wheels"/*.whl | wc -l) carried wheels"
"$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" "$wheels"/*.whl \
  >>"$out/gpu_session.log" 2>&1 || { step "the wheels did not install"; exit 1; }
export PYTHONPATH="$site:src:."
"$python" -c "import hydra, lightning, musical_inpaint.train" || { step "the project does not import"; exit 1; }

if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >"$out/gpu_card.txt"
  step "card: $(cat "$out/gpu_card.txt")"
fi
step "the CUDA tests"
"$python" -m pytest -q -p no:cacheprovider tests/test_cuda.py >"$out/gpu_tests.txt" 2>&1
step "$(tail -1 "$out/gpu_tests.txt")"
step "the step's variants"
"$python" -m benchmarks.bench_gpu --only variants --out "$out" $dry_run 2>&1 \
  | grep -v -i -e warning -e "^  " | tee -a "$out/gpu_session.log"
step "done"
