# The two commands of the README: `make run` (the main job) and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DATA   ?= $(or $(JST_DATA_ROOT),../shared/data)

.PHONY: setup run test clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# The main job: JST end to end at the default (cpu) scale on MNIST / LeNet-5, 50% FLOPs kept.
run: setup
	$(PY) -m jst run --method jst --dataset mnist --arch lenet5 --data-root $(DATA) --scale cpu \
		--flops-target 0.5 --seed 0 --out runs/mnist-lenet5-jst-s0

test: setup
	$(PY) -m pytest -q

clean:
	rm -rf runs .pytest_cache
