"""The mask source on a tiny dataset in the competition layout, written by the test."""

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.datasets_fixtures import default_people, make_mask_dataset, read_colour, write_image
from lossbench.datasets import DatasetSpec, get_source, prepare
from lossbench.datasets.mask_labels import age_band, class_index
from lossbench.errors import UserError

# pytest re-enables DeprecationWarnings per test; torchvision 0.29 warns on every decode and encode.
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding:DeprecationWarning")


@pytest.fixture(scope="module")
def mask_root(tmp_path_factory) -> Path:
    return make_mask_dataset(tmp_path_factory.mktemp("mask"))


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


def _load(root: Path, cache_dir: Path, **options):
    source = get_source("mask")
    return source.load(source.resolve_options({"root": str(root), "size": 8, **options}), cache_dir)


def _colour_labels(data):
    """(mask, gender, age) read back from each decoded photo's flat colour."""
    labels = np.array([read_colour(tuple(p)) for p in data.x[:, :, 4, 4].tolist()])
    return labels[:, 0], labels[:, 1], labels[:, 2]


def test_every_photo_is_read_and_litter_ignored(mask_root, cache):
    data = _load(mask_root, cache)
    assert data.x.shape == (26 * 7, 3, 8, 8) and data.x.dtype == torch.uint8
    assert data.description["persons"] == 26 and data.description["skipped_files"] == 1
    assert data.kind == "images" and len(data.class_names) == 18


def test_labels_match_the_photos_around_the_age_edges(mask_root, cache):
    data = _load(mask_root, cache)
    mask, gender, age = _colour_labels(data)
    expected = [class_index(m, g, age_band(int(a), 60)) for m, g, a in zip(mask, gender, age)]
    assert data.y.tolist() == expected
    bands = {int(a): age_band(int(a), 60) for a in age}
    assert (bands[29], bands[30], bands[59], bands[60]) == (0, 1, 1, 2)
    assert data.class_names[class_index(1, 0, 2)] == "incorrect/male/>=60"


def test_changed_age_cut_moves_58_and_59_to_the_oldest_band(mask_root, cache):
    data = _load(mask_root, cache, age_cut=58, target="age")
    _, _, age = _colour_labels(data)
    by_age = {int(a): int(y) for a, y in zip(age, data.y)}
    assert (by_age[29], by_age[30], by_age[57], by_age[58], by_age[59]) == (0, 1, 1, 2, 2)
    assert data.class_names == ["<30", "30-57", ">=58"]


@pytest.mark.parametrize("target, classes", [("mask", 3), ("gender", 2), ("age", 3)])
def test_single_attribute_targets(mask_root, cache, target, classes):
    data = _load(mask_root, cache, target=target)
    mask, gender, age = _colour_labels(data)
    truth = {"mask": mask, "gender": gender,
             "age": np.array([age_band(int(a), 60) for a in age])}[target]
    assert len(data.class_names) == classes and data.y.tolist() == truth.tolist()


def test_folder_names_give_the_same_labels_as_the_csv(mask_root, cache):
    from_csv = _load(mask_root, cache)
    from_folders = _load(mask_root, cache, labels_from="folders")
    assert np.array_equal(from_csv.y, from_folders.y)
    assert np.array_equal(from_csv.groups, from_folders.groups)


def test_groups_are_person_ids(mask_root, cache):
    data = _load(mask_root, cache)
    assert len(np.unique(data.groups)) == 26
    assert all(len(np.flatnonzero(data.groups == g)) == 7 for g in np.unique(data.groups))


def test_no_person_on_both_sides_of_any_split(mask_root, cache):
    spec = DatasetSpec.from_dict({"source": "mask", "options": {"root": str(mask_root), "size": 8},
                                  "val_per_class": 1, "test_fraction": 0.25})
    for seed in range(3):
        data = prepare(spec, seed=seed, cache_dir=cache)
        sides = [set(g.tolist()) for g in (data.groups_train, data.groups_val, data.groups_test)]
        assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
        assert data.val_counts == [1] * 18 and min(data.train_counts) >= 1


