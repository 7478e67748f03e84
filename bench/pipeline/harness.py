"""Harness timing (``lossbench timing --harness``): what the harness costs around the training.

Four ways of doing the same work, on a suite's first dataset (or each of ``--datasets``) with
its model, data, optimiser, schedule, epochs and batch size, and a fifth that trains nothing,
timed side by side in one process, interleaved in rounds (each round in a new random order) like
the kernel timing:

- ``bare_loop``: a bare PyTorch loop, written plainly here (no lossbench engine code; only the
  network is the suite's, built by ``build_model``, so all four train the same model): index
  batches of the tensors on the device, ``F.cross_entropy``, the optimiser and a warm-up +
  cosine (or step, or constant) schedule stepped per batch, and a validation pass with its
  macro-F1 after every epoch, keeping the best score;
- ``lossbench_train``: ``lossbench.engine.train.train`` of the same recipe (loss ``ce``);
- ``trial_sqlite``: one more trial of a study through Optuna and ``run_trials`` on the default
  storage (a SQLite file, in a temporary folder), as ``lossbench tune --trials N+1`` runs it;
- ``trial_journal``: the same on a journal file (``journal:PATH``);
- ``optuna_sqlite``: Optuna alone on the default storage, ``ask``, the trial's suggestions and
  ``tell`` with no training (``OptunaAlone``): the part of (c) no harness can remove.

(a) and (b) train at the geometric middle of the suite's learning-rate and weight-decay ranges;
the trials sample theirs (TPE, the suite's seeds). Each study is fresh and grows by one trial a
round. Pruning is off (a median pruner whose start-up count is never reached, so it still reads
the study at every epoch as the real one does), so every trial trains all its epochs. One
untimed warm-up round goes first (imports, the first optimiser's construction, the tables). A
row's ratio is the median over rounds of its time over the bare loop's in the same round.
"""

from __future__ import annotations

import dataclasses
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from lossbench.config.plan import LossEntry, StudyPlan
from lossbench.engine.data import TrainValData
from lossbench.timing.host import hardware, load_average, synchronizer
from lossbench.timing.measure import median_ratio

CASES = ("bare_loop", "lossbench_train", "trial_sqlite", "trial_journal", "optuna_sqlite")
LABELS = {"bare_loop": "(a) bare PyTorch loop",
          "lossbench_train": "(b) lossbench train()",
          "trial_sqlite": "(c) Optuna trial, SQLite (default storage)",
          "trial_journal": "(d) Optuna trial, journal file",
          "optuna_sqlite": "(e) Optuna alone on SQLite: ask, suggest, tell, no training"}
DEFAULT_SUITE = "default"


@dataclasses.dataclass
class Setup:
    """The recipe all four cases run: the plan (loss ``ce``), the data on the device, the rates."""

    suite: str
    plan: StudyPlan
    data: TrainValData
    device: torch.device
    lr: float
    weight_decay: float


def geometric_middle(bounds: tuple[float, float]) -> float:
    """The middle of a log-uniform range (its upper end when it starts at 0)."""
    low, high = bounds
    return math.sqrt(low * high) if low > 0 else high


def suite_for(suite_name: str, device: torch.device, epochs: int | None = None):
    """The packaged suite for ``device``'s type, with ``epochs`` overriding its budget."""
    from lossbench.config.suite import load_suite

    suite = load_suite(suite_name).for_device(device.type)
    return suite if epochs is None else suite.with_overrides(epochs=epochs)


def replicate_zero(suite, device: torch.device, cache_dir: Path | None = None,
                   dataset: str | None = None) -> tuple:
    """``(entry, data, plans)``: the suite's dataset ``dataset`` (default: its first), replicate
    0's train and validation data on ``device``, and that replicate's study plans."""
    from lossbench.engine.data import train_val_view
    from lossbench.pipeline.suite_run import plans_for, replicate_data

    entry = suite.datasets[dataset_names(suite).index(dataset) if dataset else 0]
    data = train_val_view(replicate_data(suite, entry, 0, cache_dir)).to(device)
    return entry, data, plans_for(suite, entry, data, 0)


def load_setup(suite_name: str, device: torch.device, *, epochs: int | None = None,
               threads: int | None = None, cache_dir: Path | None = None,
               dataset: str | None = None) -> Setup:
    """The suite's dataset ``dataset`` (default: its first) and its recipe on ``device``;
    ``epochs`` overrides the budget."""
    from lossbench.engine.device import set_threads

    suite = suite_for(suite_name, device, epochs)
    set_threads(threads if threads is not None else
                (suite.cpu_threads if device.type == "cpu" else None))
    _, data, plans = replicate_zero(suite, device, cache_dir, dataset)
    plan = dataclasses.replace(plans[0], loss=LossEntry("ce", {}))
    return Setup(suite.name, plan, data, device, geometric_middle(plan.optim.lr),
                 geometric_middle(plan.optim.weight_decay))


