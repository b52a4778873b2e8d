"""Every sentence true to the data: findings fed numbers for which a claim is false must not make it, and figures say
what they plot."""
import numpy as np
import pandas as pd
import torch

from hw1core import data
from hw1core.experiments import error_surface
from hw1core.results import Results
from report.format import render_finding
from report.sections import SECTIONS

SURFACE = error_surface.Config(grid=5)


def texts(exp_id: str, res: Results) -> str:
    return " ".join(render_finding(f) for f in SECTIONS[exp_id].findings(res))


def test_error_surface_is_evaluated_on_the_models_own_training_images():
    n = 5000
    train = data.Split(torch.arange(n).view(n, 1, 1, 1), torch.zeros(n, dtype=torch.long))
    fit, ev = error_surface.training_sets(error_surface.Config(n_train=300, n_eval=100), train)
    assert len(fit.y) == 300 and len(ev.y) == 100
    assert set(ev.x.flatten().tolist()) <= set(fit.x.flatten().tolist())


def surface_results(center: float, grid_min: float, at: tuple[float, float]) -> Results:
    axis = np.linspace(-1, 1, 5)
    grid = np.full((5, 5), 3.0)
    grid[2, 2] = center
    grid[list(axis).index(at[0]), list(axis).index(at[1])] = grid_min
    values = {"config": {}, "evr": [0.6, 0.3], "center_loss": center, "grid_min": grid_min,
              "grid_min_at": list(at), "border_mean": 3.0, "grid_max": 3.0}
    arrays = {"random": grid, "axis": axis, "pca": grid, "a_axis": axis, "b_axis": axis,
              "path": np.array([[1.0, 1.0], [0.5, 0.2], [0.0, 0.0]])}
    return Results(values, arrays, {"surface": pd.DataFrame({"quantity": ["x"], "value": [1.0]})})


def test_error_surface_states_where_the_minimum_lies_without_claiming_why():
    lower = texts("error-surface", surface_results(1.0, 0.5, (0.5, -0.5)))
    assert "stopped short" not in lower and "optimiser" not in lower
    assert "(α, β) = (0.5, -0.5)" in lower and "50.0% below" in lower and "weight decay" in lower
    at_center = texts("error-surface", surface_results(1.0, 1.0, (0.0, 0.0)))
    assert "are the lowest point of the grid" in at_center and "at the bottom" not in at_center


def test_error_surface_colour_bar_is_in_cross_entropy_units():
    res = surface_results(1.0, 0.5, (0.5, -0.5))
    res.arrays["random"] = np.geomspace(0.5, 40.0, 25).reshape(5, 5)
    spec = SECTIONS["error-surface"].figures(res)[0]
    bar = spec.figure.axes[1]  # the colour bar's axes
    assert "cross-entropy" in bar.get_ylabel() and "log10" not in bar.get_ylabel()
    spec.figure.canvas.draw()
    low, high = bar.get_ylim()
    assert low >= 0.45 and high >= 35  # the bar's scale is the loss itself (0.5 … 40), not its logarithm (−0.3 … 1.6)
    labels = [t.get_text() for t in bar.get_yticklabels() if t.get_text()]
    assert labels and not any("^" in s or "10^" in s for s in labels)
