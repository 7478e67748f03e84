"""A study storage that fails during a run is one line naming it (password masked) and exit
status 2, and what it stored is left byte for byte as it was: a read-only SQLite file or folder,
a full disk, a damaged file, PostgreSQL stopped mid-run, a server that accepts and never answers.
Transient errors are retried a bounded number of times; several processes may create one new
SQLite file at once; a short password never turns into holes in a message."""

import contextlib
import gc
import hashlib
import multiprocessing
import os
import random
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy.exc
from helpers.cli import refused
from helpers.pg_server import PostgresServer, find_problem
from lossbench.redaction import hide_secrets, redact, remember_secrets
from lossbench.tuning import storage_engine, storage_errors
from lossbench.tuning import trials as tuning_trials
from lossbench.tuning.storage import open_storage
from lossbench.tuning.storage_errors import StorageFailure

TUNE = ["tune", "--dataset", "digits", "--profile", "exp", "--imbalance-ratio", "10",
        "--loss", "focal", "--epochs", "1", "--device", "cpu", "--threads", "1", "--no-progress"]
pytestmark = pytest.mark.filterwarnings(
    "ignore:Heartbeat of storage is supposed to be used with Study.optimize")


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and its sha256, but for SQLite's companions (gitignored): the
    ``-shm`` index, rebuilt by every open, and an empty ``-wal`` (no change waiting in it). They
    vanish when the last connection closes, but a read-only database cannot remove them."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith("-shm")
            and not (p.name.endswith("-wal") and p.stat().st_size == 0)}


def closed() -> None:
    """Close what the finished command left open (its storages' pooled connections)."""
    gc.collect()


def make_study_db(folder: Path) -> Path:
    """``folder/studies.db`` holding a study of three trials, all connections closed."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "studies.db"
    storage = open_storage(f"sqlite:///{path}")
    study = optuna.create_study(storage=storage, study_name="kept")
    for number in range(3):
        trial = study.ask()
        trial.report(trial.suggest_float("x", 0, 1), 0)
        study.tell(trial, number / 3)
    storage.remove_session()
    storage.engine.dispose()
    assert not [p for p in folder.iterdir() if p.name != "studies.db"]
    return path


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


@contextlib.contextmanager
def mounted(*argv: str, target: Path):
    """``mount argv target`` for the block; skips the test where mounting is not allowed."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a read-only or a tiny file system")
    result = _run("mount", *argv, str(target))
    if result.returncode != 0:
        pytest.skip(f"mount is not allowed here: {result.stderr.strip()}")
    try:
        yield
    finally:
        closed()
        _run("umount", str(target))


@contextlib.contextmanager
def read_only(path: Path):
    """``path`` (a file or folder) read-only for the block, for root too (a read-only bind)."""
    with mounted("--bind", str(path), target=path):
        result = _run("mount", "-o", "remount,bind,ro", str(path))
        if result.returncode != 0:
            pytest.skip(f"cannot remount read-only: {result.stderr.strip()}")
        yield


@pytest.fixture
def quick_retries(monkeypatch):
    monkeypatch.setattr(storage_errors, "RETRY_DELAYS", (0.05, 0.1))


# --- SQLite: read-only, full disk, damaged ---------------------------------------------------

@pytest.mark.slow
def test_a_read_only_studies_file_is_one_line_and_left_alone(tmp_path, capsys):
    results = tmp_path / "results"
    db = make_study_db(results)
    before = snapshot(results)
    with read_only(db):
        refused([*TUNE, "--trials", "1", "--out", str(results), "--storage", f"sqlite:///{db}"],
                capsys, f"lossbench: error: storage sqlite:///{db} failed: attempt to write a "
                        "readonly database (is the file or its folder read-only?)")
    assert snapshot(results) == before


def test_a_read_only_results_folder_is_one_line_and_left_alone(tmp_path, capsys):
    results = tmp_path / "results"
    db = make_study_db(results)
    before = snapshot(results)
    with read_only(results):
        refused([*TUNE, "--trials", "1", "--out", str(results), "--storage", f"sqlite:///{db}"],
                capsys, f"lossbench: error: cannot open storage sqlite:///{db}: "
                        "(sqlite3.OperationalError) unable to open database file")
    assert snapshot(results) == before


