import math

import numpy as np
import pytest
import torch

from hw1core import data, engine
from hw1core.experiments.grad_norm import step_recorder


def fit_data(n=64):
    x = torch.linspace(-1, 1, n).unsqueeze(1)
    return x, torch.sinc(5 * x)


def test_stacked_members_match_separate_runs():
    """Full-batch MSE (order-free): K stacked members must follow K separate Adam runs."""
    x, y = fit_data()
    cfg = engine.TrainConfig(epochs=30, batch_size=64, lr=1e-2, weight_decay=1e-4, loss="mse")
    stacked = engine.Ensemble("MLP-middle", [0, 1, 2])
    engine.train(stacked, engine.Task(x, y), cfg)
    for k, seed in enumerate([0, 1, 2]):
        single = engine.Ensemble("MLP-middle", [seed])
        engine.train(single, engine.Task(x, y), cfg)
        assert torch.allclose(stacked.flat_params()[k], single.flat_params()[0], atol=1e-5)


def test_training_reduces_loss_and_counts_steps():
    x, y = fit_data(300)
    ens = engine.Ensemble("MLP-shallow", [0, 1])
    hist = engine.train(ens, engine.Task(x, y), engine.TrainConfig(epochs=40, batch_size=64, lr=1e-2, loss="mse"))
    assert hist.steps == 40 * 5
    assert (hist.train_loss[:, -1] < 0.6 * hist.train_loss[:, 0]).all()


def test_a_diverging_member_stops_alone():
    x, y = fit_data()
    targets = torch.stack([y, torch.full_like(y, math.inf)])
    task = engine.Task(x.expand(2, *x.shape), targets, per_member=True)
    hist = engine.train(engine.Ensemble("MLP-middle", [0, 1]), task,
                        engine.TrainConfig(epochs=5, batch_size=32, lr=1e-3, loss="mse"))
    assert hist.diverged_epoch.tolist() == [0, 1]
    assert np.isfinite(hist.train_loss[0]).all() and np.isnan(hist.train_loss[1]).all()


def test_all_diverged_stops_early():
    x, y = fit_data()
    task = engine.Task(x, torch.full_like(y, math.nan))
    hist = engine.train(engine.Ensemble("MLP-middle", [0]), task, engine.TrainConfig(epochs=50, batch_size=64, lr=1e-3, loss="mse"))
    assert hist.diverged_epoch.tolist() == [1] and hist.steps == 1


def test_cnn_learns_mnist_subset(mnist):
    train, test = mnist[0].subset(3000), mnist[1].subset(1000)
    task = engine.Task(train.x, train.y, test.x, test.y, data.image_transform(None, None, augment=False))
    hist = engine.train(engine.Ensemble("MNIST-CNN-3", [0]), task, engine.TrainConfig(epochs=2, batch_size=100, lr=1e-3))
    assert hist.test_acc[0, -1] > 0.6  # chance is 0.1
    loss, acc = engine.evaluate(engine.Ensemble("MNIST-CNN-3", [0]), test.x, test.y, task.transform)
    assert abs(loss[0] - math.log(10)) < 0.3 and acc[0] < 0.3  # untrained: near-uniform predictions


def test_member_loop_and_vmap_give_the_same_outputs(cifar):
    x = data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, False)(cifar[1].x[:8], False)
    looped = engine.Ensemble("CNN-21", [0, 1, 2], vectorize=False)
    mapped = engine.Ensemble("CNN-21", [0, 1, 2], vectorize=True)
    assert torch.allclose(looped(x, shared=True), mapped(x, shared=True), atol=1e-5)
    per_member = x[:6].view(3, 2, *x.shape[1:])
    assert torch.allclose(looped(per_member), mapped(per_member), atol=1e-5)


def test_step_schedule_matches_torch_steplr():
    cfg = engine.TrainConfig(epochs=7, batch_size=64, lr=0.3, step_size=3, gamma=0.5, loss="mse")
    x, y = fit_data()
    hist = engine.train(engine.Ensemble("MLP-shallow", [0]), engine.Task(x, y), cfg)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, cfg.step_size, cfg.gamma)
    expected = []
    for _ in range(cfg.epochs):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert np.allclose(hist.lr, expected)


def replayed_steps(monkeypatch, ens: engine.Ensemble, times: int = 1) -> list[int]:
    """Stand in for CUDA graph capture on the CPU: 'replay' calls the recorded step again, on gradients it first
    clears, as a graph's backward writes them anew. Returns a list whose length counts the replays. `times` > 1
    makes a wrong graph, one that replays the step more than once."""
    replays = []

    def capture(fn):
        def replay():
            for _ in range(times):
                for p in ens.params.values():
                    if p.grad is not None:
                        p.grad.zero_()
                fn()
            replays.append(1)
        return replay

    monkeypatch.setattr(engine, "cuda_graph", capture)
    return replays


