import shutil
import time

import pytest
import torch

from hw1core import data
from hw1core.errors import DataError


def test_mnist_is_complete_uint8(mnist):
    train, test = mnist
    assert train.x.shape == (60_000, 1, 28, 28) and train.x.dtype == torch.uint8
    assert test.x.shape == (10_000, 1, 28, 28)
    assert set(train.y.unique().tolist()) == set(range(10))


def test_cifar_is_complete_and_balanced(cifar):
    train, test = cifar
    assert train.x.shape == (50_000, 3, 32, 32) and train.x.dtype == torch.uint8
    assert torch.bincount(test.y).tolist() == [1000] * 10


def test_crop_flip_returns_shifted_or_mirrored_windows(cifar):
    x = cifar[1].x[:64].float()
    out = data.random_crop_flip(x, pad=4)
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4), mode="reflect")
    for i in range(len(x)):
        windows = [padded[i, :, dy:dy + 32, dx:dx + 32] for dy in range(9) for dx in range(9)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(-1)) for w in windows)
    assert not torch.equal(out, x)  # 64 images all drawn unshifted and unflipped is (1/162)^64


def test_crops_of_uint8_images_are_the_crops_of_their_float_copies(cifar):
    """The training transform crops the stored uint8 images before converting them: the same draws, the same crops."""
    x = cifar[1].x[:64]
    torch.manual_seed(3)
    as_bytes = data.random_crop_flip(x)
    torch.manual_seed(3)
    as_floats = data.random_crop_flip(x.float())
    assert as_bytes.dtype == torch.uint8 and torch.equal(as_bytes.float(), as_floats)


def test_normalised_cifar_has_about_zero_mean_unit_sd(cifar):
    x = data.image_transform(data.CIFAR_MEAN, data.CIFAR_STD, augment=False)(cifar[0].subset(5000).x, False)
    assert x.mean(dim=(0, 2, 3)).abs().max() < 0.05
    assert (x.std(dim=(0, 2, 3)) - 1).abs().max() < 0.05


def test_missing_data_fails_at_once_naming_data_dir_without_downloading(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "download", lambda name, root: pytest.fail("downloads are off in the tests"))
    start = time.time()
    with pytest.raises(DataError) as err:
        data.find_root("MNIST", str(tmp_path))
    assert "--data-dir" in str(err.value) and "downloads are off" in str(err.value)
    assert time.time() - start < 5


@pytest.mark.parametrize("value, allowed", [("0", False), ("false", False), (" Off ", False), ("no", False),
                                            ("1", True), ("yes", True)])
def test_downloads_are_off_for_any_spelling_of_no(monkeypatch, value, allowed):
    monkeypatch.setenv("HW1_DOWNLOAD", value)
    assert data.downloads_allowed() is allowed


def test_the_download_step_finds_present_data_and_never_downloads_where_downloads_are_off(tmp_path, monkeypatch,
                                                                                           capsys, mnist):
    monkeypatch.setenv("HW1_DOWNLOAD", "off")
    monkeypatch.setattr(data, "download", lambda name, root: pytest.fail("downloads are off"))
    assert data.main([]) == 0  # the data sets this machine has are found: an offline CI passes this step
    assert data.main([str(tmp_path)]) == 2  # an empty folder: missing, and not downloaded
    assert "downloads are off: HW1_DOWNLOAD=off" in capsys.readouterr().err


def test_missing_data_is_downloaded_where_downloads_are_on(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setenv("HW1_DOWNLOAD", "1")
    monkeypatch.setattr(data, "download", lambda name, root: calls.append((name, root)))
    assert data.find_root("CIFAR-10", str(tmp_path)) == tmp_path and calls == [("CIFAR-10", tmp_path)]

    def unreachable(name, root):
        raise OSError("Name or service not known")
    monkeypatch.setattr(data, "download", unreachable)
    with pytest.raises(DataError) as err:
        data.find_root("MNIST", str(tmp_path))
    assert "download failed (Name or service not known)" in str(err.value) and "--data-dir" in str(err.value)


def test_truncated_idx_file_is_named(tmp_path):
    raw = data.candidate_roots(None)
    root = next(r for r in raw if data.has_mnist(r))
    dest = tmp_path / "MNIST" / "raw"
    dest.mkdir(parents=True)
    for name in data.MNIST_FILES:
        shutil.copy(root / "MNIST" / "raw" / name, dest / name)
    bad = dest / "t10k-labels-idx1-ubyte"
    bad.write_bytes(bad.read_bytes()[:5000])
    with pytest.raises(DataError) as err:
        data.load_mnist(str(tmp_path))
    assert str(bad) in str(err.value) and "truncated" in str(err.value)


def test_cifar_folder_missing_a_class_is_named(tmp_path):
    for split in ("train", "test"):
        for c in data.CIFAR_CLASSES[:-1]:
            (tmp_path / "cifar10" / split / c).mkdir(parents=True)
    with pytest.raises(DataError) as err:
        data.load_cifar10(str(tmp_path))
    assert "truck" in str(err.value)


def test_subset_is_fixed_and_sized(mnist):
    a, b = mnist[1].subset(100, seed=3), mnist[1].subset(100, seed=3)
    assert len(a.y) == 100 and torch.equal(a.y, b.y)
    assert mnist[1].subset(None) is mnist[1]