def test_scarce_age_band_cuts_every_60_plus_class(mask_root, cache):
    spec = DatasetSpec.from_dict({
        "source": "mask", "options": {"root": str(mask_root), "size": 8, "target": "age"},
        "profile": "scarce", "scarce_attribute": "age", "scarce_value": ">=60",
        "scarce_fraction": 0.5, "val": "stratified", "test_fraction": 0.25})
    data = prepare(spec, seed=0, cache_dir=cache)
    long_tailed = [t + v for t, v in zip(data.train_counts, data.val_counts)]
    assert long_tailed[:2] == data.pool_counts[:2]
    assert long_tailed[2] == data.pool_counts[2] // 2


def test_label_corrections_by_person_id(mask_root, cache):
    plain = _load(mask_root, cache, target="gender")
    fixed = _load(mask_root, cache, target="gender", flip_gender=["000001"])
    changed = np.flatnonzero(plain.y != fixed.y)
    assert len(changed) == 7 and len(np.unique(plain.groups[changed])) == 1
    swapped = _load(mask_root, cache, target="mask", swap_incorrect_normal="000002")
    assert (swapped.y != _load(mask_root, cache, target="mask").y).sum() == 2


def test_second_load_comes_from_the_cache(mask_root, cache):
    first = _load(mask_root, cache)
    second = _load(mask_root, cache)
    assert not first.description["from_cache"] and second.description["from_cache"]
    assert torch.equal(first.x, second.x)


def test_missing_root_is_named(tmp_path, cache):
    with pytest.raises(UserError, match=r"mask root .*nowhere does not exist"):
        _load(tmp_path / "nowhere", cache)


def test_missing_train_csv_is_named(tmp_path, cache):
    root = make_mask_dataset(tmp_path / "m", people=default_people()[:2], with_csv=False)
    with pytest.raises(UserError, match=r"train.csv not found at .*labels_from = 'folders'"):
        _load(root, cache)
    assert _load(root, cache, labels_from="folders").x.shape[0] == 14


def test_folder_name_that_does_not_parse_is_named(tmp_path, cache):
    root = make_mask_dataset(tmp_path / "m", people=default_people()[:2], with_csv=False)
    (root / "train" / "images" / "000009_female_Asian").mkdir()
    with pytest.raises(UserError, match=r"folder name '000009_female_Asian' .* does not parse"):
        _load(root, cache, labels_from="folders")


def test_corrupt_photo_is_named_and_nothing_is_cached(tmp_path, cache):
    root = make_mask_dataset(tmp_path / "m", people=default_people()[:2])
    bad = next((root / "train" / "images").glob("000002_*")) / "normal.png"
    for old in bad.parent.glob("normal.*"):
        old.unlink()
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    with pytest.raises(UserError, match=rf"cannot decode image file .*{bad.parent.name}/normal.png"):
        _load(root, cache)
    assert not cache.exists() or not any(cache.iterdir())


def test_unknown_photo_name_is_named(tmp_path, cache):
    root = make_mask_dataset(tmp_path / "m", people=default_people()[:1])
    write_image(next((root / "train" / "images").glob("000001_*")) / "mask6.jpg", (0, 0, 0))
    with pytest.raises(UserError, match=r"mask6\.jpg has an unknown name 'mask6'"):
        _load(root, cache)


def test_empty_class_is_named(tmp_path, cache):
    root = make_mask_dataset(tmp_path / "m", people=[p for p in default_people() if p[3] < 60])
    spec = DatasetSpec.from_dict({"source": "mask", "options": {"root": str(root), "size": 8}})
    with pytest.raises(UserError, match=r"class 'wear/male/>=60' has no rows"):
        prepare(spec, cache_dir=cache)


@pytest.mark.parametrize("options, message", [
    ({"age_cut": 30}, "age_cut must be greater than 30"),
    ({"target": "race"}, "option 'target' of source 'mask' must be one of"),
    ({"labels_from": "xml"}, "must be one of 'csv', 'folders'"),
])
def test_bad_options_are_named(mask_root, cache, options, message):
    with pytest.raises(UserError, match=message):
        _load(mask_root, cache, **options)


def test_root_is_required(cache):
    source = get_source("mask")
    with pytest.raises(UserError, match="needs the option root"):
        source.load(source.resolve_options({}), cache)


