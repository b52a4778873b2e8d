"""What computing hands to reporting. Each compute module declares its `Result`, a frozen dataclass of what it
measured: arrays (annotated with the names of their dimensions), scalars, tables of raw measurements, and the number
of training steps it ran. The store saves and loads any such record from its fields alone (hw1core/store.py).

Where, when and how fast a result was computed is the build's `Provenance`, stored beside the result, never in it.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Dims:
    """The names of an array's dimensions, in order: `Annotated[np.ndarray, Dims("seed", "epoch")]`."""
    names: tuple[str, ...]

    def __init__(self, *names: str) -> None:
        object.__setattr__(self, "names", names)


class Result(Protocol):
    """What every experiment's Result has besides its own fields."""
    steps: int  # training steps run to compute it (a shared model's steps counted by each experiment that uses it)


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


@dataclass(frozen=True)
class Provenance:
    """The build's record of one stored result."""
    wall_s: float  # seconds the computation took
    device: str
    commit: str  # of the build that computed it
    finished: str  # UTC, ISO 8601
    config: dict  # the resolved settings it was computed with (kept for people; the key already covers them)

    @classmethod
    def from_dict(cls, data: dict) -> "Provenance":
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})
