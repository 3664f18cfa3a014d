# Two entry points (see README): `make demo` sets up and runs the main job, `make test` sets up and runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SHARED ?= ../shared

# Offline by design: ImageNet weights come from ../shared through a project-local Keras cache,
# and the feature cache stays inside the project.
export KERAS_HOME   := $(CURDIR)/.keras_home
export CATDOG_CACHE := $(CURDIR)/.cache/catdog
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: setup weights browser web-runtime demo lint docs-check test test-fast test-serve clean

setup: $(VENV)/.installed weights

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

weights:
	@test -d $(SHARED)/weights || { echo "$(SHARED)/weights is missing: put the shared folder beside the project or pass SHARED=PATH" >&2; exit 1; }
	mkdir -p $(KERAS_HOME)/models
	cp -u $(SHARED)/weights/*.h5 $(KERAS_HOME)/models/

demo: setup
	SHARED=$(SHARED) PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

# The web page's end-to-end test drives Debian's Chromium (Playwright's own browser download is not used).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# The web export's in-browser runtime (npm @mediapipe/tasks-vision, pinned, sha512-checked) into the
# project-local cache, so that exporting and its tests never download.
web-runtime: setup
	$(BIN)/python -c "from catdog.edge.web_runtime import runtime_files; runtime_files()"

lint: setup docs-check
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/mypy

# The figures README.md and docs/ quote against the benchmark result files they came from
# (benchmarks/results/*.json); one line per disagreement, figure not found or result file missing.
docs-check: setup
	$(BIN)/python scripts/docs_check.py --quiet

test: lint browser web-runtime
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The tests that train nothing: under a minute, for the edit-test loop.
test-fast: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# The TensorFlow-free install alone: a fresh venv with `pip install -c constraints.txt ".[serve]"` predicts
# and serves an exported run with the full install's answers (part of `make test` too).
test-serve: setup web-runtime
	$(BIN)/python -m pytest tests/test_serve_install.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .keras_home .cache runs
