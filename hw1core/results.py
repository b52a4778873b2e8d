"""What computing hands to reporting. Each compute module declares its `Result`, a frozen dataclass of what it
measured: arrays (annotated with the names of their dimensions), scalars, tables of raw measurements, and the number
of training steps it ran. The store saves and loads any such record from its fields alone, and checks every array
against the dimensions its field names (hw1core/store.py).

Where, when and how fast a result was computed is the build's `Provenance` (hw1core/store.py), stored beside the
result, never in it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dims:
    """The names of an array's dimensions, in order: `Annotated[np.ndarray, Dims("seed", "epoch")]`."""
    names: tuple[str, ...]

    def __init__(self, *names: str) -> None:
        object.__setattr__(self, "names", names)
