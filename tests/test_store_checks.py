"""Store files checked against each other (issue 14, leftovers): a trials table cut exactly at a
line boundary (it parses, yet the report would show fewer trials than the study had) is caught
against its chosen-trial record, and a ``suite.json`` that holds no JSON object stops ``run``
with one line naming it. Each refusal: exit 2, one line, the folder byte for byte unchanged."""

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli import refused
from helpers.suites import blobs_suite
from lossbench.cli import main
from lossbench.report.load import load_results
from lossbench.store import ResultStore
from lossbench.store.results import _ADVICE, DamagedFile

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference" / "default"
DATASET, LOSS = "digits-exp20", "focal"
# Of its studies, r4 holds six finished trials (the chosen one, 0, first), then a surplus FAIL
# row; r0 its chosen trial 0 and five more finished ones, no FAIL row.
ADVICE = _ADVICE["trials"]
FINISHED = ("COMPLETE", "PRUNED")

needs_reference = pytest.mark.skipif(not (REFERENCE / "trials").is_dir(),
                                     reason="no committed reference results")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def real_study(tmp_path: Path, replicate: int) -> tuple[ResultStore, Path, list[str], dict]:
    """A store holding a copy of one real study of the reference: its trials table (split in
    lines, header first) and its chosen-trial record."""
    store = ResultStore(tmp_path / "results")
    csv_path = store.trials_csv(DATASET, LOSS, replicate)
    csv_path.parent.mkdir(parents=True)
    source = REFERENCE / "trials" / DATASET / LOSS / f"r{replicate}"
    shutil.copy(source.with_suffix(".csv"), csv_path)
    shutil.copy(source.with_suffix(".json"), store.chosen_json(DATASET, LOSS, replicate))
    record = json.loads(source.with_suffix(".json").read_text())
    return store, csv_path, csv_path.read_text().splitlines(keepends=True), record


def states(lines: list[str]) -> list[tuple[int, str]]:
    """(number, state) of each row of a trials table's lines (header first)."""
    return [(int(row["number"]), row["state"])
            for row in csv.DictReader(io.StringIO("".join(lines)))]


# ------------------------------------------------------------------ a trials table cut short
@needs_reference
def test_the_real_tables_agree_with_their_records(tmp_path):
    store, _, lines, record = real_study(tmp_path, 4)
    frame = store.trials(DATASET, LOSS)
    assert len(frame) == len(lines) - 1  # every row, failed ones (if any) included
    assert frame.state.isin(FINISHED).sum() == record["trials"] == 6


@needs_reference
@pytest.mark.parametrize("replicate", [4, 0])
def test_a_table_cut_at_any_line_boundary_that_loses_a_trial_is_damaged(tmp_path, replicate):
    """Every cut of the real table at a line boundary: one that drops a finished trial (or the
    chosen one) is named with what to do; one that drops only the trailing FAIL row (a surplus
    trial that never ran) leaves every finished trial and reads."""
    store, path, lines, record = real_study(tmp_path, replicate)
    rows = states(lines)
    for keep in range(len(lines)):  # header and the first keep - 1 rows (0: an empty file)
        path.write_text("".join(lines[:keep]))
        kept = rows[:max(keep - 1, 0)]
        lost = [state for _, state in rows[len(kept):] if state in FINISHED]
        if not lost:
            assert store.trials(DATASET, LOSS).state.isin(FINISHED).sum() == record["trials"]
            continue
        with pytest.raises(DamagedFile) as caught:
            store.trials(DATASET, LOSS)
        message = str(caught.value)
        finished = sum(state in FINISHED for _, state in kept)
        assert message.startswith(f"{path} is damaged ({finished} finished trial"), message
        assert f"fewer than the 6 that trials/{DATASET}/{LOSS}/r{replicate}.json records" \
            in message
        assert "cut short, or written from another study" in message
        assert message.endswith(f": {ADVICE}"), message


@needs_reference
def test_a_table_without_the_chosen_trial_is_damaged(tmp_path):
    store, path, lines, record = real_study(tmp_path, 0)
    chosen = record["trial"]
    assert (chosen, "COMPLETE") in states(lines)
    header, body = lines[0], lines[1:]
    dropped = [line for line in body if not line.startswith(f"{chosen},")]
    assert len(dropped) == len(body) - 1
    path.write_text(header + "".join(dropped))  # the chosen row dropped: one finished too few
    with pytest.raises(DamagedFile, match="5 finished trials, fewer than the 6"):
        store.trials(DATASET, LOSS)

    # The count kept (the table of another study of the same size, numbered on), the chosen
    # trial still missing: the table is not the one the choice was made from.
    extra = dropped[-1].split(",", 1)
    path.write_text(header + "".join(dropped) + f"{len(body)},{extra[1]}")
    with pytest.raises(DamagedFile) as caught:
        store.trials(DATASET, LOSS)
    assert str(caught.value) == (
        f"{path} is damaged (no COMPLETE row of trial {chosen}, which trials/{DATASET}/{LOSS}/"
        f"r0.json records as chosen: cut short, or written from another study): {ADVICE}")

    # The chosen trial present, but not as a finished, scored trial.
    failed = [line.replace(",COMPLETE,", ",FAIL,", 1) if line.startswith(f"{chosen},")
              else line for line in lines]
    path.write_text("".join(failed) + f"{len(body)},{extra[1]}")
    with pytest.raises(DamagedFile, match=f"no COMPLETE row of trial {chosen}"):
        store.trials(DATASET, LOSS)


