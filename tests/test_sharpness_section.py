"""The sharpness section: models that failed to train are marked and kept out of every trend, and each batch-size
sweep gets findings of its own."""
import math

import numpy as np
import pandas as pd

from hw1core.experiments import sharpness
from report.format import render_finding
from report.sections import sharpness as section

BATCHES = (16, 64, 256, 1024)
CHANCE = {"train_loss": math.log(10), "train_acc": 0.1, "test_loss": math.log(10), "test_acc": 0.1}


def sharpness_result(phi: dict[str, list[float]], gap: dict[str, list[float]], seeds: int = 3,
                     overrides: dict[tuple[str, int], dict] | None = None):
    """Both batch-size sweeps over BATCHES, `seeds` seeds each: model (sweep, batch i) has φ = phi[sweep][i] (plus
    0.01·seed, at every ε) and test − train loss = gap[sweep][i]; overrides[(sweep, batch)] replaces columns of that
    batch's models (every seed), e.g. CHANCE."""
    overrides = overrides or {}
    cfg = sharpness.Config()
    rows, values = [], []
    for sweep in sharpness.BATCH_SWEEPS:
        for seed in range(seeds):
            for i, b in enumerate(BATCHES):
                lr = 1e-3 if sweep == "batch" else 1e-3 * (b / 512) ** 0.5
                row = {"sweep": sweep, "seed": seed, "batch": b, "lr": lr, "diverged_epoch": 0, "train_loss": 0.5,
                       "test_loss": 0.5 + gap[sweep][i], "train_acc": 0.8, "test_acc": 0.7, "jacobian": 1.0 + i}
                rows.append(row | overrides.get((sweep, b), {}))
                values.append(phi[sweep][i] + 0.01 * seed)
    models = pd.DataFrame(rows)
    return cfg, sharpness.Result(0, models, np.array([values] * len(cfg.eps)))


def by_name(cfg, res) -> dict[str, str]:
    return {f.name: render_finding(f) for f in section.findings(cfg, res)}


def test_a_model_at_chance_is_marked_failed_and_left_out_of_the_trend():
    rising = [1.0, 2.0, 3.0, 0.0]  # batch 1024 ends at chance: a constant predictor, flat (φ ≈ 0)
    cfg, res = sharpness_result({"batch": rising, "scaled": [1.0, 2.0, 3.0, 4.0]},
                                {"batch": [0.1, 0.2, 0.3, 0.4], "scaled": [0.1, 0.2, 0.3, 0.4]},
                                overrides={("batch", 1024): CHANCE})
    fixed = res.models["sweep"] == "batch"
    from report.claims import trend
    counted = trend(np.log(res.models["batch"][fixed]), res.sharpness[0][fixed.to_numpy()])
    assert counted.relation == "no trend"  # counted, the failed model would hide the trend

    table = section.tables(cfg, res)[0].frame
    at_chance = (table["sweep"] == "fixed lr") & (table["batch"] == 1024)
    assert (table["state"][at_chance] == "failed to train").all() and at_chance.sum() == 3
    assert (table["state"][~at_chance] == "trained").all()

    texts = by_name(cfg, res)
    trend = texts["sharpness-vs-batch.batch.0p001"]
    assert "sharpness rises with the batch size over the 9 models that trained" in trend
    assert "to 3.01 at batch 256" in trend  # the mean ends at the largest batch that trained
    assert "as Keskar et al. (2017) report" in trend
    assert texts["left-out.batch"] == ("With fixed lr, 3 of 12 models are left out of the means and trends: "
                                       "failed to train at batch 1024 (seeds 0, 1, 2).")
    assert "left-out.scaled" not in texts

    fig = section.figures(cfg, res)[0].figure
    fixed_phi = fig.axes[0]
    assert [t.get_text() for t in fixed_phi.texts] == ["failed to train"]
    assert {b for line in fixed_phi.get_lines() if line.get_linestyle() == ":" for b in line.get_xdata()} == {1024}
    assert all(set(np.atleast_1d(line.get_xdata())) <= {16, 64, 256} for line in fixed_phi.get_lines()
               if line.get_linestyle() != ":")


