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

.PHONY: setup test bench timing tune lint clean gpu-check gpu-wheels

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
# make gpu-check VENV= PYTHON=python3   no virtual environment and nothing installed: PYTHON as it
#                is (lossbench and its dependencies importable, e.g. from make gpu-wheels), with
#                every cache (decoded images, matplotlib, torch.compile) under GPU_CHECK_OUT/cache
CIFAR10 ?= $(LOSSBENCH_CIFAR10_JPG)
GPU_CHECK_OUT ?= results/gpu-check
GPU_CHECK_ARGS ?=
GPU_CHECK_CACHE = $(GPU_CHECK_OUT)/cache
GPU_CHECK_ENV = LOSSBENCH_CACHE=$(GPU_CHECK_CACHE) MPLCONFIGDIR=$(GPU_CHECK_CACHE)/matplotlib \
	TORCHINDUCTOR_CACHE_DIR=$(GPU_CHECK_CACHE)/inductor TRITON_CACHE_DIR=$(GPU_CHECK_CACHE)/triton
gpu-check: $(if $(VENV),$(STAMP))
	$(if $(VENV),$(BIN)/lossbench,$(GPU_CHECK_ENV) $(PYTHON) -m lossbench.cli) gpu-check \
		--out $(GPU_CHECK_OUT) $(if $(CIFAR10),--root $(CIFAR10)) $(GPU_CHECK_ARGS)

# make gpu-wheels: the wheels an offline GPU host lacks (Python 3.12 with torch, torchvision,
# pandas, scikit-learn, scipy, seaborn, matplotlib, tqdm, tabulate, pytest-benchmark, but not
# Optuna or statsmodels), for cp312 manylinux x86_64, into WHEELS (git-ignored), plus lossbench's
# own wheel. --no-deps with the explicit list below, which is the closure of optuna and
# statsmodels less what that host has (tests/test_gpu_wheels.py re-resolves it): resolving with
# dependencies would fetch numpy, scipy and pandas again (~70 MiB). manylinux_2_28 as well as
# manylinux2014: statsmodels 0.15 ships manylinux_2_28 wheels only (torch >= 2.6 needs glibc
# 2.28 anyway). On the host: see the README's GPU-check section.
WHEELS ?= .whl
GPU_WHEELS = optuna==5.0.0 alembic==1.20.1 Mako==1.4.3 SQLAlchemy==2.1.9 colorlog==6.12.0 \
	PyYAML==6.0.4 statsmodels==0.15.0 patsy==1.0.3 formulaic==1.2.2 interface_meta==2.0.1 \
	narwhals==2.29.0 wrapt==2.5.2
GPU_WHEEL_TAGS = --only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 \
	--platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64
gpu-wheels: $(STAMP)
	$(BIN)/python -m pip download --quiet --no-deps $(GPU_WHEEL_TAGS) -d $(WHEELS) $(GPU_WHEELS)
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation -w $(WHEELS) .
	du -sh $(WHEELS)

lint: $(STAMP)
	$(BIN)/python -m ruff check bench losses datasets tests

clean:
	rm -rf $(VENV) build *.egg-info
