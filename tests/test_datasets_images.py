"""imagefolder (tree and .tar.gz) and cifar10/cifar100 (torchvision format) sources."""

import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.datasets_fixtures import make_image_folder
from lossbench.datasets import DatasetSpec, get_source, prepare
from lossbench.errors import UserError

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding:DeprecationWarning")
CLASSES = {"cat": (12, 4), "dog": (10, 4), "emu": (8, 4)}


def _load(name: str, cache: Path, **options):
    source = get_source(name)
    return source.load(source.resolve_options(options), cache)


@pytest.mark.parametrize("packed", [False, True])
def test_tree_and_archive_give_the_same_images(tmp_path, packed):
    tree = make_image_folder(tmp_path / "a", CLASSES)
    path = make_image_folder(tmp_path / "b", CLASSES, tar_name="t.tar.gz") if packed else tree
    data = _load("imagefolder", tmp_path / "cache", root=str(path))
    reference = _load("imagefolder", tmp_path / "cache2", root=str(tree))
    assert data.class_names == ["cat", "dog", "emu"] and data.kind == "images"
    assert data.x.shape == (42, 3, 8, 8) and data.x.dtype == torch.uint8
    assert np.array_equal(data.y, reference.y) and torch.equal(data.x, reference.x)
    assert data.source_test.sum() == 12
    assert np.bincount(data.y[~data.source_test]).tolist() == [12, 10, 8]


def test_colours_follow_their_class(tmp_path):
    data = _load("imagefolder", tmp_path / "cache", root=str(make_image_folder(tmp_path, CLASSES)))
    red = data.x[:, 0, 4, 4].to(torch.int64)
    assert torch.all((red - torch.from_numpy(data.y) * 20).abs() <= 3)


def test_hidden_and_stray_files_are_ignored(tmp_path):
    tree = make_image_folder(tmp_path, CLASSES)
    (tree / "train" / "cat" / "._0000.jpg").write_bytes(b"\x00\x05AppleDouble")
    (tree / "train" / ".DS_Store").write_bytes(b"Bud1")
    (tree / "train" / "dog" / "readme.txt").write_text("hi")
    data = _load("imagefolder", tmp_path / "cache", root=str(tree))
    assert len(data.y) == 42 and data.description["skipped_files"] == 1


def test_resize_setting(tmp_path):
    tree = make_image_folder(tmp_path, CLASSES)
    assert _load("imagefolder", tmp_path / "c", root=str(tree), size=5).x.shape[2:] == (5, 5)


def test_warm_load_reuses_the_cache(tmp_path):
    tree = make_image_folder(tmp_path, CLASSES, tar_name="t.tar.gz")
    first = _load("imagefolder", tmp_path / "cache", root=str(tree))
    second = _load("imagefolder", tmp_path / "cache", root=str(tree))
    assert not first.description["from_cache"] and second.description["from_cache"]
    assert torch.equal(first.x, second.x)


def test_test_split_is_the_sources_and_unchanged_by_the_profile(tmp_path):
    tree = make_image_folder(tmp_path, CLASSES)
    base = {"source": "imagefolder", "options": {"root": str(tree)}, "val_per_class": 2}
    natural = prepare(DatasetSpec.from_dict(base), cache_dir=tmp_path / "c")
    lt = prepare(DatasetSpec.from_dict({**base, "profile": "exp", "imbalance_ratio": 3}), seed=1,
                 cache_dir=tmp_path / "c")
    assert torch.equal(natural.x_test, lt.x_test) and lt.test_counts == [4, 4, 4]
    assert lt.train_counts == [6, 3, 2] and lt.val_counts == [2, 2, 2]


def test_without_test_folder_a_balanced_test_is_set_apart(tmp_path):
    tree = make_image_folder(tmp_path, {"a": (10, 0), "b": (10, 0)})
    data = prepare({"source": "imagefolder", "options": {"root": str(tree)}},
                   cache_dir=tmp_path / "c")
    assert data.test_counts == [2, 2] and data.description["test"]["mode"] == "balanced"


