"""Hostile input: absurd numbers, data roots that are files or symlink loops, files that claim to be
images, storage URLs with passwords, poisoned cache files. Each gets one clear message and exit
status 2, and a results folder that already holds a finished run is left byte for byte as it was."""

import hashlib
import pickle
import re
import shutil
from pathlib import Path

import pytest
import torch
from helpers.cli import refused
from helpers.suites import blobs_suite, imagefolder_suite
from lossbench.cli import main
from lossbench.datasets.cache import cache_key, load_cached

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings(
    "ignore:The image decoding and encoding capabilities of TorchVision")]

ROOT = Path(__file__).resolve().parents[1]
STORED_SUITE = blobs_suite(name="stored", counts=(40, 20, 10), trials=1, epochs=1, seeds=1)
IMAGE_SUITE = imagefolder_suite()
RUN = ["--device", "cpu", "--threads", "1", "--no-progress"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A results folder holding one finished run of a tiny suite (made once)."""
    folder = tmp_path_factory.mktemp("finished")
    (folder / "stored.toml").write_text(STORED_SUITE)
    assert main(["run", str(folder / "stored.toml"), "--out", str(folder / "results"),
                 "--no-report", *RUN]) == 0
    return folder


@pytest.fixture
def stored(finished_run, tmp_path):
    """A copy of the finished run's results folder, and a check that it is unchanged."""
    results = tmp_path / "results"
    shutil.copytree(finished_run / "results", results)
    before = snapshot(results)
    yield results
    assert snapshot(results) == before, "a refused command changed stored results"


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("budget, expected", [
    ("epochs = 1e12", "budget.epochs must be an integer, got 1000000000000.0"),
    ("epochs = 1_000_000_000_000", "budget.epochs must be at most 10000"),
    ("trials = -3", "budget.trials must be at least 1, got -3"),
    ("batch_size = \"ten\"", "budget.batch_size must be an integer, got 'ten'"),
    ("trials = 1\nepochs = nan", "budget.epochs must be an integer, got nan"),
    ("epochs = 2\nepochs = 3", "is not valid TOML"),
])
def test_a_suite_with_absurd_numbers_is_refused(stored, tmp_path, capsys, budget, expected):
    suite = tmp_path / "stored.toml"
    suite.write_text(STORED_SUITE.replace("trials = 1\nepochs = 1\n", budget + "\n"))
    refused(["run", str(suite), "--out", str(stored), *RUN], capsys, expected)


def test_an_absurd_search_range_is_refused(stored, tmp_path, capsys):
    suite = tmp_path / "stored.toml"
    suite.write_text(STORED_SUITE.replace("[[datasets]]", "[optim]\nlr = [1e-3, inf]\n[[datasets]]"))
    refused(["run", str(suite), "--out", str(stored), *RUN], capsys, "optim.lr")


@pytest.mark.parametrize("flags, expected", [
    (["--trials", "-3"], "trials must be at least 1, got -3"),
    (["--epochs", "1000000000000"], "epochs must be at most 10000"),
    (["--seeds", "0"], "seeds must be at least 1"),
    (["--trials", "ten"], "argument --trials: invalid int value: 'ten'"),
    (["--workers", "0"], "--workers must be a whole number from 1 to 256, got 0"),
    (["--workers", "100000"], "--workers must be a whole number from 1 to 256"),
    (["--heartbeat-interval", "0"], "--heartbeat-interval must be a whole number of seconds"),
    (["--grace-period", "10"], "--grace-period (10 s) must be longer than --heartbeat-interval"),
])
def test_absurd_numbers_on_the_command_line_are_refused(stored, finished_run, capsys, flags,
                                                        expected):
    suite = str(finished_run / "stored.toml")
    refused(["run", suite, "--out", str(stored), *RUN, *flags], capsys, expected)


def test_absurd_tune_numbers_are_refused(stored, capsys):
    tune = ["tune", "--dataset", "gaussian", "--loss", "ce", "--out", str(stored), "--device",
            "cpu", "--no-progress"]
    refused([*tune, "--trials", "-3"], capsys, "--trials must be between 1 and 10000, got -3")
    refused([*tune, "--trials", "1000000000000"], capsys, "--trials must be between 1 and 10000")
    refused([*tune, "--epochs", "1000000000000"], capsys, "--epochs must be between 1 and 10000")
    refused([*tune, "--workers", "-1"], capsys, "--workers must be a whole number")
    refused([*tune, "--study", "x" * 1000], capsys, "--study must be 1 to 256 printable")


def write_png_tree(root: Path) -> None:
    from torchvision.io import encode_png

    for split in ("train", "test"):
        for name, colour in (("a", 40), ("b", 200)):
            folder = root / split / name
            folder.mkdir(parents=True)
            for k in range(3):
                image = torch.full((3, 8, 8), colour + k, dtype=torch.uint8)
                (folder / f"{k}.png").write_bytes(encode_png(image).numpy().tobytes())


def image_run(tmp_path, stored, root) -> list[str]:
    suite = tmp_path / "images.toml"
    suite.write_text(IMAGE_SUITE)
    return ["run", str(suite), "--root", str(root), "--out", str(stored),
            "--cache-dir", str(tmp_path / "cache"), *RUN]


def test_a_data_root_that_is_a_file_is_refused(stored, tmp_path, capsys):
    refused(image_run(tmp_path, stored, stored / "per_class.csv"), capsys,
            "is neither a folder nor a .tar.gz")
    refused(["run", "mask", "--root", str(stored / "per_class.csv"), "--out", str(stored), *RUN],
            capsys, "mask root", "is not a folder")


def test_a_data_root_that_is_a_symlink_loop_is_refused(stored, tmp_path, capsys):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    refused(image_run(tmp_path, stored, loop), capsys, f"imagefolder path {loop} does not exist")
    refused(["run", "mask", "--root", str(loop), "--out", str(stored), *RUN], capsys,
            f"mask root {loop} does not exist")


def test_a_symlink_loop_inside_the_data_is_refused(stored, tmp_path, capsys):
    tree = tmp_path / "tree"
    write_png_tree(tree)
    inner = tree / "train" / "a" / "3.png"
    inner.symlink_to(inner)
    refused(image_run(tmp_path, stored, tree), capsys, "Too many levels of symbolic links",
            str(inner))


@pytest.mark.parametrize("content, expected", [
    (b"GIF89a, or so it says", "cannot decode image file"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "cannot decode image file"),
    (b"", "is empty"),
])
def test_files_that_claim_to_be_images_are_refused(stored, tmp_path, capsys, content, expected):
    tree = tmp_path / "tree"
    write_png_tree(tree)
    fake = tree / "train" / "b" / "1.png"
    fake.write_bytes(content)
    refused(image_run(tmp_path, stored, tree), capsys, expected, str(fake))
    assert not list((tmp_path / "cache").glob("*.pt"))  # nothing half-decoded was cached


def test_a_garbage_archive_is_refused(stored, tmp_path, capsys):
    archive = tmp_path / "data.tar.gz"
    archive.write_bytes(b"\x1f\x8b not really gzip")
    refused(image_run(tmp_path, stored, archive), capsys, "cannot read archive")


@pytest.mark.parametrize("url", [
    "postgresql://bench:Hunter2-secret@127.0.0.1:1/optuna",
    "postgresql://bench:Hunter2-secret@127.0.0.1:notaport/optuna",
    "postgresql://127.0.0.1:1/optuna?user=bench&password=Hunter2-secret",
    "mysql://bench:Hunter2-secret@127.0.0.1:1/optuna",
])
def test_a_storage_password_is_never_printed_nor_stored(stored, finished_run, capsys, url):
    line = refused(["run", str(finished_run / "stored.toml"), "--out", str(stored), *RUN,
                    "--storage", url], capsys, "***")
    assert "Hunter2" not in line


def test_a_storage_that_is_not_one_is_refused_and_left_alone(stored, finished_run, capsys):
    run = ["run", str(finished_run / "stored.toml"), "--out", str(stored), *RUN, "--storage"]
    refused([*run, f"journal:{stored / 'per_class.csv'}"], capsys, "not an Optuna journal")
    refused([*run, f"sqlite:///{stored / 'runs.jsonl'}"], capsys, "cannot open storage",
            "file is not a database")
    refused([*run, f"journal:{stored}"], capsys, "must name a file, not a folder")
    refused([*run, "results/studies.db"], capsys, "is not a storage URL")


class Payload:
    """Unpickling this runs code: the classic poisoned checkpoint."""

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))

    def __init__(self, marker):
        self.marker = str(marker)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_poisoned_cache_file_is_not_unpickled(tmp_path):
    key = cache_key("imagefolder", stamp="x")
    marker = tmp_path / "code-ran"
    (tmp_path / key).write_bytes(pickle.dumps({"x": Payload(marker)}))
    torch.save({"x": Payload(marker)}, tmp_path / "also.pt")
    assert load_cached(tmp_path, key) is None and load_cached(tmp_path, "also.pt") is None
    assert not marker.exists()  # rejected by weights_only=True, rebuilt from the data instead


def test_every_torch_load_is_weights_only():
    calls = []
    for folder in ("bench", "losses", "datasets"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            for match in re.finditer(r"torch\.load\(", text):
                call = text[match.start():text.find(")", match.start()) + 1]
                calls.append((path.name, call))
    assert calls, "no torch.load found: update this test"
    assert all("weights_only=True" in call for _, call in calls), calls
