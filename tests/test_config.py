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
