"""prepare(): exact counts, determinism, a test split untouched by the profile, the gaussian oracle."""

import numpy as np
import pytest
import torch
from lossbench.datasets import DatasetSpec, PreparedData, available_sources, prepare
from lossbench.datasets.gaussian import bayes_predict, class_means
from lossbench.datasets.mask_labels import MASK_CLASS_COUNTS
from lossbench.errors import UserError


def _prepare(seed=0, **table) -> PreparedData:
    return prepare(DatasetSpec.from_dict({"source": "digits", **table}), seed=seed)


def test_sources_are_registered():
    assert {"digits", "gaussian"} <= set(available_sources())


def test_digits_features_are_float32_in_unit_range_and_labels_int64():
    data = _prepare()
    assert data.kind == "features" and data.num_classes == 10 and data.x_train.shape[1] == 64
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert 0.0 <= float(data.x_train.min()) and float(data.x_train.max()) <= 1.0


def test_exp_profile_gives_exact_train_counts():
    data = _prepare(profile="exp", imbalance_ratio=10, n_max=100)
    assert data.train_counts == [100, 77, 59, 46, 35, 27, 21, 16, 12, 10]
    assert np.bincount(data.y_train.numpy(), minlength=10).tolist() == data.train_counts
    assert data.name == "digits-exp10"


def test_counts_lists_match_the_tensors():
    data = _prepare(profile="step", imbalance_ratio=5)
    for counts, labels in [(data.val_counts, data.y_val), (data.test_counts, data.y_test)]:
        assert np.bincount(labels.numpy(), minlength=10).tolist() == counts
    assert len(data.pool_counts) == 10


def test_same_seed_same_sample_other_seed_other_sample():
    first, again = _prepare(seed=3, profile="exp"), _prepare(seed=3, profile="exp")
    other = _prepare(seed=4, profile="exp")
    assert torch.equal(first.x_train, again.x_train) and torch.equal(first.x_val, again.x_val)
    assert not torch.equal(first.x_train, other.x_train)


def test_spec_seed_fixes_the_draw_across_run_seeds():
    a = prepare(DatasetSpec.from_dict({"source": "digits", "profile": "exp", "seed": 7}), seed=1)
    b = prepare(DatasetSpec.from_dict({"source": "digits", "profile": "exp", "seed": 7}), seed=2)
    assert torch.equal(a.x_train, b.x_train)


@pytest.mark.parametrize("table", [
    {"profile": "exp", "imbalance_ratio": 100},
    {"profile": "step", "imbalance_ratio": 10, "val": "stratified"},
    {"profile": "scarce", "scarce_classes": ["3", 7], "scarce_fraction": 0.5},
    {"profile": "pareto", "class_order": "shuffled"},
])
def test_test_split_does_not_change_with_the_profile_or_seed(table):
    baseline = _prepare(seed=0)
    data = _prepare(seed=5, **table)
    assert torch.equal(baseline.x_test, data.x_test) and torch.equal(baseline.y_test, data.y_test)


def test_no_row_in_two_splits():
    data = _prepare(profile="exp")
    rows = [tuple(r) for x in (data.x_train, data.x_val, data.x_test) for r in x.numpy().tolist()]
    # digits has a few duplicate images in the source itself; splits must not add any
    assert len(rows) - len(set(rows)) <= 20


def test_default_test_is_balanced_and_val_balanced_when_room():
    data = _prepare(profile="exp")
    assert len(set(data.test_counts)) == 1 and len(set(data.val_counts)) == 1
    assert data.description["val"]["mode"] == "balanced"


def test_stratified_val_follows_the_profile():
    data = _prepare(profile="exp", imbalance_ratio=10, n_max=100, val="stratified")
    profile = [100, 77, 59, 46, 35, 27, 21, 16, 12, 10]
    assert [t + v for t, v in zip(data.train_counts, data.val_counts)] == profile
    assert data.val_counts == [20, 15, 12, 9, 7, 5, 4, 3, 2, 2]


def test_auto_val_turns_stratified_when_n_max_leaves_no_room():
    data = _prepare(profile="exp", n_max=130)
    assert data.description["val"]["mode"] == "stratified"


