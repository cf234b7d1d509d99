# Everything people and CI run. Each target creates or reuses .venv on its own, installed from
# the lock file, so every machine runs the same versions of everything.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements-dev.lock
DEMO   := sample_manifests/fall2026.csv

.PHONY: demo test lint bench lock report-screenshot clean

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# --quiet: what a person at a terminal sees (the plan, warnings, the summary), also when make's
# output is not a terminal and the row events would otherwise stream as JSON lines.
demo: $(STAMP)  ## run the sample manifest against the embedded Learn sandbox (twice: the second run resumes and calls nothing)
	$(BIN)/rollover run $(DEMO) --sandbox --quiet --html sample_manifests/fall2026.sandbox.report.html
	$(BIN)/rollover run $(DEMO) --sandbox --quiet
	@echo "rollover is installed in .venv: '. .venv/bin/activate' puts it on your PATH"

test: $(STAMP)  ## the whole test suite
	$(BIN)/python -m pytest -q

bench: $(STAMP)  ## performance figures against the sandbox on loopback (about 20 minutes; not part of test)
	$(BIN)/python tests/bench.py

lint: $(STAMP)  ## ruff, ruff format, mypy (strict for the package, relaxed for tests), import layers
	$(BIN)/ruff check rollover tests
	$(BIN)/ruff format --check rollover tests
	$(BIN)/mypy
	$(BIN)/lint-imports

lock: $(STAMP)  ## re-pin every dependency, with hashes, after changing pyproject.toml's dependencies
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --generate-hashes --extra dev --strip-extras --no-emit-index-url \
	  --no-emit-find-links --unsafe-package rollover --output-file $(LOCK) pyproject.toml

report-screenshot: $(STAMP)  ## docs/report.png: the demo's HTML report in headless Chromium (Debian's chromium)
	$(BIN)/rollover report $(DEMO) --sandbox --html sample_manifests/fall2026.sandbox.report.html
	chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	  --disable-background-networking --disable-component-update --disable-sync \
	  --user-data-dir=$$(mktemp -d) --window-size=1200,1500 --screenshot=docs/report.png \
	  file://$(CURDIR)/sample_manifests/fall2026.sandbox.report.html

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
