import pytest

from hw1core import config
from hw1core.errors import ConfigError
from hw1core.experiments import REGISTRY, simulate


def test_quick_profile_applies_module_quick_values():
    cfg = config.resolve(simulate, "quick", {})
    assert cfg.epochs == simulate.QUICK["epochs"]
    assert config.resolve(simulate, "full", {}).epochs == simulate.Config().epochs


def test_overrides_are_coerced_to_the_default_type():
    over = config.parse_overrides(["simulate.lr=1e-3", "simulate.epochs=2e3", "simulate.models=MLP-deep, MLP-shallow"],
                                  REGISTRY)
    cfg = config.resolve(simulate, "quick", over["simulate"])
    assert cfg.lr == 1e-3 and isinstance(cfg.lr, float)
    assert cfg.epochs == 2000 and isinstance(cfg.epochs, int)
    assert cfg.models == ("MLP-deep", "MLP-shallow")


@pytest.mark.parametrize("item,words", [
    ("nosuch.key=1", ["unknown experiment", "simulate"]),
    ("simulate.nosuch=1", ["unknown key", "epochs"]),
    ("simulate.epochs=1.5", ["expected int"]),
    ("simulate.epochs", ["EXPERIMENT.KEY=VALUE"]),
])
def test_bad_overrides_name_the_problem(item, words):
    with pytest.raises(ConfigError) as err:
        over = config.parse_overrides([item], REGISTRY)
        config.resolve(simulate, "quick", over.get("simulate", {}))
    for w in words:
        assert w in str(err.value)


def test_every_config_field_has_a_rule_and_both_profiles_pass_them():
    import dataclasses
    for exp_id, module in REGISTRY.items():
        assert set(module.RULES) == {f.name for f in dataclasses.fields(module.Config)}, exp_id
        for profile in ("quick", "full"):
            config.validate(module, config.resolve(module, profile, {}))


@pytest.mark.parametrize("item, words", [
    ("simulate.epochs=0", ["simulate.epochs=0", "positive"]),
    ("simulate.lr=nan", ["simulate.lr=nan", "positive"]),
    ("actual-task.cifar_gamma=1.5", ["cifar_gamma=1.5", "(0, 1]"]),
    ("simulate.models=MLP-deep,CNN-21", ["CNN-21", "MLP-deep, MLP-middle"]),
    ("simulate.functions=f1,f3", ["f3", "f1, f2"]),
    ("sensitivity.lrs=0.1,-1", ["sensitivity.lrs", "positive numbers"]),
    ("error-surface.grid=10", ["grid=10", "odd"]),
    ("interpolation.alpha_max=-2", ["alpha_max", "above alpha_min"]),
    ("interpolation.batches=64", ["batches=64", "exactly two"]),
    ("optimization-path.model=CNN-99", ["CNN-99", "CNN-21"]),
    ("minimal-ratio.rel_tol=2", ["rel_tol", "between 0 and 1"]),
])
def test_a_bad_value_is_one_line_naming_key_value_and_what_is_allowed(tmp_path, item, words):
    from test_cli import assert_one_line_error, build
    proc = build("--set", item, "--out", str(tmp_path / "out"), timeout=60)
    assert_one_line_error(proc, *words)
    assert proc.returncode == 2 and "running" not in proc.stderr and not (tmp_path / "out").exists()
