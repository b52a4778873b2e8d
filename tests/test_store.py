"""The store: any record saved and loaded from its fields alone, atomically, with damage treated as absence."""
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import pytest

from hw1core.context import Part
from hw1core.fingerprint import code_fingerprint
from hw1core.results import Dims
from hw1core.store import Provenance, Store, config_key, load_record, save_record


@dataclass(frozen=True)
class Inner:
    curve: Annotated[np.ndarray, Dims("epoch")]
    label: str


@dataclass(frozen=True)
class Record:
    steps: int
    loss: Annotated[np.ndarray, Dims("seed", "epoch")]
    spread: float
    names: list
    runs: pd.DataFrame
    inner: Inner


@dataclass(frozen=True)
class Other:
    steps: int


def record() -> Record:
    runs = pd.DataFrame({"model": ["p", "q"], "loss": [1.0, np.nan], "steps": [3, 4], "diverged": [False, True]})
    return Record(7, np.arange(6.0).reshape(2, 3), float("nan"), ["a", "b"], runs, Inner(np.ones(4, np.float32), "x"))


PROVENANCE = Provenance(1.5, "cpu", "abc123", "2026-12-01T00:00:00+00:00", {"epochs": 3})


def test_a_record_comes_back_field_for_field_with_its_dtypes(tmp_path):
    save_record(tmp_path / "r.npz", record())
    back = load_record(tmp_path / "r.npz", Record)
    assert back.steps == 7 and np.isnan(back.spread) and back.names == ["a", "b"]
    assert np.array_equal(back.loss, record().loss) and back.inner.curve.dtype == np.float32 and back.inner.label == "x"
    pd.testing.assert_frame_equal(back.runs, record().runs)
    assert not list(tmp_path.rglob("*.tmp"))


def test_an_array_without_the_dimensions_its_field_names_is_refused_on_save(tmp_path):
    bad = Record(1, np.zeros(3), 0.0, [], pd.DataFrame(), Inner(np.ones(4), "x"))
    with pytest.raises(ValueError, match=r"Record\.loss.*\(seed, epoch\)"):
        save_record(tmp_path / "r.npz", bad)


def test_a_result_and_its_provenance_round_trip_and_a_folder_without_the_result_is_ignored(tmp_path):
    store = Store(tmp_path)
    store.save("exp", "k1", record(), PROVENANCE)
    result, provenance = store.load("exp", "k1", Record)
    assert result.steps == 7 and provenance == PROVENANCE
    assert store.recorded("exp") == [("k1", PROVENANCE)]
    (store.folder("exp", "k1") / "result.npz").unlink()
    assert store.load("exp", "k1", Record) is None and store.recorded("exp") == []


def make_other(steps: int, calls: list, ctx=None) -> Other:
    calls.append(1)
    return Other(steps)


def test_parts_are_computed_once_then_dropped_on_save(tmp_path):
    store, calls = Store(tmp_path), []
    part = Part("run0", Other, functools.partial(make_other, 3, calls))
    assert store.part("exp", "k", part, lambda: part.compute(None)).steps == 3
    assert store.part("exp", "k", part, lambda: part.compute(None)).steps == 3
    assert len(calls) == 1
    store.save("exp", "k", Other(3), PROVENANCE)
    assert not store.parts_folder("exp", "k").exists()


def test_key_depends_on_config_and_code():
    fp = code_fingerprint("hw1core.experiments.simulate")
    assert config_key({"epochs": 1}, fp) == config_key({"epochs": 1}, fp)
    assert config_key({"epochs": 1}, fp) != config_key({"epochs": 2}, fp)
    assert config_key({"epochs": 1}, fp) != config_key({"epochs": 1}, "other-code")


def make_shared(steps: int, calls: list, ctx=None) -> Other:
    return make_other(steps, calls)


make_shared.__module__ = "hw1core.recipes"  # a shared model is keyed by the code of the module that trains it


def test_a_shared_part_is_computed_once_for_every_experiment_and_kept(tmp_path):
    store, calls = Store(tmp_path), []
    part = Part("model", Other, functools.partial(make_shared, 1, calls), shared={"m": 1})
    store.part("interpolation", "k1", part, lambda: part.compute(None))
    store.part("sensitivity", "k2", part, lambda: part.compute(None))  # another experiment asks for the same spec
    assert len(calls) == 1
    store.save("interpolation", "k1", Other(1), PROVENANCE)
    assert store.part_path("sensitivity", "k2", part).is_file()  # not one experiment's to drop
    other = Part("model", Other, functools.partial(make_shared, 1, calls), shared={"m": 2})
    assert store.part_path("x", "k", other) != store.part_path("x", "k", part)


def test_forget_drops_an_experiments_parts_and_the_shared_models_it_needs(tmp_path):
    store, calls = Store(tmp_path), []
    model = Part("model", Other, functools.partial(make_shared, 1, calls), shared={"m": 1})
    measured = Part("measured", Other, functools.partial(make_other, 2, calls), needs=(model,))
    for p in (model, measured):
        store.part("sensitivity", "k", p, lambda: p.compute(None))
    store.forget("sensitivity", "k", [measured])
    assert not store.part_path("sensitivity", "k", model).exists()
    assert not store.part_path("sensitivity", "k", measured).exists()


def stored(tmp_path) -> tuple[Store, Path]:
    store = Store(tmp_path)
    store.save("exp", "k", record(), PROVENANCE)
    return store, store.folder("exp", "k")


DAMAGE = {
    "result.npz truncated": ("result.npz", lambda b: b[: len(b) // 2]),
    "result.npz not a zip": ("result.npz", lambda b: b"hello"),
    "result.npz other arrays": ("result.npz", lambda b: None),
    "result.npz another record": ("result.npz", lambda b: "other"),
    "provenance.json truncated": ("provenance.json", lambda b: b[: len(b) // 2]),
    "provenance.json valid JSON, not a record": ("provenance.json", lambda b: b"[1, 2, 3]"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_result_is_absent_with_one_warning_naming_the_file(tmp_path, caplog, damage):
    store, folder = stored(tmp_path)
    name, change = DAMAGE[damage]
    changed = change((folder / name).read_bytes())
    if changed is None:
        np.savez(folder / name, curve=np.arange(5.0))  # a valid file, but not a stored record
    elif changed == "other":
        save_record(folder / name, Other(3))  # a valid record of other fields
    else:
        (folder / name).write_bytes(changed)
    with caplog.at_level("WARNING", logger="hw1core.store"):
        assert store.load("exp", "k", Record) is None
    assert len(caplog.records) == 1 and str(folder / name) in caplog.records[0].getMessage()


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04truncated"])
def test_a_damaged_part_or_shared_model_is_computed_again(tmp_path, caplog, content):
    store, calls = Store(tmp_path), []
    run0 = Part("run0", Other, functools.partial(make_other, 1, calls))
    model = Part("model", Other, functools.partial(make_shared, 1, calls), shared={"m": 1})
    get = lambda p: store.part("exp", "k", p, lambda: p.compute(None))
    get(run0), get(model)
    (store.parts_folder("exp", "k") / "run0.npz").write_bytes(content)
    [shared] = (store.root / "_shared").glob("*.npz")
    shared.write_bytes(content)
    with caplog.at_level("WARNING", logger="hw1core.store"):
        assert get(run0).steps == 1 and get(model).steps == 1
    assert len(calls) == 4 and len(caplog.records) == 2
    assert get(run0).steps == 1 and len(calls) == 4  # rewritten whole


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
