"""Benchmark: the textbook style (per-sample PIL transforms in a DataLoader, batch size 1 for the function fit,
per-example loops) against this project's engine, on the same models and data, in one process.

    python -m hw1core.bench [--quick] [--device auto|cpu|cuda] [--out out]

Prints a table (seconds for each style and the speed-up) and writes OUT/bench.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from . import analysis, data, engine, models

SCALES = {  # workload -> (quick, full) sizes
    "cnn_wide": (2_000, 10_000),  # CIFAR-10 training images, one epoch
    "cnn21x8": (2_000, 10_000),  # CIFAR-10 training images, one epoch of each of 8 runs
    "fit": (20, 1_000),  # epochs of the 300-point function fit
    "sensitivity": (200, 1_000),  # test images
    "hessian": (20, 100),  # models
}


def timed(fn: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def plain_loader(n: int, batch: int, seed: int = 0):
    """torchvision's dataset with per-sample PIL transforms behind a DataLoader, as textbook PyTorch code does."""
    from torchvision import datasets, transforms
    root = data.find_root("CIFAR-10")
    tf = transforms.Compose([transforms.RandomCrop(32, padding=4, padding_mode="reflect"),
                             transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                             transforms.Normalize(data.CIFAR_MEAN, data.CIFAR_STD)])
    if (root / "cifar-10-batches-py").is_dir():
        ds = datasets.CIFAR10(str(root), train=True, transform=tf)
    else:
        ds = datasets.ImageFolder(str(root / "cifar10" / "train"), transform=tf)
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:n].tolist()
    return torch.utils.data.DataLoader(torch.utils.data.Subset(ds, idx), batch_size=batch, shuffle=True)


def plain_train(arch: str, loader, device: torch.device, lr: float = 4e-4) -> None:
    model = models.build(arch).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def plain_runs(arch: str, runs: int, n: int, batch: int, device: torch.device) -> None:
    for seed in range(runs):
        plain_train(arch, plain_loader(n, batch, seed), device)


def engine_cifar(arch: str, seeds: list[int], n: int, batch: int, device: torch.device) -> Callable[[], object]:
    train, _ = data.load_cifar10()
    train = train.subset(n).to(device)
    task = engine.Task(train.x, train.y, transform=data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, True))
    cfg = engine.TrainConfig(1, batch, 4e-4, 1e-4)
    return lambda: engine.train(engine.Stack(arch, seeds, device), task, cfg, desc=f"bench {arch}")


def plain_fit(epochs: int, device: torch.device) -> None:
    x, y = data.function_points("f1", 300, device)
    model = models.build("MLP-middle").to(device)
    opt = torch.optim.Adam(model.parameters(), lr=4e-4, weight_decay=1e-4)
    for _ in range(epochs):
        for i in torch.randperm(300).tolist():  # batch size 1
            loss = F.mse_loss(model(x[i:i + 1]), y[i:i + 1])
            opt.zero_grad()
            loss.backward()
            opt.step()


def engine_fit(epochs: int, device: torch.device) -> Callable[[], object]:
    x, y = data.function_points("f1", 300, device)
    cfg = engine.TrainConfig(epochs, 64, 4e-4, 1e-4)
    return lambda: engine.train(engine.Stack("MLP-middle", [0], device), engine.Task(x, y, loss="mse"), cfg,
                                desc="bench fit")


def sensitivity_inputs(n: int, device: torch.device) -> torch.Tensor:
    _, test = data.load_cifar10()
    return data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, False)(test.subset(n).x.to(device), False)


def plain_sensitivity(x: torch.Tensor, device: torch.device) -> None:
    model = models.build("CNN-shallow").to(device).eval()
    for i in range(len(x)):  # one image at a time
        jac = torch.autograd.functional.jacobian(lambda inp: model(inp).softmax(-1), x[i:i + 1])
        jac.norm()


def engine_sensitivity(x: torch.Tensor, device: torch.device) -> Callable[[], object]:
    ens = engine.Stack("CNN-shallow", [0], device)
    return lambda: [analysis.jacobian_norms(ens, ens.params, x[i:i + 500]) for i in range(0, len(x), 500)]


def plain_hessians(n: int, device: torch.device) -> None:
    x, y = data.function_points("f1", 300, device)
    for seed in range(n):
        torch.manual_seed(seed)
        model = models.build("MLP-minratio").to(device)
        names = [k for k, _ in model.named_parameters()]
        shapes = [p.shape for p in model.parameters()]
        flat = torch.cat([p.detach().flatten() for p in model.parameters()])

        def loss(theta: torch.Tensor) -> torch.Tensor:
            parts, i = {}, 0
            for name, shape in zip(names, shapes):
                parts[name] = theta[i:i + shape.numel()].view(shape)
                i += shape.numel()
            return F.mse_loss(torch.func.functional_call(model, parts, (x,)), y)

        torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss, flat))


def engine_hessians(n: int, device: torch.device) -> Callable[[], object]:
    x, y = data.function_points("f1", 300, device)
    ens = engine.Stack("MLP-minratio", list(range(n)), device)
    return lambda: [torch.linalg.eigvalsh(analysis.exact_hessian(ens, k, x, y)) for k in range(n)]


def run_benchmark(quick: bool, device: torch.device) -> list[dict]:
    pick = lambda key: SCALES[key][0 if quick else 1]
    n_wide, n_21, fit, n_sens, n_hess = (pick(k) for k in SCALES)
    x_sens = sensitivity_inputs(n_sens, device)
    workloads = [
        (f"CNN-wide, one epoch of {n_wide:,} CIFAR-10 images, batch 64",
         lambda: plain_train("CNN-wide", plain_loader(n_wide, 64), device),
         engine_cifar("CNN-wide", [0], n_wide, 64, device)),
        (f"CNN-21 × 8 runs, one epoch of {n_21:,} images each, batch 1000",
         lambda: plain_runs("CNN-21", 8, n_21, 1000, device),
         engine_cifar("CNN-21", list(range(8)), n_21, 1000, device)),
        (f"function fit, MLP-middle on f1, {fit:,} epochs (plain: batch 1; engine: batch 64)",
         lambda: plain_fit(fit, device), engine_fit(fit, device)),
        (f"Jacobian sensitivity of CNN-shallow over {n_sens:,} test images",
         lambda: plain_sensitivity(x_sens, device), engine_sensitivity(x_sens, device)),
        (f"exact Hessian + eigenvalues of the minimal-ratio MLP × {n_hess}",
         lambda: plain_hessians(n_hess, device), engine_hessians(n_hess, device)),
    ]
    rows = []
    for name, plain, ours in workloads:
        t_plain, t_ours = timed(plain, device), timed(ours, device)
        rows.append({"workload": name, "plain_s": t_plain, "engine_s": t_ours, "speedup": t_plain / t_ours})
        print(f"{name:<80} {t_plain:9.2f} s {t_ours:9.2f} s {t_plain / t_ours:7.1f}×", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller workloads (a minute or two on a laptop CPU)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--out", default="out", help="folder for bench.json (default out/)")
    args = p.parse_args(argv)
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    label = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"
    print(f"{'workload (' + label + ')':<80} {'plain':>11} {'engine':>11} {'speed-up':>8}")
    rows = run_benchmark(args.quick, device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps({"device": label, "profile": "quick" if args.quick else "full",
                                                "date": datetime.now().isoformat(timespec="seconds"),
                                                "torch": torch.__version__, "rows": rows}, indent=1))
    print(f"written: {out / 'bench.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
