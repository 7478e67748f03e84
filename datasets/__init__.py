"""Data sources and controlled long-tail resampling (import name ``lossbench.datasets``).

    from lossbench.datasets import DatasetSpec, prepare, long_tail_counts
    spec = DatasetSpec.from_dict({"source": "digits", "profile": "exp", "imbalance_ratio": 10})
    data = prepare(spec, seed=0)          # PreparedData: train / val / test tensors and counts
    long_tail_counts("exp", num_classes=10, n_max=5000, imbalance_ratio=100)  # CIFAR-10-LT

Sources register themselves on import (``available_sources()`` lists them); profiles are in
``lossbench.datasets.profiles``.
"""

from lossbench.datasets.profiles import PROFILES, long_tail_counts
from lossbench.datasets.sources import (
    Option,
    Source,
    SourceData,
    available_sources,
    get_source,
    register_source,
)

# Importing a source module registers it.
from lossbench.datasets import cifar, digits, gaussian, imagefolder, mask  # noqa: F401  isort: skip
from lossbench.datasets.prepare import prepare, split_counts
from lossbench.datasets.prepared import PreparedData
from lossbench.datasets.spec import DatasetSpec

__all__ = [
    "PROFILES",
    "DatasetSpec",
    "Option",
    "PreparedData",
    "Source",
    "SourceData",
    "available_sources",
    "get_source",
    "long_tail_counts",
    "prepare",
    "register_source",
    "split_counts",
]
