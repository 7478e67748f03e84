"""``digits``: scikit-learn's bundled 8×8 handwritten digits (1,797 images, 10 classes), no download.

Features are the 64 pixel intensities scaled from 0…16 to [0, 1] as float32. The source has no test
split of its own, so ``prepare`` sets a balanced one apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from lossbench.datasets.sources import Source, SourceData, register_source


def load_digits_source(options: dict[str, Any], cache_dir: Path,
                       decode: bool = True) -> SourceData:
    """Load the digits as (1797, 64) float32 features in [0, 1] and int64 labels."""
    from sklearn.datasets import load_digits

    features, labels = load_digits(return_X_y=True)
    x = torch.from_numpy((features / 16.0).astype(np.float32))
    return SourceData(
        x=x,
        y=labels.astype(np.int64),
        class_names=[str(digit) for digit in range(10)],
        kind="features",
        description={"rows": len(labels), "features": 64, "scaling": "pixel / 16"},
    )


register_source(Source(
    name="digits",
    summary="scikit-learn's bundled 8x8 digits: 1,797 rows, 64 features, 10 classes (no download)",
    options=(),
    load=load_digits_source,
))
