"""The CIFAR-10 loader on pickled batches written by the tests."""

import os
import pickle

import numpy as np
import pytest
import torch

from streamnets.data import CIFAR10, paths, read_cifar_batch
from streamnets.errors import DataError


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.delenv(paths.ENV_VAR, raising=False)
    monkeypatch.setattr(paths, "REPO_DATA_DIR", tmp_path / "no-repo-data")
    monkeypatch.setattr(paths, "CACHE_DIR", tmp_path / "no-cache")


def write_cifar(folder, per_batch=4, seed=0, protocol=2):
    """Write data_batch_1..5 and test_batch; return {name: (data, labels)}."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"data": data, b"labels": labels,
                         b"filenames": [b"x.png"] * per_batch}, f, protocol=protocol)
        out[name] = (data, labels)
    return out


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_train_and_test_values(tmp_path, protocol):
    arrays = write_cifar(tmp_path / "cifar-10-batches-py", protocol=protocol)
    train = CIFAR10(tmp_path, train=True)
    assert train.data.shape == (20, 3, 32, 32) and train.data.dtype == torch.uint8
    expect = np.concatenate([arrays[f"data_batch_{i}"][0] for i in range(1, 6)])
    # channel-major: the first 1024 values are the red plane, row by row
    np.testing.assert_array_equal(train.data.reshape(20, -1).numpy(), expect)
    np.testing.assert_array_equal(train.data[5, 1, 2, 3].numpy(), expect[5, 1024 + 2 * 32 + 3])
    labels = sum((arrays[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    assert train.targets.tolist() == labels and train.targets.dtype == torch.int64
    test = CIFAR10(tmp_path, train=False)
    assert len(test) == 4 and test.targets.tolist() == arrays["test_batch"][1]
    x, y = test[1]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and 0 <= float(x.min()) <= float(x.max()) <= 1
    assert test.classes[0] == "airplane" and "CIFAR-10" in test.name


def test_cifar_layouts(tmp_path):
    write_cifar(tmp_path / "a" / "cifar10" / "cifar-10-batches-py")
    assert CIFAR10(tmp_path / "a", train=False).folder == tmp_path / "a" / "cifar10" / "cifar-10-batches-py"
    write_cifar(tmp_path / "b" / "cifar-10-batches-py")
    root = tmp_path / "b" / "cifar-10-batches-py"
    assert CIFAR10(root, train=False).folder == root  # root is the batches folder itself


def test_missing_key_names_file_and_field(tmp_path):
    d = tmp_path / "cifar-10-batches-py"
    write_cifar(d)
    with open(d / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8)}, f)
    with pytest.raises(DataError, match=r"test_batch: field b'labels' missing"):
        CIFAR10(tmp_path, train=False)


def test_wrong_shape_and_label_range(tmp_path):
    d = tmp_path / "cifar-10-batches-py"
    write_cifar(d)
    with open(d / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3000), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(DataError, match=r"must be uint8 of shape \(N, 3072\)"):
        read_cifar_batch(d / "test_batch")
    with open(d / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, f)
    with pytest.raises(DataError, match="outside 0..9"):
        read_cifar_batch(d / "test_batch")
    with open(d / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, f)
    with pytest.raises(DataError, match="2 images but 1 labels"):
        read_cifar_batch(d / "test_batch")


def test_truncated_and_malicious_pickles_are_rejected(tmp_path):
    d = tmp_path / "cifar-10-batches-py"
    write_cifar(d)
    raw = (d / "test_batch").read_bytes()
    (d / "test_batch").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="test_batch: not a readable CIFAR-10 batch"):
        CIFAR10(tmp_path, train=False)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with open(d / "test_batch", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f)
    with pytest.raises(DataError, match="not allowed"):
        CIFAR10(tmp_path, train=False)


def test_missing_cifar_message(tmp_path):
    with pytest.raises(DataError) as e:
        CIFAR10(tmp_path / "nothing", train=True)
    msg = str(e.value)
    assert f"  - {tmp_path / 'nothing' / 'cifar10' / 'cifar-10-batches-py'}\n" in msg
    assert f"  - {tmp_path / 'nothing'}\n" in msg
    assert "data_batch_1" in msg and "download=True" in msg and "--download" in msg


def test_missing_batch_of_a_partial_copy_is_named(tmp_path):
    # before: "CIFAR-10 not found" without saying that only data_batch_5 was missing
    write_cifar(tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "data_batch_5").unlink()
    with pytest.raises(DataError, match=r"cifar-10-batches-py has data_batch_1, data_batch_2, "
                                        r"data_batch_3, data_batch_4 but not data_batch_5\n"):
        CIFAR10(tmp_path, train=True)


@pytest.mark.parametrize("labels, message", [
    ([1.5, 2.7], "float64"),           # before: silently truncated to 1, 2
    ([[1, 2]], r"shape \(1, 2\)"),   # before: silently flattened
    ([b"cat", b"dog"], "S3"),         # before: bare ValueError from numpy
    (None, "object"),                 # before: bare TypeError from numpy
    ([[1], [2, 3]], "not a list of class ids"),
])
def test_labels_that_are_not_integer_class_ids(tmp_path, labels, message):
    p = tmp_path / "test_batch"
    with open(p, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": labels}, f)
    with pytest.raises(DataError, match=rf"test_batch: field b'labels' .*{message}"):
        read_cifar_batch(p)


def test_unreadable_or_odd_batch_files_are_dataerrors(tmp_path):
    with pytest.raises(DataError, match=r"nope: cannot read the file \(No such file"):
        read_cifar_batch(tmp_path / "nope")
    with pytest.raises(DataError, match="cannot read the file"):
        read_cifar_batch(tmp_path)
    p = tmp_path / "batch"
    with open(p, "wb") as f:  # non-UTF-8 and non-bytes keys; before: UnicodeDecodeError, TypeError
        pickle.dump({b"\xff": 1, 3: 2}, f)
    with pytest.raises(DataError, match="field b'data' missing"):
        read_cifar_batch(p)
    with open(p, "wb") as f:
        pickle.dump({b"data": [[0] * 3072, [0]], b"labels": [0, 1]}, f)
    with pytest.raises(DataError, match="field b'data' is not an array of images"):
        read_cifar_batch(p)


def test_random_corruption_never_escapes_as_another_error(tmp_path):
    # Before: flipped bytes gave LookupError (encoding name), UnicodeDecodeError,
    # MemoryError (huge lengths) from inside pickle.
    rng = np.random.default_rng(0)
    good = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2]}, protocol=2)
    p = tmp_path / "batch"
    for _ in range(1500):
        raw = bytearray(good)
        for _ in range(rng.integers(1, 4)):
            raw[rng.integers(len(raw))] = rng.integers(256)
        p.write_bytes(bytes(raw))
        try:
            read_cifar_batch(p)
        except DataError:
            pass