def test_a_table_without_a_record_or_its_numbers_is_read_as_it_is(tmp_path):
    """``lossbench tune`` alone writes no record; a record of an untuned recipe (gpu-check) says
    0 trials and no chosen trial: nothing to check against."""
    store = ResultStore(tmp_path)
    path = store.trials_csv("d", "ce", 0)
    store.write_text(path, "number,state,value\n0,COMPLETE,0.5\n")
    assert len(store.trials("d", "ce")) == 1
    store.write_json(store.chosen_json("d", "ce", 0), {"params": {}, "trials": 0})
    assert len(store.trials("d", "ce")) == 1
    store.write_json(store.chosen_json("d", "ce", 0), {"trials": 1, "trial": 0})
    assert len(store.trials("d", "ce")) == 1
    store.write_json(store.chosen_json("d", "ce", 0), {"trials": 2, "trial": 0})
    with pytest.raises(DamagedFile, match="1 finished trial, fewer than the 2"):
        store.trials("d", "ce")


@needs_reference
def test_the_report_names_a_cut_table_of_a_real_folder(tmp_path, capsys):
    """Through ``lossbench report`` on a copy of the whole reference folder (never written
    under ``results/reference/``): the untouched copy loads, a cut one is refused unchanged."""
    results = tmp_path / "default"
    shutil.copytree(REFERENCE, results)
    loaded = load_results(results)
    assert len(loaded.trials[(DATASET, LOSS)]) == sum(
        len((REFERENCE / "trials" / DATASET / LOSS / f"r{r}.csv").read_text().splitlines()) - 1
        for r in range(5))
    path = results / "trials" / DATASET / LOSS / "r2.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:3]))  # header and two trials: whole lines, valid CSV
    before = snapshot(results)
    refused(["report", str(results)], capsys, f"{path} is damaged (2 finished trials, fewer "
            f"than the 6 that trials/{DATASET}/{LOSS}/r2.json records", ADVICE)
    assert snapshot(results) == before


# ------------------------------------------------------------------ suite.json not an object
SUITE = blobs_suite(name="checks", counts=(40, 20, 10), trials=1, epochs=1, seeds=1)
RUN = ["--device", "cpu", "--threads", "1", "--no-progress", "--no-report", "--workers", "1"]


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> tuple[Path, Path]:
    """A suite file and the folder a real (tiny) run of it wrote, once (in a process of its
    own: the folder is left as a finished run leaves it, its database closed)."""
    root = tmp_path_factory.mktemp("ran")
    suite, out = root / "checks.toml", root / "out"
    suite.write_text(SUITE)
    subprocess.run([sys.executable, "-m", "lossbench.cli", "run", str(suite), "--out", str(out),
                    *RUN], check=True, stdin=subprocess.DEVNULL, capture_output=True)
    return suite, out


SUITE_JSON = {
    "list": ('["checks"]', "it holds a JSON list, not a JSON object with the suite's name"),
    "string": ('"checks"', "it holds a JSON string, not a JSON object with the suite's name"),
    "null": ("null", "it holds JSON null, not a JSON object"),
    "number-name": ('{"name": 7}', "its 'name' is a JSON number, not text"),
    "not-json": ('{"name": "checks", ', "not valid JSON"),
    "binary": (b"\xff\xfe{", "not UTF-8 text"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(SUITE_JSON))
def test_a_suite_json_that_names_no_suite_stops_the_run_unchanged(ran, tmp_path, capsys, case):
    suite, finished = ran
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    content, why = SUITE_JSON[case]
    target = out / "suite.json"
    target.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = snapshot(out)
    refused(["run", str(suite), "--out", str(out), *RUN], capsys,
            f"{target} is damaged (", why, _ADVICE["suite.json"])
    assert snapshot(out) == before


@pytest.mark.slow
def test_a_whole_suite_json_of_the_same_suite_runs_on(ran, tmp_path):
    suite, finished = ran
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    assert main(["run", str(suite), "--out", str(out), *RUN]) == 0
    assert json.loads((out / "suite.json").read_text())["name"] == "checks"
