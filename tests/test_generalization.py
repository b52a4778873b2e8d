"""The HW1-3 analyses on small real inputs."""
import numpy as np
import torch

from hw1core import analysis, data, engine
from hw1core.experiments import random_labels


def linear_stack(inputs: int, seed: int = 0) -> engine.Stack:
    """A stack of one model: a plain linear classifier on flattened inputs."""
    ens = engine.Stack("CNN-shallow", [seed])
    torch.manual_seed(seed)
    lin = torch.nn.Linear(inputs, 10)
    ens.params = {"1.weight": lin.weight.detach().clone().unsqueeze(0), "1.bias": lin.bias.detach().clone().unsqueeze(0)}
    ens.base = torch.nn.Sequential(torch.nn.Flatten(), lin).to("meta")
    ens.buffers = {}
    return ens


def test_jacobian_sensitivity_of_a_linear_model_is_analytic(cifar):
    """softmax(Wx + b) has Jacobian (diag(p) − ppᵀ)W."""
    x = data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, False)(cifar[1].x[:20], False)
    ens = linear_stack(3 * 32 * 32)
    norms = analysis.jacobian_norms(ens, ens.params, x)
    w, b = ens.params["1.weight"][0], ens.params["1.bias"][0]
    for i in range(len(x)):
        p = torch.softmax(w @ x[i].flatten() + b, 0)
        expected = torch.linalg.matrix_norm((torch.diag(p) - torch.outer(p, p)) @ w)
        assert torch.allclose(norms[i], expected, rtol=1e-4)


def test_loss_gradient_sensitivity_of_a_linear_model_is_analytic(cifar):
    """∂CE/∂x = Wᵀ(p − onehot(y)) for a linear model."""
    x = data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, False)(cifar[1].x[:10], False)
    y = cifar[1].y[:10]
    ens = linear_stack(3 * 32 * 32, seed=1)
    norms = analysis.loss_gradient_norms(ens, ens.params, x, y)
    w, b = ens.params["1.weight"][0], ens.params["1.bias"][0]
    for i in range(len(x)):
        p = torch.softmax(w @ x[i].flatten() + b, 0)
        expected = torch.linalg.vector_norm(w.T @ (p - torch.nn.functional.one_hot(y[i], 10).float()))
        assert torch.allclose(norms[i], expected, rtol=1e-4)


def trained_pair(cifar):
    train = cifar[0].subset(600)
    transform = data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, True)
    ens = engine.Stack("CNN-shallow", [0, 1])
    engine.train(ens, engine.Task(train.x, train.y, transform=transform), engine.TrainConfig(1, 100, 1e-3))
    return ens, transform


def test_sharpness_is_zero_for_zero_eps_and_positive_otherwise(cifar):
    ens, transform = trained_pair(cifar)
    sub = cifar[0].subset(200, seed=5)
    zero = analysis.eps_sharpness(ens, ens.params, sub.x, sub.y, transform, eps=0.0, steps=3)
    assert (zero == 0).all()
    phi = analysis.eps_sharpness(ens, ens.params, sub.x, sub.y, transform, eps=1e-3, steps=3)
    assert (phi > 0).all()
    bigger = analysis.eps_sharpness(ens, ens.params, sub.x, sub.y, transform, eps=1e-2, steps=3)
    assert (bigger > phi).all()


def test_interpolation_endpoints_reproduce_the_trained_models(cifar):
    ens, transform = trained_pair(cifar)
    test = cifar[1].subset(300)
    start = {n: v[0] for n, v in ens.params.items()}
    line = analysis.combine(start, [{n: v[1] - v[0] for n, v in ens.params.items()}],
                            torch.tensor([[0.0], [0.5], [1.0]]))
    loss, acc = engine.evaluate(ens, test.x, test.y, transform, params=line, chunk=2)
    ends_loss, ends_acc = engine.evaluate(ens, test.x, test.y, transform)
    assert np.allclose(loss[[0, 2]], ends_loss, atol=1e-5) and np.allclose(acc[[0, 2]], ends_acc)


