"""Settings declared once: quick values and rules beside each field, `--set` typed by the annotations."""
import dataclasses
import functools

import pytest

from hw1core import settings
from hw1core.errors import ConfigError
from hw1core.experiments import REGISTRY, param_count, simulate


def test_quick_profile_applies_each_settings_quick_value_nested_ones_included():
    quick, full = (settings.resolve("simulate", simulate.Config, p, {}) for p in ("quick", "full"))
    assert (quick.train.epochs, quick.seeds) == (600, 3) and (full.train.epochs, full.seeds) == (20_000, 5)
    assert quick.train.lr == full.train.lr  # a setting without a quick value keeps its full-profile one
    pc = settings.resolve("param-count", param_count.Config, "quick", {})
    assert (pc.train.epochs, pc.data.n_train, pc.train.step_size) == (2, 1500, 10)


def test_overrides_are_coerced_to_the_annotated_type():
    over = settings.parse_overrides(["simulate.train.lr=1e-3", "simulate.train.epochs=2e3",
                                     "simulate.models=MLP-deep, MLP-shallow"], REGISTRY)
    cfg = settings.resolve("simulate", simulate.Config, "quick", over["simulate"])
    assert cfg.train.lr == 1e-3 and isinstance(cfg.train.lr, float)
    assert cfg.train.epochs == 2000 and isinstance(cfg.train.epochs, int)
    assert cfg.models == ("MLP-deep", "MLP-shallow")
    lrs = settings.resolve("sensitivity", REGISTRY["sensitivity"].Config, "full",
                           settings.parse_overrides(["sensitivity.lrs=0.1,1"], REGISTRY)["sensitivity"]).lrs
    assert lrs == (0.1, 1.0) and all(isinstance(v, float) for v in lrs)


@pytest.mark.parametrize("item,words", [
    ("nosuch.key=1", ["unknown experiment", "simulate"]),
    ("simulate.nosuch=1", ["unknown key", "train.epochs"]),
    ("simulate.epochs=1", ["unknown key 'epochs'", "train.epochs"]),
    ("simulate.train.epochs=1.5", ["expected int"]),
    ("simulate.train.epochs", ["EXPERIMENT.KEY=VALUE"]),
])
def test_bad_overrides_name_the_problem(item, words):
    with pytest.raises(ConfigError) as err:
        over = settings.parse_overrides([item], REGISTRY)
        settings.resolve("simulate", simulate.Config, "quick", over.get("simulate", {}))
    for w in words:
        assert w in str(err.value)


def test_every_setting_has_a_rule_and_both_profiles_pass_them():
    for exp_id, module in REGISTRY.items():
        for path, field in settings.leaves(module.Config).items():
            assert callable(field.metadata.get(settings.RULE)), f"{exp_id}.{path} has no rule"
        for profile in settings.PROFILES:
            settings.validate(exp_id, settings.resolve(exp_id, module.Config, profile, {}))


def test_a_nested_value_is_checked_by_the_rule_of_its_own_field():
    cfg = dataclasses.replace(simulate.Config(), train=dataclasses.replace(simulate.Config().train, gamma=2.0))
    with pytest.raises(ConfigError, match=r"simulate\.train\.gamma=2\.0: must be a factor in \(0, 1\]"):
        settings.validate("simulate", cfg)


@pytest.mark.parametrize("item, words", [
    ("simulate.train.epochs=0", ["simulate.train.epochs=0", "a whole number from 1 to 1,000,000"]),
    ("simulate.train.lr=nan", ["simulate.train.lr=nan", "positive"]),
    ("actual-task.cifar.gamma=1.5", ["cifar.gamma=1.5", "(0, 1]"]),
    ("simulate.models=MLP-deep,CNN-21", ["CNN-21", "MLP-deep, MLP-middle"]),
    ("simulate.functions=f1,f3", ["f3", "f1, f2"]),
    ("sensitivity.lrs=0.1,-1", ["sensitivity.lrs", "positive numbers"]),
    ("error-surface.grid=10", ["grid=10", "odd"]),
    ("interpolation.alpha_max=-2", ["alpha_max", "above alpha_min"]),
    ("interpolation.batches=64", ["batches=64", "exactly two"]),
    ("optimization-path.model=CNN-99", ["CNN-99", "CNN-21"]),
    ("minimal-ratio.rel_tol=2", ["rel_tol", "between 0 and 1"]),
    ("sharpness.eps=0.001,0.001", ["sharpness.eps=0.001,0.001", "distinct"]),
    # values inside their own bounds whose product is not: the weights the experiment would hold at once
    ("error-surface.grid=1001", ["error-surface.grid=1001", "every grid point", "past 500,000,000"]),
    ("optimization-path.train.epochs=1000000", ["optimization-path.every=3", "recorded weights"]),
    # floats whose use would overflow to inf
    ("sensitivity.lr_scaling=1e300", ["sensitivity.lr_scaling=1e+300", "from 0 to 2"]),
    ("simulate.train.lr=1e300", ["simulate.train.lr=1e+300", "up to 100"]),
    ("interpolation.alpha_min=-1e308", ["alpha_min=-1e+308", "from -1000 to 1000"]),
    ("sensitivity.batch_sizes=" + ",".join(map(str, range(1, 102))), ["sensitivity.batch_sizes=1,2,3", "1 to 100"]),
])
def test_a_bad_value_is_one_line_naming_key_value_and_what_is_allowed(tmp_path, cli, item, words):
    from test_cli import assert_one_line_error
    proc = cli("--set", item, "--out", str(tmp_path / "out"))
    assert_one_line_error(proc, *words)
    assert proc.returncode == 2 and "running" not in proc.stderr and not (tmp_path / "out").exists()