def test_shuffled_class_order_permutes_the_counts():
    given = _prepare(profile="exp", n_max=100).train_counts
    shuffled = _prepare(profile="exp", n_max=100, class_order="shuffled").train_counts
    assert sorted(given) == sorted(shuffled) and given != shuffled


def test_too_large_n_max_names_the_class():
    with pytest.raises(UserError, match=r"class '0'.*lower n_max"):
        _prepare(profile="exp", n_max=1000, val="balanced")


def test_profile_leaving_a_class_empty_names_it():
    with pytest.raises(UserError, match=r"leaves class '6' with no train rows"):
        _prepare(profile="exp", n_max=20, imbalance_ratio=100)


def test_gaussian_mask_preset_has_the_18_mask_counts_and_an_oracle():
    data = prepare(DatasetSpec.from_dict({"source": "gaussian", "options": {"counts": "mask"},
                                          "val": "stratified"}), seed=0)
    assert data.num_classes == 18 and data.pool_counts == list(MASK_CLASS_COUNTS)
    assert [t + v for t, v in zip(data.train_counts, data.val_counts)] == list(MASK_CLASS_COUNTS)
    assert data.class_names[8] == "incorrect/male/>=60"
    assert data.oracle_test_pred.shape == data.y_test.shape
    assert float((data.oracle_test_pred == data.y_test).float().mean()) > 0.5


def test_gaussian_oracle_beats_every_other_linear_rule_on_its_own_draws():
    means = class_means(3, 3, 2.0, seed=0)
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 4000)
    x = torch.from_numpy(means[labels] + rng.standard_normal((len(labels), 3)))
    accuracy = float((bayes_predict(x, means, np.ones(3) / 3).numpy() == labels).mean())
    skewed = float((bayes_predict(x, means, np.array([0.8, 0.1, 0.1])).numpy() == labels).mean())
    assert accuracy > skewed
    assert np.allclose(np.linalg.norm(means[0] - means[1]), 2.0)


def test_spec_unknown_key_is_named_with_the_allowed_keys():
    with pytest.raises(UserError, match=r"unknown dataset setting 'profil'.*'profile'.*Allowed"):
        DatasetSpec.from_dict({"source": "digits", "profil": "exp"})


def test_spec_source_option_at_top_level_says_where_it_belongs():
    with pytest.raises(UserError, match="put it under 'options'"):
        DatasetSpec.from_dict({"source": "gaussian", "separation": 2.0})


def test_spec_unknown_source_suggests_close_names():
    with pytest.raises(UserError, match=r"unknown source 'digit'.*'digits'"):
        DatasetSpec.from_dict({"source": "digit"})


def test_spec_unknown_source_option_lists_the_allowed_ones():
    with pytest.raises(UserError, match=r"option of source 'gaussian'.*separation"):
        DatasetSpec.from_dict({"source": "gaussian", "options": {"sep": 2}})


@pytest.mark.parametrize("table, message", [
    ({"imbalance_ratio": 0.5}, "imbalance_ratio must be a number >= 1"),
    ({"profile": "zipf"}, "unknown profile 'zipf'"),
    ({"class_order": "random"}, "class_order must be one of 'given', 'shuffled'"),
    ({"profile": "scarce"}, "needs scarce_classes"),
    ({"n_max": 0}, "n_max must be a whole number >= 1"),
])
def test_spec_bad_values_are_named(table, message):
    with pytest.raises(UserError, match=message):
        DatasetSpec.from_dict({"source": "digits", **table})


def test_description_is_json_able():
    import json

    json.dumps(_prepare(profile="exp").description)


@pytest.mark.parametrize("table, message", [
    ({"profile": ["exp"]}, "profile must be a string"),
    ({"scarce_classes": [1.5], "profile": "scarce"}, "scarce_classes must be a list"),
    ({"options": "digits"}, "options of source 'digits' must be a table"),
])
def test_spec_wrong_types_are_user_errors(table, message):
    with pytest.raises(UserError, match=message):
        DatasetSpec.from_dict({"source": "digits", **table})


