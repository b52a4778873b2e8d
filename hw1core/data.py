"""MNIST and CIFAR-10 as uint8 tensors: finding the data, decoding once, batch transforms on the device."""
from __future__ import annotations

import hashlib
import logging
import math
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .errors import DataError
from .rules import MAX_IMAGES, count
from .settings import setting, settings

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
MNIST_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
HINT = "point --data-dir (or HW1_DATA_DIR) at a folder holding MNIST/raw/ and cifar10/{train,test}/ (or cifar-10-batches-py/)"


@settings
class Sizes:
    """How much of a data set an experiment uses: fixed random subsets of each split."""
    n_train: int = setting(0, count(MAX_IMAGES, low=0))  # 0 = the whole training split
    n_test: int = setting(0, count(MAX_IMAGES, low=0))  # 0 = the whole test split


@dataclass
class Split:
    """Images as uint8 N×C×H×W and integer labels, both on one device."""
    x: torch.Tensor
    y: torch.Tensor

    def to(self, device) -> "Split":
        return Split(self.x.to(device), self.y.to(device))

    def subset(self, n: int | None, seed: int = 0) -> "Split":
        """A fixed random subset of n examples (all when n is None or too large)."""
        if n is None or n >= len(self.y):
            return self
        idx = torch.randperm(len(self.y), generator=torch.Generator().manual_seed(seed))[:n].to(self.y.device)
        return Split(self.x[idx], self.y[idx])


def has_mnist(root: Path) -> bool:
    return (root / "MNIST" / "raw").is_dir()


def has_cifar(root: Path) -> bool:
    return (root / "cifar-10-batches-py").is_dir() or (root / "cifar10" / "train").is_dir()


def candidate_roots(explicit: str | None) -> list[Path]:
    """Where to look: an explicit --data-dir or HW1_DATA_DIR alone, else ./data and ../shared/datasets."""
    chosen = explicit or os.environ.get("HW1_DATA_DIR")
    if chosen:
        return [Path(chosen).expanduser()]
    return [Path("data"), PROJECT_ROOT / "data", PROJECT_ROOT.parent / "shared" / "datasets",
            Path.cwd().parent / "shared" / "datasets"]


DOWNLOAD = "HW1_DOWNLOAD"  # off: a data set found nowhere is an error at once, never a download (the tests; --no-download)


def downloads_allowed() -> bool:
    return os.environ.get(DOWNLOAD, "1").strip().lower() not in ("0", "false", "no", "off")


def find_root(name: str, explicit: str | None = None) -> Path:
    """The first candidate folder holding data set `name`, downloading into the first one if none does (unless
    downloads are off)."""
    present = has_mnist if name == "MNIST" else has_cifar
    roots = candidate_roots(explicit)
    for root in roots:
        if present(root):
            return root
    if not downloads_allowed():
        raise DataError(f"{name} not found in {', '.join(map(str, roots))} (downloads are off: "
                        f"{DOWNLOAD}={os.environ.get(DOWNLOAD, '')} or --no-download); {HINT}, or run python -m "
                        f"hw1core.data with downloads on to download both")
    target = roots[0]
    log.info("%s not found in %s; trying to download it into %s", name, ", ".join(map(str, roots)), target)
    try:
        download(name, target)
    except Exception as exc:  # any network or disk failure means the same thing to the user
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{name} not found in {', '.join(map(str, roots))} and download failed ({reason}); {HINT}")
    return target


def download(name: str, root: Path) -> None:
    from torchvision import datasets
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10)  # fail within seconds on a machine without network
    try:
        cls = datasets.MNIST if name == "MNIST" else datasets.CIFAR10
        for train in (True, False):
            cls(str(root), train=train, download=True)
    finally:
        socket.setdefaulttimeout(previous)


