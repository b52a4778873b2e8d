"""Benchmarks, in one process.

    python -m hw1core.bench [--quick] [--device auto|cpu|cuda] [--out out]
    python -m hw1core.bench --stages [--repeat 3]

The default compares the textbook style (per-sample PIL transforms in a DataLoader, batch size 1 for the function
fit, per-example loops) with this project's engine on the same models and data: it prints a table (seconds for each
style and the speed-up) and writes OUT/bench.json, which the report's appendix shows.

`--stages` times the inner loops where the full build spends its time (an evaluation pass, a training epoch at the
extremes of the batch-size sweep, optimization-path's eight-run epoch, a simulate epoch, error-surface's loss grid),
each the median of `--repeat` runs, with what the full profile does of it; run it at two commits to measure a change.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np
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


def median_time(fn: Callable[[], object], device: torch.device, repeat: int) -> float:
    fn()  # warm-up: first calls allocate and pick kernels
    return sorted(timed(fn, device) for _ in range(repeat))[repeat // 2]


def stage_workloads(device: torch.device) -> list[tuple[str, Callable[[], object], float, str]]:
    """(stage, one unit of it, units in the full profile, what a unit is): the loops behind most of the full build."""
    from .experiments import error_surface, simulate
    train, test = data.load_cifar10()
    test = test.subset(10_000).to(device)
    images = train.subset(8192).to(device)
    cifar = data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, augment=True)

    def evaluation(arch: str) -> Callable[[], object]:
        stack = engine.Stack(arch, [0], device)
        return lambda: engine.evaluate(stack, test.x, test.y, cifar)

    def epoch(arch: str, seeds: int, n: int, batch: int) -> Callable[[], object]:
        task = engine.Task(images.x[:n], images.y[:n], transform=cifar)
        cfg = engine.TrainConfig(1, batch, 1e-3)
        return lambda: engine.train(engine.Stack(arch, list(range(seeds)), device), task, cfg, desc="stage")

    sim = simulate.Config()
    x, y = data.function_points("f2", sim.n_train, device)
    k = len(sim.functions) * sim.seeds
    sim_task = engine.Task(x.expand(k, *x.shape), y.expand(k, *y.shape), loss="mse", per_member=True)
    sim_cfg = engine.TrainConfig(20, sim.train.batch_size, sim.train.lr, sim.train.weight_decay)

    es = error_surface.Config()
    es_stack = engine.Stack(es.model, [0], device)
    centre = {n: v[0] for n, v in es_stack.params.items()}
    gen = torch.Generator().manual_seed(0)
    d1, d2 = (analysis.filter_normalised_direction(centre, gen) for _ in range(2))
    es_images = train.subset(es.n_eval).to(device)
    axis = np.linspace(-1, 1, 3)
    return [
        ("evaluation: CNN-shallow, 10,000 CIFAR-10 test images", evaluation("CNN-shallow"), 0, "pass"),
        ("evaluation: CNN-wide, 10,000 CIFAR-10 test images", evaluation("CNN-wide"), 0, "pass"),
        ("training: CNN-shallow, one epoch of 8,192 images, batch 64", epoch("CNN-shallow", 1, 8192, 64), 0, "epoch"),
        ("training: CNN-shallow, one epoch of 8,192 images, batch 4096", epoch("CNN-shallow", 1, 8192, 4096), 0,
         "epoch"),
        ("optimization-path: CNN-21 × 8 runs, one epoch of 1,000 images, batch 1000", epoch("CNN-21", 8, 1000, 1000),
         0, "epoch"),
        (f"simulate: MLP-deep × {k} models, 20 epochs of {sim.n_train} points, batch {sim.train.batch_size}",
         lambda: engine.train(engine.Stack("MLP-deep", list(range(k)), device), sim_task, sim_cfg, desc="stage"),
         sim.train.epochs / 20 * len(sim.models), "20 epochs"),
        (f"error-surface: 3 × 3 grid points on {es.n_eval:,} images ({es.grid} × {es.grid} × 2 in the full profile)",
         lambda: analysis.loss_grid(es_stack, centre, d1, d2, axis, axis, es_images.x, es_images.y, cifar),
         2 * es.grid ** 2 / 9, "9 points"),
    ]


def run_stages(device: torch.device, repeat: int) -> list[dict]:
    rows = []
    for name, fn, units, unit in stage_workloads(device):
        t = median_time(fn, device, repeat)
        full = f"{t * units / 60:8.1f} min in the full profile" if units else ""
        print(f"{name:<96} {t:8.3f} s/{unit} {full}", flush=True)
        rows.append({"stage": name, "seconds": t, "unit": unit, "full_profile_units": units})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller workloads (a minute or two on a laptop CPU)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--out", default="out", help="folder for bench.json (default out/)")
    p.add_argument("--stages", action="store_true", help="time the full build's inner loops instead (no file written)")
    p.add_argument("--repeat", type=int, default=3, help="--stages: runs per stage, the median is shown (default 3)")
    args = p.parse_args(argv)
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    label = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"
    if args.stages:
        torch.set_float32_matmul_precision("high")  # as the build sets it
        print(f"stages on {label}, torch {torch.__version__}, median of {args.repeat}")
        run_stages(device, max(1, args.repeat))
        return 0
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