def test_random_labels_shuffle_training_labels_only(mnist):
    y = mnist[0].y[:5000]
    noisy = random_labels.shuffled_labels(y, seed=0)
    assert torch.equal(torch.bincount(noisy, minlength=10), torch.bincount(y, minlength=10))
    assert (noisy == y).float().mean() < 0.2  # about chance (10%)
    assert torch.equal(random_labels.shuffled_labels(y, seed=0), noisy)  # fixed seed


def test_resized_mnist_is_32_by_32_uint8(mnist):
    out = random_labels.resized(mnist[1].subset(10))
    assert out.x.shape == (10, 1, 32, 32) and out.x.dtype == torch.uint8


def test_a_shared_cifar_model_evaluates_only_after_training(tmp_path, monkeypatch):
    """Its users read the final metrics alone, so no epoch pays for a test-set evaluation."""
    from hw1core import recipes
    from hw1core.context import RunContext
    from hw1core.store import Store
    calls = []
    real = engine.evaluate
    monkeypatch.setattr(engine, "evaluate", lambda *a, **k: calls.append(1) or real(*a, **k))
    ctx = RunContext(torch.device("cpu"), None, Store(tmp_path), "test", "k")
    run = recipes.CifarRun("CNN-21", engine.TrainConfig(epochs=3, batch_size=100, lr=1e-3),
                           data.Sizes(n_train=300, n_test=100), n_eval_train=100)
    out = recipes.train_cifar(run, ctx)
    assert len(calls) == 2  # the final training-set and test-set metrics, not one per epoch
    assert 0 <= out.final_test_acc <= 1 and out.steps == 9 and out.weights.shape == (engine.Stack("CNN-21", [0]).flat_params().shape[1],)


def random_labels_result(sizes: list[int], memorised_at: list[int], epochs: int = 100):
    """Training accuracy rising linearly to 1 at each run's given epoch (0: reaching only 0.6 by the end)."""
    e = np.arange(1, epochs + 1)
    acc = np.stack([np.minimum(1.0, e / m) if m else 0.6 * e / epochs for m in memorised_at])
    loss = 2.3 * (1.05 - acc)
    rows = len(sizes)
    cfg = random_labels.Config(sizes=tuple(sizes))
    return cfg, random_labels.Result(0, np.array(sizes), np.full(rows, 0.1), loss, acc, 2.3 + 0 * loss,
                                     np.full((rows, epochs), 0.1), np.zeros(rows, int))


def test_random_labels_reports_the_epochs_to_memorise_by_size_in_size_order():
    from report.format import render_finding
    from report.sections import random_labels as section
    # sizes given out of order: the comparison runs from the smallest to the largest memorised set
    cfg, res = random_labels_result([5000, 2500, 20000], [60, 30, 0])
    found = {f.name: render_finding(f) for f in section.findings(cfg, res)}
    # accuracy e/m first reaches 0.9 at epoch ceil(0.9·m): 27 for m = 30, 54 for m = 60
    assert "The epochs needed to memorise: 27 on 2,500 images, 54 on 5,000" in found["time-to-memorise"]
    assert "cannot be called a trend: 2 sizes of one seed each carry none" in found["time-to-memorise"]
    five = dict(zip([5000, 2500, 20000, 10000, 40000, 1000], [60, 30, 0, 80, 90, 15]))  # 5 memorised, in order
    more = {f.name: render_finding(f) for f in section.findings(*random_labels_result(list(five), list(five.values())))}
    assert "The epochs needed to memorise: 14 on 1,000 images, 81 on 40,000" in more["time-to-memorise"]
    assert "grows with the training set (Spearman 1, p = 0.0167)" in more["time-to-memorise"]
    assert "not memorised yet" in found["not-memorised.20000"] and "60.0%" in found["not-memorised.20000"]
    table = section.tables(cfg, res)[0].frame
    assert table["epoch at 90%"].tolist() == ["54", "27", "not in 100"]
