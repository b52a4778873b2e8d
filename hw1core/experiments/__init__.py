"""The experiment registry (its order is the report's order) and the context an experiment runs in."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np
import torch

from .. import data
from ..store import Store, code_fingerprint, config_key
from . import (actual_task, error_surface, grad_norm, interpolation, minimal_ratio, optimization_path, param_count,
               random_labels, sensitivity, sharpness, simulate)

REGISTRY = {m.ID: m for m in (simulate, actual_task, optimization_path, grad_norm, minimal_ratio, error_surface,
                              random_labels, param_count, interpolation, sensitivity, sharpness)}


@lru_cache(maxsize=None)
def _dataset(name: str, data_dir: str | None, device: str) -> tuple[data.Split, data.Split]:
    train, test = data.load_mnist(data_dir) if name == "MNIST" else data.load_cifar10(data_dir)
    return train.to(device), test.to(device)


@dataclass
class Context:
    """Where and how an experiment runs: the device, the data, and its slot in the store."""
    device: torch.device
    data_dir: str | None
    store: Store
    exp_id: str
    key: str
    force: bool = False  # retrain shared models too, once per build
    fresh: set = field(default_factory=set)  # shared models trained in this build (shared across contexts)

    def dataset(self, name: str) -> tuple[data.Split, data.Split]:
        """("MNIST" | "CIFAR-10") train and test splits on the device, loaded once per build."""
        return _dataset(name, self.data_dir, str(self.device))

    def shared(self, spec: dict, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """A model trained to `spec`, shared by every experiment that asks for the same spec."""
        key = config_key(spec, code_fingerprint())
        if self.force and key not in self.fresh:
            self.store.drop_shared(key)
        self.fresh.add(key)
        return self.store.shared(key, compute)

    def part(self, name: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """A finished run kept in the store, so that a killed build loses at most the run in progress."""
        return self.store.part(self.exp_id, self.key, name, compute)