@pytest.mark.slow
@pytest.mark.parametrize("free_kib, expected", [
    (0, "cannot open storage sqlite:///{db}: (sqlite3.OperationalError) disk I/O error"),
    (36, ("storage sqlite:///{db} failed: database or disk is full (free some space; a rerun "
          "resumes)")),
], ids=["full", "nearly-full"])
def test_a_full_disk_is_one_line_and_the_studies_file_is_left_alone(
        tmp_path, capsys, free_kib, expected):
    """Full: SQLite cannot even make its shared-memory index; nearly full: the first write of
    the run fails."""
    disk = tmp_path / "disk"
    disk.mkdir()
    with mounted("-t", "tmpfs", "-o", "size=1m", "tmpfs", target=disk):
        results = disk / "results"
        db = make_study_db(results)
        with contextlib.suppress(OSError), open(disk / "filler", "wb") as filler:
            while True:  # fill the disk to the last byte
                filler.write(b"\0" * 4096)
                filler.flush()
        os.truncate(disk / "filler", max(0, (disk / "filler").stat().st_size - free_kib * 1024))
        before = snapshot(results)
        refused([*TUNE, "--trials", "1", "--out", str(results), "--storage", f"sqlite:///{db}"],
                capsys, "lossbench: error: " + expected.format(db=db))
        closed()
        assert snapshot(results) == before


MALFORMED = ("storage sqlite:///{db} failed: database disk image is malformed (the file is "
             "damaged: restore a copy or name another --storage)")


@pytest.mark.slow
@pytest.mark.parametrize("offset, expected", [
    (0, "cannot open storage sqlite:///{db}: (sqlite3.DatabaseError) file is not a database"),
    (4096, MALFORMED),
    (8192, MALFORMED),
])
def test_a_damaged_studies_file_is_one_line_and_left_alone(tmp_path, capsys, offset, expected):
    """4 KiB garbled: the header page (found at open) or a page of the tables (found by the
    first read of the run)."""
    results = tmp_path / "results"
    db = make_study_db(results)
    data = bytearray(db.read_bytes())
    data[offset:offset + 4096] = random.Random(offset).randbytes(4096)
    db.write_bytes(bytes(data))
    before = snapshot(results)
    refused([*TUNE, "--trials", "1", "--out", str(results), "--storage", f"sqlite:///{db}"],
            capsys, "lossbench: error: " + expected.format(db=db))
    closed()
    assert snapshot(results) == before


# --- the retry and the one place errors become one line ---------------------------------------

def _locked():
    return sqlalchemy.exc.OperationalError("UPDATE trials", {}, Exception("database is locked"))


def test_a_transient_error_is_retried_and_then_succeeds(quick_retries):
    storage, errors = type("S", (), {storage_errors.SHOWN_ATTR: "sqlite:///x.db"})(), [1, 2]

    def flaky():
        if errors:
            errors.pop()
            raise _locked()
        return "stored"

    assert storage_errors.call(storage, flaky) == "stored" and errors == []


def test_a_transient_error_that_stays_fails_after_three_tries_and_then_at_once(quick_retries):
    storage, calls = type("S", (), {storage_errors.SHOWN_ATTR: "sqlite:///x.db"})(), []

    def down():
        calls.append(time.monotonic())
        raise optuna.exceptions.StorageInternalError("An exception is raised") from _locked()

    with pytest.raises(StorageFailure) as error:
        storage_errors.call(storage, down)
    assert str(error.value) == ("storage sqlite:///x.db failed (3 tries over 0.15 s): "
                                "database is locked")
    assert len(calls) == 3 and calls[2] - calls[0] >= 0.15
    with pytest.raises(StorageFailure) as again:  # still down: no second round of retries
        storage_errors.call(storage, down)
    assert len(calls) == 4 and str(again.value) == str(error.value)
    assert storage_errors.call(storage, lambda: 1) == 1  # back: the next failure retries again
    with pytest.raises(StorageFailure):
        storage_errors.call(storage, down)
    assert len(calls) == 7


