"""The typed parts of a suite: the budget, the model and the optimiser.

Every loss of a suite gets exactly these settings; only the loss's own parameters and the shared
learning rate and weight decay are tuned. Limits are generous but finite, so an absurd number (1e12
epochs, a negative trial count) is refused with a message instead of running for ever.
"""

from __future__ import annotations

from dataclasses import dataclass

from lossbench.config.fields import field

MAX_THREADS = 256
"""The most torch CPU threads (``--threads``, ``[cpu] threads``). Fixed rather than a multiple of
this machine's cores, so a suite valid on one machine is valid on every other and the message is
the same everywhere; the same bound as ``--workers``. Each thread maps its own stack and OpenMP
arena: 99,999 threads fail inside torch ("failed to map segment") long before any work, while the
suites' small models gain nothing past a few dozen threads."""

FEATURE_MODELS = ("linear", "mlp")
IMAGE_MODELS = ("mlp", "linear", "small_cnn", "resnet32", "resnet18")


@dataclass(frozen=True)
class Budget:
    """How much work each loss gets; the same for every loss of a suite."""

    trials: int = field(8, min=1, max=10_000)
    """Finished Optuna trials (complete or pruned) per (dataset, loss) study."""
    epochs: int = field(10, min=1, max=10_000)
    batch_size: int = field(128, min=1, max=1_000_000)
    eval_batch_size: int = field(2048, min=1, max=1_000_000)
    replicates: int = field(1, min=1, max=1_000)
    """Replicates of the whole protocol: replicate r re-draws the resampled train pool, the
    validation split (and the test split where the source has no official one), the tuning seed
    and the final seeds, and every loss is tuned afresh in it. Intervals and tests are over
    replicates; below 5 the verdict is "undecided"."""
    seeds: int = field(1, min=1, max=1_000)
    """Final runs per loss and replicate with the replicate's best parameters (their mean is the
    replicate's value)."""
    data_seed: int = field(0, min=0)
    """Seed of the resampling and the splits: the same data for every loss and every run."""
    tune_seed: int = field(0, min=0)
    """Seed of the sampler and of the training inside every trial."""
    startup_trials: int = field(3, min=0, max=10_000)
    """Random trials before TPE models the space, and trials before the pruner may prune."""
    prune_warmup_epochs: int = field(2, min=0, max=10_000)
    """Epochs a trial always runs before the median pruner may stop it."""
    select: str = field("best", choices=("best", "last"))
    """Which epoch's model counts: the best on validation macro-F1, or the last."""


@dataclass(frozen=True)
class ModelConfig:
    """The network: one for feature data, one for image data."""

    features: str = field("mlp", choices=FEATURE_MODELS)
    images: str = field("small_cnn", choices=IMAGE_MODELS)
    hidden: int = field(128, min=1, max=16_384)
    """Width of the MLP's two hidden layers (at most 16384: the hidden-to-hidden weights, their
    gradient and momentum take 3 GiB there)."""
    width: int = field(32, min=1, max=1_024)
    """Channels of the small CNN's first block (doubled per block; at most 1024, whose last block
    of 4096 channels already holds 0.2 G parameters)."""
    augment: str = field("none", choices=("none", "flip", "flip_crop"))
    """Image augmentation on the device: horizontal flip, and a random crop of the image padded by
    an eighth of its side (4 pixels at 32×32, as in the CIFAR recipe)."""
    cosine_head: tuple[str, ...] = field(("ldam",))
    """Losses trained with a cosine-normalised last layer (LDAM's reference model uses one for
    ``ldam``, whose scale s multiplies cosine logits there, so it is the default here too); the
    other losses keep a linear one."""
    compile: bool = field(False)
    """``torch.compile`` the model on CUDA (a one-off compile cost per model, faster epochs)."""


@dataclass(frozen=True)
class OptimConfig:
    """The optimiser, its schedule and the shared search ranges."""

    optimizer: str = field("sgd", choices=("sgd", "adamw"))
    momentum: float = field(0.9, min=0.0, max=1.0)
    nesterov: bool = field(True)
    """Nesterov momentum for SGD; the CIFAR-LT reference code uses plain momentum (false)."""
    schedule: str = field("cosine", choices=("cosine", "step", "constant"))
    warmup_epochs: int = field(1, min=0, max=10_000)
    step_milestones: tuple[float, ...] = field((0.8, 0.9), min=0.0, max=1.0)
    """Fractions of training at which the step schedule multiplies the rate by ``step_gamma``."""
    step_gamma: float = field(0.1, min=0.0, max=1.0)
    lr: tuple[float, float] = field((0.01, 0.5), min=1e-8, max=100.0)
    """Log-uniform search range of the learning rate (every loss)."""
    weight_decay: tuple[float, float] = field((1e-6, 1e-2), min=0.0, max=10.0)
    """Log-uniform search range of the weight decay (every loss)."""
