"""Bounds from memory, names, and messages that name the file (issue 14: item 10, "names" and
"messages"). Every refusal is exit status 2 and one line (no traceback); where a results folder
is given, it is left byte for byte as it was. No training: the stored folder is hand-made."""

import errno
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from helpers.cli import refused
from helpers.report_results import Data, replicates, spec, write_suite
from helpers.suites import blobs_suite
from lossbench.config.suite import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_ITEMS,
    check_shape,
    parse_suite,
)
from lossbench.datasets import DatasetSpec
from lossbench.datasets.gaussian import MAX_CLASSES, MAX_DIMENSION, MAX_ROWS_PER_CLASS
from lossbench.errors import MAX_MESSAGE, UserError, shown, unknown_name
from lossbench.store import ResultStore, atomic_write_text

RUN = ["--device", "cpu", "--threads", "1", "--no-progress", "--no-report", "--workers", "1"]
SUITE = blobs_suite(name="bounds", counts=(40, 20, 10), trials=1, epochs=1, seeds=1)


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished results folder (hand-made: runs, protocol, suite, a study's trials), once."""
    root = tmp_path_factory.mktemp("finished") / "results"
    store = write_suite(root, {"d": Data(spec("d"), ["a", "b", "c"], [100, 30, 5],
                                         {"ce": replicates([0.9, 0.7, 0.5], 0.7, n=2)})})
    store.write_json(store.environment_json, {"device": "cpu"})
    for replicate in range(2):
        store.write_text(store.trials_csv("d", "ce", replicate),
                         "number,state,value,param_lr\n0,COMPLETE,0.7,0.1\n1,PRUNED,,0.2\n")
        store.write_json(store.chosen_json("d", "ce", replicate),
                         {"params": {"lr": 0.1}, "trials": 2, "replicate": replicate})
    return root


@pytest.fixture
def stored(finished, tmp_path):
    """A copy of the finished folder, checked unchanged after the test."""
    results = tmp_path / "results"
    shutil.copytree(finished, results)
    before = snapshot(results)
    yield results
    assert snapshot(results) == before, "a refused command changed stored results"


def suite_file(tmp_path: Path, text: str, name: str = "suite.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# ------------------------------------------------------------------ sizes of the gaussian source
OPTION = "option {!r} of source 'gaussian' must be a whole number"
GAUSSIAN_FLAGS = [
    (["--num-classes", "1000000"],
     OPTION.format("num_classes") + f" from 2 to {MAX_CLASSES}; got 1000000"),
    (["--dimension", "100000000"],
     OPTION.format("dimension") + f" from 1 to {MAX_DIMENSION}; got 100000000"),
    (["--dimension", "1e8"], OPTION.format("dimension") + "; got '1e8'"),
    (["--per-class", "1000000000"],
     OPTION.format("per_class") + f" from 1 to {MAX_ROWS_PER_CLASS}; got 1000000000"),
    (["--per-class", "1e9"], OPTION.format("per_class") + "; got '1e9'"),
    (["--test-rows-per-class", "100000000000"],
     OPTION.format("test_rows_per_class") + f" from 1 to {MAX_ROWS_PER_CLASS}; got 100000000000"),
    (["--counts", "5,5,99999999999"],
     (f"option 'counts' of source 'gaussian' must hold whole numbers from 1 to "
      f"{MAX_ROWS_PER_CLASS}; got 99999999999")),
    (["--counts", ",".join(["3"] * (MAX_CLASSES + 1))],
     (f"option 'counts' of source 'gaussian' lists {MAX_CLASSES + 1} classes; at most "
      f"{MAX_CLASSES} are allowed")),
    # each under its bound, together far beyond any machine's memory (terabytes)
    (["--num-classes", str(MAX_CLASSES)], "source 'gaussian' would need about"),
    (["--dimension", str(MAX_DIMENSION), "--per-class", str(MAX_ROWS_PER_CLASS)],
     "(num_classes 10, per_class 10000000, test_rows_per_class 500, dimension 100000)"),
    (["--structure", "mask", "--dimension", str(MAX_DIMENSION), "--test-rows-per-class",
      "1000000"], "lower test_rows_per_class, dimension"),
]


@pytest.mark.parametrize("flags, expected", GAUSSIAN_FLAGS)
def test_gaussian_sizes_are_bounded_before_anything_is_drawn(capsys, flags, expected):
    started = time.perf_counter()
    line = refused(["datasets", "show", "gaussian", *flags], capsys, expected)
    assert time.perf_counter() - started < 10, "something was drawn before the check"
    if "would need about" in line:
        assert "of memory to draw" in line and "half of this machine's" in line


@pytest.mark.parametrize("options, expected", [
    ("num_classes = 1000000", OPTION.format("num_classes") + f" from 2 to {MAX_CLASSES}"),
    ("dimension = 1e8",
     OPTION.format("dimension") + f" from 1 to {MAX_DIMENSION}; got 100000000"),
    ("per_class = 1_000_000_000",
     OPTION.format("per_class") + f" from 1 to {MAX_ROWS_PER_CLASS}; got 1000000000"),
    (f"counts = [{', '.join(['3'] * (MAX_CLASSES + 1))}]",
     f"datasets[0].options.counts lists {MAX_CLASSES + 1} values, more than the {MAX_ITEMS}"),
])
def test_a_suite_with_an_absurd_size_is_refused_before_writing(stored, tmp_path, capsys,
                                                               options, expected):
    text = SUITE.replace("counts = [40, 20, 10], dimension = 4", options)
    refused(["run", suite_file(tmp_path, text), "--out", str(stored), *RUN], capsys, expected)


def test_threads_are_bounded(stored, tmp_path, capsys):
    suite = suite_file(tmp_path, SUITE)
    run = ["run", suite, "--out", str(stored), "--device", "cpu", "--no-progress"]
    refused([*run, "--threads", "99999"], capsys,
            "argument --threads: must be a whole number from 1 to 256, got '99999'")
    refused([*run, "--threads", "0"], capsys, "from 1 to 256, got '0'")
    refused(["tune", "--dataset", "blobs", "--loss", "ce", "--out", str(stored), "--threads",
             "99999"], capsys, "--threads: must be a whole number from 1 to 256")
    text = SUITE.replace("[budget]", "[cpu]\nthreads = 99999\n[budget]")
    refused(["run", suite_file(tmp_path, text), "--out", str(stored), "--device", "cpu"], capsys,
            "cpu.threads must be a whole number from 1 to 256, got 99999")


def test_model_sizes_are_bounded(stored, tmp_path, capsys):
    text = SUITE.replace("[budget]", "[model]\nhidden = 65536\n[budget]")
    refused(["run", suite_file(tmp_path, text), "--out", str(stored), *RUN], capsys,
            "model.hidden must be at most 16384, got 65536")


# ------------------------------------------------------------------ nesting and list lengths
@pytest.mark.parametrize("nested", [
    "x = " + "[" * 20_000 + "]" * 20_000,                 # tomllib: RecursionError
    "x = " + "{a = " * 20_000 + "1" + "}" * 20_000,       # tomllib: RecursionError
    "x" + ".a" * 20_000 + " = 1",                         # tomllib: quadratic time
    "[x" + ".a" * 20_000 + "]",
    "x = " + "[" * 100 + "]" * 100,                       # read, then refused by depth
], ids=["arrays", "inline-tables", "dotted-key", "table-header", "100-arrays"])
def test_a_suite_nested_too_deeply_is_refused(stored, tmp_path, capsys, nested):
    text = SUITE.replace('losses = ["ce"]', 'losses = ["ce"]\n' + nested)
    started = time.perf_counter()
    refused(["run", suite_file(tmp_path, text), "--out", str(stored), *RUN], capsys,
            "suite.toml", f"is nested too deeply: tables and arrays may nest at most {MAX_DEPTH} "
                          "levels")
    assert time.perf_counter() - started < 10


def test_nesting_up_to_the_bound_is_read():
    import tomllib

    check_shape(tomllib.loads("x" + ".a" * (MAX_DEPTH - 1) + " = 1"))  # MAX_DEPTH tables deep
    with pytest.raises(UserError, match="x.a.a.* is nested too deeply"):
        check_shape(tomllib.loads("x" + ".a" * MAX_DEPTH + " = 1"))
    with pytest.raises(UserError, match=f"x lists {MAX_ITEMS + 1} values"):
        check_shape({"x": [0] * (MAX_ITEMS + 1)})
    sentence = "description = '" + "see a. b. c. " * 50 + "v1.2.3.4'\n"  # dots in text are fine
    assert parse_suite(SUITE.replace("[budget]", sentence + "[budget]"), "x").name == "bounds"


def test_a_huge_suite_file_is_refused_unread(stored, tmp_path, capsys):
    text = SUITE.replace('losses = ["ce"]', "losses = [" + '"ce", ' * 2_000_000 + "]")
    line = refused(["run", suite_file(tmp_path, text), "--out", str(stored), *RUN], capsys,
                   f"more than the {MAX_FILE_BYTES} a suite file may have")
    assert len(line) < 400


def test_long_lists_are_refused_and_never_echoed_whole(stored, tmp_path, capsys):
    text = SUITE.replace('losses = ["ce"]', "losses = [" + '"ce", ' * (MAX_ITEMS + 1) + "]")
    line = refused(["run", suite_file(tmp_path, text), "--out", str(stored), *RUN], capsys,
                   f"losses lists {MAX_ITEMS + 1} values, more than the {MAX_ITEMS}",
                   f"…] ({MAX_ITEMS + 1} items)")
    assert len(line) < 500
    text = SUITE.replace('losses = ["ce"]', "losses = [" + '"ce", ' * 5_000 + "]")
    line = refused(["run", suite_file(tmp_path, text), "--out", str(stored), *RUN], capsys,
                   "losses lists a name twice", "characters left out")
    assert len(line) < MAX_MESSAGE + 200


def test_messages_quote_at_most_a_few_hundred_characters_of_a_value():
    assert shown(["ce"] * 2_000_000) == "['ce', 'ce', 'ce', 'ce', 'ce', 'ce', 'ce', 'ce', 'ce', " \
                                        "'ce', …] (2000000 items)"
    assert shown("x" * 1_000_000).endswith("(1000000 characters)")
    assert len(shown("x" * 1_000_000)) < 250
    assert shown("a\x1b[31mb\n") == repr("a\x1b[31mb\n")  # escapes are quoted, never sent
    assert shown(0.5) == "0.5" and shown([1, 2]) == "[1, 2]"
    message = str(unknown_name("loss", "y" * 1_000_000, ["ce", "focal"]))
    assert len(message) < 400 and message.endswith("allowed: ce, focal")
    message = str(UserError("start " + "z" * 5_000_000 + " end"))
    assert len(message) <= MAX_MESSAGE and message.startswith("start ") \
        and message.endswith(" end") and "characters left out" in message


# ------------------------------------------------------------------ names
BAD_SUITE_NAMES = ["a\nb", "\x1b[31mred", "my suite", "~home", ".hidden", "a/b", "a\\b", "-x",
                   "", "x" * 65, "tab\there"]


@pytest.mark.parametrize("name", BAD_SUITE_NAMES)
def test_a_suite_name_outside_the_allowed_set_is_refused(stored, tmp_path, capsys, name):
    text = SUITE.replace('name = "bounds"', f"name = {json.dumps(name)}")
    line = refused(["run", suite_file(tmp_path, text), "--out", str(stored), *RUN], capsys,
                   "name must be 1 to 64 characters, each a letter A-Z or a-z, a digit, '.', "
                   "'_', '-', '+' or '=', the first a letter or a digit", f"got {name!r}")
    assert "\x1b" not in capsys.readouterr().err + line


def test_a_suite_named_by_its_file_says_so(stored, tmp_path, capsys):
    text = SUITE.replace('name = "bounds"\n', "")
    refused(["run", suite_file(tmp_path, text, "my suite.toml"), "--out", str(stored), *RUN],
            capsys, "got 'my suite' (the suite file's name; set name = \"...\" in it)")


def test_good_suite_names_are_read():
    for name in ("default", "cifar10-lt", "a.b_c+d=e", "X1"):
        assert parse_suite(SUITE.replace('name = "bounds"', f'name = "{name}"'), "x").name == name


BAD_DATASET_NAMES = ["a\nb", "\x1b[2Jclear", "a/b", "a\\b", "..", ".x", "~x", " x", "x ",
                     "x" * 101, "nul\x00", "bidi\u202etxt", "nbsp\u00a0x"]


@pytest.mark.parametrize("name", BAD_DATASET_NAMES)
def test_a_dataset_name_outside_the_allowed_set_is_refused(stored, tmp_path, capsys, name):
    text = SUITE.replace('name = "blobs"', f"name = {json.dumps(name)}")
    refused(["run", suite_file(tmp_path, text), "--out", str(stored), *RUN], capsys,
            "name must be 1 to 100 printable characters (letters, digits, spaces, punctuation; "
            "no newline, tab or terminal escape) without '/' or '\\', not starting with '.', "
            "'~' or a space, not ending with a space", f"got {name!r}")


def test_dataset_names_with_spaces_and_symbols_are_fine():
    for name in ("digits ρ≥10", "digits ρ<10", "CIFAR-10 (LT, ρ=100)", "a.b"):
        built = DatasetSpec.from_dict({"source": "gaussian", "name": name})
        assert built.name == name
    store = ResultStore(Path("r"))
    assert store.run_path("digits ρ≥10", "ce", 0, 1) != store.run_path("digits ρ<10", "ce", 0, 1)


# ------------------------------------------------------------------ --out on a file
def test_out_on_a_file_is_refused(stored, tmp_path, capsys):
    suite = suite_file(tmp_path, SUITE)
    target = stored / "suite.json"
    refused(["run", suite, "--out", str(target), *RUN], capsys,
            f"argument --out: {str(target)!r} is a file, not a folder")
    refused(["run", suite, "--out", str(target / "sub"), *RUN], capsys,
            f"lies in {str(target)!r}, which is a file, not a folder")
    refused(["tune", "--dataset", "blobs", "--loss", "ce", "--out", str(target)], capsys,
            "is a file, not a folder")
    refused(["report", str(target)], capsys, f"results folder {str(target)!r} is a file, "
                                             "not a folder")


# ------------------------------------------------------------------ damaged files of a folder
def cut(path: Path, fraction: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * fraction)])