def test_errors_that_are_not_the_storages_pass_through(quick_retries):
    storage = type("S", (), {})()
    duplicate = sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("UNIQUE constraint"))
    for error in (duplicate, KeyError("no study"), optuna.exceptions.UpdateFinishedTrialError()):
        def fails(error=error):
            raise error
        with pytest.raises(type(error)):
            storage_errors.call(storage, fails)


def test_the_storages_keep_optunas_classes(tmp_path):
    from optuna.storages.journal import JournalStorage

    rdb = open_storage(f"sqlite:///{tmp_path / 'a.db'}")
    journal = open_storage(f"journal:{tmp_path / 'a.journal'}")
    assert isinstance(rdb, optuna.storages.RDBStorage)
    assert isinstance(journal, JournalStorage)
    study = optuna.create_study(storage=rdb)
    assert type(study._storage).__name__ == "_CachedStorage"  # Optuna's cache still wraps it


# --- PostgreSQL: timeouts, a server stopped mid-run --------------------------------------------

def test_postgres_connects_and_runs_statements_within_timeouts():
    kwargs = storage_engine.engine_kwargs("postgresql+psycopg2://u@h/db")
    assert kwargs["connect_args"] == {"connect_timeout": 10,
                                      "options": "-c statement_timeout=60000"}
    own = storage_engine.engine_kwargs(
        "postgresql+psycopg2://u@h/db?connect_timeout=3&options=-c%20search_path%3Dx")
    assert own["connect_args"] == {"options": "-c search_path=x -c statement_timeout=60000"}
    assert "connect_args" not in storage_engine.engine_kwargs("mysql://u@h/db")


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted, stop = [], threading.Event()

    def serve():
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(listener.accept()[0])  # and say nothing

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_a_server_that_never_answers_is_one_line_within_the_timeout(
        silent_server, monkeypatch, tmp_path, capsys):
    pytest.importorskip("psycopg2")
    monkeypatch.setattr(storage_engine, "CONNECT_TIMEOUT", 2)
    url = f"postgresql://bench:Silent-secret-42@127.0.0.1:{silent_server}/optuna"
    started = time.monotonic()
    line = refused([*TUNE, "--trials", "1", "--out", str(tmp_path / "out"), "--storage", url],
                   capsys, f"cannot open storage postgresql://bench:***@127.0.0.1:"
                           f"{silent_server}/optuna: ", "timeout expired")
    assert time.monotonic() - started < 30
    assert "Silent-secret" not in line and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_postgres_stopped_mid_run_is_one_line_without_the_password(
        tmp_path, monkeypatch, capsys):
    problem = find_problem()
    if problem:
        pytest.skip(f"no PostgreSQL server for this test: {problem}")
    with PostgresServer() as server:
        storage = open_storage(server.url)
        with storage.engine.connect() as connection:
            timeout = connection.exec_driver_sql("SHOW statement_timeout").scalar()
        assert timeout == "1min"
        storage.engine.dispose()
        original, calls = tuning_trials.train, []

        def train(*args, **kwargs):
            calls.append(1)
            if len(calls) == 2:  # the server goes away while the second trial trains
                server._call(str(server.bin / "pg_ctl"), "-D", str(server.data), "-m",
                             "immediate", "-w", "stop")
            return original(*args, **kwargs)

        monkeypatch.setattr(tuning_trials, "train", train)
        out = tmp_path / "out"
        started = time.monotonic()
        line = refused([*TUNE, "--trials", "3", "--out", str(out), "--storage", server.url],
                       capsys, f"lossbench: error: storage postgresql://bench:***@127.0.0.1:"
                               f"{server.port}/lossbench failed (3 tries over 5 s): "
                               f"connection to server at \"127.0.0.1\", port {server.port} "
                               "failed: Connection refused")
        assert len(calls) == 2 and time.monotonic() - started < 120
        assert server.password not in line
        assert not out.exists() or snapshot(out) == {}


