from pathlib import Path

import numpy as np
import torch

from hw1core import analysis, data, engine


def test_pca_shares_one_basis_across_runs():
    rng = np.random.default_rng(0)
    runs = rng.normal(size=(3, 5, 40))  # 3 runs × 5 snapshots × 40 weights
    coords, evr, comps = analysis.pca_2d(runs.reshape(15, 40))
    assert coords.shape == (15, 2) and comps.shape == (2, 40)
    assert np.allclose(comps @ comps.T, np.eye(2), atol=1e-8)
    assert 0 < evr.sum() <= 1 and evr[0] >= evr[1]
    centred = runs.reshape(15, 40) - runs.reshape(15, 40).mean(0)
    assert np.allclose(coords, centred @ comps.T)  # every run projected on the same components


def test_curvature_of_known_spectra():
    assert analysis.curvature(np.array([1.0, 2.0, 3.0, 4.0])) == analysis.Curvature(1.0, 4, 0, 0, 1e-6 * 4.0)
    c = analysis.curvature(np.array([-1.0, 1e-9, -1e-9, 2.0, 3.0]), rel_tol=1e-6)
    assert c == analysis.Curvature(0.4, 2, 1, 2, 1e-6 * 3.0)  # ±1e-9 are below 1e-6·3 in size: near zero
    assert c.ratio_nonzero == 2 / 3


def float64_reference_eigenvalues(ens: engine.Stack, k: int, x: torch.Tensor, y: torch.Tensor,
                                  dtype: torch.dtype) -> np.ndarray:
    """Hessian eigenvalues by torch.autograd.functional (another code path than the project's), in `dtype`."""
    shapes = {n: v.shape[1:] for n, v in ens.params.items()}
    flat = ens.flat_params()[k].detach().to(dtype)

    def loss(theta):
        params, i = {}, 0
        for n, shape in shapes.items():
            params[n] = theta[i:i + shape.numel()].view(shape)
            i += shape.numel()
        out = torch.func.functional_call(ens.base, params, (x.to(dtype),))
        return (out - y.to(dtype)).pow(2).mean()

    h = torch.autograd.functional.hessian(loss, flat)
    return torch.linalg.eigvalsh((h + h.T) / 2).numpy()


def test_hessian_eigenvalues_are_the_float64_ones():
    ens = engine.Stack("MLP-minratio", [0])
    x, y = data.function_points("f1", 50)
    ref64 = float64_reference_eigenvalues(ens, 0, x, y, torch.float64)
    ref32 = float64_reference_eigenvalues(ens, 0, x, y, torch.float32)
    # float32's rounding (its signs of the near-zero eigenvalues vary with the thread count) misses the tolerance
    # below, so the comparison tells a float64 Hessian from a float32 one on any machine
    assert not np.allclose(ref32, ref64, atol=1e-12 * np.abs(ref64).max())
    eig = analysis.hessian_eigenvalues(ens, 0, x, y)
    assert eig.dtype == np.float64
    assert (eig > 0).sum() == (ref64 > 0).sum()
    assert np.allclose(eig, ref64, atol=1e-12 * np.abs(ref64).max())
    counts = lambda c: (c.ratio, c.positive, c.negative, c.near_zero)
    assert counts(analysis.curvature(eig)) == counts(analysis.curvature(ref64))