def test_graph_replay_path_matches_the_plain_loop(monkeypatch):
    """Replays read a fixed index buffer and fixed totals: the results must equal the eager loop's exactly, with
    the last partial batch of each epoch in a graph of its own, the lr changed in place and a hook inside the step."""
    x, y = fit_data(300)
    task = engine.Task(x.expand(2, *x.shape), torch.stack([y, -y]), per_member=True)
    cfg = engine.TrainConfig(epochs=4, batch_size=64, lr=1e-2, step_size=2, gamma=0.5, weight_decay=1e-4, loss="mse")
    plain = engine.Ensemble("MLP-middle", [0, 1])
    plain_norms, _, hook = step_recorder(cfg.epochs * 5, "cpu")
    h_plain = engine.train(plain, task, cfg, graphs=False, step_hook=hook)
    graphed = engine.Ensemble("MLP-middle", [0, 1])
    replays = replayed_steps(monkeypatch, graphed)
    graph_norms, _, hook = step_recorder(cfg.epochs * 5, "cpu")
    h_graph = engine.train(graphed, task, cfg, graphs=True, step_hook=hook)
    assert len(replays) == h_graph.steps - 2 * 3  # each of the two batch sizes warms up for three steps
    assert torch.equal(plain.flat_params(), graphed.flat_params())
    assert (plain_norms > 0).all() and torch.equal(plain_norms, graph_norms)
    for name, values in h_plain.arrays().items():
        assert np.array_equal(values, h_graph.arrays()[name], equal_nan=True), name


def test_graph_replay_path_matches_the_plain_loop_with_augmentation(monkeypatch, cifar):
    train = cifar[0].subset(200)
    task = engine.Task(train.x, train.y, transform=data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, True))
    cfg = engine.TrainConfig(epochs=2, batch_size=32, lr=1e-3)
    plain = engine.Ensemble("CNN-21", [0, 1])
    engine.train(plain, task, cfg, graphs=False, seed=3)
    graphed = engine.Ensemble("CNN-21", [0, 1])
    replays = replayed_steps(monkeypatch, graphed)
    engine.train(graphed, task, cfg, graphs=True, seed=3)
    assert len(replays) > 0 and torch.equal(plain.flat_params(), graphed.flat_params())


def test_a_wrong_graph_is_caught_on_its_first_replay_and_training_goes_on_eagerly(monkeypatch):
    x, y = fit_data(300)
    task = engine.Task(x, y)
    cfg = engine.TrainConfig(epochs=3, batch_size=64, lr=1e-2, loss="mse")
    plain = engine.Ensemble("MLP-middle", [0, 1])
    h_plain = engine.train(plain, task, cfg, graphs=False)
    graphed = engine.Ensemble("MLP-middle", [0, 1])
    replays = replayed_steps(monkeypatch, graphed, times=2)
    with pytest.warns(RuntimeWarning, match="differed from the eager step") as caught:
        h_graph = engine.train(graphed, task, cfg, graphs=True)
    assert len([w for w in caught if "CUDA graphs" in str(w.message)]) == 1  # warned once
    assert len(replays) == 1  # only the checked replay: every graph was dropped after it
    assert torch.equal(plain.flat_params(), graphed.flat_params())
    for name, values in h_plain.arrays().items():
        assert np.array_equal(values, h_graph.arrays()[name], equal_nan=True), name


def cuda_runs(task: engine.Task, cfg: engine.TrainConfig) -> dict[bool, tuple[torch.Tensor, np.ndarray]]:
    """Final parameters and train losses of CNN-21 × 3 trained eagerly (False) and with CUDA graphs (True)."""
    runs = {}
    for graphs in (False, True):
        ens = engine.Ensemble("CNN-21", [0, 1, 2], "cuda")
        hist = engine.train(ens, task, cfg, graphs=graphs, seed=1)
        runs[graphs] = ens.flat_params(), hist.train_loss
    return runs


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_graphs_train_like_the_eager_loop(cifar):
    train = cifar[0].subset(1000).to("cuda")
    cfg = engine.TrainConfig(epochs=3, batch_size=64, lr=1e-3, step_size=2, weight_decay=1e-4)
    # No randomness inside the step: both paths see the same shuffles, so they must agree to rounding.
    plain = engine.Task(train.x, train.y, transform=data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, False))
    runs = cuda_runs(plain, cfg)
    assert torch.allclose(runs[False][0], runs[True][0], atol=1e-4)
    assert np.allclose(runs[False][1], runs[True][1], rtol=1e-3)
    # Augmentation draws random numbers inside the graph: the same distribution, so nearly the same losses.
    augmented = engine.Task(train.x, train.y, transform=data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, True))
    runs = cuda_runs(augmented, cfg)
    assert (runs[True][1][:, -1] < runs[True][1][:, 0]).all()
    assert np.allclose(runs[False][1][:, -1], runs[True][1][:, -1], rtol=0.1)