# --- SQLite's first open by several processes at once -----------------------------------------

def _first_open(url, barrier, results):
    barrier.wait()
    try:
        open_storage(url)
        results.put("ok")
    except BaseException as error:  # noqa: BLE001  reported to the test
        results.put(f"{type(error).__name__}: {error}")


@pytest.mark.slow
def test_four_processes_creating_one_new_sqlite_file_at_once_all_succeed(tmp_path):
    context = multiprocessing.get_context("fork")
    for round_ in range(5):
        url = f"sqlite:///{tmp_path / f'round{round_}' / 'studies.db'}"
        (tmp_path / f"round{round_}").mkdir()
        barrier, results = context.Barrier(4), context.Queue()
        processes = [context.Process(target=_first_open, args=(url, barrier, results))
                     for _ in range(4)]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=120) for _ in processes]
        for process in processes:
            process.join(timeout=60)
        assert outcomes == ["ok"] * 4, (round_, outcomes)
        assert sorted(p.name for p in (tmp_path / f"round{round_}").iterdir()) == ["studies.db"]


# --- passwords in messages ---------------------------------------------------------------------

def test_a_short_password_does_not_punch_holes_in_messages():
    remember_secrets("postgresql://bench:e@127.0.0.1:1/optuna")
    message = "cannot open storage postgresql://bench:e@127.0.0.1:1/optuna: password e rejected"
    assert hide_secrets(message) == ("cannot open storage postgresql://bench:***@127.0.0.1:1/"
                                     "optuna: password e rejected")
    assert hide_secrets("the storage failed") == "the storage failed"


def test_a_urls_password_is_masked_wherever_the_url_appears():
    text = ("tried postgresql://bench:p@ss/w:rd@db/optuna and "
            "'mysql://root:x@127.0.0.1/optuna' and postgresql://db/o?user=u&password=abc&x=1")
    assert hide_secrets(text) == ("tried postgresql://bench:***@db/optuna and "
                                  "'mysql://root:***@127.0.0.1/optuna' and "
                                  "postgresql://db/o?user=u&password=***&x=1")
    for plain in ("sqlite:///results/x/studies.db", "postgresql://bench@db:5432/optuna",
                  "http://example.org:8080/path", "journal:results/studies.journal"):
        assert hide_secrets(plain) == plain


def test_a_long_password_is_masked_anywhere():
    remember_secrets("postgresql://bench:Long-s3cret-9f1@db/optuna")
    assert hide_secrets("the driver said Long-s3cret-9f1 alone") == "the driver said *** alone"
    assert redact("postgresql://bench:Long-s3cret-9f1@db/optuna") == \
        "postgresql://bench:***@db/optuna"


@pytest.mark.slow
def test_a_journal_on_a_full_disk_is_one_line_and_its_records_are_kept(tmp_path):
    """The append that finds no space fails in one line; what was stored stays, and a torn
    line the failed write may have left is cut off by the next open."""
    disk = tmp_path / "disk"
    disk.mkdir()
    with mounted("-t", "tmpfs", "-o", "size=256k", "tmpfs", target=disk):
        path = disk / "studies.journal"
        url = f"journal:{path}"
        study = optuna.create_study(storage=open_storage(url), study_name="kept")
        trial = study.ask()
        study.tell(trial, trial.suggest_float("x", 0, 1))
        stored = path.read_bytes()
        with contextlib.suppress(OSError), open(disk / "filler", "wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
        with pytest.raises(StorageFailure) as error:
            study.set_user_attr("note", "x" * 20_000)  # more than the last free page holds
        assert str(error.value) == f"storage {url} failed: No space left on device"
        assert path.read_bytes().startswith(stored)
        (disk / "filler").unlink()
        again = optuna.load_study(study_name="kept", storage=open_storage(url))
        assert path.read_bytes() == stored and len(again.trials) == 1
