"""The training engine: a stack of K independent models of one architecture trained together with torch.func, and
one training loop for every experiment."""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap
from tqdm.auto import tqdm

from .models import build
from .rules import MAX_BATCH, MAX_EPOCHS, MAX_RATE, MAX_SEED, count, decay, non_negative, positive_to
from .settings import setting, settings

Transform = Callable[[torch.Tensor, bool], torch.Tensor]  # (raw batch, training?) -> model input


@settings
class TrainConfig:
    """Adam with an optional step schedule: the training recipe every experiment embeds as `train`."""
    epochs: int = setting(1, count(MAX_EPOCHS))
    batch_size: int = setting(64, count(MAX_BATCH))
    lr: float = setting(1e-3, positive_to(MAX_RATE))
    weight_decay: float = setting(0.0, non_negative)
    step_size: int = setting(0, count(MAX_EPOCHS, low=0))  # StepLR period in epochs; 0 keeps the learning rate constant
    gamma: float = setting(0.1, decay)
    seed: int = setting(0, count(MAX_SEED, low=0))  # initialisation and shuffling (and the data subsets drawn for it)


def identity(x: torch.Tensor, training: bool) -> torch.Tensor:
    return x


@dataclass
class Task:
    """Training (and optional test) data on the device; `transform` maps a raw batch to model input."""
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor | None = None
    test_y: torch.Tensor | None = None
    transform: Transform = identity
    loss: str = "ce"  # "ce" (classification, logits) or "mse" (regression)
    per_member: bool = False  # train_x/train_y carry a leading member dimension (one data set per model)

    @property
    def n_train(self) -> int:
        return self.train_y.shape[1] if self.per_member else self.train_y.shape[0]


MICRO_BATCH = 128


class Stack:
    """K independent models of one architecture, one per seed, with their parameters stacked (leading dim K)."""

    def __init__(self, arch: str, seeds: list[int], device: torch.device | str = "cpu", vectorize: bool | None = None):
        models = []
        for seed in seeds:
            torch.manual_seed(seed)
            models.append(build(arch).to(device))
        self.arch, self.seeds, self.k = arch, list(seeds), len(seeds)
        self.params, self.buffers = stack_module_state(models)
        self.base = copy.deepcopy(models[0]).to("meta")  # the architecture only: functional_call supplies the tensors
        # Under vmap a convolution becomes a grouped one, which on a CPU ran 1.6-2x slower than one plain
        # convolution per model (measured with CNN-21 x 8 and CNN-shallow x 2); MLPs gain from vmap everywhere.
        has_conv = any(isinstance(m, torch.nn.Conv2d) for m in models[0].modules())
        conv_on_cpu = has_conv and torch.device(device).type == "cpu"
        self.vectorize = vectorize if vectorize is not None else not conv_on_cpu
        # A CPU convolution's cost per image grew 2.3× from batch 256 to 4096 (CNN-shallow: its feature maps leave the
        # cache), so a larger batch is run in micro-batches of 128 with the gradients summed (0 = whole batches): the
        # same gradient, though augmentation and dropout draw their random numbers per micro-batch.
        self.micro_batch = MICRO_BATCH if conv_on_cpu else 0

    def _call(self, params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.base, (params, buffers), (x,))

    def __call__(self, x: torch.Tensor, shared: bool = False, params: dict | None = None) -> torch.Tensor:
        """Outputs K×B×...; x is K×B×... per model, or B×... fed to every model when `shared`."""
        params = self.params if params is None else params
        k = next(iter(params.values())).shape[0]
        if k == 1 or not self.vectorize:  # one plain call per model, sharing the stacked leaves
            member = lambda d, i: {n: v[i] for n, v in d.items()}
            buffers = self.buffers if k == self.k else {n: v[:1].expand(k, *v.shape[1:]) for n, v in self.buffers.items()}
            return torch.stack([self._call(member(params, i), member(buffers, i), x if shared else x[i])
                                for i in range(k)])
        return vmap(self._call, in_dims=(0, 0, None if shared else 0), randomness="different")(params, self.buffers, x)

    def train(self, mode: bool = True) -> None:
        self.base.train(mode)

    def flat_params(self) -> torch.Tensor:
        """K×P: every model's parameters as one vector."""
        return torch.cat([v.detach().flatten(1) for v in self.params.values()], dim=1)

    def params_from(self, flat: np.ndarray) -> dict[str, torch.Tensor]:
        """Stacked parameters (any number of models) on this stack's device, from rows as flat_params gives them."""
        device = next(iter(self.params.values())).device
        return unflatten(torch.from_numpy(flat).to(device), self.params)


