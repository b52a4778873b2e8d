import numpy as np
import pandas as pd

from hw1core.fingerprint import code_fingerprint
from hw1core.results import Results
from hw1core.store import Store, config_key


def test_roundtrip(tmp_path):
    store = Store(tmp_path)
    res = Results({"a": 1, "b": [1.5, float("nan")]}, {"x/y": np.arange(5.0)},
                  {"t": pd.DataFrame({"m": ["p", "q"], "v": [1.0, 2.0]})}, {"wall_s": 1.0})
    store.save("exp", "k1", res)
    back = store.load("exp", "k1")
    assert back.values["a"] == 1 and np.isnan(back.values["b"][1])
    assert np.array_equal(back.arrays["x/y"], np.arange(5.0))
    pd.testing.assert_frame_equal(back.tables["t"], res.tables["t"])
    assert not list(tmp_path.rglob("*.tmp"))


def test_folder_without_marker_is_ignored(tmp_path):
    store = Store(tmp_path)
    folder = store.folder("exp", "k")
    folder.mkdir(parents=True)
    np.savez(folder / "arrays.npz", a=np.zeros(2))
    assert store.load("exp", "k") is None


def test_parts_are_computed_once_then_dropped_on_save(tmp_path):
    store, calls = Store(tmp_path), []
    compute = lambda: calls.append(1) or {"v": np.ones(3)}
    assert store.part("exp", "k", "run0", compute)["v"].sum() == 3
    assert store.part("exp", "k", "run0", compute)["v"].sum() == 3
    assert len(calls) == 1
    store.save("exp", "k", Results())
    assert not store.parts_folder("exp", "k").exists()


def test_key_depends_on_config_and_code():
    fp = code_fingerprint("hw1core.experiments.simulate")
    assert config_key({"epochs": 1}, fp) == config_key({"epochs": 1}, fp)
    assert config_key({"epochs": 1}, fp) != config_key({"epochs": 2}, fp)
    assert config_key({"epochs": 1}, fp) != config_key({"epochs": 1}, "other-code")


def test_force_retrains_a_shared_model_once_per_build(tmp_path):
    import torch
    from hw1core.experiments import Context
    store, calls = Store(tmp_path), []
    compute = lambda: calls.append(1) or {"v": np.ones(1)}
    compute.__module__ = "hw1core.recipes"  # a shared model is keyed by the code of the module that trains it
    cpu = torch.device("cpu")
    Context(cpu, None, store, "a", "k").shared({"m": 1}, compute)
    Context(cpu, None, store, "b", "k").shared({"m": 1}, compute)  # another experiment reuses it
    assert len(calls) == 1
    fresh: set = set()
    Context(cpu, None, store, "a", "k", force=True, fresh=fresh).shared({"m": 1}, compute)
    Context(cpu, None, store, "b", "k", force=True, fresh=fresh).shared({"m": 1}, compute)
    assert len(calls) == 2  # retrained once for the forced build, then shared within it
