from pathlib import Path

import numpy as np
import pandas as pd
import pytest

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


def stored(tmp_path) -> tuple[Store, Path]:
    store = Store(tmp_path)
    res = Results({"a": 1}, {"curve": np.arange(4.0)}, {"t": pd.DataFrame({"v": [1.0]})}, {"wall_s": 1.0})
    store.save("exp", "k", res)
    return store, store.folder("exp", "k")


DAMAGE = {
    "results.json truncated": ("results.json", lambda b: b[: len(b) // 2]),
    "results.json valid JSON, not a result": ("results.json", lambda b: b"[1, 2, 3]"),
    "results.json binary": ("results.json", lambda b: b"\xff\xfe\x00garbage"),
    "arrays.npz truncated": ("arrays.npz", lambda b: b[: len(b) // 2]),
    "arrays.npz not a zip": ("arrays.npz", lambda b: b"hello"),
    "arrays.npz other arrays": ("arrays.npz", None),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_result_is_absent_with_one_warning_naming_the_file(tmp_path, caplog, damage):
    store, folder = stored(tmp_path)
    name, change = DAMAGE[damage]
    if change is None:
        np.savez(folder / name, curve=np.arange(5.0))  # a valid file, but not the arrays results.json lists
    else:
        (folder / name).write_bytes(change((folder / name).read_bytes()))
    with caplog.at_level("WARNING", logger="hw1core.store"):
        assert store.load("exp", "k") is None
    assert len(caplog.records) == 1 and str(folder / name) in caplog.records[0].getMessage()


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04truncated"])
def test_a_damaged_part_or_shared_model_is_computed_again(tmp_path, caplog, content):
    store, calls = Store(tmp_path), []
    compute = lambda: calls.append(1) or {"v": np.ones(3)}
    store.part("exp", "k", "run0", compute)
    store.shared("model", compute)
    (store.parts_folder("exp", "k") / "run0.npz").write_bytes(content)
    (store.root / "_shared" / "model.npz").write_bytes(content)
    with caplog.at_level("WARNING", logger="hw1core.store"):
        assert store.part("exp", "k", "run0", compute)["v"].sum() == 3
        assert store.shared("model", compute)["v"].sum() == 3
    assert len(calls) == 4 and len(caplog.records) == 2
    assert store.part("exp", "k", "run0", compute)["v"].sum() == 3 and len(calls) == 4  # rewritten whole


def test_a_damaged_cifar_cache_is_decoded_again(tmp_path, monkeypatch, caplog):
    from hw1core import data
    monkeypatch.setenv("HW1_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "data"
    for split, n in (("train", 2), ("test", 1)):
        for c in data.CIFAR_CLASSES:
            folder = root / "cifar10" / split / c
            folder.mkdir(parents=True)
            for i in range(n):
                from PIL import Image
                Image.new("RGB", (32, 32), (i * 40, 0, 0)).save(folder / f"{i}.png")
    first = data.cached_cifar_folder(root)
    [cache] = (tmp_path / "cache").glob("*.npz")
    np.savez(cache, train_x=np.zeros((3, 3, 32, 32)))  # readable, but not what the cache holds
    with caplog.at_level("WARNING", logger="hw1core.data"):
        again = data.cached_cifar_folder(root)
    assert len(caplog.records) == 1 and str(cache) in caplog.records[0].getMessage()
    assert all(np.array_equal(first[k], again[k]) for k in first)
