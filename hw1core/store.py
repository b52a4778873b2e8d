"""The result store: out/runs/<experiment>/<key>/ with results.json (the completion marker) and arrays.npz."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .errors import OutputError
from .results import Results

log = logging.getLogger(__name__)


def config_key(config: dict, fingerprint: str) -> str:
    """The store key: the resolved config and the fingerprint of the code that computes with it."""
    canonical = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(f"{canonical}|{fingerprint}".encode()).hexdigest()[:16]


def to_jsonable(obj):
    """numpy scalars and arrays inside values become plain Python."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
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


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    atomic_write(path, write)


def save_json(path: Path, data: dict) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(to_jsonable(data), indent=1, allow_nan=True)))


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz file, read in full (so a damaged member fails here, not later)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def manifest(arrays: dict[str, np.ndarray]) -> dict[str, list]:
    """Name → [shape, dtype] of each array, kept in results.json to check arrays.npz against."""
    return {k: [list(v.shape), str(v.dtype)] for k, v in arrays.items()}


def ignored(path: Path, exc: BaseException) -> None:
    reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
    log.warning("warning: ignoring unreadable %s (%s); it will be computed again", path, reason)


class Damaged(ValueError):
    """A stored file that reads, but not as what the store wrote."""


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

    def load(self, exp_id: str, key: str) -> Results | None:
        """Stored results, or None when absent, incomplete (no results.json marker) or damaged in any way."""
        folder = self.folder(exp_id, key)
        marker, npz = folder / "results.json", folder / "arrays.npz"
        if not marker.is_file():
            return None
        path = marker
        try:  # whatever the files hold, a damaged result is treated as absent
            data = json.loads(marker.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not {"values", "tables", "meta", "arrays"} <= data.keys():
                raise Damaged("not a stored result")
            tables = {name: pd.DataFrame.from_records(rows) for name, rows in data["tables"].items()}
            path = npz
            arrays = load_npz(npz)
            if manifest(arrays) != data["arrays"]:
                raise Damaged("its arrays differ from the ones results.json lists")
        except Exception as exc:
            ignored(path, exc)
            return None
        return Results(data["values"], arrays, tables, data["meta"])

    def save(self, exp_id: str, key: str, results: Results) -> None:
        """Write arrays, then results.json last as the completion marker; drop the per-run parts."""
        folder = self.folder(exp_id, key)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            save_npz(folder / "arrays.npz", results.arrays)
            tables = {n: t.to_dict(orient="records") for n, t in results.tables.items()}
            save_json(folder / "results.json", {"values": results.values, "tables": tables, "meta": results.meta,
                                                "arrays": manifest(results.arrays)})
        except OSError as exc:
            raise OutputError(f"cannot store results of {exp_id} in {folder}: {exc.strerror or exc}") from None
        shutil.rmtree(self.parts_folder(exp_id, key), ignore_errors=True)

    def parts_folder(self, exp_id: str, key: str) -> Path:
        return self.root / exp_id / f"{key}.parts"

    def part(self, exp_id: str, key: str, name: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """One finished run of a long experiment, computed once and kept until the whole experiment is stored."""
        return cached_npz(self.parts_folder(exp_id, key) / f"{name}.npz", compute)

    def drop_shared(self, name: str) -> None:
        (self.root / "_shared" / f"{name}.npz").unlink(missing_ok=True)

    def shared(self, name: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """A trained model that several experiments use (same training spec), computed once per output folder."""
        return cached_npz(self.root / "_shared" / f"{name}.npz", compute)


def cached_npz(path: Path, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Arrays from `path` if it holds a complete file, else computed and written there atomically."""
    if path.is_file():
        try:
            return load_npz(path)
        except Exception as exc:  # a damaged file of any kind is computed again
            ignored(path, exc)
    arrays = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_npz(path, arrays)
    except OSError as exc:
        raise OutputError(f"cannot store a finished run in {path.parent}: {exc.strerror or exc}") from None
    return arrays