def test_each_sweep_gets_its_own_correlations_and_a_comparison():
    # fixed lr: φ rises with the batch while the gap shrinks; scaled lr: φ falls with the batch and tracks the gap
    cfg, res = sharpness_result({"batch": [1.0, 2.0, 3.0, 4.0], "scaled": [4.0, 3.0, 2.0, 1.0]},
                                {"batch": [0.4, 0.3, 0.2, 0.1], "scaled": [0.4, 0.3, 0.2, 0.1]})
    found = {f.name: f for f in section.findings(cfg, res)}
    for sweep in sharpness.BATCH_SWEEPS:
        rows = (res.models["sweep"] == sweep).to_numpy()
        phi = pd.Series(res.sharpness[0][rows])
        m = res.models[rows].reset_index(drop=True)
        assert math.isclose(found[f"sharpness-vs-batch.{sweep}.0p001"].values["r"],
                            np.log(m["batch"]).corr(phi, method="spearman"))
        assert math.isclose(found[f"sharpness-vs-gap.{sweep}"].values["r"],
                            phi.corr(m["test_loss"] - m["train_loss"], method="spearman"))
    assert [c.relation for c in found["sharpness-vs-batch.batch.0p001"].claims] == ["rising"]
    assert [c.relation for c in found["sharpness-vs-batch.scaled.0p001"].claims] == ["falling"]
    assert found["sharpness-vs-batch.batch.0p001"].values["p"] < 0.05
    text = {n: render_finding(f) for n, f in found.items()}
    assert text["sharpness-vs-batch.batch.0p001"].startswith("With fixed lr (lr 0.001), at ε = 0.001, sharpness rises")
    assert text["sharpness-vs-batch.scaled.0p001"].startswith("With scaled lr (lr 0.000177 to 0.00141), at ε = "
                                                              "0.001, sharpness falls")
    assert "sharper models had the smaller gap" in text["sharpness-vs-gap.batch"]
    assert "sharper models had the larger gap" in text["sharpness-vs-gap.scaled"]
    compared = text["sharpness-vs-gap.compared"]
    assert "The fixed-lr sweep confounds batch size with the number of steps" in compared
    assert "batch 16 takes about 64× as many steps as batch 1024" in compared
    assert "Where training is matched, sharpness at ε = 0.001 tracks the gap" in compared  # equal training losses
    assert "at a fixed lr it is anti-correlated with the gap" in compared
    assert "the two sweeps show opposite relations" in compared
    names = [f.name for f in section.findings(cfg, res)]
    assert len(names) == len(set(names))  # names are unique


def test_no_correlation_is_stated_over_fewer_than_three_trained_models():
    cfg, res = sharpness_result({"batch": [1.0, 2.0, 3.0, 4.0], "scaled": [1.0, 2.0, 3.0, 4.0]},
                                {"batch": [0.1, 0.2, 0.3, 0.4], "scaled": [0.1, 0.2, 0.3, 0.4]}, seeds=1,
                                overrides={("scaled", 256): CHANCE, ("scaled", 1024): {"diverged_epoch": 2,
                                                                                      "train_loss": np.nan,
                                                                                      "jacobian": np.nan}})
    texts = by_name(cfg, res)
    assert "sharpness-vs-batch.batch.0p001" in texts and "sharpness-vs-gap.batch" in texts
    assert [n for n in texts if n.startswith("sharpness-vs-") and ".scaled" in n] == []  # 2 trained: no trend
    assert "sharpness-vs-gap.compared" not in texts
    assert texts["left-out.scaled"].endswith("failed to train at batch 256 (seed 0); diverged (epoch 2) at batch 1024 "
                                             "(seed 0).")
    assert not any("n/a" in t or "nan" in t for t in texts.values())
    section.figures(cfg, res)  # renders with a sweep that has too few models for a trend


def test_the_scaled_sweep_is_called_matched_only_when_its_training_losses_are_no_more_spread():
    cfg, res = sharpness_result({"batch": [1.0, 2.0, 3.0, 4.0], "scaled": [1.0, 2.0, 3.0, 4.0]},
                                {"batch": [0.1, 0.2, 0.3, 0.4], "scaled": [0.1, 0.2, 0.3, 0.4]},
                                overrides={("scaled", 1024): {"train_loss": 1.5, "test_loss": 1.9}})
    compared = by_name(cfg, res)["sharpness-vs-gap.compared"]
    assert "Where training is matched" not in compared
    assert "yet its training losses span 0.5 to 1.5, more unequal (paired over the seeds, p = " in compared
    assert "so its training is not matched." in compared
    assert "the two sweeps agree" in compared


def test_one_seed_cannot_tell_whether_the_scaled_sweep_trained_more_evenly():
    cfg, res = sharpness_result({"batch": [1.0, 2.0, 3.0, 4.0], "scaled": [1.0, 2.0, 3.0, 4.0]},
                                {"batch": [0.1, 0.2, 0.3, 0.4], "scaled": [0.1, 0.2, 0.3, 0.4]}, seeds=1,
                                overrides={("scaled", 1024): {"train_loss": 1.5, "test_loss": 1.9}})
    compared = by_name(cfg, res)["sharpness-vs-gap.compared"]
    assert "one seed cannot tell whether that is more or less unequal" in compared
    assert "Where training is matched" not in compared and "n/a" not in compared
