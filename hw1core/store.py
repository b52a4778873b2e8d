"""The result store. Any record (a frozen dataclass of arrays, tables and JSON values: an experiment's Result, one
finished part of it, a shared model) is one .npz file, written under a temp name and renamed into place, so a file
that exists is complete. Its manifest (each field's kind, shape and dtype) travels inside it and is checked on load.

    runs/<experiment>/<key>/result.npz       the experiment's Result (written last: it marks a complete result)
    runs/<experiment>/<key>/provenance.json  the build's record of it (time, device, commit, config)
    runs/<experiment>/<key>.parts/<name>.npz finished parts of an experiment still in progress
    runs/_shared/<key>.npz                   models several experiments analyse, trained once per spec
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np
import pandas as pd

from .errors import OutputError
from .fingerprint import code_fingerprint
from .results import Dims

log = logging.getLogger(__name__)
T = TypeVar("T")
FIELDS = "__fields__"  # the npz member holding the manifest and the JSON values


def config_key(config: dict, fingerprint: str) -> str:
    """A store key: the resolved config and the fingerprint of the code that computes with it."""
    canonical = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(f"{canonical}|{fingerprint}".encode()).hexdigest()[:16]


def to_jsonable(obj: Any) -> Any:
    """numpy scalars and arrays, tuples and nested dataclasses inside values become plain Python."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


@dataclass(frozen=True)
class Provenance:
    """The build's record of one stored result."""
    wall_s: float  # seconds the computation took
    device: str
    commit: str  # of the build that computed it
    finished: str  # UTC, ISO 8601
    config: dict  # the resolved settings it was computed with (kept for people; the key already covers them)
    # seconds each part this build computed for it took, by part name: a shared model under the first experiment
    # that listed it; parts stored by an earlier build are not in it
    part_s: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> "Provenance":
        """The record in `data`; a missing field without a default raises TypeError (an unreadable record)."""
        if not isinstance(data, dict):
            raise TypeError("not a provenance record")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class Damaged(ValueError):
    """A stored file that reads, but not as what the store wrote."""


def array_dims(cls: type) -> dict[str, tuple[str, ...]]:
    """Field name -> dimension names, for every field of a record class annotated with `Dims`."""
    hints = typing.get_type_hints(cls, include_extras=True)
    out = {}
    for name, hint in hints.items():
        for extra in getattr(hint, "__metadata__", ()):
            if isinstance(extra, Dims):
                out[name] = extra.names
    return out


def check_dims(record: Any) -> None:
    """Raise ValueError when an array's number of dimensions differs from the names its field declares."""
    for name, dims in array_dims(type(record)).items():
        shape = getattr(getattr(record, name), "shape", None)
        if shape is None or len(shape) != len(dims):
            raise ValueError(f"{type(record).__qualname__}.{name}: shape {shape} does not have the dimensions "
                             f"({', '.join(dims)}) its field declares")


def record_arrays(record: Any) -> dict[str, np.ndarray]:
    """A record as npz members: each array field, each table column as `<field>/<column>`, nested records as
    `<field>.<their fields>`, and the manifest with the JSON values under FIELDS."""
    arrays: dict[str, np.ndarray] = {}
    manifest, values = encode(record, "", arrays)
    arrays[FIELDS] = np.array(json.dumps({"manifest": manifest, "values": values}, allow_nan=True))
    return arrays


def encode(record: Any, prefix: str, arrays: dict[str, np.ndarray]) -> tuple[dict[str, list], dict[str, Any]]:
    check_dims(record)
    manifest: dict[str, list] = {}
    values: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value, member = getattr(record, f.name), prefix + f.name
        if isinstance(value, np.ndarray):
            arrays[member] = value
            manifest[f.name] = ["array", list(value.shape), str(value.dtype)]
        elif isinstance(value, pd.DataFrame):
            columns = {}
            for column in value.columns:
                cells = value[column].to_numpy()
                cells = cells.astype(str) if cells.dtype == object else cells  # text columns, stored without pickle
                arrays[f"{member}/{column}"] = cells
                columns[str(column)] = str(cells.dtype)
            manifest[f.name] = ["table", columns, len(value)]
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            sub_manifest, values[f.name] = encode(value, member + ".", arrays)
            manifest[f.name] = ["record", sub_manifest]
        else:
            values[f.name] = to_jsonable(value)
            manifest[f.name] = ["value"]
    return manifest, values


def record_from_arrays(cls: type[T], arrays: dict[str, np.ndarray]) -> T:
    """The record `record_arrays` wrote; Damaged when the file's fields or arrays are not what `cls` declares."""
    if FIELDS not in arrays:
        raise Damaged("not a stored record")
    stored = json.loads(str(arrays[FIELDS]))
    members = {FIELDS}
    record = decode(cls, stored["manifest"], stored["values"], "", arrays, members)
    if set(arrays) != members:
        raise Damaged("it holds other arrays than its manifest lists")
    return record


