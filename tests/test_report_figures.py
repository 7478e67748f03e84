"""The report's figures and page on hand-made data: colour scales fitted to the data, the Δ heat
map centred on 0, confusion matrices labelled with class names in the heat map's order, sizes
that keep labels apart with 2 losses and with 18 classes, the dot-and-interval macro-F1 plot, the
slice plot's searched range, the table of contents and a title without markup."""

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from helpers.report_results import Data, replicates, spec, write_suite
from lossbench.report import build_report
from lossbench.report.document import Document, to_html, to_markdown
from lossbench.report.figures import macro_f1_intervals_figure
from lossbench.report.heatmaps import confusion_figure, per_class_heatmap_figure
from lossbench.report.slices import slice_grid

MASK = [f"{m}/{g}/{a}" for m in ("wear", "incorrect", "not_worn") for g in ("male", "female")
        for a in ("<30", "30-59", ">=60")]
COUNTS = [2729, 2034, 399, 3644, 4069, 529, 533, 394, 67, 716, 801, 93, 533, 394, 67, 716, 801,
          93]


def wide_frame(losses: dict[str, list[float]], names=MASK, counts=COUNTS) -> pd.DataFrame:
    """A per-class F1 table as ``per_class_f1_wide`` gives it: most training images first."""
    frame = pd.DataFrame({"class_index": range(len(names)), "class_name": names,
                          "train_count": counts, **losses})
    return frame.sort_values(["train_count", "class_index"], ascending=[False, True]) \
        .reset_index(drop=True)


def mesh(axis):
    return axis.collections[0]


def overlaps(labels) -> bool:
    boxes = [label.get_window_extent() for label in labels if label.get_text()]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


RNG = np.random.default_rng(3)
CE_F1 = list(np.round(RNG.uniform(0.71, 0.97, 18), 3))
FOCAL_F1 = list(np.round(np.clip(np.array(CE_F1) + RNG.uniform(-0.1, 0.2, 18), 0, 1), 3))


def test_the_absolute_heatmap_scale_is_fitted_to_the_data():
    wide = wide_frame({"ce": CE_F1, "focal": FOCAL_F1})
    figure = per_class_heatmap_figure(wide, ["ce", "focal"], "t")
    low, high = mesh(figure.axes[0]).get_clim()
    values = np.array(CE_F1 + FOCAL_F1)
    assert (low, high) == pytest.approx((values.min(), values.max()))
    assert low > 0.7  # not 0..1: 0.71 and 1.0 get different colours
    plt.close(figure)


def test_the_delta_heatmap_is_centred_on_zero_with_symmetric_limits():
    wide = wide_frame({"ce": CE_F1, "focal": FOCAL_F1, "ldam": CE_F1[::-1]})
    figure = per_class_heatmap_figure(wide, ["ce", "focal", "ldam"], "t")
    axes = [axis for axis in figure.axes if axis.collections]
    delta_axis = axes[1]
    low, high = mesh(delta_axis).get_clim()
    delta = np.concatenate([wide.focal - wide.ce, wide.ldam - wide.ce])
    assert low == pytest.approx(-high)
    assert high == pytest.approx(np.abs(delta).max())
    assert "RdBu" in mesh(delta_axis).get_cmap().name
    rows = [t.get_text() for t in delta_axis.get_yticklabels()]
    assert rows == ["focal", "ldam"]  # cross-entropy minus itself is not drawn
    plt.close(figure)


@pytest.mark.parametrize("losses, classes", [(2, 18), (12, 18), (2, 10)])
def test_heatmap_labels_do_not_overlap_and_the_colour_bar_label_fits(losses, classes):
    names = [f"{n}" for n in MASK[:classes]] if classes == 18 else [str(i) for i in range(10)]
    columns = {name: list(RNG.uniform(0.3, 1.0, classes))
               for name in ["ce", *[f"loss_{k}" for k in range(losses - 1)]]}
    wide = wide_frame(columns, names=names, counts=list(range(1000, 1000 - classes, -1)))
    figure = per_class_heatmap_figure(wide, list(columns), "t")
    figure.canvas.draw()
    page = figure.bbox
    for axis in figure.axes:
        assert not overlaps(axis.get_xticklabels()) and not overlaps(axis.get_yticklabels())
        label = axis.yaxis.label
        if label.get_text() in ("F1", "Δ F1"):  # a colour bar: its label inside the page
            box = label.get_window_extent()
            assert page.x0 <= box.x0 and box.x1 <= page.x1
            assert box.height <= axis.get_window_extent().height  # no longer than the bar
    plt.close(figure)


def test_confusion_labels_are_class_names_in_the_heatmap_order():
    wide = wide_frame({"ce": CE_F1})
    order = [int(i) for i in wide.class_index]
    matrix = np.diag(np.arange(1, 19)) * 10 + 1
    figure = confusion_figure({"ce": matrix, "focal": matrix}, MASK, order, "t")
    figure.canvas.draw()
    panels = [axis for axis in figure.axes if axis.get_title()]
    assert "row-normalised" in figure._suptitle.get_text()
    for axis in panels:
        assert [t.get_text() for t in axis.get_yticklabels()] == [MASK[i] for i in order]
        assert not overlaps(axis.get_yticklabels())
    assert [t.get_text() for t in panels[-1].get_xticklabels()] == [MASK[i] for i in order]
    cells = mesh(panels[0]).get_array().reshape(18, 18)
    rows = matrix[np.ix_(order, order)]
    assert cells[0, 0] == pytest.approx(rows[0, 0] / rows[0].sum())
    plt.close(figure)