def test_one_scarce_class_alone_is_a_list_of_one():
    spec = DatasetSpec.from_dict({"source": "digits", "profile": "scarce", "scarce_classes": "3"})
    assert spec.scarce_classes == ("3",) and hash(spec) == hash(DatasetSpec.from_dict(
        {"source": "digits", "profile": "scarce", "scarce_classes": ["3"]}))


# Row indices (train, val, test) and the profile's description of prepare's plan, hashed by the code
# as it was before whole persons were kept for natural/scarce on grouped sources: the sources
# without groups, and the grouped ones whose rows that change leaves alone (natural without n_max
# keeps every row; exp and step still draw rows), must give the same rows bit for bit.
PLAN_HASHES = [
    ({"source": "digits"}, {0: "21984a627295e8c4", 3: "86b674d11c69c9c2"}),
    ({"source": "digits", "n_max": 50}, {0: "57f0082e1bab12ba", 3: "114defbe86207015"}),
    ({"source": "digits", "profile": "scarce", "scarce_classes": ["3", 7], "scarce_fraction": 0.5},
     {0: "eba4e1c0edb526f7", 3: "671918bc7d3ff3e6"}),
    ({"source": "digits", "profile": "scarce", "scarce_classes": [1], "scarce_fraction": 0.3,
      "n_max": 100, "val": "stratified"}, {0: "da99916eb26ae517", 3: "e8b6a5b32de6cab3"}),
    ({"source": "digits", "profile": "exp", "imbalance_ratio": 10, "class_order": "shuffled"},
     {0: "b4b532062acd207b", 3: "2a3731780bb63b82"}),
    ({"source": "gaussian", "options": {"counts": "mask"}, "profile": "scarce",
      "scarce_classes": [2, 5, 8, 11, 14, 17], "scarce_fraction": 0.25},
     {0: "47077fdf40257cf0", 3: "931ac439b8b2f267"}),
    ({"source": "gaussian", "options": {"counts": "mask"}, "n_max": 300, "val": "stratified"},
     {0: "af2f0e88fe552460", 3: "a2a500091dcd8dad"}),
    ({"source": "gaussian", "options": {"structure": "mask"}},
     {0: "e3f2bacd6dc5f686", 3: "57ebc5af5424678d"}),
    ({"source": "gaussian", "options": {"structure": "mask"}, "val": "stratified"},
     {0: "73f9bf7e717291d1", 3: "49007174f0263ebb"}),
    ({"source": "gaussian", "options": {"structure": "mask"}, "profile": "exp",
      "imbalance_ratio": 10, "val_per_class": 10}, {0: "bc8666e9c3d6e2aa", 3: "345b6e84f13b1636"}),
    ({"source": "gaussian", "options": {"structure": "mask"}, "profile": "step",
      "imbalance_ratio": 5, "val": "stratified"}, {0: "a3891acac752e1fc", 3: "12865259b22b3035"}),
]


@pytest.fixture(scope="module")
def loaded_sources():
    from lossbench.datasets import get_source

    cache = {}

    def load(spec):
        key = (spec.source, repr(sorted(spec.options.items())))
        if key not in cache:
            cache[key] = get_source(spec.source).load(spec.options, None, decode=False)
        return cache[key]
    return load


@pytest.mark.parametrize("table, hashes", PLAN_HASHES)
def test_rows_are_unchanged_where_rows_are_drawn_or_all_kept(table, hashes, loaded_sources):
    import hashlib
    import json

    from lossbench.datasets.prepare import plan_splits

    spec = DatasetSpec.from_dict(table)
    data = loaded_sources(spec)
    for seed, expected in hashes.items():
        plan = plan_splits(spec, data, seed)
        digest = hashlib.sha256()
        for key in ("train", "val", "test"):
            digest.update(key.encode())
            digest.update(np.asarray(plan["rows"][key], dtype=np.int64).tobytes())
        profile = dict(plan["description"]["profile"])
        persons = profile.pop("persons")
        digest.update(json.dumps(profile, sort_keys=True).encode())
        assert digest.hexdigest()[:16] == expected, (table, seed)
        grouped_whole = data.groups is not None and spec.profile in ("natural", "scarce")
        assert (persons is None) == (not grouped_whole)
