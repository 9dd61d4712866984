# Two commands for a newcomer: `make repro` (main job) and `make test` (the test suite).
# Both create the environment from uv.lock first; uv is bootstrapped with pip where it is missing.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")

.PHONY: setup repro test test-slow test-all plots bench clean

setup:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv>=0.5"
	$(UV) sync --frozen --compile-bytecode

repro: setup  ## run the whole DVC pipeline on the built-in synthetic contact centre
	$(UV) run dvc repro

test: setup  ## the test suite without the slow tier (minutes); finds or installs a headless Chromium first
	@bash .ci/ensure-browser
	$(UV) run pytest -m "not slow" --durations=15

test-slow: setup  ## the slow tier: whole `dvc repro` runs (a fresh clone at the default size, every export shape), live servers
	@bash .ci/ensure-browser
	$(UV) run pytest -m slow --durations=15

test-all: test test-slow  ## both tiers (what CI runs)

plots: setup  ## dvc plots show, offline (Vega inline from the installed package): dvc_plots/index.html
	$(UV) run fcr plots

bench: setup repro  ## benchmarks (minutes; 10M contacts; the service one serves the default model)
	$(UV) run python bench/bench_generate.py
	$(UV) run python bench/bench_ingest.py
	$(UV) run python bench/bench_label.py
	$(UV) run python bench/bench_featurize.py
	$(UV) run python bench/bench_train.py
	$(UV) run python bench/bench_service.py
	$(UV) run python bench/bench_soak.py

clean:
	rm -rf data plots reports models_out metrics/runs
