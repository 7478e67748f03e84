"""A journal file whose last record was torn by a power cut: the first open cuts the torn bytes off
(kept in a side file, one warning line) before anything is appended, at every byte where the cut
can fall; a last line that is no journal record is refused and the file left as it was."""

import hashlib
import json
from pathlib import Path

import optuna
import pytest
from lossbench.cli import main
from lossbench.tuning.storage import open_storage
from optuna.storages.journal import JournalFileBackend, JournalStorage

STUDY = "tail"


def _journal(path: Path) -> bytes:
    """A small real journal (three trials with a parameter, an intermediate value and a value),
    written by Optuna itself."""
    study = optuna.create_study(storage=JournalStorage(JournalFileBackend(str(path))),
                                study_name=STUDY)
    for number in range(3):
        trial = study.ask()
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.report(x, 0)
        trial.set_user_attr("n", number)
        study.tell(trial, x)
    return path.read_bytes()


@pytest.fixture(scope="module")
def journal(tmp_path_factory) -> bytes:
    return _journal(tmp_path_factory.mktemp("journal") / "studies.journal")


def _trials(path: Path) -> list[optuna.trial.FrozenTrial]:
    """The study as a fresh Optuna process reads it (no lossbench in between)."""
    storage = JournalStorage(JournalFileBackend(str(path)))
    return optuna.load_study(study_name=STUDY, storage=storage).get_trials(deepcopy=False)


def test_a_torn_last_record_is_cut_off_at_every_byte_and_the_journal_goes_on(
        journal, tmp_path, capsys):
    logging = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    lines = journal.splitlines(keepends=True)
    last = lines[-1]
    complete = journal[:len(journal) - len(last)]  # every record before the torn one
    assert last.endswith(b"\n") and len(last) > 20
    (tmp_path / "reference").mkdir()
    (tmp_path / "reference" / "j").write_bytes(complete)
    expected = [(t.number, t.state, t.params, t.intermediate_values, t.user_attrs)
                for t in _trials(tmp_path / "reference" / "j")]
    try:
        for kept in range(len(last)):  # 0: the file ends at a record's end; else torn
            folder = tmp_path / f"cut{kept}"
            folder.mkdir()
            path = folder / "studies.journal"
            path.write_bytes(complete + last[:kept])
            study = optuna.load_study(study_name=STUDY, storage=open_storage(f"journal:{path}"))
            trial = study.ask()
            trial.suggest_float("x", 0.0, 1.0)
            study.tell(trial, 0.25)

            after = path.read_bytes()
            assert after.startswith(complete), kept  # no complete record lost or changed
            added = after[len(complete):].splitlines(keepends=True)
            assert added and all(line.endswith(b"\n") and json.loads(line) for line in added)
            trials = _trials(path)  # a fresh open loads it
            assert [(t.number, t.state, t.params, t.intermediate_values, t.user_attrs)
                    for t in trials[:-1]] == expected
            assert trials[-1].value == 0.25 and len(trials) == len(expected) + 1
            sides = sorted(folder.glob("studies.journal.torn-*"))
            warning = capsys.readouterr().err.strip().splitlines()
            if kept == 0:
                assert sides == [] and warning == []
                continue
            assert [side.read_bytes() for side in sides] == [last[:kept]], kept
            assert len(warning) == 1 and warning[0].startswith(
                f"lossbench: warning: journal storage 'journal:{path}' ended in a torn record "
                f"({kept} bytes of a write cut short); cut off and kept in {sides[0]}")
            assert not (folder / "studies.journal.lock").exists()
    finally:
        optuna.logging.set_verbosity(logging)


def test_a_torn_tail_of_zero_bytes_is_cut_off_too(journal, tmp_path, capsys):
    """Some file systems leave the unwritten end of a cut write as zero bytes."""
    path = tmp_path / "studies.journal"
    path.write_bytes(journal + b"\0" * 37)
    storage = open_storage(f"journal:{path}")
    assert path.read_bytes() == journal
    assert len(optuna.load_study(study_name=STUDY, storage=storage).trials) == 3
    assert "37 bytes" in capsys.readouterr().err


@pytest.mark.parametrize("tail", [b"this is not json", b"[1, 2, 3", b'{"value": 1'])
def test_a_last_line_that_is_no_journal_record_is_refused_and_left_alone(
        journal, tmp_path, capsys, tail):
    path = tmp_path / "studies.journal"
    path.write_bytes(journal + tail)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    status = main(["tune", "--dataset", "digits", "--loss", "focal", "--trials", "1",
                   "--device", "cpu", "--threads", "1", "--no-progress", "--out",
                   str(tmp_path / "out"), "--storage", f"journal:{path}"])
    assert status == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [(f"lossbench: error: cannot open journal storage 'journal:{path}': it is "
                      "not an Optuna journal file (its last line is incomplete and is not a "
                      "journal record)")]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["studies.journal"]
