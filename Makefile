# Set-up and the everyday commands. Everything runs inside the project's own virtual environment.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install lint test demo bench bench-gpu gpu-wheels clean

install: $(STAMP)

# Re-installs whenever the declared dependencies change.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

# ruff's lint and format checks, as CI runs them before the tests; `ruff format .` formats.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: install
	$(PY) -m pytest --timeout=900 --durations=30

demo: install
	$(PY) -m musical_inpaint.train experiment=quickstart

# Speed and memory, measured side by side; tables on stdout, JSON in benchmarks/results/.
bench: install
	$(PY) -m benchmarks.bench_attention
	$(PY) -m benchmarks.bench_generator
	$(PY) -m benchmarks.bench_data
	$(PY) -m benchmarks.bench_export
	$(PY) -m benchmarks.bench_subnormals
	$(PY) -m benchmarks.bench_step_ops

# The same on a CUDA device: attention, training at bf16-mixed through the Trainer, inference.
bench-gpu: install
	$(PY) -m benchmarks.bench_gpu

# The wheels benchmarks/gpu_session.sh brings to a GPU machine whose image lacks Hydra (.whl/).
gpu-wheels: install
	PYTHON=$(PY) bash benchmarks/gpu_wheels.sh .whl

clean:
	rm -rf $(VENV) demo_output .pytest_cache