def test_empty_class_is_named(tmp_path):
    tree = make_image_folder(tmp_path, CLASSES)
    (tree / "train" / "fox").mkdir()
    with pytest.raises(UserError, match=r"class 'fox' has no images in train/"):
        _load("imagefolder", tmp_path / "c", root=str(tree))


def test_empty_class_in_an_archive_is_named(tmp_path):
    tree = make_image_folder(tmp_path / "x", CLASSES)
    (tree / "test" / "emu").rename(tmp_path / "gone")
    (tree / "test" / "emu").mkdir()
    import tarfile

    with tarfile.open(tmp_path / "t.tgz", "w:gz") as archive:
        archive.add(tree, arcname="data")
    with pytest.raises(UserError, match=r"class 'emu' has no images in test/"):
        _load("imagefolder", tmp_path / "c", root=str(tmp_path / "t.tgz"))


def test_corrupt_image_is_named_and_nothing_is_cached(tmp_path):
    tree = make_image_folder(tmp_path, CLASSES)
    (tree / "train" / "dog" / "0003.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(UserError, match=r"cannot decode image file .*dog/0003\.png"):
        _load("imagefolder", tmp_path / "cache", root=str(tree))
    assert not (tmp_path / "cache").exists() or not os.listdir(tmp_path / "cache")


def test_missing_path_is_named(tmp_path):
    with pytest.raises(UserError, match=r"imagefolder path .*nothing does not exist"):
        _load("imagefolder", tmp_path / "c", root=str(tmp_path / "nothing"))


def _write_fake_cifar10(root: Path, per_batch: int = 20) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        labels = [i % 10 for i in range(per_batch)]
        batch = {"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8), "labels": labels}
        (folder / name).write_bytes(pickle.dumps(batch))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": names}))


def test_cifar10_reads_torchvision_batches(tmp_path):
    _write_fake_cifar10(tmp_path)
    data = _load("cifar10", tmp_path / "c", root=str(tmp_path))
    assert data.x.shape == (120, 3, 32, 32) and data.x.dtype == torch.uint8
    assert data.class_names[0] == "airplane" and data.source_test.sum() == 20


def test_cifar_absent_is_named_and_not_downloaded(tmp_path):
    with pytest.raises(UserError, match=r"no CIFAR-100 in torchvision format .*download = true"):
        _load("cifar100", tmp_path / "c", root=str(tmp_path))


CIFAR_JPG = os.environ.get("LOSSBENCH_CIFAR10_JPG")


@pytest.mark.skipif(not CIFAR_JPG or not Path(CIFAR_JPG).is_file(),
                    reason="set LOSSBENCH_CIFAR10_JPG to the path of cifar10-jpg.tar.gz")
def test_cifar10_jpeg_archive_cold_and_warm_load_times(tmp_path):
    spec = DatasetSpec.from_dict({"source": "imagefolder", "options": {"root": CIFAR_JPG},
                                  "profile": "exp", "imbalance_ratio": 100, "n_max": 4000})
    start = time.perf_counter()
    cold = prepare(spec, cache_dir=tmp_path)
    cold_s = time.perf_counter() - start
    start = time.perf_counter()
    warm = prepare(spec, cache_dir=tmp_path)
    warm_s = time.perf_counter() - start
    print(f"CIFAR-10 JPEG archive: cold {cold_s:.1f} s, warm {warm_s:.2f} s")
    assert cold.num_classes == 10 and cold.test_counts == [1000] * 10
    assert sum(cold.pool_counts) == 50000 and cold.train_counts[0] == 4000
    assert torch.equal(cold.x_train, warm.x_train)
    assert cold_s <= 30 and warm_s <= 2


def test_mixed_image_sizes_without_size_setting_say_which_option_to_set(tmp_path):
    from helpers.datasets_fixtures import write_image

    tree = make_image_folder(tmp_path, CLASSES)
    write_image(tree / "train" / "emu" / "0000.jpg", (1, 2, 3), 9, 9)
    with pytest.raises(UserError, match=r"emu/0000\.jpg is \(9, 9\).*set the source option 'size'"):
        _load("imagefolder", tmp_path / "c", root=str(tree))
    assert _load("imagefolder", tmp_path / "d", root=str(tree), size=8).x.shape[0] == 42
