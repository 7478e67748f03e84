"""``gaussian`` with ``structure = "mask"``: persons with the mask data's shape, attributes as effects.

The pool has the competition's 2,700 persons (context.md), in its (gender × age band) cells:

    ==========  =====  =====  =====
    persons     <30    30-59  >=60
    male        549    410    83
    female      732    817    109
    ==========  =====  =====  =====

Each person has 7 rows, 5 "wear", 1 "incorrect" and 1 "not worn", so the 18 class counts (class =
mask·6 + gender·3 + age band, names from ``mask_labels``) are exactly the competition's
(``mask_labels.MASK_CLASS_COUNTS``). The group of a row is its person, and the classes carry the
``mask``, ``gender`` and ``age`` attributes with the ``mask`` source's value names, so
``scarce_attribute = "age"``, ``scarce_value = ">=60"`` and the person-grouped splits work unchanged.

Class means are sums of attribute effects on orthogonal coordinates, μ_c = m[mask] + g[gender] +
a[age]:

* mask: a regular simplex on dims 0-2, m[k] = (mask_separation/√2)·e_k, every pair of mask states
  ``mask_separation`` apart (default 7: the easy attribute, as on the photos);
* gender: dim 3, male at −gender_separation/2, female at +gender_separation/2 (default 2.5);
* age: dim 4, ordered, <30 at −age_separation, 30-59 at 0, >=60 at +age_separation, so neighbouring
  bands are ``age_separation`` apart and 30-59 sits between the other two (default 2: the hardest
  attribute, the middle band is confused with both sides).

Dims 5 … dimension−1 (if any) are noise. A row of person p of class c is
x = μ_c + b_p + ε with a person offset b_p ~ N(0, s²I) shared by all rows of the person
(s = ``person_spread``, default 0.5) and ε ~ N(0, I) drawn per row.

Own test split: fresh persons, ``test_rows_per_class`` of them in every (gender × age) cell, each
with 3 rows (one "wear", one "incorrect", one "not worn"), so every one of the 18 classes has
``test_rows_per_class`` rows and no test person is in the pool.

Oracle. A classifier sees one row at a time, without the person. Integrating b_p out, a row of class
c is x ~ N(μ_c, σ²I) with σ² = 1 + s² (the sum of two independent Gaussians). Rows of one person
are correlated (Cov(x, x') = s²I), but that changes nothing for a rule that scores one row from its
own x: its error is set by the marginal law of x alone. With the shared isotropic covariance σ²I,
    log p(c | x) = −‖x − μ_c‖²/(2σ²) + log π_c + const
                 = (μ_c·x − ½‖μ_c‖²)/σ² + log π_c + const(x),
so the Bayes rule is ŷ(x) = argmax_c (μ_c·x − ½‖μ_c‖²)/(1 + s²) + log π_c, linear as with the
simplex; the variance only matters when the priors are unequal (on a balanced test it is the
nearest-mean rule). The gaussian module docstring says how to read it against macro-F1.

At the defaults (measured on 360,000 fresh balanced rows) the oracle's accuracy and macro-F1 are
0.653, per attribute 0.998 (mask), 0.869 (gender), 0.753 (age); a logistic regression per attribute
fitted on 3,000 pool rows gets about 0.996, 0.87 and 0.68 on the balanced test (its natural train
priors under-predict the >=60 band), and 0.56 accuracy on the 18 classes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from lossbench.datasets import mask_labels
from lossbench.errors import UserError

#: Persons of the competition's training set per (gender, age band) cell, context.md.
PERSONS_PER_CELL = ((549, 410, 83), (732, 817, 109))
#: Mask state of a pool person's 7 rows (mask1…mask5, incorrect_mask, normal) and a test person's 3.
POOL_MASKS = (0, 0, 0, 0, 0, 1, 2)
TEST_MASKS = (0, 1, 2)
#: Dimensions the mask structure needs: mask 0-2, gender 3, age 4.
MIN_DIMENSION = 5
DEFAULTS = {"mask_separation": 7.0, "gender_separation": 2.5, "age_separation": 2.0,
            "person_spread": 0.5}
#: Fraction of the competition's persons a cell keeps (1: all 2,700; 0.5: 1,350 in the same shape).
PERSONS_FRACTION = 1.0
#: Options of the simplex structure that have no meaning here (with their defaults).
SIMPLEX_ONLY = {"separation": (3.0, "use mask_separation, gender_separation, age_separation"),
                "counts": (None, "the pool is the mask data's 2,700 persons x 7 rows"),
                "per_class": (500, "the pool is the mask data's 2,700 persons x 7 rows")}
_SOURCE = "option {name!r} of source 'gaussian'"


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    """The mask structure's settings from the resolved options; a bad value is one ``UserError``."""
    for name, (default, instead) in SIMPLEX_ONLY.items():
        if options[name] != default:
            raise UserError(f"{_SOURCE.format(name=name)} does not apply with structure = 'mask' "
                            f"(got {options[name]!r}): {instead}")
    if options["num_classes"] not in (None, 18):
        raise UserError(f"{_SOURCE.format(name='num_classes')} must be 18 (or unset) with "
                        f"structure = 'mask'; got {options['num_classes']!r}")
    dimension = MIN_DIMENSION if options["dimension"] is None else options["dimension"]
    if dimension < MIN_DIMENSION:
        raise UserError(f"{_SOURCE.format(name='dimension')} is {dimension}, but structure = "
                        f"'mask' needs dimension >= {MIN_DIMENSION} (mask on dims 0-2, gender on "
                        f"3, age on 4; more dims add noise); allowed: {MIN_DIMENSION} or more")
    settings = {"dimension": dimension}
    for name in DEFAULTS:
        value = options[name]
        low_ok = value >= 0 if name == "person_spread" else value > 0
        if not (math.isfinite(value) and low_ok):
            bound = ">= 0" if name == "person_spread" else "> 0"
            raise UserError(f"{_SOURCE.format(name=name)} must be a finite number {bound}; "
                            f"got {value!r}")
        settings[name] = float(value)
    fraction = options["persons_fraction"]
    if not (math.isfinite(fraction) and 0 < fraction <= 1):
        raise UserError(f"{_SOURCE.format(name='persons_fraction')} must be in (0, 1]; "
                        f"got {fraction!r}")
    settings["persons_fraction"] = float(fraction)
    if options["test_rows_per_class"] < 1:
        raise UserError(f"test_rows_per_class must be >= 1; got {options['test_rows_per_class']}")
    return settings


