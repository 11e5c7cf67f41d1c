# streamer: `make run` (demo) and `make test` set up what they need first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-stamp

.PHONY: setup run test test-fast lint format bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh scripts/system-packages.txt
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/setup.sh
	@touch $@

## The demo: replayed chat, offline LLM, answer segments printed.
run: $(STAMP)
	$(BIN)/streamer run --config config/demo.yaml --once

## All tests (the README's test command; .ci/run runs it).
test: $(STAMP)
	$(BIN)/python -m pytest

## Skip the slow end-to-end tests.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check streamer tests bench
	$(BIN)/ruff format --check streamer tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format streamer tests
	$(BIN)/ruff check --fix streamer tests

bench: $(STAMP)
	$(BIN)/python -m bench.chat_path

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache data *.egg-info