def summary_frame() -> pd.DataFrame:
    losses = ["ce", "focal", "ldam", "ce+posthoc", "ce+balanced_sampling"]
    mean = np.array([0.40, 0.45, 0.52, 0.50, 0.48])
    return pd.DataFrame({"loss": losses, "baseline": [False, False, False, True, True],
                         "macro_f1": mean, "macro_f1_low": mean - 0.02,
                         "macro_f1_high": mean + 0.03})


def test_macro_f1_is_dots_and_intervals_with_reference_lines():
    figure = macro_f1_intervals_figure(summary_frame(), "t", oracle=0.6)
    axis = figure.axes[0]
    assert not [p for p in axis.patches if type(p).__name__ == "Rectangle"]  # no bars
    ticks = [t.get_text() for t in axis.get_yticklabels()]
    assert "ce+posthoc (baseline)" in ticks and "ce+balanced_sampling (baseline)" in ticks
    vertical = {round(float(line.get_xdata()[0]), 3) for line in axis.get_lines()
                if len(set(line.get_xdata())) == 1 and line.get_linestyle() in ("--", ":")}
    assert {0.4, 0.6} <= vertical  # cross-entropy's mean and the oracle
    low, high = axis.get_xlim()
    assert 0.30 < low < 0.38 and 0.6 < high < 0.7  # fitted, and no bar starts at a cut axis
    markers = {line.get_marker() for line in axis.get_lines()}
    assert "D" in markers  # the baselines
    plt.close(figure)


def test_slice_plot_is_readable_and_marks_the_searched_range(tmp_path):
    trials = pd.DataFrame({"number": range(6), "state": ["COMPLETE"] * 5 + ["PRUNED"],
                           "value": [0.5, 0.6, 0.7, 0.65, 0.55, 0.3],
                           "param_lr": [0.01, 0.05, 0.1, 0.2, 0.5, 1.0],
                           "param_weight_decay": [1e-5, 1e-4, 1e-3, 1e-4, 1e-5, 1e-3],
                           "param_gamma": [0.5, 1.0, 2.0, 3.0, 4.0, 1.5]})
    space = {"lr": {"kind": "float", "low": 0.003, "high": 2.0, "log": True},
             "weight_decay": {"kind": "float", "low": 1e-6, "high": 1e-2, "log": True},
             "gamma": {"kind": "float", "low": 0.0, "high": 5.0, "log": False}}
    path = slice_grid({"focal": trials}, {"focal": 2}, "t", tmp_path / "s.png",
                      spaces={"focal": space})
    from PIL import Image

    width, height = Image.open(path).size
    assert width >= 1000 and height >= 350
    figure = plt.figure()  # the drawing itself: one panel, its range shaded and bounded
    from lossbench.report.slices import _draw

    axis = figure.add_subplot()
    _draw(axis, trials, "param_gamma", 2, False, space["gamma"])
    spans = [p for p in axis.patches if p.get_label() == "searched range"]
    assert len(spans) == 1
    low, high = axis.get_xlim()
    assert low < 0.0 and high > 5.0
    plt.close(figure)


def test_contents_links_every_heading_and_the_title_has_no_markup(tmp_path):
    doc = Document(title="lossbench report: suite `default`")
    doc.contents()
    doc.heading("Verdict")
    doc.heading("Results")
    doc.heading("digits-exp20", level=3)
    doc.heading("gaussian-mask", level=3)
    html = to_html(doc)
    title = re.search(r"<title>(.*?)</title>", html).group(1)
    assert "`" not in title and title == "lossbench report: suite default"
    assert "<h1>lossbench report: suite <code>default</code></h1>" in html
    for anchor in ("verdict", "results", "digits-exp20", "gaussian-mask"):
        assert f'href="#{anchor}"' in html and f'id="{anchor}"' in html
    markdown = to_markdown(doc, tmp_path)
    assert "  - [digits-exp20](#digits-exp20)" in markdown
    assert markdown.index("[Verdict](#verdict)") < markdown.index("## Verdict")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("two-losses")
    rng = np.random.default_rng(5)
    f1 = list(rng.uniform(0.6, 0.95, 18))
    data = Data(spec("mask-like", source="gaussian", options={"counts": "mask"}), MASK, COUNTS,
                {"ce": replicates(f1, 0.6), "focal": replicates([v + 0.02 for v in f1], 0.7)},
                oracle=0.97)
    write_suite(root, {"mask-like": data}, name="two")
    markdown, html = build_report(root)
    return root, markdown.read_text(), html.read_text()


def test_the_report_has_contents_and_a_plain_title(report):
    _, markdown, html = report
    assert "`" not in re.search(r"<title>(.*?)</title>", html).group(1)
    assert '<nav class="toc">' in html and 'href="#mask-like"' in html
    assert 'id="mask-like"' in html
    assert "- [mask-like](#mask-like)" in markdown
    assert markdown.index("**Contents**") < markdown.index("## Verdict")


def test_the_per_class_table_has_no_empty_column(report):
    _, markdown, html = report
    block = markdown.split("Per-class test F1")[1]
    header = next(line for line in block.splitlines() if line.startswith("|"))
    cells = [cell.strip() for cell in header.strip("|").split("|")]
    assert cells == ["class", "train images", "ce", "focal"]
    table = html.split("Per-class test F1")[1].split("</table>")[0]
    heads = re.findall(r"<th[^>]*>(.*?)</th>", table)
    assert heads == ["class", "train images", "ce", "focal"]


def test_the_report_draws_every_figure(report):
    root, markdown, _ = report
    for kind in ("macro_f1", "per_class_f1", "confusion", "calib"):
        assert (root / "figures" / f"mask-like_{kind}.png").is_file()
    assert "dotted: the Bayes oracle" in markdown
