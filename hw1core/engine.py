"""The training engine: K copies of one architecture trained together with torch.func, one loop for all."""
from __future__ import annotations

import contextlib
import copy
import math
import os
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap
from tqdm.auto import tqdm

from .models import build


@dataclass
class TrainConfig:
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0
    step_size: int = 0  # StepLR period in epochs; 0 keeps the learning rate constant
    gamma: float = 0.1
    loss: str = "ce"  # "ce" (classification, logits) or "mse" (regression)
    eval_batch: int = 2000


def identity(x: torch.Tensor, training: bool) -> torch.Tensor:
    return x


@dataclass
class Task:
    """Training (and optional test) data on the device; `transform` maps a raw batch to model input."""
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor | None = None
    test_y: torch.Tensor | None = None
    transform: Callable[[torch.Tensor, bool], torch.Tensor] = identity
    per_member: bool = False  # train_x/train_y carry a leading member dimension (one data set per copy)

    @property
    def n_train(self) -> int:
        return self.train_y.shape[1] if self.per_member else self.train_y.shape[0]


class Ensemble:
    """K copies of one architecture with stacked parameters (leading dim K), one per seed."""

    def __init__(self, arch: str, seeds: list[int], device: torch.device | str = "cpu", vectorize: bool | None = None):
        models = []
        for seed in seeds:
            torch.manual_seed(seed)
            models.append(build(arch).to(device))
        self.arch, self.seeds, self.k = arch, list(seeds), len(seeds)
        self.params, self.buffers = stack_module_state(models)
        self.base = copy.deepcopy(models[0]).to("meta")
        # Under vmap a convolution becomes a grouped one, which on a CPU ran 1.6-2x slower than one plain
        # convolution per member (measured with CNN-21 x 8 and CNN-shallow x 2); MLPs gain from vmap everywhere.
        has_conv = any(isinstance(m, torch.nn.Conv2d) for m in models[0].modules())
        self.vectorize = vectorize if vectorize is not None else not (has_conv and torch.device(device).type == "cpu")

    def _call(self, params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.base, (params, buffers), (x,))

    def __call__(self, x: torch.Tensor, shared: bool = False, params: dict | None = None) -> torch.Tensor:
        """Outputs K×B×...; x is K×B×... per member, or B×... fed to every member when `shared`."""
        params = self.params if params is None else params
        k = next(iter(params.values())).shape[0]
        if k == 1 or not self.vectorize:  # one plain call per member, sharing the stacked leaves
            member = lambda d, i: {n: v[i] for n, v in d.items()}
            buffers = self.buffers if k == self.k else {n: v[:1].expand(k, *v.shape[1:]) for n, v in self.buffers.items()}
            return torch.stack([self._call(member(params, i), member(buffers, i), x if shared else x[i])
                                for i in range(k)])
        return vmap(self._call, in_dims=(0, 0, None if shared else 0), randomness="different")(params, self.buffers, x)

    def train(self, mode: bool = True) -> None:
        self.base.train(mode)

    def member_state(self, k: int) -> dict[str, np.ndarray]:
        return {n: v[k].detach().cpu().numpy() for n, v in self.params.items()}

    def flat_params(self) -> torch.Tensor:
        """K×P: every member's parameters as one vector."""
        return torch.cat([v.detach().flatten(1) for v in self.params.values()], dim=1)


