"""The report's sweep section on hand-made results: datasets that share a source and differ in one
profile setting (scarce fraction, imbalance ratio) get a figure and a section; a suite without
such a setting gets none."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from helpers.report_results import Data, replicates, spec, write_suite
from lossbench.report import build_report
from lossbench.report.load import load_results
from lossbench.report.sweep import find_sweeps, scarce_classes, sweep_figure, sweep_frame
from lossbench.report.tables import summary_table

DIGITS = [str(i) for i in range(10)]
FULL = [116, 120, 115, 119, 119, 120, 119, 117, 118, 118]
BASELINES = ("ce+posthoc", "ce+balanced_sampling")


def scarce_data(name: str, fraction: float | None, val: dict[str, float],
                rare: dict[str, float]) -> Data:
    """Digits with classes 3 and 8 thinned to ``fraction`` (None: the natural profile)."""
    counts = [int(c * fraction) if i in (3, 8) and fraction else c for i, c in enumerate(FULL)]
    settings = ({} if fraction is None else
                {"profile": "scarce", "scarce_classes": ["3", "8"], "scarce_fraction": fraction})
    runs = {}
    for k, loss in enumerate(val):
        f1 = [0.9] * 10
        f1[3] = f1[8] = rare[loss]
        runs[loss] = replicates(f1, val[loss], seed=k)
    return Data(spec(name, source="digits", **settings), DIGITS, counts, runs)


VAL = {"ce": 0.80, "focal": 0.85, "balanced_softmax": 0.82, "ce+posthoc": 0.86,
       "ce+balanced_sampling": 0.83}


def fraction_suite(root, second_val=None):
    """Two scarce fractions of the same digits; the validation scores of the second can make
    another loss the recommended one."""
    rare_low = {"ce": 0.2, "focal": 0.4, "balanced_softmax": 0.5, "ce+posthoc": 0.45,
                "ce+balanced_sampling": 0.3}
    rare_high = {loss: min(0.9, v + 0.3) for loss, v in rare_low.items()}
    write_suite(root, {
        "digits-scarce-0.05": scarce_data("digits-scarce-0.05", 0.05, VAL, rare_low),
        "digits-scarce-0.2": scarce_data("digits-scarce-0.2", 0.2, second_val or VAL, rare_high),
    }, baselines=BASELINES)
    return load_results(root)


def summaries(results):
    return {d: summary_table(results, d) for d in results.dataset_names}


def test_two_scarce_fractions_make_a_sweep_and_its_section(tmp_path):
    results = fraction_suite(tmp_path)
    (sweep,) = find_sweeps(results)
    assert sweep.setting == "scarce_fraction"
    assert sweep.datasets == ["digits-scarce-0.05", "digits-scarce-0.2"]
    assert sweep.values == [0.05, 0.2]
    classes, phrase = scarce_classes(results, sweep)
    assert classes == [3, 8] and "classes 3, 8" in phrase
    markdown, html = build_report(tmp_path)
    text = markdown.read_text()
    assert "## Sweep over the scarce fraction: digits-scarce-0.05 to digits-scarce-0.2" in text
    assert "The recommended loss does not change along the sweep: **focal**" in text
    assert (tmp_path / "figures" / "sweep_scarce_fraction_digits-scarce-0.05.png").is_file()
    assert (tmp_path / "tables" / "sweep_scarce_fraction_digits-scarce-0.05.csv").is_file()
    assert 'href="#sweep-over-the-scarce-fraction-digits-scarce-005-to-digits-scarce-02"' \
        in html.read_text()


def test_the_sweep_frame_holds_delta_scarce_group_f1_and_recommendation(tmp_path):
    results = fraction_suite(tmp_path)
    (sweep,) = find_sweeps(results)
    tables = summaries(results)
    frame = sweep_frame(results, sweep, tables)
    assert len(frame) == 2 * 5
    row = frame[(frame.scarce_fraction == 0.05) & (frame.loss == "focal")].iloc[0]
    summary = tables["digits-scarce-0.05"].set_index("loss")
    assert row.delta_vs_ce == pytest.approx(summary.delta_vs_ce["focal"])
    assert row.delta_low == pytest.approx(summary.delta_low["focal"])
    per_class = results.per_class
    rows = per_class[(per_class.dataset == "digits-scarce-0.05") & (per_class.loss == "focal")
                     & per_class.class_index.isin([3, 8])]
    assert row.scarce_f1 == pytest.approx(rows.f1.mean())
    assert row.scarce_f1_low < row.scarce_f1 < row.scarce_f1_high
    assert frame[frame.recommended].loss.tolist() == ["focal", "focal"]  # never a baseline
    assert frame.oracle_gap.isna().all()  # digits have no oracle: no third panel


def test_a_change_of_the_recommended_loss_is_said(tmp_path):
    second = {**VAL, "balanced_softmax": 0.90}
    results = fraction_suite(tmp_path, second_val=second)
    (sweep,) = find_sweeps(results)
    from lossbench.report.sweep import _recommendation

    text = _recommendation(sweep_frame(results, sweep, summaries(results)), sweep)
    assert text.startswith("The recommended loss changes along the sweep:")
    assert "scarce fraction 0.05: focal" in text and "scarce fraction 0.2: balanced_softmax" in text


def test_the_figure_draws_one_line_per_loss_and_dashes_the_baselines(tmp_path):
    results = fraction_suite(tmp_path)
    (sweep,) = find_sweeps(results)
    frame = sweep_frame(results, sweep, summaries(results))
    figure = sweep_figure(frame, sweep, "t")
    delta, group = figure.axes[:2]
    styles = {bars.get_label(): bars.lines[0].get_linestyle() for bars in group.containers}
    assert set(styles) == set(VAL)
    assert styles["ce+posthoc"] == "--" and styles["ce+balanced_sampling"] == "--"
    assert styles["focal"] == "-"
    zero = [line for line in delta.get_lines() if line.get_label() == "ce"]
    assert zero and set(zero[0].get_ydata()) == {0.0}  # cross-entropy is the zero line
    assert [t.get_text() for t in delta.get_xticklabels()] == ["0.05", "0.2"]
    plt.close(figure)


def test_a_suite_without_a_shared_setting_has_no_sweep(tmp_path):
    rare = {loss: 0.4 for loss in VAL}
    exp = Data(spec("digits-exp20", source="digits", profile="exp", imbalance_ratio=20),
               DIGITS, [112, 80, 57, 41, 29, 21, 15, 10, 7, 5],
               {loss: replicates([0.9] * 10, v, seed=k) for k, (loss, v) in enumerate(VAL.items())})
    write_suite(tmp_path, {
        "digits-exp20": exp,
        "digits-scarce": scarce_data("digits-scarce", 0.05, VAL, rare),
        "gaussian": Data(spec("gaussian", source="gaussian", options={"counts": "mask"}), DIGITS,
                         FULL, {loss: replicates([0.8] * 10, v) for loss, v in VAL.items()}),
    }, baselines=BASELINES)
    assert find_sweeps(load_results(tmp_path)) == []
    markdown, _ = build_report(tmp_path)
    assert "Sweep over" not in markdown.read_text()


def test_two_settings_or_two_sources_apart_are_no_sweep(tmp_path):
    rare = {loss: 0.4 for loss in VAL}
    other = scarce_data("other-classes", 0.2, VAL, rare)
    other.spec["scarce_classes"] = ["1", "2"]  # other classes thinned: two settings differ
    bigger = scarce_data("other-options", 0.2, VAL, rare)
    bigger.spec["options"] = {"size": 32}  # other source options
    write_suite(tmp_path, {"digits-scarce-0.05": scarce_data("digits-scarce-0.05", 0.05, VAL, rare),
                           "other-classes": other, "other-options": bigger},
                baselines=BASELINES)
    assert find_sweeps(load_results(tmp_path)) == []


def test_the_natural_dataset_joins_a_fraction_sweep_at_one(tmp_path):
    rare = {loss: 0.5 for loss in VAL}
    write_suite(tmp_path, {"digits": scarce_data("digits", None, VAL, rare),
                           "digits-scarce-0.05": scarce_data("digits-scarce-0.05", 0.05, VAL, rare),
                           "digits-scarce-0.2": scarce_data("digits-scarce-0.2", 0.2, VAL, rare)},
                baselines=BASELINES)
    results = load_results(tmp_path)
    (sweep,) = find_sweeps(results)
    assert sweep.values == [0.05, 0.2, 1.0]
    assert sweep.datasets[-1] == "digits"
    assert scarce_classes(results, sweep)[0] == [3, 8]


def test_an_attribute_group_is_the_classes_whose_counts_change(tmp_path):
    rare = {loss: 0.5 for loss in VAL}
    data = {name: scarce_data(name, fraction, VAL, rare)
            for name, fraction in (("a", 0.25), ("b", 0.5))}
    for item in data.values():
        item.spec.update(scarce_classes=[], scarce_attribute="age", scarce_value=2)
    write_suite(tmp_path, data, baselines=BASELINES)
    results = load_results(tmp_path)
    (sweep,) = find_sweeps(results)
    classes, phrase = scarce_classes(results, sweep)
    assert classes == [3, 8] and "age = 2" in phrase


def test_an_imbalance_ratio_sweep_uses_the_tail_classes(tmp_path):
    counts = {10: [112, 89, 71, 56, 44, 35, 28, 22, 17, 11], 50: [112, 72, 47, 30, 19, 12, 8, 5, 3, 2]}
    datasets = {}
    for ratio, train in counts.items():
        runs = {}
        for k, loss in enumerate(VAL):
            f1 = list(np.linspace(0.95, 0.3 + 0.05 * k, 10))
            runs[loss] = replicates(f1, VAL[loss], seed=k)
        datasets[f"digits-exp{ratio}"] = Data(
            spec(f"digits-exp{ratio}", source="digits", profile="exp", imbalance_ratio=ratio),
            DIGITS, train, runs)
    write_suite(tmp_path, datasets, baselines=BASELINES)
    results = load_results(tmp_path)
    (sweep,) = find_sweeps(results)
    assert sweep.setting == "imbalance_ratio" and sweep.values == [10.0, 50.0]
    classes, phrase = scarce_classes(results, sweep)
    assert classes is None and "tail" in phrase
    frame = sweep_frame(results, sweep, summaries(results))
    row = frame[(frame.imbalance_ratio == 10.0) & (frame.loss == "ce")].iloc[0]
    per_class = results.per_class
    tail = per_class[(per_class.dataset == "digits-exp10") & (per_class.loss == "ce")
                     & per_class.class_index.isin([8, 9])]  # the 2 rarest of 10 classes
    assert row.scarce_f1 == pytest.approx(tail.f1.mean())
