"""The report's kernel-timing section reads the sibling results/timing/ folder."""

from pathlib import Path

from lossbench.report.document import Document, to_html, to_markdown
from lossbench.report.timing import timing_frame, timing_section
from lossbench.timing.files import write_timing
from lossbench.timing.measure import run_timing


def test_timing_section_shows_every_loss_and_links_the_sibling_folder(tmp_path: Path):
    table = run_timing([(16, 5)], "cpu", threads=1, losses=["ce", "focal"], rounds=2,
                       block_seconds=0.001, memory=False)
    write_timing(table, tmp_path / "timing")
    suite_root = tmp_path / "default"
    suite_root.mkdir()
    doc = Document("t")
    timing_section(doc, suite_root)
    markdown = to_markdown(doc, suite_root)
    assert "## Kernel timing" in markdown
    assert "../timing/timing-cpu.png" in markdown
    frame = timing_frame(table)
    assert list(frame["loss"])[1:] == ["ce", "focal"] and "16x5" in frame.columns
    assert "data:image/png;base64" in to_html(doc)


def test_no_timing_folder_adds_nothing(tmp_path: Path):
    doc = Document("t")
    timing_section(doc, tmp_path / "default")
    assert doc.blocks == []
