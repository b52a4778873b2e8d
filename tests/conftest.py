import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture(scope="session")
def mnist():
    from hw1core import data
    return data.load_mnist()


@pytest.fixture(scope="session")
def cifar():
    from hw1core import data
    return data.load_cifar10()
