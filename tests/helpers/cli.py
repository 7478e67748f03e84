"""Running the command line in a test and checking a refusal."""

from lossbench.cli import main


def refused(argv, capsys, *expected: str) -> str:
    """Run ``lossbench argv``: exit 2, one line on stderr naming what was wrong."""
    try:
        status = main(argv)
    except SystemExit as error:  # argparse's own usage errors
        status = error.code
    assert status == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lossbench: error: "), captured.err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]
