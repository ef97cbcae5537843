"""CIFAR-10, python version (pickled batches in ``cifar-10-batches-py/``)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from . import download as dl
from .base import ArrayDataset, check_transforms
from .paths import candidate_dirs, download_dir, missing_error, partial_copies

__all__ = ["CIFAR10", "read_cifar_batch"]

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that only builds plain containers and numpy arrays."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")


def read_cifar_batch(path):
    """Read one CIFAR-10 python batch file.

    Parameters
    ----------
    path : str or path-like
        A pickled dict with ``b"data"`` (N x 3072 ``uint8``, channel-major) and
        ``b"labels"`` (N ints). Loaded with ``pickle`` (``encoding="bytes"``) through
        an unpickler that only allows numpy arrays, so a tampered file cannot run code.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``uint8`` images ``(N, 3, 32, 32)`` and ``int64`` labels ``(N,)``.

    Raises
    ------
    DataError
        Not a pickle, missing keys, wrong shapes or labels out of range.

    Examples
    --------
    >>> import pickle, tempfile
    >>> import numpy as np
    >>> path = Path(tempfile.mkdtemp()) / "data_batch_1"
    >>> batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [3, 9]}
    >>> _ = path.write_bytes(pickle.dumps(batch))
    >>> images, labels = read_cifar_batch(path)
    >>> images.shape, labels.tolist()
    ((2, 3, 32, 32), [3, 9])
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            d = _RestrictedUnpickler(f, encoding="bytes").load()
    except OSError as e:
        raise DataError(f"{path}: cannot read the file ({e.strerror or e})") from e
    except Exception as e:  # noqa: BLE001 -- garbage makes pickle fail in many ways
        raise DataError(f"{path}: not a readable CIFAR-10 batch ({type(e).__name__}: {e}); delete "
                        "the folder and download it again") from e
    if not isinstance(d, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(d).__name__}")
    d = {(k.decode("latin-1") if isinstance(k, bytes) else str(k)): v for k, v in d.items()}
    for key in ("data", "labels"):
        if key not in d:
            raise DataError(f"{path}: field b{key!r} missing (found {sorted(d)})")
    try:
        data = np.asarray(d["data"])
    except (ValueError, TypeError) as e:  # e.g. ragged nested lists
        raise DataError(f"{path}: field b'data' is not an array of images ({e})") from e
    labels = _labels(path, d["labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{path}: field b'data' must be uint8 of shape (N, 3072), "
                        f"got {data.dtype} {data.shape}")
    if len(labels) != len(data):
        raise DataError(f"{path}: {len(data)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{path}: field b'labels' has values outside 0..9")
    return data.reshape(-1, 3, 32, 32), labels


def _labels(path, value):
    """The ``b"labels"`` field as a 1-D ``int64`` array, or DataError."""
    try:
        labels = np.asarray(value)
    except (ValueError, TypeError) as e:  # e.g. ragged nested lists
        raise DataError(f"{path}: field b'labels' is not a list of class ids ({e})") from e
    if labels.ndim != 1 or not (np.issubdtype(labels.dtype, np.integer) or labels.size == 0):
        raise DataError(f"{path}: field b'labels' must be a flat list of integer class ids, got "
                        f"{labels.dtype} of shape {labels.shape}")
    return labels.astype(np.int64)


class CIFAR10(ArrayDataset):
    """CIFAR-10 (32x32 colour, 10 classes), python version.

    Looks for the folder ``cifar-10-batches-py`` (files ``data_batch_1`` ..
    ``data_batch_5`` and ``test_batch``) in each data folder and its ``cifar10/``
    sub-folder (see :mod:`streamnets.data.paths`). ``download=True`` fetches the
    official ``cifar-10-python.tar.gz`` (SHA-256-checked) and extracts it.

    Parameters
    ----------
    root : str or path-like, optional
    train : bool
        50,000 training images (5 batches) or 10,000 test images.
    transform, target_transform : callable, optional
        Applied to the float image ``(3, 32, 32)`` in [0, 1] and to the label.
    download : bool

    Examples
    --------
    >>> import numpy as np, pickle, tempfile, os
    >>> d = os.path.join(tempfile.mkdtemp(), "cifar-10-batches-py"); os.mkdir(d)
    >>> with open(os.path.join(d, "test_batch"), "wb") as f:
    ...     pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [3, 5]}, f)
    >>> ds = CIFAR10(os.path.dirname(d), train=False)
    >>> ds.data.shape, ds.classes[ds[0][1]]
    (torch.Size([2, 3, 32, 32]), 'cat')
    """

    key = "cifar10"
    title = "CIFAR-10"
    folder_name = "cifar-10-batches-py"
    subdirs = ("cifar10/cifar-10-batches-py", "cifar-10-batches-py", "CIFAR10/cifar-10-batches-py")
    system_dirs = ("/usr/share/datasets/cifar-10/cifar-10-batches-py",)
    default_classes = ["airplane", "automobile", "bird", "cat", "deer",
                       "dog", "frog", "horse", "ship", "truck"]
    #: The official archive; SHA-256 and size as pinned by Keras' CIFAR-10 loader
    #: and other independent public sources.
    resource = dl.Resource(
        "cifar-10-python.tar.gz",
        ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
        "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        170498071,
        "cifar10",
    )

    def __init__(self, root=None, train=True, transform=None, target_transform=None, download=False):
        check_transforms(self.title, transform, target_transform)
        self.train = bool(train)
        folder, looked = self.locate(root, train)
        if folder is None and download:
            folder = self.download(root)
        if folder is None:
            need = [f"{self.folder_name}/" + ", ".join(self.filenames(train))]
            partial = "; ".join(note for _, note in partial_copies(looked, self.filenames(train)))
            raise missing_error(self.title, looked, need, download_dir(root, "cifar10"), partial, root)
        parts = [read_cifar_batch(folder / f) for f in self.filenames(train)]
        data = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        self.folder = folder
        split = "train" if train else "test"
        super().__init__(torch.from_numpy(data), torch.from_numpy(labels), self.default_classes,
                         f"{self.title} ({split} split, python batches in {folder})",
                         transform, target_transform)

    @staticmethod
    def filenames(train):
        """The batch file names of a split."""
        return [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]

    @classmethod
    def locate(cls, root=None, train=True):
        """Find the ``cifar-10-batches-py`` folder; return ``(folder or None, searched)``."""
        looked = candidate_dirs(root, cls.subdirs, cls.system_dirs)
        for d in looked:
            if all((d / f).is_file() for f in cls.filenames(train)):
                return d, looked
        return None, looked

    @classmethod
    def download(cls, root=None, urls=None):
        """Download, verify and extract the archive; return the batches folder."""
        target = download_dir(root, "cifar10")
        return dl.fetch_and_extract(cls.resource, target, cls.folder_name, urls=urls)
