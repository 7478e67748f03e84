# Each target sets up what it needs the first time (a virtual environment with the package and
# its dependencies) and reuses it after. PYTHON chooses the interpreter the venv is made from.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.lossbench-installed
SUITE  ?= default
LOSS   ?= focal
DATASET ?= digits
TRIALS ?= 20

.PHONY: setup test bench timing tune lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/lossbench run $(SUITE)

timing: $(STAMP)
	$(BIN)/lossbench timing

tune: $(STAMP)
	$(BIN)/lossbench tune --dataset $(DATASET) --loss $(LOSS) --trials $(TRIALS)

lint: $(STAMP)
	$(BIN)/python -m ruff check bench losses datasets tests

clean:
	rm -rf $(VENV) build *.egg-info
