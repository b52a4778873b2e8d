"""Compute stages on small real inputs: what they record and how they summarise seeds."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
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


@pytest.mark.parametrize("arch", simulate.Config().models)
def test_every_default_simulate_model_learns_f1_within_seconds(arch):
    """The course's models leave the mean of f1 quickly (report R's 1→1 input layer kept most seeds there)."""
    from hw1core import data, engine
    x = torch.linspace(-1, 1, 300).unsqueeze(1)
    y = data.FUNCTIONS["f1"][1](x)
    ens = engine.Ensemble(arch, [0, 1, 2])
    hist = engine.train(ens, engine.Task(x, y), engine.TrainConfig(600, 64, 4e-4, 1e-4, loss="mse"))
    assert np.median(hist.train_loss[:, -1]) < 0.25 * float(y.var(unbiased=False))


def test_simulate_counts_the_seeds_that_stay_at_the_mean():
    from hw1core.results import Results
    from report.format import render_finding
    from report.sections import SECTIONS
    import pandas as pd
    rows = [{"function": "f1", "model": m, "params": 573, "final_loss_mean": v, "final_loss_sd": 0.0,
             "final_loss_median": v, "target_variance": 0.0869, "runs_at_mean": n, "converged_runs": 0, "runs": 3,
             "diverged_runs": 0, "converged_epoch_median": np.nan}
            for m, v, n in (("MLP-deep-r", 0.0869, 3), ("MLP-deep", 0.005, 0))]
    res = Results({"config": {"models": ["MLP-deep-r", "MLP-deep"], "converge_tol": 1e-6}}, {},
                  {"summary": pd.DataFrame(rows)})
    text = " ".join(render_finding(f) for f in SECTIONS["simulate"].findings(res))
    assert "3 of 3 seeds of MLP-deep-r (report R's variant, with a 1→1 input layer) stayed at the mean of f1" in text
    assert "seeds of MLP-deep " not in text
    table = SECTIONS["simulate"].tables(res)[0].frame
    assert table["seeds at the mean"].tolist() == ["3/3", "0/3"]
