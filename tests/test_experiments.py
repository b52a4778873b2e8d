"""Compute stages on small real inputs: what they record and how they summarise seeds."""
import math
from types import SimpleNamespace

import numpy as np
import torch

from hw1core.experiments import optimization_path, simulate

CPU = SimpleNamespace(device=torch.device("cpu"))


def test_optimization_path_always_records_the_final_weights():
    cfg = optimization_path.Config(model="MLP-middle", runs=2, epochs=4, every=3, batch_size=100, n_points=100)
    out = optimization_path.train_runs(cfg, CPU)
    assert out["epochs"].tolist() == [0, 3, 4]  # start, every 3 epochs, and the last epoch although 4 % 3 != 0
    assert out["whole"].shape == (2, 3, 2) and out["metric"].shape == (2, 3)


def test_seed_spread_is_the_sample_standard_deviation_over_finite_seeds():
    mean, sd = simulate.seed_spread(np.array([1.0, 2.0, 3.0, np.nan]))
    assert mean == 2.0 and sd == 1.0  # ddof 1; the population sd would be 0.816
    assert math.isnan(simulate.seed_spread(np.array([5.0]))[1])  # one seed has no spread
    assert all(math.isnan(v) for v in simulate.seed_spread(np.array([np.nan, np.nan])))