def test_hessian_prints_no_torchscript_deprecation_warning():
    """torch.func.hessian's forward mode loads TorchScript decompositions, which warn; the build's output stays clean."""
    import subprocess
    import sys
    code = ("from hw1core import analysis, data, engine; x, y = data.function_points('f1', 20); "
            "analysis.hessian_eigenvalues(engine.Stack('MLP-minratio', [0]), 0, x, y)")
    proc = subprocess.run([sys.executable, "-W", "error::FutureWarning", "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert proc.returncode == 0 and "Warning" not in proc.stderr, proc.stderr


def test_exact_hessian_of_a_linear_model_is_the_analytic_one():
    """MSE of y = w·x + b has Hessian (2/N)·[[Σx², Σx], [Σx, N]], whatever the weights."""
    ens = engine.Stack("MLP-shallow", [0])
    ens.base = torch.nn.Linear(1, 1).to("meta")
    ens.params = {"weight": torch.tensor([[[0.3]]]), "bias": torch.tensor([[0.1]])}
    x = torch.linspace(-1, 1, 7).unsqueeze(1)
    y = torch.sinc(5 * x)
    h = analysis.exact_hessian(ens, 0, x, y)
    n = len(x)
    expected = 2 / n * torch.tensor([[float((x ** 2).sum()), float(x.sum())], [float(x.sum()), float(n)]])
    assert h.dtype == torch.float64 and torch.allclose(h, expected.double(), atol=1e-12)


def test_hessian_of_the_minimal_ratio_mlp_is_symmetric_and_full_size():
    ens = engine.Stack("MLP-minratio", [0, 1])
    x, y = data.function_points("f1", 50)
    h = analysis.exact_hessian(ens, 1, x, y)
    assert h.shape == (321, 321) and torch.equal(h, h.T)


def test_grad_norm_descent_lowers_the_gradient_norm():
    x, y = data.function_points("f1", 100)
    ens = engine.Stack("MLP-minratio", [0, 1, 2])
    engine.train(ens, engine.Task(x, y, loss="mse"), engine.TrainConfig(100, 100, 1e-2))
    params = list(ens.params.values())
    before = torch.sqrt(sum(g.pow(2).flatten(1).sum(1) for g in torch.autograd.grad(
        engine.member_losses(ens(x, shared=True), y.expand(3, *y.shape), "mse").sum(), params)))
    after, reached = analysis.grad_norm_descent(ens, x, y, lr=1e-3, tol=1e-9, max_steps=200)
    assert (after < before.detach().numpy()).all() and (reached == 0).all()


def test_filter_normalised_direction_matches_filter_norms():
    model = {n: p.detach() for n, p in engine.Stack("CNN-shallow", [0]).params.items()}
    center = {n: v[0] for n, v in model.items()}
    d = analysis.filter_normalised_direction(center, torch.Generator().manual_seed(0))
    for name, w in center.items():
        if w.dim() == 1:
            assert torch.count_nonzero(d[name]) == 0
        else:
            assert torch.allclose(d[name].flatten(1).norm(dim=1), w.flatten(1).norm(dim=1), rtol=1e-5)


def test_loss_grid_centre_is_the_trained_models_loss(cifar):
    ens = engine.Stack("CNN-shallow", [0])
    ev = cifar[1].subset(300)
    transform = data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, augment=False)
    center = {n: v[0].detach() for n, v in ens.params.items()}
    gen = torch.Generator().manual_seed(1)
    d1, d2 = (analysis.filter_normalised_direction(center, gen) for _ in range(2))
    grid = analysis.loss_grid(ens, center, d1, d2, np.array([-1.0, 0.0, 1.0]), np.array([-1.0, 0.0, 1.0]),
                              ev.x, ev.y, transform, chunk=4)
    loss, _ = engine.evaluate(ens, ev.x, ev.y, transform)
    assert grid.shape == (3, 3)
    assert abs(grid[1, 1] - loss[0]) < 1e-4
    assert not np.allclose(grid, grid[1, 1])


def test_gauss_newton_term_is_the_hessian_where_the_residuals_vanish():
    """With targets equal to the model's own outputs the MSE Hessian is exactly (2/N)·JᵀJ: the same non-zero
    eigenvalues, and as many of them as J has rank (at most N, here 20 < 321 parameters)."""
    ens = engine.Stack("MLP-minratio", [0])
    x = torch.linspace(-1, 1, 20).unsqueeze(1)
    output, flat = analysis.model_in_float64(ens, 0, x)
    with torch.no_grad():
        y = output(flat)  # exact to float64: float32 outputs would leave residuals of ~1e-8
    hessian = analysis.hessian_eigenvalues(ens, 0, x, y)[::-1]
    gauss_newton = analysis.gauss_newton_eigenvalues(ens, 0, x)
    assert len(gauss_newton) == 20
    assert np.allclose(hessian[:20], gauss_newton, rtol=1e-8, atol=1e-12 * gauss_newton[0])
    assert np.abs(hessian[20:]).max() < 1e-10 * gauss_newton[0]
    # away from a fit the second-order term is there: a target off the outputs gives another spectrum
    off = analysis.hessian_eigenvalues(ens, 0, x, y + 0.5)[::-1]
    assert not np.allclose(off[:20], gauss_newton, rtol=1e-3)
