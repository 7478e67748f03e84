"""``gaussian`` with ``structure = "mask"``: the mask data's persons and counts, an exact oracle."""

import json

import numpy as np
import pytest
import torch
from lossbench.cli import main
from lossbench.datasets import DatasetSpec, get_source, mask_labels, prepare
from lossbench.datasets import gaussian_mask as gm
from lossbench.datasets.gaussian import bayes_predict, class_means
from lossbench.errors import UserError

MASK = {"structure": "mask"}
OLD = [c for c, age in enumerate(mask_labels.class_attributes()["age"]) if age == ">=60"]


def _load(**options):
    source = get_source("gaussian")
    return source.load(source.resolve_options(options), None)


@pytest.fixture(scope="module")
def data():
    return _load(**MASK)


def test_pool_has_the_competitions_persons_and_class_counts(data):
    pool, test = ~data.source_test, data.source_test
    assert np.bincount(data.y[pool], minlength=18).tolist() == list(mask_labels.MASK_CLASS_COUNTS)
    assert data.class_names == mask_labels.class_names()
    assert data.class_names[8] == "incorrect/male/>=60"
    assert data.class_attributes == mask_labels.class_attributes()
    assert data.attribute_values["age"] == ["<30", "30-59", ">=60"]
    assert data.x.dtype == torch.float32 and data.x.shape == (len(data.y), gm.MIN_DIMENSION)
    persons = np.unique(data.groups[pool])
    assert len(persons) == 2700
    cells = np.zeros((2, 3), dtype=int)
    for person in persons:
        labels = data.y[data.groups == person]
        assert sorted((labels // 6).tolist()) == [0, 0, 0, 0, 0, 1, 2]  # 5 wear, incorrect, not worn
        assert len(np.unique(labels % 6)) == 1  # one gender and one age band per person
        cells[labels[0] % 6 // 3, labels[0] % 3] += 1
    assert cells.tolist() == [[549, 410, 83], [732, 817, 109]]
    assert data.description["persons_by_age_band"] == [1281, 1227, 192]
    # the source's own test: fresh persons, balanced over the 18 classes
    assert np.bincount(data.y[test], minlength=18).tolist() == [500] * 18
    assert not set(data.groups[test].tolist()) & set(persons.tolist())
    assert all(np.sum(data.groups[test] == g) == 3 for g in np.unique(data.groups[test])[:50])


def test_draws_are_deterministic_and_the_pool_ignores_the_test_size(data):
    again = _load(**MASK)
    assert torch.equal(data.x, again.x) and np.array_equal(data.groups, again.groups)
    small = _load(**MASK, test_rows_per_class=20)
    pool = ~data.source_test
    assert torch.equal(small.x[~small.source_test], data.x[pool])
    assert not torch.equal(_load(**MASK, generator_seed=1).x[:100], data.x[:100])


def test_means_are_attribute_effects_on_orthogonal_dims():
    means = gm.mask_means(7, 7.0, 2.5, 2.0)
    c = mask_labels.class_index
    assert np.isclose(np.linalg.norm(means[c(0, 0, 0)] - means[c(1, 0, 0)]), 7.0)
    assert np.isclose(np.linalg.norm(means[c(0, 0, 0)] - means[c(0, 1, 0)]), 2.5)
    assert np.isclose(np.linalg.norm(means[c(0, 0, 0)] - means[c(0, 0, 1)]), 2.0)
    assert np.isclose(np.linalg.norm(means[c(0, 0, 0)] - means[c(0, 0, 2)]), 4.0)  # 30-59 between
    assert np.allclose(means[:, 5:], 0.0)  # dims past the 5 needed are noise only
    # mu = m[mask] + g[gender] + a[age]: any class is a sum of three differences
    assert np.allclose(means[c(2, 1, 2)] - means[c(0, 0, 0)],
                       (means[c(2, 0, 0)] - means[c(0, 0, 0)]) + (means[c(0, 1, 0)] -
                       means[c(0, 0, 0)]) + (means[c(0, 0, 2)] - means[c(0, 0, 0)]))


def test_person_offset_is_shared_by_the_rows_of_a_person():
    means = gm.mask_means(5, 7.0, 2.5, 2.0)
    x, y, _ = gm.draw_persons(means, ((4000,) * 3,) * 2, gm.POOL_MASKS, 0.8,
                              np.random.default_rng(0))
    residual = x - means[y]
    first, second = residual[0::7], residual[1::7]  # two rows of every person
    assert np.allclose(np.cov(first[:, 0], second[:, 0])[0, 1], 0.64, atol=0.05)
    assert np.allclose(residual.var(axis=0), 1.64, atol=0.05)


SPECS = [
    {},
    {"val": "stratified"},
    {"test": "balanced", "test_per_class": 100},
    {"profile": "scarce", "scarce_attribute": "age", "scarce_value": ">=60",
     "scarce_fraction": 0.5},
    {"profile": "exp", "imbalance_ratio": 10, "val_per_class": 10},
]


@pytest.mark.parametrize("settings", SPECS)
def test_no_person_on_two_sides_of_any_split(settings):
    spec = DatasetSpec.from_dict({"source": "gaussian", "options": MASK, **settings})
    for seed in (0, 1):
        data = prepare(spec, seed=seed)
        sides = [set(g.tolist()) for g in (data.groups_train, data.groups_val, data.groups_test)]
        assert all(sides) and not (sides[0] & sides[1]) and not (sides[0] & sides[2])
        assert not (sides[1] & sides[2])
        assert data.oracle_test_pred.shape == data.y_test.shape


def _scarce(fraction, seed=0, **settings):
    return prepare({"source": "gaussian", "options": MASK, "profile": "scarce",
                    "scarce_attribute": "age", "scarce_value": ">=60",
                    "scarce_fraction": fraction, **settings}, seed=seed)


@pytest.mark.parametrize("value", [">=60", 2])
def test_scarce_age_band_cuts_every_60_plus_class_to_the_fraction(value):
    natural = prepare({"source": "gaussian", "options": MASK}, seed=0)
    data = prepare({"source": "gaussian", "options": MASK, "profile": "scarce",
                    "scarce_attribute": "age", "scarce_value": value, "scarce_fraction": 0.5},
                   seed=0)
    assert data.val_counts == natural.val_counts and torch.equal(data.x_test, natural.x_test)
    left = natural.train_counts  # natural: every row the validation persons left
    persons = natural.description["profile"]["persons"]  # of each class, in natural's train
    for c in range(18):
        # a >=60 class keeps half its persons (rounded down), each with all its rows of the class
        expected = left[c] // persons[c] * (persons[c] // 2) if c in OLD else left[c]
        assert data.train_counts[c] == expected
    assert data.train_counts == np.bincount(data.y_train.numpy(), minlength=18).tolist()
    assert data.description["profile"]["counts"] == data.train_counts


@pytest.mark.parametrize("fraction", [0.5, 0.25, 0.125])
def test_scarce_age_band_keeps_whole_persons_and_the_fraction_of_them(fraction):
    data = _scarce(fraction)
    y, groups = data.y_train.numpy(), data.groups_train.numpy()
    old = np.isin(y, OLD)
    persons, rows = np.unique(groups[old], return_counts=True)
    assert (rows == 7).all()
    val_old = len(np.unique(data.groups_val.numpy()[np.isin(data.y_val.numpy(), OLD)]))
    assert abs(len(persons) - (192 - val_old) * fraction) <= 2
    # exactly: int(fraction x persons left) in each gender's >=60 cell (83 and 109 persons)
    val_groups, val_y = data.groups_val.numpy(), data.y_val.numpy()
    for gender, cell in ((0, 83), (1, 109)):
        of_cell = [c for c in OLD if c % 6 // 3 == gender]
        left = cell - len(np.unique(val_groups[np.isin(val_y, of_cell)]))
        kept = len(np.unique(groups[np.isin(y, of_cell)]))
        assert kept == int(fraction * left)
        assert [data.description["profile"]["persons"][c] for c in of_cell] == [kept] * 3
    # every other person is kept whole, and the counts are the same for every seed
    assert (np.unique(groups[~old], return_counts=True)[1] == 7).all()
    other = _scarce(fraction, seed=1)
    assert other.train_counts == data.train_counts
    assert not np.array_equal(other.groups_train.numpy(), groups)


def test_scarce_age_band_keeps_whole_persons_with_a_stratified_validation():
    data = _scarce(0.25, val="stratified")
    natural = prepare({"source": "gaussian", "options": MASK, "val": "stratified"}, seed=0)
    sides = [set(g.tolist()) for g in (data.groups_train, data.groups_val)]
    assert not sides[0] & sides[1]
    y = np.concatenate([data.y_train.numpy(), data.y_val.numpy()])
    groups = np.concatenate([data.groups_train.numpy(), data.groups_val.numpy()])
    persons, rows = np.unique(groups[np.isin(y, OLD)], return_counts=True)
    assert (rows == 7).all() and len(persons) == int(0.25 * 83) + int(0.25 * 109)
    long_tailed = [t + v for t, v in zip(data.train_counts, data.val_counts)]
    assert long_tailed == data.description["profile"]["counts"]
    assert all(long_tailed[c] == natural.pool_counts[c] for c in range(18) if c not in OLD)


def test_n_max_keeps_whole_persons_while_their_classes_stay_under_it():
    data = prepare({"source": "gaussian", "options": MASK, "n_max": 300}, seed=0)
    assert max(data.train_counts) <= 300
    assert (np.unique(data.groups_train.numpy(), return_counts=True)[1] == 7).all()
    # a "wear" class is 5 rows a person: 60 persons fill it, and their other rows come along
    assert data.train_counts[:6] == [300] * 6 and data.train_counts[6:] == [60] * 12
    assert data.description["profile"]["n_max"] == 300
    with pytest.raises(UserError, match=r"class 'wear/male/<30' with no train rows: no person "
                       r"fits under n_max 3 .*raise n_max to at least 5"):
        prepare({"source": "gaussian", "options": MASK, "n_max": 3}, seed=0)


def test_a_fraction_that_keeps_no_person_is_one_user_error():
    with pytest.raises(UserError, match=r"profile 'scarce' leaves class 'wear/male/>=60' with no "
                       r"train rows: scarce_fraction 0.01 keeps none of its 67 persons .*"
                       r"raise scarce_fraction to at least 0.015 \(1/67\)"):
        _scarce(0.01)
    assert _scarce(0.015).description["profile"]["persons"][2] == 1


def test_oracle_is_not_beaten_by_a_fitted_linear_classifier():
    """LDA is the exact model family (shared isotropic covariance); fitted on 2*10^5 fresh rows it
    comes close to the oracle, on 3*10^5 fresh rows of fresh persons, but never beyond noise."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    spread = gm.DEFAULTS["person_spread"]
    means = gm.mask_means(6, **{k: v for k, v in gm.DEFAULTS.items() if k != "person_spread"})
    rng = np.random.default_rng(7)

    def draw(times):  # fresh persons in the natural (train) shape, ``times`` as many
        cells = [[n * times for n in row] for row in gm.PERSONS_PER_CELL]
        return gm.draw_persons(means, cells, gm.POOL_MASKS, spread, rng)

    x_fit, y_fit, _ = draw(10)          # 189,000 rows
    x, y, person = draw(16)             # 302,400 rows, fresh persons
    priors = np.bincount(y, minlength=18) / len(y)
    oracle = bayes_predict(torch.from_numpy(x), means, priors, 1.0 + spread ** 2).numpy() == y
    fitted = LinearDiscriminantAnalysis().fit(x_fit, y_fit).predict(x) == y
    # rows of a person are correlated: the standard error of the paired difference is by person
    per_person = np.bincount(person, weights=fitted.astype(float) - oracle)
    gap = per_person.sum() / len(y)
    error = per_person.std(ddof=1) * np.sqrt(len(per_person)) / len(y)
    assert 0.55 < oracle.mean() < 0.75
    assert gap < 3 * error, (gap, error)
    # with unequal priors the variance matters: the unit-variance rule (the simplex's) is worse
    unit = bayes_predict(torch.from_numpy(x), means, priors).numpy() == y
    assert unit.mean() < oracle.mean() - 3 * error


def test_prepare_oracle_is_the_bayes_rule_with_the_marginal_variance():
    data = prepare({"source": "gaussian", "options": {**MASK, "person_spread": 1.0}}, seed=0)
    means = gm.mask_means(5, 7.0, 2.5, 2.0)
    expected = bayes_predict(data.x_test, means, np.ones(18) / 18, 2.0)
    assert torch.equal(data.oracle_test_pred, expected)
    accuracy = float((data.oracle_test_pred == data.y_test).float().mean())
    assert 0.5 < accuracy < 0.75


@pytest.mark.parametrize("options", [
    {}, {"counts": "mask"}, {"num_classes": 20, "dimension": 5, "separation": 2.0},
    {"per_class": 50, "generator_seed": 3, "test_rows_per_class": 7},
])
def test_default_structure_is_the_old_simplex_draw_bit_for_bit(options):
    data = _load(**options)
    counts = (list(mask_labels.MASK_CLASS_COUNTS) if options.get("counts") == "mask"
              else [options.get("per_class", 500)] * options.get("num_classes", 10))
    classes = len(counts)
    dimension = options.get("dimension") or classes
    means = class_means(classes, dimension, options.get("separation", 3.0),
                        options.get("generator_seed", 0))
    test = [options.get("test_rows_per_class", 500)] * classes
    labels = np.concatenate([np.repeat(np.arange(classes), counts),
                             np.repeat(np.arange(classes), test)])
    rng = np.random.default_rng([options.get("generator_seed", 0), 2])
    x = means[labels] + rng.standard_normal((len(labels), dimension))
    assert torch.equal(data.x, torch.from_numpy(x.astype(np.float32)))
    assert np.array_equal(data.y, labels) and data.groups is None
    priors = np.arange(1, classes + 1) / np.arange(1, classes + 1).sum()
    mu = torch.as_tensor(means)
    scores = data.x.double() @ mu.T - 0.5 * (mu * mu).sum(1) + torch.as_tensor(np.log(priors))
    assert torch.equal(data.oracle(data.x, priors), scores.argmax(dim=1))


@pytest.mark.parametrize("options, message", [
    ({**MASK, "dimension": 4}, r"'dimension' of source 'gaussian' is 4, .*needs dimension >= 5"),
    ({**MASK, "separation": 2.0}, r"'separation' .* does not apply with structure = 'mask'"),
    ({**MASK, "counts": [3, 4]}, r"'counts' .* does not apply with structure = 'mask'"),
    ({**MASK, "num_classes": 10}, r"'num_classes' .* must be 18"),
    ({**MASK, "mask_separation": 0}, r"'mask_separation' .* finite number > 0; got 0"),
    ({**MASK, "gender_separation": "inf"}, r"'gender_separation' .* finite number > 0"),
    ({**MASK, "age_separation": -1}, r"'age_separation' .* finite number > 0"),
    ({**MASK, "person_spread": -0.1}, r"'person_spread' .* finite number >= 0"),
    ({**MASK, "test_rows_per_class": 0}, r"test_rows_per_class must be >= 1"),
    ({"person_spread": 1.0}, r"'person_spread' .* applies to structure = 'mask' only"),
    ({"structure": "cube"}, r"'structure' of source 'gaussian' must be one of 'simplex', 'mask'"),
])
def test_bad_options_are_one_user_error(options, message):
    with pytest.raises(UserError, match=message):
        _load(**options)


def test_person_spread_zero_and_more_dims_are_allowed():
    data = _load(**MASK, dimension=8, person_spread=0)
    assert data.x.shape[1] == 8 and data.description["person_spread"] == 0.0


def test_datasets_show_prints_the_mask_counts(capsys):
    assert main(["datasets", "show", "gaussian", "--structure", "mask", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["counts"]["pool"] == list(mask_labels.MASK_CLASS_COUNTS)
    assert result["counts"]["test"] == [500] * 18 and result["class_names"][17] == "not_worn/female/>=60"
    assert main(["datasets", "show", "gaussian", "--structure", "mask", "--dimension", "3"]) == 2
    assert "needs dimension >= 5" in capsys.readouterr().err


def test_a_persons_fraction_keeps_the_cells_shape():
    from lossbench.datasets.gaussian_mask import persons_per_cell

    assert persons_per_cell(1.0) == ((549, 410, 83), (732, 817, 109))
    assert persons_per_cell(0.5) == ((274, 205, 42), (366, 408, 54))
    assert persons_per_cell(0.001) == ((1, 1, 1), (1, 1, 1))
    half = _load(**MASK, persons_fraction=0.5)
    pool = ~half.source_test
    assert len(np.unique(half.groups[pool])) == 1349 and pool.sum() == 7 * 1349
    with pytest.raises(UserError, match="persons_fraction.*must be in \\(0, 1\\]; got 0.0"):
        _load(**MASK, persons_fraction=0.0)