def test_scarce_age_band_on_the_18_classes_cuts_the_six_oldest(mask_root):
    from lossbench.datasets import split_counts

    result = split_counts({
        "source": "mask", "options": {"root": str(mask_root)}, "profile": "scarce",
        "scarce_attribute": "age", "scarce_value": 2, "scarce_fraction": 0.5,
        "val": "stratified", "test_fraction": 0.25})
    counts = result["counts"]
    long_tailed = [t + v for t, v in zip(counts["train"], counts["val"])]
    oldest = [c for c, name in enumerate(result["class_names"]) if name.endswith(">=60")]
    assert oldest == [2, 5, 8, 11, 14, 17]
    for c in range(18):
        # whole persons: half of a >=60 cell's persons (rounded down), each with all its rows;
        # a person has 5 rows of its "wear" class and 1 of each other
        per_person = 5 if c < 6 else 1
        persons = counts["pool"][c] // per_person
        expected = per_person * (persons // 2) if c in oldest else counts["pool"][c]
        assert long_tailed[c] == expected


def test_mask_test_split_is_the_same_for_every_profile_and_seed(mask_root, cache):
    base = {"source": "mask", "options": {"root": str(mask_root), "size": 8, "target": "age"},
            "test_fraction": 0.25, "val": "stratified"}
    natural = prepare(DatasetSpec.from_dict(base), seed=0, cache_dir=cache)
    scarce = prepare(DatasetSpec.from_dict({**base, "profile": "scarce", "scarce_classes": [">=60"],
                                            "scarce_fraction": 0.5}), seed=3, cache_dir=cache)
    assert torch.equal(natural.x_test, scarce.x_test)
    assert torch.equal(natural.groups_test, scarce.groups_test)


def _many_people() -> list[tuple[str, str, str, int]]:
    """52 persons: 5 per gender under 30 and 30-59, 16 per gender 60 and over."""
    rows = []
    for gender in ("male", "female"):
        for ages, count in (((18, 25, 29), 5), ((30, 45, 59), 5), ((60, 61, 75, 80), 16)):
            for k in range(count):
                rows.append((f"{len(rows) + 1:06d}", gender, "Asian", ages[k % len(ages)]))
    return rows


@pytest.fixture(scope="module")
def many_root(tmp_path_factory) -> Path:
    return make_mask_dataset(tmp_path_factory.mktemp("mask-many"), people=_many_people(),
                             with_litter=False)


@pytest.mark.parametrize("fraction", [0.5, 0.25])
def test_scarce_age_band_keeps_whole_persons(many_root, cache, fraction):
    base = {"source": "mask", "options": {"root": str(many_root), "size": 8}, "val_per_class": 1}
    natural = prepare(DatasetSpec.from_dict(base), seed=0, cache_dir=cache)
    data = prepare(DatasetSpec.from_dict({**base, "profile": "scarce", "scarce_attribute": "age",
                                          "scarce_value": ">=60", "scarce_fraction": fraction}),
                   seed=0, cache_dir=cache)
    assert data.description["val"]["mode"] == "balanced"
    assert torch.equal(data.groups_val, natural.groups_val)  # validation is drawn before the cut
    oldest = [class_index(m, g, 2) for m in range(3) for g in range(2)]
    y, groups = data.y_train.numpy(), data.groups_train.numpy()
    nat_y, nat_groups = natural.y_train.numpy(), natural.groups_train.numpy()
    assert (np.unique(groups, return_counts=True)[1] == 7).all()  # every train person whole
    for gender in range(2):
        cell = [class_index(m, gender, 2) for m in range(3)]
        left = np.unique(nat_groups[np.isin(nat_y, cell)])  # the cell's persons left for training
        kept = np.unique(groups[np.isin(y, cell)])
        assert len(kept) == int(fraction * len(left)) >= 1 and set(kept) <= set(left)
        assert [data.train_counts[c] for c in cell] == [5 * len(kept), len(kept), len(kept)]
        assert [data.description["profile"]["persons"][c] for c in cell] == [len(kept)] * 3
    for c in range(18):
        if c not in oldest:
            assert data.train_counts[c] == natural.train_counts[c]
    assert data.train_counts == np.bincount(y, minlength=18).tolist()
    assert data.description["profile"]["counts"] == data.train_counts