def member_losses(out: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """Mean loss of each member over its batch (out: K×B×..., y: K×B×...)."""
    if loss == "ce":
        return F.cross_entropy(out.flatten(0, 1), y.flatten(0, 1), reduction="none").view(y.shape[:2]).mean(1)
    return (out - y).pow(2).flatten(1).mean(1)


def member_correct(out: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    if loss != "ce":
        return torch.zeros(out.shape[0], device=out.device)
    return (out.argmax(-1) == y).float().sum(1)


@torch.no_grad()
def evaluate(ens: Ensemble, x: torch.Tensor, y: torch.Tensor, transform: Callable = identity, loss: str = "ce",
             batch: int = 2000, params: dict | None = None, chunk: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean loss and accuracy on one shared data set, in evaluation mode, of every member of `params`
    (a stack of any size, default the ensemble's own), `chunk` members at a time when chunk > 0."""
    ens.train(False)
    params = ens.params if params is None else params
    k = next(iter(params.values())).shape[0]
    chunk = chunk or k
    losses, accs = [], []
    for c in range(0, k, chunk):
        part = {n: v[c:c + chunk] for n, v in params.items()}
        m = min(chunk, k - c)
        total = torch.zeros(m, device=x.device)
        correct = torch.zeros(m, device=x.device)
        for i in range(0, len(y), batch):
            out = ens(transform(x[i:i + batch], False), shared=True, params=part)
            yb = y[i:i + batch].expand(m, *y[i:i + batch].shape)
            total += member_losses(out, yb, loss) * yb.shape[1]
            correct += member_correct(out, yb, loss)
        losses.append(total / len(y))
        accs.append(correct / len(y))
    return torch.cat(losses).cpu().numpy(), torch.cat(accs).cpu().numpy()


@dataclass
class History:
    """Per-epoch metrics of K members (K×E arrays; NaN after a member diverged or where undefined)."""
    train_loss: np.ndarray
    train_acc: np.ndarray
    test_loss: np.ndarray
    test_acc: np.ndarray
    lr: np.ndarray
    diverged_epoch: np.ndarray  # K; 0 = never diverged, else the 1-based epoch whose loss was not finite
    steps: int = 0

    def member(self, k: int = 0) -> dict[str, np.ndarray]:
        """Member k's curves (the lr schedule is shared) and the step count, ready to store."""
        return {n: v if n == "lr" else v[k] for n, v in self.arrays().items()} | {"steps": np.array(self.steps)}

    def arrays(self) -> dict[str, np.ndarray]:
        names = ["train_loss", "train_acc", "test_loss", "test_acc", "lr", "diverged_epoch"]
        return {n: getattr(self, n) for n in names}


def take(t: torch.Tensor, idx: torch.Tensor, per_member: bool) -> torch.Tensor:
    """Rows idx (K×B) of t, from each member's own data when per_member."""
    if per_member:
        return t[torch.arange(idx.shape[0], device=idx.device).unsqueeze(1), idx]
    return t[idx]


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    """The step schedule's learning rate in (0-based) epoch, as torch's StepLR sets it."""
    return cfg.lr * cfg.gamma ** (epoch // cfg.step_size) if cfg.step_size else cfg.lr


def adam(ens: Ensemble, cfg: TrainConfig, capturable: bool) -> torch.optim.Adam:
    # A CUDA graph bakes a float learning rate into its kernels; a device tensor changed in place it reads anew.
    lr = torch.tensor(cfg.lr, device=next(iter(ens.params.values())).device) if capturable else cfg.lr
    return torch.optim.Adam(ens.params.values(), lr=lr, weight_decay=cfg.weight_decay, capturable=capturable)


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


def cuda_graph(fn: Callable[[], None]) -> Callable[[], None]:
    """Record (not run) fn's kernels into a CUDA graph; returns its replay."""
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def graphs_enabled(device: torch.device) -> bool:
    return device.type == "cuda" and os.environ.get("HW1_CUDA_GRAPHS", "1") != "0"


class TrainStep:
    """One optimiser step on the batch rows `idx` (K×B), adding each member's summed loss and hits to running totals.

    With `graphs`, the first steps of each batch size run eagerly as warm-up; the step is then recorded once as
    a CUDA graph and replayed with new rows copied into a fixed buffer. A small model's step is about a hundred
    tiny kernels whose launches, not their arithmetic, cost the time. An epoch's last, partial batch gets a graph
    of its own. All graphs share the parameters and optimiser state; each owns its gradients.
    """

    def __init__(self, ens: Ensemble, task: Task, cfg: TrainConfig, opt: torch.optim.Optimizer, alive: torch.Tensor,
                 graphs: bool = False, hook: Callable[[Ensemble, torch.Tensor], None] | None = None, warmup: int = 3):
        self.ens, self.task, self.cfg, self.opt, self.alive, self.hook = ens, task, cfg, opt, alive, hook
        self.loss_sum = torch.zeros(ens.k, device=alive.device)
        self.correct = torch.zeros(ens.k, device=alive.device)
        self.graphs, self.warmup, self.warmed = graphs, warmup, Counter()
        self.graphed: dict[int, tuple[torch.Tensor, Callable[[], None]]] = {}  # batch size -> (rows buffer, replay)
        self.unchecked: set[int] = set()  # batch sizes whose graph has not yet been compared with an eager step

    def run(self, idx: torch.Tensor) -> None:
        """The step itself; it reads only `idx` and fixed tensors, so that a graph of it stays valid."""
        task = self.task
        xb = task.transform(take(task.train_x, idx, task.per_member), True)
        yb = take(task.train_y, idx, task.per_member)
        out = self.ens(xb)
        losses = member_losses(out, yb, self.cfg.loss)
        # Summed (not averaged) over members so that Adam treats each member as a separate run.
        torch.where(self.alive, losses, 0.0).sum().backward()
        if self.hook is not None:
            self.hook(self.ens, losses.detach())
        self.opt.step()
        self.loss_sum.add_(losses.detach() * idx.shape[1])
        self.correct.add_(member_correct(out.detach(), yb, self.cfg.loss))

    def __call__(self, idx: torch.Tensor) -> None:
        size = idx.shape[1]
        if size in self.graphed:
            rows, replay = self.graphed[size]
            rows.copy_(idx)
            if size in self.unchecked:
                self.checked_replay(size, idx, replay)
            else:
                replay()
            return
        # Once a graph exists the gradients live in its memory: zero them there rather than drop them.
        self.opt.zero_grad(set_to_none=not self.graphed)
        if not self.graphs:
            self.run(idx)
            return
        with warmup_stream(idx.device):
            self.run(idx)
        self.warmed[size] += 1
        if self.warmed[size] == self.warmup:
            self.capture(idx)

    def capture(self, idx: torch.Tensor) -> None:
        rows = idx.clone()
        self.opt.zero_grad(set_to_none=True)  # backward then allocates this graph's gradients inside it
        try:
            self.graphed[idx.shape[1]] = rows, cuda_graph(lambda: self.run(rows))
            self.unchecked.add(idx.shape[1])
        except RuntimeError as err:  # a step that cannot be captured still trains, only more slowly
            reason = str(err).splitlines()[0]
            warnings.warn(f"training without CUDA graphs: capture failed ({reason})", RuntimeWarning, stacklevel=2)
            self.graphs = False


    def state(self) -> list[torch.Tensor]:
        """Everything a step changes: the parameters, the optimiser's state, the loss and hit totals."""
        opt_state = [v for p in self.ens.params.values() for v in self.opt.state.get(p, {}).values()
                     if isinstance(v, torch.Tensor)]
        return [*self.ens.params.values(), *opt_state, self.loss_sum, self.correct]

    def checked_replay(self, size: int, idx: torch.Tensor, replay: Callable[[], None]) -> None:
        """A graph's first replay, compared with an eager step from the same state, batch and random numbers.

        The graphed path cannot be tested where no GPU is, so it proves itself where it runs: if the two disagree
        beyond rounding, every graph is dropped (with one warning) and training goes on eagerly from the eager result.
        """
        self.unchecked.discard(size)
        state = self.state()
        before, rng = [t.detach().clone() for t in state], rng_state(idx.device)
        replay()
        graphed = [t.detach().clone() for t in state]
        with torch.no_grad():
            for t, saved in zip(state, before):
                t.copy_(saved)
        set_rng_state(idx.device, rng)
        hook, self.hook = self.hook, None  # the replay already ran it; it may only write, so once is enough
        try:
            self.opt.zero_grad(set_to_none=False)
            self.run(idx)
        finally:
            self.hook = hook
        gap = step_gap(before, graphed, state)
        if gap > 1e-3:
            warnings.warn(f"training without CUDA graphs: a replayed step differed from the eager step "
                          f"(relative difference {gap:.2g})", RuntimeWarning, stacklevel=3)
            self.graphs, self.graphed, self.unchecked = False, {}, set()


def step_gap(before: list[torch.Tensor], graphed: list[torch.Tensor], eager: list[torch.Tensor]) -> float:
    """How far a replayed step's result is from the eager one, relative to how far the eager step moved each tensor
    (rounding gives ~1e-6; a wrong batch or a stale buffer gives ~1)."""
    worst = 0.0
    for b, g, e in zip(before, graphed, eager):
        b, g, e = b.double(), g.double(), e.detach().double()
        moved = (e - b).abs().max().item()
        worst = max(worst, (g - e).abs().max().item() / (moved + 1e-12 * (1 + e.abs().max().item())))
    return worst


def rng_state(device: torch.device) -> list[torch.Tensor]:
    return [torch.get_rng_state()] + ([torch.cuda.get_rng_state(device)] if device.type == "cuda" else [])


def set_rng_state(device: torch.device, states: list[torch.Tensor]) -> None:
    torch.set_rng_state(states[0])
    if device.type == "cuda":
        torch.cuda.set_rng_state(states[1], device)


@contextlib.contextmanager
def warmup_stream(device: torch.device):
    """Run the block on a side stream, as CUDA wants the steps before a capture; a no-op off the GPU."""
    if device.type != "cuda":
        yield
        return
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        yield
    torch.cuda.current_stream(device).wait_stream(side)


def train(ens: Ensemble, task: Task, cfg: TrainConfig, desc: str = "train", seed: int = 0,
          step_hook: Callable | None = None, epoch_hook: Callable | None = None,
          graphs: bool | None = None) -> History:
    """Train every member for cfg.epochs, each on its own shuffles; a member whose loss is not finite stops.

    `graphs` (default: on a GPU, unless HW1_CUDA_GRAPHS=0) replays each step as a CUDA graph. `step_hook(ens, losses)`
    runs between backward and the optimiser step, inside the graph: it may only write device tensors in place."""
    device = task.train_y.device
    torch.manual_seed(seed)
    graphs = graphs_enabled(device) if graphs is None else graphs
    opt = adam(ens, cfg, capturable=graphs and device.type == "cuda")
    k, n, e = ens.k, task.n_train, cfg.epochs
    hist = History(*(np.full((k, e), np.nan) for _ in range(4)), lr=np.zeros(e), diverged_epoch=np.zeros(k, int))
    alive = torch.ones(k, dtype=torch.bool, device=device)
    step = TrainStep(ens, task, cfg, opt, alive, graphs, step_hook)
    bar = tqdm(range(e), desc=desc, unit="ep", leave=False, dynamic_ncols=True)
    for epoch in bar:
        ens.train(True)
        hist.lr[epoch] = lr_at(cfg, epoch)
        set_lr(opt, hist.lr[epoch])
        order = torch.rand(k, n, device=device).argsort(1)  # an independent shuffle per member
        step.loss_sum.zero_()
        step.correct.zero_()
        for i in range(0, n, cfg.batch_size):
            step(order[:, i:i + cfg.batch_size])
            hist.steps += 1
        train_loss = (step.loss_sum / n).cpu().numpy()
        newly = alive.cpu().numpy() & ~np.isfinite(train_loss)
        hist.diverged_epoch[newly] = epoch + 1
        alive &= torch.from_numpy(np.isfinite(train_loss)).to(device)  # in place: the graph reads it
        live = alive.cpu().numpy()
        hist.train_loss[live, epoch] = train_loss[live]
        if cfg.loss == "ce":
            hist.train_acc[live, epoch] = (step.correct / n).cpu().numpy()[live]
        if task.test_x is not None:
            test_loss, test_acc = evaluate(ens, task.test_x, task.test_y, task.transform, cfg.loss, cfg.eval_batch)
            hist.test_loss[live, epoch] = test_loss[live]
            if cfg.loss == "ce":
                hist.test_acc[live, epoch] = test_acc[live]
        if epoch_hook is not None:
            epoch_hook(epoch, ens)
        bar.set_postfix(loss=f"{np.nanmean(hist.train_loss[:, epoch]) if live.any() else math.nan:.4g}", refresh=False)
        if not live.any():
            break
    bar.close()
    return hist
