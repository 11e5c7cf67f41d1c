# streamer: `make run` (demo) and `make test` set up what they need first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-stamp
TEST_STAMP := $(VENV)/.setup-tests-stamp

.PHONY: setup run run-text test test-fast lint format bench soak clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh scripts/system-packages.txt
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/setup.sh
	@touch $@

# The tests also need a real browser (Debian's chromium).
$(TEST_STAMP): $(STAMP) scripts/system-packages-tests.txt
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/setup.sh --tests
	@touch $@

## The demo: a local nginx-rtmp and the avatar answering replayed questions at
## rtmp://127.0.0.1:1935/live/avatar (Ctrl-C stops it).
run: $(STAMP)
	$(BIN)/streamer run --config config/demo.yaml

## The demo without video: the answer segments printed as text.
run-text: $(STAMP)
	$(BIN)/streamer run --config config/demo.yaml --once --no-video

## All tests (the README's test command; .ci/run runs it).
test: $(TEST_STAMP)
	$(BIN)/python -m pytest

## Skip the slow end-to-end tests.
test-fast: $(TEST_STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check streamer wav2lip_fast tests bench
	$(BIN)/ruff format --check streamer wav2lip_fast tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format streamer wav2lip_fast tests bench
	$(BIN)/ruff check --fix streamer wav2lip_fast tests bench

bench: $(TEST_STAMP)
	$(BIN)/python -m bench.chat_path
	$(BIN)/python -m bench.broadcast
	$(BIN)/python -m bench.moderation
	$(BIN)/python -m bench.lipsync
	$(BIN)/python -m bench.tts
	$(BIN)/python -m bench.preview
	$(BIN)/python -m bench.neural_path

## An hour on air with faults on a schedule (SOAK_MINUTES=2 for a short one).
SOAK_MINUTES ?= 60
soak: $(STAMP)
	$(BIN)/python -m bench.soak --minutes $(SOAK_MINUTES)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache data *.egg-info
