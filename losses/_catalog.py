"""Every loss of the zoo as the registry knows it, without importing its code (no torch).

One entry a loss: where its code lies, what it is, its parameters with their defaults (the
module's ``__init__`` must declare the same, in the same order: ``implements`` checks it on
import, ``tests/test_losses_registry.py`` for every loss), the allowed values of its scalar
parameters (the module and function check through them), the search space Optuna tunes, whether
it needs class counts, and its reductions.
"""

from __future__ import annotations

from ._registry import choice, register, uniform
from ._values import above, at_least, between, one_of

register(
    "ce",
    module="cross_entropy.CrossEntropyLoss", function="cross_entropy_loss", plain="cross_entropy",
    description="cross-entropy (PyTorch's native kernel); the baseline",
    reference="standard softmax cross-entropy",
    params={"weight": None},
    search_space={},
)

register(
    "weighted_ce",
    module="cross_entropy.WeightedCrossEntropyLoss", function="weighted_ce_loss",
    plain="weighted_ce",
    description="cross-entropy with class weights proportional to n_c^-power",
    reference="Cui et al., Class-Balanced Loss Based on Effective Number of Samples, CVPR 2019 "
    "(inverse-frequency re-weighting baseline)",
    params={"power": 1.0, "weight": None},
    bounds={"power": at_least(0.0)},
    search_space={"power": uniform(0.0, 1.0)},
    needs_class_counts=True,
)

register(
    "focal",
    module="focal.FocalLoss", function="focal_loss", plain="focal",
    description="focal loss: cross-entropy scaled by (1 - p_t)^gamma, optional per-class alpha",
    reference="Lin et al., Focal Loss for Dense Object Detection, ICCV 2017",
    params={"gamma": 2.0, "alpha": None, "weight": None},
    bounds={"gamma": at_least(0.0)},
    search_space={"gamma": uniform(0.0, 5.0)},
)

register(
    "label_smoothing",
    module="label_smoothing.LabelSmoothingLoss", function="label_smoothing_loss",
    plain="label_smoothing",
    description="cross-entropy against a smoothed target (spread 'all' = PyTorch's, 'others')",
    reference="Szegedy et al., Rethinking the Inception Architecture for Computer Vision, "
    "CVPR 2016",
    params={"smoothing": 0.1, "spread": "all", "weight": None},
    bounds={"smoothing": between(0.0, 1.0), "spread": one_of("all", "others")},
    search_space={"smoothing": uniform(0.0, 0.3)},
)

register(
    "soft_f1",
    module="soft_f1.SoftF1Loss", function="soft_f1_loss", plain="soft_f1",
    description="1 - soft macro-F1 of the batch (no clamp by default); reduction 'mean' only",
    reference="Jansche, Maximum Expected F-Measure Training, HLT 2005; the mask competition's "
    "F1Loss (clamp=True)",
    params={"epsilon": 1e-7, "clamp": False, "weight": None},
    bounds={"epsilon": between(0.0, 1.0, low_open=True)},
    search_space={},
    # Soft-F1 is one value of the whole batch, not a sum of per-sample losses: "sum" and "none"
    # have no meaning, so they are refused (loudly) rather than answered with the batch value.
    reductions=("mean",),
)

register(
    "class_balanced",
    module="class_balanced.ClassBalancedLoss", function="class_balanced_loss",
    plain="class_balanced",
    description="class-balanced (effective number) weights on focal or cross-entropy",
    reference="Cui et al., Class-Balanced Loss Based on Effective Number of Samples, CVPR 2019",
    params={"beta": 0.9999, "base": "focal", "gamma": 1.0, "weight": None},
    bounds={"beta": between(0.0, 1.0), "base": one_of("ce", "focal"), "gamma": at_least(0.0)},
    search_space={"beta": choice(0.9, 0.99, 0.999, 0.9999), "gamma": uniform(0.0, 3.0)},
    needs_class_counts=True,
)

register(
    "ldam",
    module="ldam.LDAMLoss", function="ldam_loss", plain="ldam",
    description="LDAM: per-class margin n_c^-1/4 on the true logit, scaled CE, DRW late in training",
    reference="Cao et al., Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss, "
    "NeurIPS 2019",
    params={"max_margin": 0.5, "scale": 30.0, "drw_start": 0.8, "drw_beta": 0.9999,
            "weight": None},
    bounds={"max_margin": above(0.0), "scale": above(0.0),
            "drw_start": between(0.0, 1.0, high_open=False), "drw_beta": between(0.0, 1.0)},
    search_space={"max_margin": uniform(0.1, 1.0)},
    needs_class_counts=True,
)

register(
    "logit_adjusted",
    module="prior_adjusted.LogitAdjustedLoss", function="logit_adjusted_loss",
    plain="logit_adjusted",
    description="cross-entropy of z + tau * log prior (logit adjustment)",
    reference="Menon et al., Long-Tail Learning via Logit Adjustment, ICLR 2021",
    params={"tau": 1.0, "weight": None},
    bounds={"tau": at_least(0.0)},
    search_space={"tau": uniform(0.0, 2.0)},
    needs_class_counts=True,
)

register(
    "balanced_softmax",
    module="prior_adjusted.BalancedSoftmaxLoss", function="balanced_softmax_loss",
    plain="balanced_softmax",
    description="cross-entropy of z + log prior (balanced softmax)",
    reference="Ren et al., Balanced Meta-Softmax for Long-Tailed Visual Recognition, "
    "NeurIPS 2020",
    params={"weight": None},
    search_space={},
    needs_class_counts=True,
)

register(
    "poly",
    module="poly.PolyLoss", function="poly_loss", plain="poly",
    description="Poly-1: cross-entropy + epsilon * (1 - p_t)",
    reference="Leng et al., PolyLoss: A Polynomial Expansion Perspective of Classification Loss "
    "Functions, ICLR 2022",
    params={"epsilon": 1.0, "weight": None},
    bounds={"epsilon": at_least(-1.0)},
    search_space={"epsilon": uniform(-1.0, 3.0)},
)
