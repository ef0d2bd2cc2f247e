# Set-up and the everyday commands. Everything runs inside the project's own virtual environment.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test demo clean

install: $(STAMP)

# Re-installs whenever the declared dependencies change.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

test: install
	$(PY) -m pytest --timeout=900

demo: install
	$(PY) -m musical_inpaint.train experiment=quickstart

clean:
	rm -rf $(VENV) demo_output .pytest_cache
