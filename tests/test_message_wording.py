"""Consistent, grammatical messages (issue 13, item 7): a zero difference reads +0.000, never
-0.000; counts agree with their nouns; unknown names read "unknown loss 'x'"; a budget flag of
``run`` is named as typed (``--trials``), not as "command line.trials"."""

import pytest
from helpers.cli import refused
from helpers.report_results import Data, replicates, spec, write_suite
from lossbench.config.losses import check_fixed_params, resolve_baselines, resolve_losses
from lossbench.errors import UserError
from lossbench.report.completeness import completeness
from lossbench.report.load import load_results
from lossbench.report.tables import fmt_estimate, fmt_interval, fmt_signed, plural


def test_a_zero_difference_has_no_minus_sign():
    assert fmt_signed(-1e-17) == "+0.000" and fmt_signed(-0.0) == "+0.000"
    assert fmt_interval(-1e-17, -1e-17, -1e-17, signed=True) == "0.000 ± 0.000"
    assert fmt_interval(-0.0003, -0.002, 0.0014, signed=True) == "0.000 ± 0.002"
    assert fmt_signed(-0.004, 2) == "-0.00"  # below zero, not zero: the sign stays
    assert fmt_signed(0.0213) == "+0.021" and fmt_signed(float("nan")) == "n/a"


def test_a_difference_that_rounds_to_zero_reads_without_a_sign():
    """A point estimate of -0.0003 at three decimals is 0.000, not "-0.000" (the verdict's
    "Equivalent to cross-entropy: focal (…)"); bounds keep their sign."""
    assert [fmt_estimate(v) for v in (-0.0003, 0.0, 0.0004)] == ["0.000"] * 3
    assert fmt_estimate(-0.004) == "-0.004" and fmt_estimate(0.021) == "+0.021"
    assert fmt_estimate(float("nan")) == "n/a"


def test_counts_agree_with_their_nouns(tmp_path):
    assert plural(1, "loss", "losses") == "1 loss" and plural(2, "loss", "losses") == "2 losses"
    write_suite(tmp_path, {"d": Data(spec("d"), ["a", "b"], [50, 5],
                                     {"ce": replicates([0.9, 0.5], 0.7)})})
    complete, text = completeness(load_results(tmp_path))
    assert complete and "1 loss," in text and "1 losses" not in text, text


def test_unknown_names_in_a_suite_read_alike():
    with pytest.raises(UserError) as error:
        resolve_losses(["ce", "focall"])
    assert str(error.value).startswith("unknown loss 'focall' (did you mean 'focal'?); allowed:")
    with pytest.raises(UserError) as error:
        resolve_baselines(["ce+posthok"], ["ce"])
    assert str(error.value).startswith("unknown baseline 'ce+posthok' (did you mean "
                                       "'ce+posthoc'?)")
    with pytest.raises(UserError) as error:
        check_fixed_params("focal", {"gama": 2.0})
    assert str(error.value).startswith("unknown parameter 'gama' of loss 'focal' in "
                                       "[loss_params.focal] (did you mean 'gamma'?)")


@pytest.mark.parametrize("flags, expected", [
    (["--trials", "0"], "--trials must be at least 1, got 0"),
    (["--epochs", "100000"], "--epochs must be at most 10000, got 100000"),
    (["--replicates", "0"], "--replicates must be at least 1, got 0"),
    (["--seeds", "5000"], "--seeds must be at most 1000, got 5000"),
])
def test_run_names_the_budget_flag_as_typed(tmp_path, capsys, flags, expected):
    out = tmp_path / "out"
    line = refused(["run", "default", "--out", str(out), *flags], capsys, expected)
    assert "command line." not in line and not out.exists()