def persons_per_cell(fraction: float) -> tuple[tuple[int, ...], ...]:
    """The competition's persons per (gender, age) cell scaled by ``fraction`` (round half to
    even, at least one a cell); ``fraction`` 1 gives ``PERSONS_PER_CELL``."""
    return tuple(tuple(max(1, round(n * fraction)) for n in row) for row in PERSONS_PER_CELL)


def mask_means(dimension: int, mask_separation: float, gender_separation: float,
               age_separation: float) -> np.ndarray:
    """(18, dimension) float64 class means μ = m[mask] + g[gender] + a[age], class = mask·6+gender·3+age."""
    means = np.zeros((18, dimension))
    for mask in range(3):
        for gender in range(2):
            for age in range(3):
                c = mask_labels.class_index(mask, gender, age)
                means[c, mask] = mask_separation / math.sqrt(2.0)
                means[c, 3] = (gender - 0.5) * gender_separation
                means[c, 4] = (age - 1) * age_separation
    return means


def draw_persons(means: np.ndarray, persons_per_cell, masks: tuple[int, ...], person_spread: float,
                 rng: np.random.Generator, first_id: int = 0
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of fresh persons: ``persons_per_cell[gender][age]`` persons, one row per entry of
    ``masks`` each, a person's rows sharing one offset N(0, person_spread²·I).

    Returns ``(x, y, groups)``: float64 (N, D), int64 labels and int64 person ids from ``first_id``,
    person by person (cells in class order).
    """
    cells = [(g, a) for g in range(2) for a in range(3)]
    per_cell = np.asarray([persons_per_cell[g][a] for g, a in cells], dtype=np.int64)
    person_cell = np.repeat(np.arange(len(cells)), per_cell)
    gender = np.asarray([cells[k][0] for k in person_cell], dtype=np.int64)
    age = np.asarray([cells[k][1] for k in person_cell], dtype=np.int64)
    rows = len(masks)
    person = np.repeat(np.arange(len(person_cell)), rows)
    y = np.tile(np.asarray(masks, dtype=np.int64), len(person_cell)) * 6 + (gender * 3 + age)[person]
    offsets = rng.standard_normal((len(person_cell), means.shape[1]))
    noise = rng.standard_normal((len(y), means.shape[1]))
    x = means[y] + person_spread * offsets[person] + noise
    return x, y, (person + first_id).astype(np.int64)


def load_mask_structure(options: dict[str, Any]) -> dict[str, Any]:
    """Pool persons and test persons, deterministically from ``generator_seed``.

    Returns the pieces of the ``SourceData`` (x float64, y, groups, source_test), the class means and
    the marginal variance 1 + s² the oracle needs, and a description.
    """
    settings = check_options(options)
    dimension, spread = settings["dimension"], settings["person_spread"]
    means = mask_means(dimension, settings["mask_separation"], settings["gender_separation"],
                       settings["age_separation"])
    seed, per_cell = options["generator_seed"], options["test_rows_per_class"]
    cells = persons_per_cell(settings["persons_fraction"])
    pool = draw_persons(means, cells, POOL_MASKS, spread, np.random.default_rng([seed, 3]))
    pool_persons = sum(map(sum, cells))
    test = draw_persons(means, ((per_cell,) * 3,) * 2, TEST_MASKS, spread,
                        np.random.default_rng([seed, 4]), first_id=pool_persons)
    x, y, groups = (np.concatenate([p, t]) for p, t in zip(pool, test))
    return {
        "x": x, "y": y, "groups": groups, "source_test": np.arange(len(y)) >= len(pool[1]),
        "means": means, "variance": 1.0 + spread ** 2,
        "description": {
            "structure": "mask", **settings,
            "persons": pool_persons, "rows_per_person": len(POOL_MASKS),
            "persons_by_gender": [sum(row) for row in cells],
            "persons_by_age_band": [sum(col) for col in zip(*cells)],
            "pool_counts": np.bincount(pool[1], minlength=18).tolist(),
            "test_rows_per_class": per_cell, "test_persons": 6 * per_cell,
            "oracle": "Bayes rule, variance 1 + person_spread^2, the test split's class priors",
        },
    }