def unflatten(flat: torch.Tensor, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Split flat parameter vectors (...×P) into tensors shaped like one model of the stack `like` (K×...), keeping
    flat's leading dimensions."""
    out, i = {}, 0
    for name, v in like.items():
        n = v[0].numel()
        out[name] = flat[..., i:i + n].reshape(*flat.shape[:-1], *v.shape[1:])
        i += n
    return out


# Images per evaluation forward: with channels-last images (data.image_transform) a CPU evaluated CNN-shallow,
# CNN-deep and CNN-wide 2-4× faster per image at 256 than at 2000, on one thread and two.
EVAL_BATCH = 256


def member_losses(out: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """Mean loss of each model over its batch (out: K×B×..., y: K×B×...)."""
    if loss == "ce":
        return F.cross_entropy(out.flatten(0, 1), y.flatten(0, 1), reduction="none").view(y.shape[:2]).mean(1)
    return (out - y).pow(2).flatten(1).mean(1)


def member_correct(out: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    if loss != "ce":
        return torch.zeros(out.shape[0], device=out.device)
    return (out.argmax(-1) == y).float().sum(1)


@torch.no_grad()
def evaluate(stack: Stack, x: torch.Tensor, y: torch.Tensor, transform: Transform = identity, loss: str = "ce",
             batch: int = EVAL_BATCH, params: dict | None = None, chunk: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean loss and accuracy on one shared data set, in evaluation mode, of every model of `params`
    (a stack of any size, default the stack's own), `chunk` models at a time when chunk > 0."""
    stack.train(False)
    params = stack.params if params is None else params
    k = next(iter(params.values())).shape[0]
    chunk = chunk or k
    losses, accs = [], []
    for c in range(0, k, chunk):
        part = {n: v[c:c + chunk] for n, v in params.items()}
        m = min(chunk, k - c)
        total = torch.zeros(m, device=x.device)
        correct = torch.zeros(m, device=x.device)
        for i in range(0, len(y), batch):
            out = stack(transform(x[i:i + batch], False), shared=True, params=part)
            yb = y[i:i + batch].expand(m, *y[i:i + batch].shape)
            total += member_losses(out, yb, loss) * yb.shape[1]
            correct += member_correct(out, yb, loss)
        losses.append(total / len(y))
        accs.append(correct / len(y))
    return torch.cat(losses).cpu().numpy(), torch.cat(accs).cpu().numpy()


@dataclass
class History:
    """Per-epoch metrics of K models (K×E arrays; NaN after a model diverged or where undefined)."""
    train_loss: np.ndarray
    train_acc: np.ndarray
    test_loss: np.ndarray
    test_acc: np.ndarray
    lr: np.ndarray  # E: the learning rate of each epoch
    diverged_epoch: np.ndarray  # K; 0 = never diverged, else the 1-based epoch whose loss was not finite
    steps: int = 0


def take(t: torch.Tensor, idx: torch.Tensor, per_member: bool) -> torch.Tensor:
    """Rows idx (K×B) of t, from each model's own data when per_member."""
    if per_member:
        return t[torch.arange(idx.shape[0], device=idx.device).unsqueeze(1), idx]
    return t[idx]


def micro_batches(batch: torch.Tensor, size: int) -> tuple[torch.Tensor, ...]:
    """A batch's indices (K×B) in micro-batches of `size` where B is above twice that, else the whole batch."""
    return batch.split(size, dim=1) if size and batch.shape[1] > 2 * size else (batch,)


StepHook = Callable[[Stack, torch.Tensor], None]  # (stack, each model's batch loss), between backward and step
EpochHook = Callable[[int, Stack], None]  # (0-based epoch, stack), after the epoch's metrics


def train(stack: Stack, task: Task, cfg: TrainConfig, desc: str = "train", step_hook: StepHook | None = None,
          epoch_hook: EpochHook | None = None) -> History:
    """Train every model for cfg.epochs, each on its own shuffles; a model whose loss is not finite stops."""
    device = task.train_y.device
    torch.manual_seed(cfg.seed)
    # fused: one kernel for all parameters instead of a loop over them (0.3 of a simulate step on the CPU)
    opt = torch.optim.Adam(stack.params.values(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    schedule = torch.optim.lr_scheduler.StepLR(opt, cfg.step_size, cfg.gamma) if cfg.step_size else None
    k, n, e = stack.k, task.n_train, cfg.epochs
    nan = lambda: np.full((k, e), np.nan)
    hist = History(nan(), nan(), nan(), nan(), lr=np.zeros(e), diverged_epoch=np.zeros(k, int))
    alive = torch.ones(k, dtype=torch.bool, device=device)
    loss_sum, correct = torch.zeros(k, device=device), torch.zeros(k, device=device)
    bar = tqdm(range(e), desc=desc, unit="ep", leave=False, dynamic_ncols=True)
    for epoch in bar:
        stack.train(True)
        hist.lr[epoch] = opt.param_groups[0]["lr"]
        order = torch.rand(k, n, device=device).argsort(1)  # an independent shuffle per model
        loss_sum.zero_()
        correct.zero_()
        for i in range(0, n, cfg.batch_size):
            batch = order[:, i:i + cfg.batch_size]
            opt.zero_grad(set_to_none=True)
            losses = torch.zeros(k, device=device)  # each model's mean loss over the whole batch
            for idx in micro_batches(batch, stack.micro_batch):
                xb = task.transform(take(task.train_x, idx, task.per_member), True)
                yb = take(task.train_y, idx, task.per_member)
                out = stack(xb)
                part = member_losses(out, yb, task.loss) * (idx.shape[1] / batch.shape[1])
                # Summed (not averaged) over models so that Adam treats each model as a separate run.
                torch.where(alive, part, 0.0).sum().backward()
                losses += part.detach()
                correct += member_correct(out.detach(), yb, task.loss)
            if step_hook is not None:
                step_hook(stack, losses)
            opt.step()
            loss_sum += losses * batch.shape[1]
            hist.steps += 1
        if schedule is not None:
            schedule.step()
        train_loss = (loss_sum / n).cpu().numpy()
        newly = alive.cpu().numpy() & ~np.isfinite(train_loss)
        hist.diverged_epoch[newly] = epoch + 1
        alive &= torch.from_numpy(np.isfinite(train_loss)).to(device)
        live = alive.cpu().numpy()
        hist.train_loss[live, epoch] = train_loss[live]
        if task.loss == "ce":
            hist.train_acc[live, epoch] = (correct / n).cpu().numpy()[live]
        if task.test_x is not None and task.test_y is not None:
            test_loss, test_acc = evaluate(stack, task.test_x, task.test_y, task.transform, task.loss)
            hist.test_loss[live, epoch] = test_loss[live]
            if task.loss == "ce":
                hist.test_acc[live, epoch] = test_acc[live]
        if epoch_hook is not None:
            epoch_hook(epoch, stack)
        bar.set_postfix(loss=f"{np.nanmean(hist.train_loss[:, epoch]) if live.any() else math.nan:.4g}", refresh=False)
        if not live.any():
            break
    bar.close()
    return hist
