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
TIMING_OUT ?= results/timing
TIMING_DEVICE ?= auto
TIMING_SHAPES ?= 256x18,1024x100,8192x1000
TIMING_THREADS ?=
TIMING_ARGS ?=

.PHONY: setup test bench timing tune lint clean gpu-check

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

# make timing [TIMING_DEVICE=auto|cpu|cuda] [TIMING_THREADS=N] [TIMING_SHAPES=256x18,...]
#             [TIMING_ARGS="--rounds 40"]  (more options: lossbench timing --help)
# the kernel table, the pytest-benchmark JSON, then the harness table (timing --harness)
timing: $(STAMP)
	$(BIN)/lossbench timing --out $(TIMING_OUT) --device $(TIMING_DEVICE) --shapes $(TIMING_SHAPES) \
		$(if $(TIMING_THREADS),--threads $(TIMING_THREADS)) $(TIMING_ARGS)
	LOSSBENCH_TIMING_DEVICE=$(TIMING_DEVICE) LOSSBENCH_TIMING_SHAPES=$(TIMING_SHAPES) \
	LOSSBENCH_TIMING_THREADS=$(TIMING_THREADS) $(BIN)/python -m pytest -q \
		tests/benchmarks/bench_losses.py --benchmark-enable --benchmark-columns=min,median,iqr,rounds \
		--benchmark-json=$(TIMING_OUT)/pytest-benchmark-$(TIMING_DEVICE).json
	$(BIN)/lossbench timing --harness --out $(TIMING_OUT) --device $(TIMING_DEVICE) \
		$(if $(TIMING_THREADS),--threads $(TIMING_THREADS))

tune: $(STAMP)
	$(BIN)/lossbench tune --dataset $(DATASET) --loss $(LOSS) --trials $(TRIALS)

# make gpu-check [CIFAR10=path/to/cifar10-jpg.tar.gz] [GPU_CHECK_OUT=results/gpu-check]
#                [GPU_CHECK_ARGS=--dry-run]   about ten minutes on one GPU (lossbench gpu-check --help)
CIFAR10 ?= $(LOSSBENCH_CIFAR10_JPG)
GPU_CHECK_OUT ?= results/gpu-check
GPU_CHECK_ARGS ?=
gpu-check: $(STAMP)
	$(BIN)/lossbench gpu-check --out $(GPU_CHECK_OUT) $(if $(CIFAR10),--root $(CIFAR10)) \
		$(GPU_CHECK_ARGS)

lint: $(STAMP)
	$(BIN)/python -m ruff check bench losses datasets tests

clean:
	rm -rf $(VENV) build *.egg-info
