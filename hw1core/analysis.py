"""Analyses on trained models: PCA of weight trajectories, exact Hessians, minimal ratio, loss surfaces."""
from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import torch
from torch.func import functional_call, jacrev

from .engine import EVAL_BATCH, Stack, evaluate, member_losses, unflatten


def pca_2d(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA to two components fitted on all rows together: (coordinates, explained variance ratios, 2×P components)."""
    from sklearn.decomposition import PCA  # here: scikit-learn's import cost 2 s of every worker's start
    pca = PCA(n_components=2, svd_solver="full").fit(vectors)
    return pca.transform(vectors), pca.explained_variance_ratio_, pca.components_


def model_in_float64(stack: Stack, k: int, x: torch.Tensor) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]:
    """Model k's output as a function of its flattened parameters, in float64 on inputs x; and those parameters."""
    stack.train(False)
    buffers = {n: b[k].double() for n, b in stack.buffers.items()}
    params64 = {n: v.double() for n, v in stack.params.items()}
    x64 = x.double()

    def output(flat: torch.Tensor) -> torch.Tensor:
        return functional_call(stack.base, (unflatten(flat, params64), buffers), (x64,))

    return output, stack.flat_params()[k].detach().double()


def exact_hessian(stack: Stack, k: int, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The full P×P Hessian of model k's MSE loss w.r.t. its flattened parameters, in float64, symmetrised.

    float64 on every device: most eigenvalues at a critical point are near zero, and float32 (or TF32 matmuls on a
    GPU) flips the signs of some of them. Reverse-over-reverse (jacrev of jacrev) rather than torch.func.hessian,
    whose forward mode loads TorchScript decompositions that print a deprecation warning.
    """
    output, flat = model_in_float64(stack, k, x)
    y64 = y.double()

    def loss(p: torch.Tensor) -> torch.Tensor:
        return (output(p) - y64).pow(2).mean()

    h = jacrev(jacrev(loss))(flat)
    return (h + h.T) / 2


def gauss_newton_eigenvalues(stack: Stack, k: int, x: torch.Tensor) -> np.ndarray:
    """Eigenvalues of the Gauss-Newton term of model k's MSE Hessian, (2/N)·JᵀJ with J the N×P Jacobian of its
    outputs on x: (2/N)·σᵢ² for J's min(N, P) singular values, descending, in float64 (the other P − N are zero).
    The rest of the Hessian, (2/N)·Σᵢ rᵢ∇²fᵢ, shrinks with the residuals rᵢ: near a fitted minimum the Hessian has
    about as many non-negligible eigenvalues as this term has, however many parameters the model has."""
    output, flat = model_in_float64(stack, k, x)
    jacobian = jacrev(output)(flat).reshape(-1, flat.numel())  # one row per output value
    return (2 / len(jacobian) * torch.linalg.svdvals(jacobian) ** 2).cpu().numpy()


def hessian_eigenvalues(stack: Stack, k: int, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """All eigenvalues of model k's exact Hessian, ascending, in float64."""
    return torch.linalg.eigvalsh(exact_hessian(stack, k, x, y)).cpu().numpy()


@dataclass(frozen=True)
class Curvature:
    """How a Hessian's eigenvalues split around the threshold rel_tol·max|λ|."""
    ratio: float  # the homework's minimal ratio: share of all eigenvalues above the threshold
    positive: int  # λ > threshold
    negative: int  # λ < −threshold
    near_zero: int  # |λ| ≤ threshold
    threshold: float  # rel_tol·max|λ|

    @property
    def ratio_nonzero(self) -> float:
        """positive / (positive + negative): the minimal ratio among the eigenvalues that are not negligible."""
        signed = self.positive + self.negative
        return self.positive / signed if signed else float("nan")


def curvature(eigenvalues: np.ndarray, rel_tol: float = 1e-6) -> Curvature:
    threshold = rel_tol * np.abs(eigenvalues).max()
    positive, negative = int((eigenvalues > threshold).sum()), int((eigenvalues < -threshold).sum())
    return Curvature(positive / len(eigenvalues), positive, negative, len(eigenvalues) - positive - negative,
                     float(threshold))


def squared_norms(stacked: Iterable[torch.Tensor]) -> torch.Tensor:
    """Each model's squared norm over a stack's tensors (leading dim = model), summed tensor by tensor."""
    return functools.reduce(operator.add, (t.pow(2).flatten(1).sum(1) for t in stacked))


def grad_norm_descent(stack: Stack, x: torch.Tensor, y: torch.Tensor, lr: float, tol: float,
                      max_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Minimise each model's squared gradient norm of the MSE (full batch) until it is below tol².

    Returns per member the final gradient norm and the step at which it went below tol (0 = never).
    """
    opt = torch.optim.Adam(stack.params.values(), lr=lr)
    params = list(stack.params.values())
    reached = torch.zeros(stack.k, dtype=torch.long, device=x.device)
    stack.train(False)
    for step in range(1, max_steps + 1):
        losses = member_losses(stack(x, shared=True), y.expand(stack.k, *y.shape), "mse")
        grads = torch.autograd.grad(losses.sum(), params, create_graph=True)
        sq_norm = squared_norms(grads)
        done = sq_norm.detach() < tol ** 2
        reached = torch.where(done & (reached == 0), step, reached)
        active = reached == 0
        if not active.any():
            break
        opt.zero_grad(set_to_none=True)
        torch.where(active, sq_norm, 0.0).sum().backward()
        with torch.no_grad():  # models that met the tolerance stay put (Adam's momentum would move them)
            kept = [p[~active].clone() for p in params]
        opt.step()
        with torch.no_grad():
            for p, k in zip(params, kept):
                p[~active] = k
    losses = member_losses(stack(x, shared=True), y.expand(stack.k, *y.shape), "mse")
    grads = torch.autograd.grad(losses.sum(), params)
    final = torch.sqrt(squared_norms(grads))
    return final.detach().cpu().numpy(), reached.cpu().numpy()


def filter_normalised_direction(params: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A Gaussian direction with each filter (row / output channel) scaled to the norm of the weights' filter.

    Biases (and any 1-D tensor) get a zero direction (Li et al. 2018).
    """
    out = {}
    for name, w in params.items():
        if w.dim() <= 1:
            out[name] = torch.zeros_like(w)
            continue
        d = torch.randn(w.shape, generator=generator, device="cpu").to(w.device, w.dtype)
        d_norm = d.flatten(1).norm(dim=1).clamp_min(1e-12)
        w_norm = w.flatten(1).norm(dim=1)
        out[name] = d * (w_norm / d_norm).view(-1, *[1] * (w.dim() - 1))
    return out


def loss_grid(stack: Stack, center: dict[str, torch.Tensor], d1: dict[str, torch.Tensor], d2: dict[str, torch.Tensor],
              alphas: np.ndarray, betas: np.ndarray, x: torch.Tensor, y: torch.Tensor, transform, loss: str = "ce",
              chunk: int = 64, batch: int = EVAL_BATCH) -> np.ndarray:
    """Loss at center + a·d1 + b·d2 over the grid, evaluated `chunk` grid points at a time as one stacked model."""
    a, b = np.meshgrid(alphas, betas, indexing="ij")
    coeff = torch.tensor(np.stack([a.ravel(), b.ravel()], 1), dtype=torch.float32, device=x.device)
    stacked = combine(center, [d1, d2], coeff)
    return evaluate(stack, x, y, transform, loss, batch, params=stacked, chunk=chunk)[0].reshape(a.shape)


def combine(base: dict[str, torch.Tensor], directions: list[dict[str, torch.Tensor]],
            coeff: torch.Tensor) -> dict[str, torch.Tensor]:
    """A stack of parameter sets base + Σ_j coeff[i, j]·directions[j], one per row of coeff (lazy broadcasting)."""
    out = {}
    for n, v in base.items():
        shape = (len(coeff),) + (1,) * v.dim()
        out[n] = v.unsqueeze(0) + sum(coeff[:, j].view(shape) * d[n] for j, d in enumerate(directions))
    return out


def jacobian_norms(stack: Stack, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """‖∂softmax(f(x))/∂x‖_F per example (Novak et al. 2018) for one model (params stacked K=1).

    One vector-Jacobian product per class, vmapped over the classes: in evaluation mode examples do not
    interact, so class k's product with the summed outputs gives every example's k-th Jacobian row exactly.
    """
    stack.train(False)
    probs = lambda inp: stack(inp, shared=True, params=params)[0].softmax(-1)
    out, vjp = torch.func.vjp(probs, x)  # type: ignore[misc]
    classes = out.shape[-1]
    cotangents = torch.eye(classes, device=x.device).unsqueeze(1).expand(classes, *out.shape)
    (rows,) = torch.func.vmap(vjp)(cotangents)  # classes × B × input shape
    return rows.pow(2).flatten(2).sum(dim=(0, 2)).sqrt()


def loss_gradient_norms(stack: Stack, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """‖∂L(x, y)/∂x‖₂ per example for one model: cross-entropy summed over examples, which do not interact."""
    stack.train(False)
    x = x.detach().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(stack(x, shared=True, params=params)[0], y, reduction="sum")
    (g,) = torch.autograd.grad(loss, x)
    return g.flatten(1).norm(dim=1)


def sensitivities(stack: Stack, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor, transform,
                  batch: int = EVAL_BATCH) -> tuple[float, float]:
    """Mean Jacobian sensitivity and mean loss-gradient sensitivity over the examples (inputs after transform)."""
    jac, grad = [], []
    for i in range(0, len(y), batch):
        xb = transform(x[i:i + batch], False)
        jac.append(jacobian_norms(stack, params, xb).detach())
        grad.append(loss_gradient_norms(stack, params, xb, y[i:i + batch]).detach())
    return float(torch.cat(jac).mean()), float(torch.cat(grad).mean())


def eps_sharpness(stack: Stack, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor, transform,
                  eps: float, steps: int, batch: int = EVAL_BATCH) -> np.ndarray:
    """ε-sharpness (Keskar et al. 2017) of every model in the stack, in percent:
    100·(max over |δ_i| ≤ ε(|θ_i|+1) of L(θ+δ) − L(θ)) / (1 + L(θ)).

    The max is sought by projected sign-gradient ascent (step = a quarter of the box half-width, then clamp),
    keeping the best loss seen; L is the cross-entropy on (x, y) in evaluation mode.
    """
    stack.train(False)
    bound = {n: eps * (v.detach().abs() + 1) for n, v in params.items()}
    delta = {n: torch.zeros_like(v) for n, v in params.items()}
    k = next(iter(params.values())).shape[0]

    def losses_at(d: dict[str, torch.Tensor]) -> torch.Tensor:
        shifted = {n: params[n].detach() + d[n] for n in params}
        total = torch.zeros(k, device=x.device)
        for i in range(0, len(y), batch):
            out = stack(transform(x[i:i + batch], False), shared=True, params=shifted)
            total = total + member_losses(out, y[i:i + batch].expand(k, *y[i:i + batch].shape), "ce") * len(y[i:i + batch])
        return total / len(y)

    with torch.no_grad():
        base = losses_at(delta)
    best = base.clone()
    for _ in range(steps):
        for d in delta.values():
            d.requires_grad_(True)
        losses = losses_at(delta)
        grads = torch.autograd.grad(losses.sum(), list(delta.values()))
        best = torch.maximum(best, losses.detach())
        with torch.no_grad():
            delta = {n: torch.clamp(d + g.sign() * bound[n] / 4, -bound[n], bound[n])
                     for (n, d), g in zip(delta.items(), grads)}
    with torch.no_grad():
        best = torch.maximum(best, losses_at(delta))
    return (100 * (best - base) / (1 + base)).cpu().numpy()