def decode(cls: type[T], manifest: dict, values: dict, prefix: str, arrays: dict[str, np.ndarray],
           members: set[str]) -> T:
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    if list(manifest) != names:
        raise Damaged(f"its fields are not those of {cls.__qualname__}")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, (kind, *spec) in manifest.items():
        member = prefix + name
        if kind == "array":
            kwargs[name] = arrays[member]
            members.add(member)
            if [list(kwargs[name].shape), str(kwargs[name].dtype)] != spec:
                raise Damaged(f"array {member} is not the shape and dtype its manifest lists")
        elif kind == "table":
            columns, rows = spec
            kwargs[name] = pd.DataFrame({c: arrays[f"{member}/{c}"] for c in columns}, columns=list(columns))
            members.update(f"{member}/{c}" for c in columns)
            if columns and len(kwargs[name]) != rows:
                raise Damaged(f"table {member} does not have the {rows} rows its manifest lists")
        elif kind == "record":
            kwargs[name] = decode(hints[name], spec[0], values[name], member + ".", arrays, members)
        else:
            kwargs[name] = values[name]
    return cls(**kwargs)


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write through a temp file in the same folder, then rename into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a stored result is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_record(path: Path, record: Any) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **record_arrays(record))  # type: ignore[arg-type]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, write)


def load_record(path: Path, cls: type[T]) -> T:
    """The record in `path`, read in full (so a damaged member fails here, not later)."""
    with np.load(path, allow_pickle=False) as z:
        return record_from_arrays(cls, {k: z[k] for k in z.files})


def ignored(path: Path, exc: BaseException) -> None:
    reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
    log.warning("warning: ignoring unreadable %s (%s); it will be computed again", path, reason)


def cached_record(path: Path, cls: type[T], compute: Callable[[], T]) -> T:
    """The record in `path` if it holds a complete one, else computed and written there atomically."""
    if path.is_file():
        try:
            return load_record(path, cls)
        except Exception as exc:  # a damaged file of any kind is computed again
            ignored(path, exc)
    record = compute()
    try:
        save_record(path, record)
    except OSError as exc:
        raise OutputError(f"cannot store a finished run in {path.parent}: {exc.strerror or exc}") from None
    return record


class Store:
    def __init__(self, root: Path):
        self.root = Path(root) / "runs"

    def remove_temp_files(self) -> int:
        """Delete temp files a killed build left behind (a build holds the store alone while it runs)."""
        stale = list(self.root.rglob(".*.tmp")) if self.root.is_dir() else []
        for path in stale:
            path.unlink(missing_ok=True)
        return len(stale)

    def folder(self, exp_id: str, key: str) -> Path:
        return self.root / exp_id / key

    def provenance(self, exp_id: str, key: str) -> Provenance | None:
        """The build's record of a stored result, or None when absent or unreadable."""
        path = self.folder(exp_id, key) / "provenance.json"
        try:
            return Provenance.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def load(self, exp_id: str, key: str, cls: type[T]) -> tuple[T, Provenance] | None:
        """A stored result and its provenance, or None when absent, incomplete or damaged in any way."""
        folder = self.folder(exp_id, key)
        if not (folder / "result.npz").is_file():
            return None
        provenance = self.provenance(exp_id, key)
        if provenance is None:
            ignored(folder / "provenance.json", Damaged("missing or not a provenance record"))
            return None
        try:
            return load_record(folder / "result.npz", cls), provenance
        except Exception as exc:  # whatever the file holds, a damaged result is treated as absent
            ignored(folder / "result.npz", exc)
            return None

    def save(self, exp_id: str, key: str, result: Any, provenance: Provenance) -> None:
        """Provenance first, then the result as the completion marker; drop the finished parts."""
        folder = self.folder(exp_id, key)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            text = json.dumps(to_jsonable(provenance), indent=1, allow_nan=True)
            atomic_write(folder / "provenance.json", lambda tmp: tmp.write_text(text, encoding="utf-8"))
            save_record(folder / "result.npz", result)
        except OSError as exc:
            raise OutputError(f"cannot store results of {exp_id} in {folder}: {exc.strerror or exc}") from None
        shutil.rmtree(self.parts_folder(exp_id, key), ignore_errors=True)

    def recorded(self, exp_id: str) -> list[tuple[str, Provenance]]:
        """(key, provenance) of every complete result of an experiment, newest first."""
        found = []
        for folder in (self.root / exp_id).glob("*/") if (self.root / exp_id).is_dir() else []:
            p = self.provenance(exp_id, folder.name)
            if p is not None and (folder / "result.npz").is_file():
                found.append((folder.name, p))
        return sorted(found, key=lambda kp: kp[1].finished, reverse=True)

    def parts_folder(self, exp_id: str, key: str) -> Path:
        return self.root / exp_id / f"{key}.parts"

    def part_path(self, exp_id: str, key: str, part: Any) -> Path:
        """Where a part (hw1core/context.py's Part) of experiment `exp_id` at `key` is stored: in the experiment's
        parts folder until the experiment is stored, or, for a shared model, under _shared, keyed by its spec and
        the code of its module, for every experiment that asks for the same spec."""
        if part.shared is not None:
            return self.root / "_shared" / f"{config_key(part.shared, code_fingerprint(part.module))}.npz"
        return self.parts_folder(exp_id, key) / f"{part.name}.npz"

    def forget(self, exp_id: str, key: str, parts: list[Any]) -> None:
        """Drop the stored parts of a forced experiment (its shared models too), so that this build computes them."""
        shutil.rmtree(self.parts_folder(exp_id, key), ignore_errors=True)
        for part in parts:
            for p in part.with_needs:
                if p.shared is not None:
                    self.part_path(exp_id, key, p).unlink(missing_ok=True)

    def part(self, exp_id: str, key: str, part: Any, compute: Callable[[], T]) -> T:
        """The part's record, computed once and kept (a shared model for good, others until the experiment is
        stored)."""
        return cached_record(self.part_path(exp_id, key, part), part.cls, compute)
