"""Suites: the packaged ones load, and every kind of mistake is one message naming the key, exit 2."""

from pathlib import Path

import pytest
from lossbench.cli import main
from lossbench.config.suite import load_suite, packaged_suites, parse_suite
from lossbench.errors import UserError

GOOD = """
name = "tiny"
losses = ["ce", "focal"]
[budget]
trials = 2
epochs = 2
[[datasets]]
source = "digits"
profile = "exp"
imbalance_ratio = 10
"""


def test_packaged_suites_load_with_every_loss():
    assert {"default", "mask"} <= set(packaged_suites())
    default = load_suite("default")
    assert len(default.losses) == 10 and default.losses[0].name == "ce"
    assert default.budget.replicates >= 5 and default.budget.seeds >= 1
    assert [d.spec.source for d in default.datasets] == ["digits"] + ["gaussian"] * 4
    sweep = [d.spec for d in default.datasets[1:]]  # the seed's question: the 60+ band scarcer
    assert [s.scarce_fraction if s.profile == "scarce" else 1.0 for s in sweep] == \
        [1.0, 0.5, 0.25, 0.125]
    assert all(s.options["structure"] == "mask" and s.scarce_value in (None, ">=60") for s in sweep)
    mask = load_suite("mask", dataset_options={"root": "/nowhere"})
    assert all(d.spec.options["root"] == Path("/nowhere") for d in mask.datasets)


def test_cpu_overrides_shrink_the_mask_suite():
    mask = load_suite("mask", dataset_options={"root": "/nowhere"})
    cpu = mask.for_device("cpu")
    assert cpu.budget.trials < mask.budget.trials and cpu.model.images == "small_cnn"
    assert all(d.spec.options["size"] == 32 for d in cpu.datasets)
    assert mask.for_device("cuda") is mask


def test_dataset_budget_and_command_line_overrides_stack():
    suite = load_suite("default")
    gaussian = suite.dataset("mask-60plus-eighth")
    assert suite.budget_for(gaussian).batch_size == 512
    smaller = suite.with_overrides(losses=["ce", "poly"], epochs=1, trials=1)
    assert [loss.name for loss in smaller.losses] == ["ce", "poly"]
    assert smaller.budget_for(gaussian).epochs == 1 and smaller.budget_for(gaussian).batch_size == 512


@pytest.mark.parametrize("edit, words", [
    (("trials = 2", "trails = 2"), ["trails", "did you mean 'trials'"]),
    (("epochs = 2", "epochs = 1e12"), ["budget.epochs", "integer"]),
    (("epochs = 2", "epochs = \"many\""), ["budget.epochs", "'many'"]),
    (("trials = 2", "trials = -3"), ["budget.trials", "at least 1"]),
    (("epochs = 2", "epochs = 100000000"), ["budget.epochs", "at most"]),
    (('["ce", "focal"]', '["ce", "focall"]'), ["focall", "did you mean 'focal'"]),
    (('source = "digits"', 'source = "digitz"'), ["datasets[0]", "digitz", "digits"]),
    (('profile = "exp"', 'profil = "exp"'), ["datasets[0]", "profil"]),
    (("[budget]", "[budgett]"), ["budgett", "budget"]),
])
def test_bad_suite_names_the_key(edit, words):
    old, new = edit
    with pytest.raises(UserError) as error:
        parse_suite(GOOD.replace(old, new), default_name="tiny")
    for word in words:
        assert word in str(error.value)


def test_bad_loss_param_and_optimizer_are_refused():
    with pytest.raises(UserError, match="gama"):
        parse_suite(GOOD + "[loss_params.focal]\ngama = 2.0\n", default_name="tiny")
    with pytest.raises(UserError, match="optim.optimizer"):
        parse_suite(GOOD + "[optim]\noptimizer = \"adam\"\n", default_name="tiny")
    with pytest.raises(UserError, match="poly"):
        parse_suite(GOOD + "[loss_params.poly]\nepsilon = 1.0\n", default_name="tiny")


def test_fixed_loss_params_leave_the_search_space():
    from lossbench.config.losses import tuned_space

    suite = parse_suite(GOOD + "[loss_params.focal]\ngamma = 2.0\n", default_name="tiny")
    focal = suite.losses[1]
    assert focal.fixed == {"gamma": 2.0} and "gamma" not in tuned_space("focal", focal.fixed)


def test_bad_suite_file_exits_2_with_the_key(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace("epochs = 2", "epochs = 2\nbatchsize = 3"))
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lossbench: error:") and "batchsize" in err and "batch_size" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_unknown_suite_and_missing_file_exit_2(tmp_path, capsys):
    assert main(["run", "defualt"]) == 2
    assert "did you mean 'default'" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "missing.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "broken.toml").write_text("[budget\n")
    assert main(["run", str(tmp_path / "broken.toml")]) == 2
    assert "not valid TOML" in capsys.readouterr().err
