"""``lossbench datasets`` and ``lossbench datasets show``: output, JSON shape, exit status 2."""

import json

import pytest
from helpers.datasets_fixtures import default_people, make_mask_dataset
from lossbench.cli import main
from lossbench.datasets.mask_labels import MASK_CLASS_COUNTS

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding:DeprecationWarning")


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_list_names_every_source_with_a_summary(capsys):
    status, out, _ = _run(capsys, "datasets")
    assert status == 0
    for name in ("cifar10", "cifar100", "digits", "gaussian", "imagefolder", "mask"):
        assert any(line.startswith(name + " ") for line in out.splitlines())


def test_show_json_has_the_documented_shape(capsys):
    status, out, _ = _run(capsys, "datasets", "show", "digits", "--profile", "exp",
                          "--imbalance-ratio", "10", "--json")
    result = json.loads(out)
    assert status == 0 and result["num_classes"] == 10 and len(result["class_names"]) == 10
    assert {"pool", "train", "val", "test"} <= set(result["counts"])
    train = result["counts"]["train"]
    assert train[-1] == int(train[0] / 10)  # exp profile, ratio 10


def test_show_table_lists_every_class_and_a_total(capsys):
    status, out, _ = _run(capsys, "datasets", "show", "gaussian", "--counts", "mask")
    lines = out.splitlines()
    assert status == 0 and len(lines) == 1 + 1 + 18 + 1 and "total" in lines[-1]


def test_show_mask_json_counts_add_up_and_respect_the_age_cut(capsys, tmp_path):
    root = make_mask_dataset(tmp_path / "mask")
    status, out, _ = _run(capsys, "datasets", "show", "mask", "--root", str(root), "--age-cut",
                          "58", "--json", "--cache-dir", str(tmp_path / "cache"),
                          "--val-per-class", "1", "--test-fraction", "0.25")
    result = json.loads(out)
    counts = result["counts"]
    assert status == 0 and result["class_names"][2] == "wear/male/>=58"
    assert [p + t for p, t in zip(counts["pool"], counts["test"])] == counts["source"]
    # male persons aged 58 or over at cut 58: 58, 59, 60, 61, 75, 80 -> 6 persons x 5 mask photos
    assert counts["source"][2] == 6 * 5
    assert not (tmp_path / "cache").exists()  # counts need no decoding


def test_show_decode_fills_the_cache(capsys, tmp_path):
    root = make_mask_dataset(tmp_path / "mask", people=default_people())
    status, _, _ = _run(capsys, "datasets", "show", "mask", "--root", str(root), "--decode",
                        "--cache-dir", str(tmp_path / "cache"), "--val-per-class", "1")
    assert status == 0 and len(list((tmp_path / "cache").glob("mask-*.pt"))) == 1


def test_gaussian_mask_preset_pool_is_the_mask_counts(capsys):
    status, out, _ = _run(capsys, "datasets", "show", "gaussian", "--counts", "mask", "--json")
    assert status == 0 and json.loads(out)["counts"]["pool"] == list(MASK_CLASS_COUNTS)


@pytest.mark.parametrize("argv, message", [
    (["show", "digits", "--imbalance-ratio", "0.5"], "imbalance_ratio must be a number >= 1"),
    (["show", "digitz"], "unknown source 'digitz'. Did you mean 'digits'?"),
    (["show", "digits", "--profile", "expo"], "unknown profile 'expo'"),
    (["show", "digits", "--root", "/x"], "--root is not an option of source 'digits'"),
    (["show", "mask", "--root", "/no/such/folder"], "mask root /no/such/folder does not exist"),
    (["show", "mask", "--target", "race", "--root", "/x"], "must be one of 'class', 'mask'"),
    (["show", "imagefolder"], "needs the option root"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    status, out, err = _run(capsys, "datasets", *argv)
    assert status == 2 and out == ""
    assert err.startswith("lossbench: error: ") and message in err and err.count("\n") == 1


def test_missing_train_csv_exits_2_naming_it(capsys, tmp_path):
    root = make_mask_dataset(tmp_path / "m", people=default_people()[:2], with_csv=False)
    status, _, err = _run(capsys, "datasets", "show", "mask", "--root", str(root))
    assert status == 2 and "train.csv not found" in err


def test_corrupt_image_with_decode_exits_2_naming_the_file(capsys, tmp_path):
    root = make_mask_dataset(tmp_path / "m")
    bad = next((root / "train" / "images").glob("000003_*")) / "mask2.jpg"
    for old in bad.parent.glob("mask2.*"):
        old.unlink()
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    status, _, err = _run(capsys, "datasets", "show", "mask", "--root", str(root), "--decode",
                          "--cache-dir", str(tmp_path / "cache"))
    assert status == 2 and f"{bad.parent.name}/mask2.jpg" in err
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
