"""The interpolation section over several seeds: counts over the seeds rather than one seed's verdict, and seeds whose
end failed to train left out of the figures and the counts."""
import numpy as np

import fakes
from report.format import render_finding
from report.sections import SECTIONS

SECTION = SECTIONS["interpolation"]
ALPHA = np.linspace(-0.5, 1.5, 9)  # α = 0 at index 2, α = 1 at index 6; 0.25, 0.5, 0.75 lie between the models
# Training loss along the line, 1 at both ends:
BARRIER_SHARP_END = [2, 1.5, 1, 1.5, 2, 1.8, 1, 1.8, 2]  # rises to 2 in between; steeper around α = 1 (0.8 vs 0.5)
BARRIER_SHARP_START = [2, 1.9, 1, 1.5, 2, 1.5, 1, 1.2, 2]  # rises to 2 in between; steeper around α = 0 (0.7 vs 0.35)
CONNECTED_SHARP_END = [2, 1.3, 1, 0.9, 0.8, 0.9, 1, 1.7, 2]  # dips in between; steeper around α = 1 (0.3 vs 0.1)
AT_CHANCE = np.log(10), 0.1


def findings(cfg, res) -> dict[str, str]:
    return {f.name: render_finding(f) for f in SECTION.findings(cfg, res)}


def test_seeds_that_disagree_give_counts_not_one_verdict():
    cfg, res = fakes.interpolation_result(ALPHA, np.array([BARRIER_SHARP_END, BARRIER_SHARP_START,
                                                           CONNECTED_SHARP_END]))
    text = findings(cfg, res)
    barrier = text["barrier.batch"]
    assert "a barrier between the two models in 2 of 3 seeds (seeds 0 and 1; height 1 above the worse end)" in barrier
    assert "none in 1 (seed 2;" in barrier
    assert "these seeds cannot tell whether a barrier separates the two minima" in barrier  # the height's t-test
    assert "indistinguishable from no barrier at this scale" in barrier
    assert "in every seed" not in barrier
    curvature = text["end-curvature.batch"]
    assert "in 2 of 3 seeds the batch 1024 end sits in the sharper basin, and in 1 the batch 64 end" in curvature
    assert "Keskar" not in curvature  # the large-batch end is not the sharper one in every seed
    agreeing = findings(*fakes.interpolation_result(ALPHA, np.array([BARRIER_SHARP_END, CONNECTED_SHARP_END])))
    # both seeds agree, but their rises (0.1 and 0.5 at batch 64, 0.3 and 0.8 at batch 1024) overlap: no literature
    assert "in 2 of 2 seeds the batch 1024 end sits in the sharper basin." in agreeing["end-curvature.batch"]
    assert "are indistinguishable at this scale (paired t-test over the seeds" in agreeing["end-curvature.batch"]
    assert "Keskar" not in agreeing["end-curvature.batch"]
    clear = findings(*fakes.interpolation_result(ALPHA, np.array([CONNECTED_SHARP_END] * 3)))
    assert "in 3 of 3 seeds the batch 1024 end sits in the sharper basin, as Keskar et al. (2017)" in \
        clear["end-curvature.batch"]
    assert "Keskar" not in clear["end-curvature.lr"]  # the note is about batch size only


def test_a_seed_whose_end_is_at_chance_is_marked_failed_and_left_out():
    end_loss, end_acc = np.ones((3, 2)), np.ones((3, 2))
    end_loss[2, 1], end_acc[2, 1] = AT_CHANCE  # seed 2's batch-1024 (and lr-0.01) model ended at chance
    loss = np.array([CONNECTED_SHARP_END, CONNECTED_SHARP_END, BARRIER_SHARP_START])
    cfg, res = fakes.interpolation_result(ALPHA, loss, end_loss, end_acc)

    table = SECTION.tables(cfg, res)[0].frame
    batch = table[table["pair"] == "batch"].set_index(["seed", "model"])["state"]
    assert batch[2, "batch 1024"] == "failed to train"
    assert (batch.drop((2, "batch 1024")) == "trained").all()

    text = findings(cfg, res)
    assert "1 of 3 seeds has an end that failed to train (seed 2: batch 1024)" in text["failed.batch"]
    # seed 2 alone has a barrier and a sharper batch-64 end; left out, neither shows up in the counts
    assert ("no barrier between the two models in 2 of the 2 seeds that trained" in text["barrier.batch"] and
            "a barrier" not in text["barrier.batch"])
    assert ("in 2 of the 2 seeds that trained the batch 1024 end sits in the sharper basin" in
            text["end-curvature.batch"] and "batch 64 end sits" not in text["end-curvature.batch"])

    fig = SECTION.figures(cfg, res)[0]
    assert "2 of 3 seeds that trained" in fig.caption and "seed 2 failed to train" in fig.caption
    mean_train_loss = fig.figure.axes[0].lines[0].get_ydata()  # the first band drawn: training loss
    assert np.allclose(mean_train_loss, CONNECTED_SHARP_END)  # the mean over seeds 0 and 1 only


def test_setup_states_the_seeds_and_the_failed_run_rule():
    from report.training import FAILED_RULE
    cfg, _ = fakes.interpolation_result(ALPHA, np.array([BARRIER_SHARP_END] * 3))
    rows = dict(SECTION.setup(cfg))
    assert rows["Seeds"].startswith("3 (seeds 0, 1 and 2)") and "initialisation" in rows["Seeds"]
    assert FAILED_RULE in rows["Failed runs"]


def test_sharpness_at_each_ends_own_scale_can_reverse_the_raw_comparison():
    # CONNECTED_SHARP_END rises 0.1 beside α = 0 and 0.3 beside α = 1 (step 0.25, the ends 1 apart); with α = 1's
    # weights half as large, its relative step is twice as long, so its rise per squared step is 0.3 / 0.05² against
    # 0.1 / 0.025² at α = 0: the α = 0 end is the sharper one at its own scale; at 1/√3 of the norm the two match
    loss = np.array([CONNECTED_SHARP_END] * 3)
    norms = np.array([[10.0, 5.0]] * 3) * np.array([[1.0], [1.01], [0.99]])  # seeds differ a little
    text = findings(*fakes.interpolation_result(ALPHA, loss, end_weight_norm=norms))["end-curvature.batch"]
    assert "the batch 1024 end sits in the sharper basin" in text  # the raw rises
    assert "One grid step is 2.48 to 2.53 % of the first end's norm and 4.95 to 5.05 % of the second's" in text
    assert ("the batch 64 end is the sharper one at its own scale, so the raw difference may follow the ends' scales "
            "rather than their basins (a hypothesis") in text
    equal = findings(*fakes.interpolation_result(ALPHA, loss, end_weight_norm=np.array([[10.0, 10 / 3 ** 0.5 * (1 + d)] for d in (0.01, -0.01, 0.0)])))
    assert "indistinguishable at this scale (paired t-test, p = " in equal["end-curvature.batch"]