def edit_run(path: Path, change) -> None:
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


RUN_FILE = "runs/d/ce/r0-seed1000.json"
RETRAIN = "remove it and rerun 'lossbench run' with the same suite and --out (that final run is " \
          "retrained)"
WRITTEN_AGAIN = "remove it and rerun 'lossbench run' with the same suite and --out (it is written"
DAMAGES = {
    "run-cut": (RUN_FILE, cut, "not valid JSON: ", RETRAIN),
    "run-empty": (RUN_FILE, lambda p: p.write_bytes(b""), "Expecting value", RETRAIN),
    "run-binary": (RUN_FILE, lambda p: p.write_bytes(b"\xff\xfe{"), "not UTF-8", RETRAIN),
    "run-support-null": (RUN_FILE, lambda p: edit_run(
        p, lambda r: r["test"]["per_class"]["support"].__setitem__(0, None)),
        "per_class.support is not 3 whole numbers", RETRAIN),
    "run-no-seed": (RUN_FILE, lambda p: edit_run(p, lambda r: r.pop("seed")),
                    "no whole number 'seed'", RETRAIN),
    "run-elsewhere": ("runs/d/ce/r0-seed7.json",
                      lambda p: shutil.copy(p.parent / "r0-seed1000.json", p),
                      "it holds the run that belongs in runs/d/ce/r0-seed1000.json", RETRAIN),
    "run-list": (RUN_FILE, lambda p: p.write_text("[1, 2]"), "not a JSON object", RETRAIN),
    "trials-cut": ("trials/d/ce/r1.csv", lambda p: cut(p, 0.8), "its last line is cut short",
                   "(it is written again from the study; finished trials are kept)"),
    "trials-no-number": ("trials/d/ce/r0.csv",
                         lambda p: p.write_text("number,state\n0,COMPLETE\n,COMPLETE\n"),
                         "row 3 has no whole trial number or no state", WRITTEN_AGAIN),
    "trials-not-csv": ("trials/d/ce/r0.csv", lambda p: p.write_text('a,"b\n1,2\n'),
                       "not a CSV table", WRITTEN_AGAIN),
    "chosen-cut": ("trials/d/ce/r0.json", cut, "not valid JSON", WRITTEN_AGAIN),
    "protocol-cut": ("datasets/d.json", cut, "not valid JSON", WRITTEN_AGAIN),
    "suite-cut": ("suite.json", cut, "not valid JSON", WRITTEN_AGAIN),
    "environment-list": ("environment.json", lambda p: p.write_text("[]"),
                         "it holds a JSON list, not a dict", WRITTEN_AGAIN),
}


