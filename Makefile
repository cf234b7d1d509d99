# Everything people and CI run. Each target creates or reuses .venv on its own.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## run the sample manifest against the embedded Learn sandbox (twice: the second run resumes and calls nothing)
	$(BIN)/rollover run sample_manifests/fall2026.csv --sandbox
	$(BIN)/rollover run sample_manifests/fall2026.csv --sandbox

test: $(STAMP)  ## the whole test suite
	$(BIN)/python -m pytest -q

bench: $(STAMP)  ## performance figures against the sandbox on loopback (about 15 minutes; not part of test)
	$(BIN)/python tests/bench.py

lint: $(STAMP)  ## ruff, ruff format, mypy (strict for the package, relaxed for tests), import layers
	$(BIN)/ruff check rollover tests
	$(BIN)/ruff format --check rollover tests
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