def whole_number_settings():
    """(experiment, dotted path) of every setting that holds a whole number or a list of them."""
    import typing
    out = []
    for exp_id, module in REGISTRY.items():
        hints = {}
        for path, field in settings.leaves(module.Config).items():
            kind = field.type if not isinstance(field.type, str) else eval(field.type, vars(typing) | {"int": int})
            if kind is int or typing.get_args(kind) == (int, ...):
                out.append((exp_id, path))
    return out


def test_every_count_has_an_upper_bound_checked_before_anything_runs():
    """An absurd count (an epoch count with 20 digits) must be refused by its rule, never fail mid-computation."""
    found = whole_number_settings()
    assert len(found) > 30
    for exp_id, path in found:
        module = REGISTRY[exp_id]
        cfg = settings.resolve(exp_id, module.Config, "quick", {})
        current = functools.reduce(getattr, path.split("."), cfg)
        huge = "100000000000000000000" if not isinstance(current, tuple) else ",".join(["100000000000000000000"] * len(current))
        with pytest.raises(ConfigError, match="whole numbers? from"):
            settings.validate(exp_id, settings.resolve(exp_id, module.Config, "quick", {path: huge}))


def test_a_bound_admits_its_edge_and_refuses_one_past_it():
    from hw1core import rules
    rule = rules.count(rules.MAX_EPOCHS)
    assert rule(rules.MAX_EPOCHS) is None and rule(1) is None
    assert rule(rules.MAX_EPOCHS + 1) and rule(0) and rule(2.5) and rule(True)
    assert rules.count(10, low=0)(0) is None
    assert rules.each_count(10)((1, 10)) is None and rules.each_count(10)((1, 11)) and rules.each_count(10)((2, 2))
    assert rules.odd_between(3, 1001)(1001) is None and rules.odd_between(3, 1001)(1003)


def test_a_product_of_settings_past_what_can_be_held_is_refused_by_the_last_field_it_reads():
    from hw1core.experiments import interpolation
    from hw1core.models import param_count_of
    fits = 500_000_000 // param_count_of("CNN-wide")  # n_alpha weight sets of CNN-wide fill the bound exactly
    settings.validate("interpolation", dataclasses.replace(interpolation.Config(), model="CNN-wide", n_alpha=fits))
    with pytest.raises(ConfigError, match=r"interpolation\.n_alpha=%d: .*n_alpha weight sets" % (fits + 1)):
        settings.validate("interpolation", dataclasses.replace(interpolation.Config(), model="CNN-wide",
                                                               n_alpha=fits + 1))


@pytest.mark.parametrize("exp_id, changes, field", [
    ("minimal-ratio", dict(runs=10_000, n_train=10_000), "n_train"),  # 10,000 runs training at once on 10,000 points
    ("simulate", dict(seeds=1000, n_grid=1_000_000), "n_grid"),  # every seed predicting a million grid points
])
def test_settings_whose_activations_would_not_fit_are_refused(exp_id, changes, field):
    module = REGISTRY[exp_id]
    with pytest.raises(ConfigError, match=rf"{exp_id}\.{field}=\d+: .*activations"):
        settings.validate(exp_id, dataclasses.replace(module.Config(), **changes))
    settings.validate(exp_id, module.Config())


def test_a_long_whole_number_is_read_exactly_not_through_a_float():
    assert settings.coerce("9007199254740993", int, "k") == 9007199254740993  # 2⁵³ + 1: a float rounds it
    assert settings.coerce("1e4", int, "k") == 10_000
    with pytest.raises(ConfigError, match="expected int"):
        settings.coerce("1" * 5000, int, "k")  # past Python's digit limit for int(): one line, not a traceback


def test_a_twenty_digit_epoch_count_is_one_line_before_anything_runs(tmp_path, cli):
    from test_cli import assert_one_line_error
    proc = cli("--set", "simulate.train.epochs=100000000000000000000", "--out", str(tmp_path / "out"))
    assert_one_line_error(proc, "simulate.train.epochs=100000000000000000000", "whole number from 1 to 1,000,000")
    assert proc.returncode == 2 and not (tmp_path / "out").exists()


def test_an_interpolation_line_needs_three_points_to_have_a_step_beside_each_end():
    from hw1core.experiments import interpolation
    with pytest.raises(ConfigError, match=r"interpolation\.n_alpha=2: must be a whole number from 3"):
        settings.validate("interpolation", dataclasses.replace(interpolation.Config(), n_alpha=2))