def check_idx(path: Path) -> None:
    """Raise DataError unless `path` is a complete IDX file (its size must match its header)."""
    if not path.is_file():
        raise DataError(f"missing data file {path}; {HINT}")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4)
        if len(head) < 4 or head[:2] != b"\0\0" or head[2] != 8:
            raise DataError(f"corrupt data file {path}: not an IDX uint8 file")
        dims = np.frombuffer(f.read(4 * head[3]), dtype=">u4")
    expected = 4 + 4 * head[3] + int(np.prod(dims, dtype=np.int64))
    if len(dims) != head[3] or size != expected:
        raise DataError(f"corrupt data file {path}: {size:,} bytes, its header implies {expected:,} (truncated?)")


def load_mnist(explicit: str | None = None) -> tuple[Split, Split]:
    from torchvision import datasets
    root = find_root("MNIST", explicit)
    for name in MNIST_FILES:
        check_idx(root / "MNIST" / "raw" / name)
    splits = []
    for train in (True, False):
        ds = datasets.MNIST(str(root), train=train, download=False)
        splits.append(Split(ds.data.unsqueeze(1).contiguous(), ds.targets.long()))
    return splits[0], splits[1]


def cache_dir() -> Path:
    base = os.environ.get("HW1_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hw1-report"
    return Path(base)


def decode_png(path: str) -> np.ndarray:
    from PIL import Image
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except Exception as exc:
        raise DataError(f"corrupt image file {path}: {exc}") from None


def cifar_folder_split(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Decode an ImageFolder split, checking that all ten CIFAR-10 classes are there."""
    from torchvision.datasets import ImageFolder
    found = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    missing = [c for c in CIFAR_CLASSES if c not in found]
    if missing:
        raise DataError(f"CIFAR-10 folder {folder} lacks class folder(s) {', '.join(missing)}")
    samples = ImageFolder(str(folder)).samples
    from tqdm.auto import tqdm
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        images = list(tqdm(pool.map(decode_png, [p for p, _ in samples], chunksize=256), total=len(samples),
                           desc=f"decoding {folder.parent.name}/{folder.name}", unit="img", leave=False))
    return np.stack(images), np.array([label for _, label in samples], dtype=np.int64)


def is_cifar_arrays(arrays: dict[str, np.ndarray]) -> bool:
    """Whether a decoded cache holds what cached_cifar_folder writes: uint8 N×32×32×3 images, N labels, per split."""
    try:
        return arrays.keys() == {"train_x", "train_y", "test_x", "test_y"} and all(
            arrays[f"{s}_x"].dtype == np.uint8 and arrays[f"{s}_x"].shape[1:] == (32, 32, 3)
            and arrays[f"{s}_y"].shape == (len(arrays[f"{s}_x"]),) for s in ("train", "test"))
    except (AttributeError, TypeError):
        return False


def cached_cifar_folder(root: Path) -> dict[str, np.ndarray]:
    """Decoded CIFAR-10 image folders, cached as one .npz keyed by the folder's path and file count."""
    folder = (root / "cifar10").resolve()
    sig = hashlib.sha256(f"{folder}:{sum(1 for _ in folder.rglob('*.png'))}".encode()).hexdigest()[:16]
    path = cache_dir() / f"cifar10-{sig}.npz"
    if path.is_file():
        try:  # whatever the file holds: a damaged cache is decoded again
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            if not is_cifar_arrays(arrays):
                raise ValueError("not the decoded CIFAR-10 arrays")
            return arrays
        except Exception as exc:
            log.warning("warning: ignoring unreadable cache %s (%s); decoding CIFAR-10 again", path,
                        str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__)
    arrays = {}
    for split in ("train", "test"):
        arrays[f"{split}_x"], arrays[f"{split}_y"] = cifar_folder_split(folder / split)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not cache decoded CIFAR-10 at %s (%s); it will be decoded again next time", path, exc)
    return arrays


def load_cifar10(explicit: str | None = None) -> tuple[Split, Split]:
    root = find_root("CIFAR-10", explicit)
    if (root / "cifar-10-batches-py").is_dir():
        from torchvision import datasets
        try:
            parts = [datasets.CIFAR10(str(root), train=t, download=False) for t in (True, False)]
        except Exception as exc:
            raise DataError(f"corrupt CIFAR-10 batches in {root / 'cifar-10-batches-py'}: {exc}") from None
        arrays = {f"{s}_x": p.data for s, p in zip(("train", "test"), parts)}
        arrays |= {f"{s}_y": np.array(p.targets) for s, p in zip(("train", "test"), parts)}
    else:
        arrays = cached_cifar_folder(root)
    train, test = (Split(torch.from_numpy(arrays[f"{s}_x"]).permute(0, 3, 1, 2).contiguous(),
                         torch.from_numpy(arrays[f"{s}_y"]).long()) for s in ("train", "test"))
    return train, test


# The 1-D target functions of HW1-1 (also the regression task of several HW1-2 experiments).
FUNCTIONS = {
    "f1": lambda x: torch.sinc(5 * x),  # sin(5πx)/(5πx): torch.sinc(t) = sin(πt)/(πt), 1 at t = 0
    "f2": lambda x: torch.sign(torch.sin(5 * math.pi * x)),  # sgn(sin(5πx))
}


def function_points(name: str, n: int, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """n evenly spaced points on [-1, 1] and the target values, both n×1."""
    x = torch.linspace(-1, 1, n, device=device).unsqueeze(1)
    return x, FUNCTIONS[name](x)


# Batch transforms: tensor operations on the whole batch, on the training device.

def random_crop_flip(x: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """Random crop with reflect padding and random horizontal flip, one draw per image of x (B×C×H×W, any dtype).

    Each crop is a window of the padded batch (`unfold` views every window without copying), picked per image:
    whole rows are copied instead of one gathered index per pixel, 3× faster on uint8 images than the gather.
    """
    b, _, h, w = x.shape
    windows = F.pad(x, (pad, pad, pad, pad), mode="reflect").unfold(2, h, 1).unfold(3, w, 1)  # B×C×dy×dx×H×W
    dy = torch.randint(0, 2 * pad + 1, (b,), device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (b,), device=x.device)
    flip = torch.rand(b, 1, 1, 1, device=x.device) < 0.5
    crops = windows[torch.arange(b, device=x.device), :, dy, dx]
    return torch.where(flip, crops.flip(-1), crops)


def image_transform(mean: tuple[float, ...] | None, std: tuple[float, ...] | None, augment: bool):
    """uint8 batch (any leading dims)×C×H×W -> float model input, in channels-last memory order; augmentation only
    when training.

    Channels-last: a CPU convolution ran 1.3-1.4× faster in training (CNN-shallow, CNN-deep, CNN-wide at batch 64;
    CNN-21 × 8 at 1000) and 2-4× faster in evaluation than on NCHW images.
    """
    stats: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}  # once per device: a CUDA graph can't copy

    def transform(x: torch.Tensor, training: bool) -> torch.Tensor:
        lead = x.shape[:-3]
        x = x.reshape(-1, *x.shape[-3:])
        if augment and training:
            x = random_crop_flip(x)  # on the uint8 images: a quarter of the bytes to move
        x = x.contiguous(memory_format=torch.channels_last).float().div_(255)  # float and the ops below keep it
        if mean is not None:
            if x.device not in stats:
                stats[x.device] = (torch.tensor(mean, device=x.device).view(1, -1, 1, 1),
                                   torch.tensor(std, device=x.device).view(1, -1, 1, 1))
            m, s = stats[x.device]
            x = (x - m) / s
        return x.reshape(*lead, *x.shape[1:])
    return transform


def main(argv: list[str] | None = None) -> int:
    """`python -m hw1core.data [FOLDER]`: find both data sets, downloading what is missing into FOLDER (default
    ./data): the explicit download step CI runs before the tests, which never download."""
    import argparse
    import sys
    parser = argparse.ArgumentParser(prog="python -m hw1core.data", description=main.__doc__)
    parser.add_argument("folder", nargs="?", default=None, help="where to look and download (default: the usual "
                        "places, downloading into ./data)")
    args = parser.parse_args(argv)
    try:  # where downloads are off, data already present is still found, and missing data is an error at once
        for name in ("MNIST", "CIFAR-10"):
            print(f"{name}: {find_root(name, args.folder)}")
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
