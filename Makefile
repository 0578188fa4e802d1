# The two commands of the README: `make book` (the main job) and `make test`; `make run` is the
# pipeline demo, `make notebooks` re-executes the book's notebooks.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DATA   ?= $(or $(JST_DATA_ROOT),../shared/data)
SCALE  ?= cpu
DATASET ?= mnist
ARCH   ?= lenet5
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup browser run lint test test-records notebooks book book-check clean

setup: $(STAMP) browser

# uv installs the same pinned packages as pip, in parallel: on a clean clone here 42 s against pip's 2 min 11 s
# (both with empty caches). --compile-bytecode as pip does: where PYTHONDONTWRITEBYTECODE=1 (this machine)
# nothing else writes the .pyc files, and every process (each test's run, each notebook kernel) would compile
# torch anew, 2.3 s more per start (the suite took 21 min instead of 13). pip is the fallback.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv && $(PY) -m uv pip install --quiet --compile-bytecode --python $(PY) \
		-e ".[test,book]" || $(PY) -m pip install --quiet -e ".[test,book]"
	touch $(STAMP)

# Debian's Chromium and its driver, for the book's browser check (no browser download happens).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null; }

# The book, from the committed executed notebooks: offline, warnings are errors -> _build/html.
book: setup
	$(PY) -m jst.book

# Every page in headless Chromium; screenshots in _build/screenshots.
book-check: book
	$(PY) -m jst.book --no-build --check

# Re-execute every notebook with papermill into book/notebooks (e.g. make notebooks SCALE=cpu DATASET=mnist).
notebooks: setup
	$(PY) -m jst.book.notebooks --scale $(SCALE) --dataset $(DATASET) --arch $(ARCH) --data-root $(DATA)

# The pipeline demo: JST end to end at the default (cpu) scale on MNIST / LeNet-5, 50% FLOPs kept.
run: setup
	$(PY) -m jst run --method jst --dataset mnist --arch lenet5 --data-root $(DATA) --scale cpu \
		--flops-target 0.5 --seed 0 --out runs/mnist-lenet5-jst-s0

# Lint and import order first (ruff, configured in pyproject.toml), then the tests.
lint: setup
	$(VENV)/bin/ruff check jst tests benchmarks

# Two pytest-xdist workers (one core each; a file's tests stay on one worker, tests/conftest.py), then the
# tests that start two training processes themselves, on their own.
test: setup lint
	$(PY) -m pytest -q -n 2 --dist loadgroup -m "not two_processes" --durations=15
	$(PY) -m pytest -q -m two_processes --durations=6

# Every committed run record's accuracy reproduced (make test reproduces the expensive ones at one seed).
test-records: setup
	$(PY) -m pytest -q -n 2 tests/test_results.py --all-records

clean:
	rm -rf runs .pytest_cache _build