@pytest.mark.parametrize("case", list(DAMAGES))
def test_a_damaged_file_is_named_with_what_to_do(finished, tmp_path, capsys, case):
    relative, damage, why, advice = DAMAGES[case]
    results = tmp_path / "results"
    shutil.copytree(finished, results)
    damage(results / relative)
    before = snapshot(results)
    refused(["report", str(results)], capsys, f"{results / relative} is damaged (", why, advice)
    refused(["report", str(results), "--per-class", "d"], capsys, f"{results / relative}")
    assert snapshot(results) == before


def test_the_untouched_folder_reads(finished):
    from lossbench.report.load import load_results

    results = load_results(finished)
    assert len(results.runs) == 2 and len(results.trials[("d", "ce")]) == 4


# ------------------------------------------------------------------ write failures name the path
def fail_fsync(monkeypatch, code=errno.ENOSPC):
    def fsync(handle):
        raise OSError(code, os.strerror(code))
    monkeypatch.setattr("lossbench.store.io.os.fsync", fsync)


def test_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    target = tmp_path / "kept.json"
    target.write_text("old")
    fail_fsync(monkeypatch)
    with pytest.raises(OSError) as caught:
        atomic_write_text(target, "new")
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["kept.json"]


def test_a_full_disk_during_report_is_one_line_naming_the_path(stored, capsys, monkeypatch):
    fail_fsync(monkeypatch)
    line = refused(["report", str(stored)], capsys, "No space left on device: ", str(stored))
    assert ".tmp" not in line


def test_a_read_only_folder_is_named_not_its_temporary_file(stored, capsys, monkeypatch):
    def mkstemp(prefix="", suffix="", dir=None):  # what a read-only folder answers
        raise PermissionError(errno.EROFS, os.strerror(errno.EROFS),
                              os.path.join(dir, f"{prefix}a1b2c3{suffix}"))
    monkeypatch.setattr("lossbench.store.io.tempfile.mkstemp", mkstemp)
    line = refused(["report", str(stored)], capsys, "Read-only file system: ")
    assert ".tmp" not in line and line.split(": ")[-1].startswith(str(stored))
    assert Path(line.split(": ")[-1]).is_dir()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_really_read_only_folder_is_named(stored, capsys):
    stored.chmod(0o555)
    try:
        line = refused(["report", str(stored)], capsys, "Permission denied: ")
    finally:
        stored.chmod(0o755)
    assert ".tmp" not in line and Path(line.split(": ")[-1]).is_dir()
