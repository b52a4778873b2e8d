import math

import numpy as np
import torch

from hw1core import data, engine


def fit_data(n=64):
    x = torch.linspace(-1, 1, n).unsqueeze(1)
    return x, torch.sinc(5 * x)


def test_stacked_members_match_separate_runs():
    """Full-batch MSE (order-free): K stacked members must follow K separate Adam runs."""
    x, y = fit_data()
    cfg = engine.TrainConfig(epochs=30, batch_size=64, lr=1e-2, weight_decay=1e-4)
    stacked = engine.Stack("MLP-middle", [0, 1, 2])
    engine.train(stacked, engine.Task(x, y, loss="mse"), cfg)
    for k, seed in enumerate([0, 1, 2]):
        single = engine.Stack("MLP-middle", [seed])
        engine.train(single, engine.Task(x, y, loss="mse"), cfg)
        assert torch.allclose(stacked.flat_params()[k], single.flat_params()[0], atol=1e-5)


def test_training_reduces_loss_and_counts_steps():
    x, y = fit_data(300)
    stack = engine.Stack("MLP-shallow", [0, 1])
    hist = engine.train(stack, engine.Task(x, y, loss="mse"), engine.TrainConfig(epochs=40, batch_size=64, lr=1e-2))
    assert hist.steps == 40 * 5
    assert (hist.train_loss[:, -1] < 0.6 * hist.train_loss[:, 0]).all()


def test_a_diverging_member_stops_alone():
    x, y = fit_data()
    targets = torch.stack([y, torch.full_like(y, math.inf)])
    task = engine.Task(x.expand(2, *x.shape), targets, loss="mse", per_member=True)
    hist = engine.train(engine.Stack("MLP-middle", [0, 1]), task, engine.TrainConfig(epochs=5, batch_size=32, lr=1e-3))
    assert hist.diverged_epoch.tolist() == [0, 1]
    assert np.isfinite(hist.train_loss[0]).all() and np.isnan(hist.train_loss[1]).all()


def test_all_diverged_stops_early():
    x, y = fit_data()
    task = engine.Task(x, torch.full_like(y, math.nan), loss="mse")
    hist = engine.train(engine.Stack("MLP-middle", [0]), task, engine.TrainConfig(epochs=50, batch_size=64, lr=1e-3))
    assert hist.diverged_epoch.tolist() == [1] and hist.steps == 1


def test_cnn_learns_mnist_subset(mnist):
    train, test = mnist[0].subset(3000), mnist[1].subset(1000)
    task = engine.Task(train.x, train.y, test.x, test.y, data.image_transform(None, None, augment=False))
    hist = engine.train(engine.Stack("MNIST-CNN-3", [0]), task, engine.TrainConfig(epochs=2, batch_size=100, lr=1e-3))
    assert hist.test_acc[0, -1] > 0.6  # chance is 0.1
    loss, acc = engine.evaluate(engine.Stack("MNIST-CNN-3", [0]), test.x, test.y, task.transform)
    assert abs(loss[0] - math.log(10)) < 0.3 and acc[0] < 0.3  # untrained: near-uniform predictions


def test_member_loop_and_vmap_give_the_same_outputs(cifar):
    x = data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, False)(cifar[1].x[:8], False)
    looped = engine.Stack("CNN-21", [0, 1, 2], vectorize=False)
    mapped = engine.Stack("CNN-21", [0, 1, 2], vectorize=True)
    assert torch.allclose(looped(x, shared=True), mapped(x, shared=True), atol=1e-5)
    per_member = x[:6].view(3, 2, *x.shape[1:])
    assert torch.allclose(looped(per_member), mapped(per_member), atol=1e-5)


def test_the_step_schedule_cuts_the_rate_by_gamma_every_step_size_epochs():
    x, y = fit_data()
    cfg = engine.TrainConfig(epochs=7, batch_size=64, lr=0.3, step_size=3, gamma=0.5)
    hist = engine.train(engine.Stack("MLP-shallow", [0]), engine.Task(x, y, loss="mse"), cfg)
    assert np.allclose(hist.lr, [0.3, 0.3, 0.3, 0.15, 0.15, 0.15, 0.075])
    constant = engine.train(engine.Stack("MLP-shallow", [0]), engine.Task(x, y, loss="mse"),
                            engine.TrainConfig(epochs=4, batch_size=64, lr=0.3))
    assert (constant.lr == 0.3).all()


def test_a_step_hook_sees_every_step_between_backward_and_the_optimiser_step():
    x, y = fit_data()
    seen = []

    def hook(stack: engine.Stack, losses: torch.Tensor) -> None:
        seen.append((losses.shape, all(p.grad is not None for p in stack.params.values())))
    hist = engine.train(engine.Stack("MLP-middle", [0, 1]), engine.Task(x, y, loss="mse"),
                        engine.TrainConfig(epochs=3, batch_size=16, lr=1e-3), step_hook=hook)
    assert len(seen) == hist.steps == 12 and all(shape == (2,) and grads for shape, grads in seen)


def test_weights_given_as_rows_land_on_the_stacks_device_in_its_shapes():
    stack = engine.Stack("MLP-middle", [0, 1], "meta")  # any device but the CPU the rows come from
    rows = np.arange(3 * stack.flat_params().shape[1], dtype=np.float32).reshape(3, -1)
    params = stack.params_from(rows)
    assert all(v.device.type == "meta" and v.shape == (3, *stack.params[n].shape[1:]) for n, v in params.items())
    cpu = engine.Stack("MLP-middle", [0])
    back = cpu.params_from(cpu.flat_params().numpy())
    assert all(torch.equal(back[n], v) for n, v in cpu.params.items())  # the inverse of flat_params


def test_micro_batches_give_the_whole_batch_step_up_to_rounding(cifar):
    """A CNN on the CPU trains batches above 256 in micro-batches of 128: the same gradient, summed in parts."""
    train = cifar[0].subset(600)
    tf = data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, augment=False)
    cfg = engine.TrainConfig(epochs=1, batch_size=600, lr=1e-3)
    runs = []
    for micro in (engine.MICRO_BATCH, 0):
        stack = engine.Stack("CNN-shallow", [0])
        assert stack.micro_batch == engine.MICRO_BATCH  # a conv model on the CPU splits by default
        stack.micro_batch = micro
        hist = engine.train(stack, engine.Task(train.x, train.y, transform=tf), cfg)
        runs.append((stack.flat_params()[0], hist.train_loss[0, 0]))
    (split, split_loss), (whole, whole_loss) = runs
    start = engine.Stack("CNN-shallow", [0]).flat_params()[0]
    assert not torch.equal(split, start)
    assert torch.allclose(split, whole, atol=1e-6, rtol=0)
    assert math.isclose(split_loss, whole_loss, rel_tol=1e-5)


def test_micro_batches_split_only_batches_above_twice_their_size():
    idx = torch.arange(300).expand(2, 300)
    assert [b.shape[1] for b in engine.micro_batches(idx, 128)] == [128, 128, 44]
    assert [b.shape[1] for b in engine.micro_batches(idx[:, :256], 128)] == [256]
    assert [b.shape[1] for b in engine.micro_batches(idx, 0)] == [300]
