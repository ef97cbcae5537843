"""IDX parsing and the MNIST / Fashion-MNIST loaders, on files written by the tests."""

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamnets.data import MNIST, FashionMNIST, paths, read_idx, write_idx
from streamnets.data.idx import IMAGES_MAGIC, LABELS_MAGIC
from streamnets.errors import DataError

FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real data leaks in from $STREAMNETS_DATA, the repository or the user cache."""
    monkeypatch.delenv(paths.ENV_VAR, raising=False)
    monkeypatch.setattr(paths, "REPO_DATA_DIR", tmp_path / "no-repo-data")
    monkeypatch.setattr(paths, "CACHE_DIR", tmp_path / "no-cache")


def write_mnist(folder, n_train=7, n_test=5, gz=False, seed=0):
    """Write the four MNIST files with random pixels; return the arrays."""
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        img = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        lab = rng.integers(0, 10, n).astype(np.uint8)
        ext = ".gz" if gz else ""
        write_idx(folder / f"{split}-images-idx3-ubyte{ext}", img)
        write_idx(folder / f"{split}-labels-idx1-ubyte{ext}", lab)
        out[split] = (img, lab)
    return out


# --- read_idx / write_idx -------------------------------------------------------

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shape=st.lists(st.integers(0, 5), min_size=1, max_size=4),
    dtype=st.sampled_from(["u1", "i1", "i2", "i4", "f4", "f8"]),
    gz=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_idx_round_trip(tmp_path, shape, dtype, gz, seed):
    rng = np.random.default_rng(seed)
    arr = (rng.standard_normal(shape) * 100).astype(dtype)
    p = tmp_path / ("a.idx.gz" if gz else "a.idx")
    write_idx(p, arr)
    back = read_idx(p)
    assert back.shape == arr.shape and back.dtype == arr.dtype.newbyteorder("=")
    np.testing.assert_array_equal(back, arr)


def test_idx_header_is_big_endian_and_magic_checked(tmp_path):
    p = tmp_path / "labels-idx1-ubyte"
    write_idx(p, np.array([1, 2, 3], np.uint8))
    raw = p.read_bytes()
    assert raw[:8] == struct.pack(">II", LABELS_MAGIC, 3)
    assert read_idx(p, LABELS_MAGIC).tolist() == [1, 2, 3]
    with pytest.raises(DataError, match=r"labels-idx1-ubyte.*0x00000801, expected 0x00000803"):
        read_idx(p, IMAGES_MAGIC)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b"\x12\x34" + b[2:], "bad magic number 0x1234"),
        (lambda b: b[:2] + b"\x07" + b[3:], "bad magic number"),  # unknown type code
        (lambda b: b[:3], "too short for an IDX header"),
        (lambda b: b[:10], "truncated IDX header"),
        (lambda b: b[:-7], "truncated: header says shape \\(2, 3, 4\\) = 24 data bytes, file has 17"),
        (lambda b: b + b"xx", "2 unexpected bytes after the data"),
    ],
)
def test_corrupt_idx_raises_dataerror_naming_file(tmp_path, gz, mutate, message):
    good = tmp_path / "good"
    write_idx(good, np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    bad = tmp_path / ("bad-images-idx3-ubyte" + (".gz" if gz else ""))
    payload = mutate(good.read_bytes())
    bad.write_bytes(gzip.compress(payload) if gz else payload)
    with pytest.raises(DataError, match=message) as e:
        read_idx(bad)
    assert str(bad) in str(e.value)


def test_truncated_gzip_stream(tmp_path):
    p = tmp_path / "train-images-idx3-ubyte.gz"
    write_idx(p, np.zeros((10, 28, 28), np.uint8))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: corrupt or truncated gzip"):
        read_idx(p)


def test_unreadable_idx_path_is_a_dataerror(tmp_path):
    # before: bare FileNotFoundError / IsADirectoryError
    with pytest.raises(DataError, match=r"nope-idx1-ubyte: cannot read the file \(No such file"):
        read_idx(tmp_path / "nope-idx1-ubyte")
    with pytest.raises(DataError, match="cannot read the file"):
        read_idx(tmp_path)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(1, 4 + 12 + 3 * 5 * 5 - 1))
def test_any_truncation_is_detected(tmp_path, cut):
    p = tmp_path / "t.idx"
    write_idx(p, np.ones((3, 5, 5), np.uint8))
    raw = p.read_bytes()
    q = tmp_path / "cut.idx"
    q.write_bytes(raw[:-cut] if cut < len(raw) else b"")
    with pytest.raises(DataError):
        read_idx(q)


# --- MNIST loader -----------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True])
def test_mnist_loads_values_and_labels(tmp_path, gz):
    arrays = write_mnist(tmp_path / "mnist", gz=gz)
    for train, key in ((True, "train"), (False, "t10k")):
        ds = MNIST(tmp_path, train=train)
        img, lab = arrays[key]
        assert ds.data.dtype == torch.uint8 and ds.data.shape == (len(img), 1, 28, 28)
        assert ds.targets.dtype == torch.int64
        np.testing.assert_array_equal(ds.data[:, 0].numpy(), img)
        np.testing.assert_array_equal(ds.targets.numpy(), lab)
        x, y = ds[2]
        assert x.dtype == torch.float32 and x.shape == (1, 28, 28)
        assert torch.allclose(x, torch.from_numpy(img[2]).float().unsqueeze(0) / 255)
        assert y == int(lab[2])
        assert len(ds) == len(img) and ds.classes == [str(i) for i in range(10)]
        assert "MNIST" in ds.name and str(tmp_path / "mnist") in ds.name


def test_mnist_layouts_root_itself_and_torchvision_raw(tmp_path):
    write_mnist(tmp_path / "flat")
    assert MNIST(tmp_path / "flat", train=False).folder == tmp_path / "flat"
    write_mnist(tmp_path / "tv" / "MNIST" / "raw", gz=True)
    assert MNIST(tmp_path / "tv").folder == tmp_path / "tv" / "MNIST" / "raw"


def test_mnist_found_through_env_var(tmp_path, monkeypatch):
    write_mnist(tmp_path / "env" / "mnist")
    monkeypatch.setenv(paths.ENV_VAR, str(tmp_path / "env"))
    assert MNIST(train=False).folder == tmp_path / "env" / "mnist"


def test_mnist_transform_and_target_transform(tmp_path):
    write_mnist(tmp_path)
    ds = MNIST(tmp_path, train=False, transform=lambda x: x * 0 + 7, target_transform=lambda y: -1)
    x, y = ds[0]
    assert float(x.max()) == 7 and y == -1


def test_mnist_label_count_mismatch(tmp_path):
    write_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3, np.uint8))
    with pytest.raises(DataError, match="has 5 images but .* has 3 labels"):
        MNIST(tmp_path, train=False)


def test_mnist_label_out_of_range(tmp_path):
    write_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([0, 1, 2, 3, 12], np.uint8))
    with pytest.raises(DataError, match="label 12 out of range"):
        MNIST(tmp_path, train=False)


@pytest.mark.parametrize("cls", [MNIST, FashionMNIST])
def test_images_of_another_size_are_refused_naming_the_file(tmp_path, cls):
    # before: 10x10 images loaded, and training blamed the network's input shape
    write_mnist(tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((5, 10, 10), np.uint8))
    with pytest.raises(DataError, match=rf"t10k-images-idx3-ubyte: the images are 10x10, {cls.title}'s "
                                        rf"are 28x28; is it another data set\? Download it again"):
        cls(tmp_path, train=False)


def test_mnist_images_and_labels_swapped(tmp_path):
    write_mnist(tmp_path)
    os.replace(tmp_path / "t10k-labels-idx1-ubyte", tmp_path / "tmp")
    os.replace(tmp_path / "t10k-images-idx3-ubyte", tmp_path / "t10k-labels-idx1-ubyte")
    os.replace(tmp_path / "tmp", tmp_path / "t10k-images-idx3-ubyte")
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte: wrong IDX magic"):
        MNIST(tmp_path, train=False)


def test_missing_mnist_lists_every_place_and_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.ENV_VAR, str(tmp_path / "envdir"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as e:
        MNIST(tmp_path / "empty", train=True)
    msg = str(e.value)
    for place in (tmp_path / "empty" / "mnist", tmp_path / "empty" / "MNIST" / "raw", tmp_path / "empty",
                  tmp_path / "envdir" / "mnist", tmp_path / "no-cache" / "mnist",
                  Path("/usr/share/datasets/mnist")):
        assert f"  - {place}\n" in msg
    assert "download=True" in msg and "--download" in msg
    assert "train-images-idx3-ubyte.gz" in msg and f"in {tmp_path / 'empty' / 'mnist'}" in msg
    assert isinstance(e.value, OSError)


def test_missing_file_of_partial_copy_is_named(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="has train-images-idx3-ubyte but not train-labels-idx1-ubyte"):
        MNIST(tmp_path, train=True)
    MNIST(tmp_path, train=False)  # the test split is complete


def test_fashion_mnist_fixture_and_class_names(tmp_path):
    write_mnist(tmp_path / "fashion-mnist", gz=True)
    ds = FashionMNIST(tmp_path, train=False)
    assert ds.classes[9] == "Ankle boot" and "Fashion-MNIST" in ds.name
    # MNIST does not pick up the Fashion-MNIST sub-folder
    with pytest.raises(DataError):
        MNIST(tmp_path, train=False)


@pytest.mark.skipif(not (FASHION_SYSTEM_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_real_fashion_mnist_from_debian_package(tmp_path):
    test = FashionMNIST(tmp_path / "nothing-here", train=False)
    assert test.folder == FASHION_SYSTEM_DIR
    assert test.data.shape == (10000, 1, 28, 28) and test.data.dtype == torch.uint8
    assert torch.bincount(test.targets, minlength=10).tolist() == [1000] * 10
    train = FashionMNIST(train=True)
    assert train.data.shape == (60000, 1, 28, 28)
    assert torch.bincount(train.targets, minlength=10).tolist() == [6000] * 10
    assert int(train.data.max()) == 255 and int(train.data.min()) == 0
    # trousers (1) are taller than wide; bags (8) are not: a sanity check on pixel order
    def aspect(c):
        m = (train.data[train.targets == c][:500, 0].float().mean(0) > 30)
        rows, cols = m.any(1).sum(), m.any(0).sum()
        return float(rows) / float(cols)
    assert aspect(1) > 1.5 > aspect(8)
