"""Where and how a computation runs: the device, the data sets on it, and its slots in the store.

Every compute module takes a RunContext, so this module and the data loading it calls are part of every store key:
an edit to how data is loaded or placed reruns the experiments that use it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Protocol, TypeVar

import torch

from . import data

T = TypeVar("T")
C = TypeVar("C")


@dataclass(frozen=True, eq=False)  # compared by identity: its spec is a dict and its compute a partial
class Part:
    """One piece of an experiment that can be computed on its own: in the build's process, in another process or on
    another node, with the same result, because it is a function of its arguments and the code alone.

    An experiment lists its parts (`parts(cfg)`) before anything runs, so that the build can schedule them as jobs;
    its run() then assembles the stored parts. A part is stored as it finishes, so a killed build loses at most the
    parts in progress.
    """
    name: str  # unique within its experiment: its file in the experiment's parts folder
    cls: type  # the record compute returns
    compute: Callable[["RunContext"], Any]  # a module-level function (functools.partial): it is pickled to a worker
    shared: dict | None = None  # a model several experiments use: stored once per spec, under runs/_shared
    needs: tuple["Part", ...] = ()  # parts that must be stored before this one starts (the models it analyses)

    @property
    def with_needs(self) -> tuple["Part", ...]:
        """The parts it needs, then itself: everything that must be stored for it."""
        return (*self.needs, self)

    @property
    def module(self) -> str:
        """The module whose code the part runs: a shared part's store key covers it."""
        return getattr(self.compute, "func", self.compute).__module__


class Slots(Protocol):
    """The part of the store a computation writes to (hw1core/store.py's Store)."""

    def part(self, exp_id: str, key: str, part: Part, compute: Callable[[], T]) -> T: ...


@lru_cache(maxsize=None)
def dataset_on(name: str, data_dir: str | None, device: str) -> tuple[data.Split, data.Split]:
    train, test = data.load_mnist(data_dir) if name == "MNIST" else data.load_cifar10(data_dir)
    return train.to(device), test.to(device)


@dataclass
class RunContext:
    device: torch.device
    data_dir: str | None
    slots: Slots
    exp_id: str
    key: str
    inputs: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # (config, Result) of experiments it reads

    def dataset(self, name: str) -> tuple[data.Split, data.Split]:
        """("MNIST" | "CIFAR-10") train and test splits on the device, loaded once per process."""
        return dataset_on(name, self.data_dir, str(self.device))

    def input(self, exp_id: str, config: type[C], result: type[T]) -> tuple[C, T]:
        """The config and Result of experiment `exp_id`, which the build computed or loaded before this one."""
        if exp_id not in self.inputs:
            raise KeyError(f"{self.exp_id} reads {exp_id}'s result, which its module does not list in INPUTS")
        cfg, res = self.inputs[exp_id]
        if not (isinstance(cfg, config) and isinstance(res, result)):
            raise TypeError(f"{self.exp_id} reads {exp_id}'s {config.__qualname__} and {result.__qualname__}")
        return cfg, res

    def part(self, part: Part) -> Any:
        """The part's record: from the store when it is there, else computed here and stored."""
        return self.slots.part(self.exp_id, self.key, part, lambda: part.compute(self))