def dataset_names(suite) -> list[str]:
    return [entry.name for entry in suite.datasets]


def pick_datasets(suite_name: str, wanted: str | None) -> list[str] | None:
    """The datasets ``--datasets`` names (``all``, or names separated by commas); None: the
    suite's first. An unknown name is a UserError naming the suite's datasets."""
    from lossbench.config.suite import load_suite
    from lossbench.errors import UserError

    if wanted is None:
        return None
    names = dataset_names(load_suite(suite_name))
    if wanted == "all":
        return names
    picked = [name.strip() for name in wanted.split(",") if name.strip()]
    unknown = [name for name in picked if name not in names]
    if unknown or not picked:
        raise UserError(f"--datasets {wanted!r}: no dataset {', '.join(map(repr, unknown))} in "
                        f"suite {suite_name!r}; allowed: all, or some of {', '.join(names)}")
    return picked


def _schedule_factor(setup: Setup, steps_per_epoch: int) -> Callable[[int], float]:
    """Warm-up, then the suite's schedule, as a plain function of the batch step."""
    optim, epochs = setup.plan.optim, setup.plan.budget.epochs
    total = epochs * steps_per_epoch
    warmup = min(optim.warmup_epochs, max(0, epochs - 1)) * steps_per_epoch

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        if optim.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        if optim.schedule == "step":
            return optim.step_gamma ** sum(progress >= m for m in optim.step_milestones)
        return 1.0

    return factor


