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


class Slots(Protocol):
    """The part of the store a computation writes to (hw1core/store.py's Store)."""

    def part(self, exp_id: str, key: str, name: str, cls: type[T], compute: Callable[[], T]) -> T: ...

    def shared(self, spec: dict, cls: type[T], compute: Callable[[], T], force: bool) -> T: ...


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
    force: bool = False  # retrain the shared models this experiment uses, once per build
    inputs: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # (config, Result) of experiments it reads

    def dataset(self, name: str) -> tuple[data.Split, data.Split]:
        """("MNIST" | "CIFAR-10") train and test splits on the device, loaded once per build."""
        return dataset_on(name, self.data_dir, str(self.device))

    def input(self, exp_id: str, config: type[C], result: type[T]) -> tuple[C, T]:
        """The config and Result of experiment `exp_id`, which the build computed or loaded before this one."""
        if exp_id not in self.inputs:
            raise KeyError(f"{self.exp_id} reads {exp_id}'s result, which its module does not list in INPUTS")
        cfg, res = self.inputs[exp_id]
        if not (isinstance(cfg, config) and isinstance(res, result)):
            raise TypeError(f"{self.exp_id} reads {exp_id}'s {config.__qualname__} and {result.__qualname__}")
        return cfg, res

    def part(self, name: str, cls: type[T], compute: Callable[[], T]) -> T:
        """A finished part kept in the store, so that a killed build loses at most the part in progress."""
        return self.slots.part(self.exp_id, self.key, name, cls, compute)

    def shared(self, spec: dict, cls: type[T], compute: Callable[[], T]) -> T:
        """A model trained to `spec` by `compute`, shared by every experiment that asks for the same spec."""
        return self.slots.shared(spec, cls, compute, self.force)