def bare_loop(setup: Setup) -> float:
    """The plain PyTorch loop of the recipe; returns the best validation macro-F1."""
    from lossbench.engine.models import build_model

    data, device, budget, optim = setup.data, setup.device, setup.plan.budget, setup.plan.optim
    torch.manual_seed(budget.tune_seed)
    model = build_model(setup.plan.model, data.input_shape, data.num_classes,
                        setup.plan.model_config).to(device)
    if optim.optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=setup.lr, momentum=optim.momentum,
                                    nesterov=optim.nesterov and optim.momentum > 0,
                                    weight_decay=setup.weight_decay)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=setup.lr,
                                      weight_decay=setup.weight_decay)
    train_x = (data.train.x.float() - data.mean) / data.std
    val_x = (data.val.x.float() - data.mean) / data.std
    n, size = len(data.train), budget.batch_size
    steps = n // size + (n % size >= 2)  # a last batch of one is dropped (batch norm)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule_factor(setup, steps))
    best = -1.0
    for _ in range(budget.epochs):
        model.train()
        for index in torch.randperm(n, device=device).split(size)[:steps]:
            loss = F.cross_entropy(model(train_x[index]), data.train.y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        model.eval()
        with torch.no_grad():
            predicted = model(val_x).argmax(1)
        best = max(best, _macro_f1(data.val.y, predicted, data.num_classes))
    return best


def _macro_f1(target: torch.Tensor, predicted: torch.Tensor, classes: int) -> float:
    confusion = torch.bincount(target * classes + predicted, minlength=classes**2)
    confusion = confusion.reshape(classes, classes).double()
    denominator = confusion.sum(0) + confusion.sum(1)
    return float((2 * confusion.diagonal() / denominator.clamp_min(1)).mean())


def lossbench_train(setup: Setup) -> float:
    """``lossbench.engine.train.train`` of the same recipe; returns its best validation score."""
    from lossbench.engine.train import train

    recipe = setup.plan.recipe({"lr": setup.lr, "weight_decay": setup.weight_decay})
    return train(setup.data, recipe, setup.plan.budget.tune_seed, setup.device).best_score


class TrialCase:
    """A fresh study on one storage; each call runs (and the caller times) one more trial."""

    def __init__(self, setup: Setup, url: str) -> None:
        import optuna
        from lossbench.tuning.storage import open_storage
        from lossbench.tuning.study import open_study, quiet_optuna

        quiet_optuna()
        self.setup, self.finished = setup, 0
        self.study = open_study(setup.plan, open_storage(url))
        # pruning off: every trial trains all its epochs (the pruner still reads the study)
        self.study.pruner = optuna.pruners.MedianPruner(
            n_startup_trials=sys.maxsize, n_warmup_steps=setup.plan.budget.prune_warmup_epochs)

    def __call__(self) -> None:
        from lossbench.tuning.trials import run_trials

        self.finished += 1
        run_trials(self.study, self.setup.plan, self.setup.data, self.setup.device, self.finished)

    def states(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for trial in self.study.get_trials(deepcopy=False):
            counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
        return counts


class OptunaAlone:
    """What Optuna itself costs a trial on a storage, no training and no lossbench around it:
    ``study.ask()``, the trial's suggestions (``sample_params``, TPE as tuning seeds it), and
    ``study.tell`` of a made-up score; the floor under (c) however little the harness adds."""

    def __init__(self, setup: Setup, url: str) -> None:
        import warnings

        import optuna
        from lossbench.tuning.storage import open_storage

        self.plan, self.finished = setup.plan, 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self.study = optuna.create_study(storage=open_storage(url), direction="maximize")

    def __call__(self) -> None:
        import warnings

        from lossbench.tuning.space import sample_params
        from lossbench.tuning.study import sampler_for

        self.study.sampler = sampler_for(self.plan, self.finished)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
            trial = self.study.ask()
        params = sample_params(trial, self.plan)
        self.study.tell(trial, 1.0 / (1.0 + abs(math.log(params["lr"]))))
        self.finished += 1

    def states(self) -> dict[str, int]:
        return {"COMPLETE": self.finished}


def time_rounds(steps: dict[str, Callable[[], object]], device: torch.device, rounds: int,
                seed: int = 0, progress: Callable[[str], None] | None = None
                ) -> dict[str, list[float]]:
    """Seconds of each step in each round, after one untimed warm-up round."""
    sync, order, shuffle = synchronizer(device), list(steps), random.Random(seed)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for number in range(rounds + 1):
        if progress:
            progress("harness: warm-up round" if number == 0 else
                     f"harness: round {number}/{rounds}")
        shuffle.shuffle(order)
        for name in order:
            sync()
            start = time.perf_counter()
            steps[name]()
            sync()
            if number:
                times[name].append(time.perf_counter() - start)
    return times


def _row(name: str, series: list[float], bare: list[float]) -> dict:
    return {"case": name, "label": LABELS[name], "median_ms": statistics.median(series) * 1e3,
            "min_ms": min(series) * 1e3, "ratio": median_ratio(series, bare),
            "ratio_min": min(series) / min(bare), "seconds": [round(s, 6) for s in series]}


def run_harness(suite: str = DEFAULT_SUITE, device: str | torch.device = "cpu", *,
                rounds: int = 10, epochs: int | None = None, threads: int | None = None,
                cache_dir: Path | None = None, seed: int = 0, datasets: list[str] | None = None,
                progress: Callable[[str], None] | None = None) -> dict:
    """The harness table of one device: the four cases' times and ratios to the bare loop, on
    the suite's first dataset, or on each of ``datasets`` (the first of them at the top level,
    every one under ``datasets``)."""
    from lossbench.environment import describe

    measured = [_measure(suite, torch.device(device), name, rounds=rounds, epochs=epochs,
                         threads=threads, cache_dir=cache_dir, seed=seed, progress=progress)
                for name in (datasets or [None])]
    first, setup = measured[0]["table"], measured[0]["setup"]
    return {"kind": "lossbench-harness", "environment": describe(setup.device),
            "device_type": setup.device.type, "threads": torch.get_num_threads(),
            "hardware": hardware(setup.device), "load_average": load_average(),
            "suite": setup.suite, **first,
            "datasets": [m["table"] for m in measured] if datasets else []}


def _measure(suite: str, device: torch.device, dataset: str | None, *, rounds: int,
             epochs: int | None, threads: int | None, cache_dir: Path | None, seed: int,
             progress: Callable[[str], None] | None) -> dict:
    setup = load_setup(suite, device, epochs=epochs, threads=threads, cache_dir=cache_dir,
                       dataset=dataset)
    if progress and dataset:
        progress(f"harness: dataset {dataset}")
    with tempfile.TemporaryDirectory(prefix="lossbench-harness-") as folder:
        trials = {"trial_sqlite": TrialCase(setup, f"sqlite:///{folder}/studies.db"),
                  "trial_journal": TrialCase(setup, f"journal:{folder}/studies.journal"),
                  "optuna_sqlite": OptunaAlone(setup, f"sqlite:///{folder}/alone.db")}
        steps = {"bare_loop": lambda: bare_loop(setup),
                 "lossbench_train": lambda: lossbench_train(setup), **trials}
        times = time_rounds(steps, setup.device, rounds, seed, progress)
        states = {name: case.states() for name, case in trials.items()}
    table = {"recipe": _recipe(setup),
             "method": {"rounds": rounds, "warmup_rounds": 1, "seed": seed,
                        "order": "each round in a new random order",
                        "trials": "one more trial of a fresh study per round; pruning off",
                        "trial_states": states},
             "rows": [_row(name, times[name], times["bare_loop"]) for name in CASES]}
    return {"setup": setup, "table": table}


def _recipe(setup: Setup) -> dict:
    plan, data = setup.plan, setup.data
    return {"dataset": plan.dataset.name, "model": plan.model, "loss": plan.loss.name,
            "epochs": plan.budget.epochs, "batch_size": plan.budget.batch_size,
            "train_size": len(data.train), "val_size": len(data.val),
            "optimizer": plan.optim.optimizer, "schedule": plan.optim.schedule,
            "lr": setup.lr, "weight_decay": setup.weight_decay,
            "augment": plan.model_config.augment}


__all__ = ["CASES", "LABELS", "OptunaAlone", "Setup", "TrialCase", "bare_loop", "load_setup",
           "lossbench_train", "run_harness", "time_rounds"]
