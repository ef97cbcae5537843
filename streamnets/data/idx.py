"""MNIST and Fashion-MNIST from IDX files (raw or ``.gz``), with header checks.

IDX format: a 4-byte magic number (two zero bytes, a type code, the number of
dimensions; ``0x00000803`` = ``uint8`` images N x H x W, ``0x00000801`` = ``uint8``
labels N), then one big-endian ``uint32`` per dimension, then the data.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from . import download as dl
from .base import ArrayDataset, check_transforms
from .paths import candidate_dirs, download_dir, missing_error, partial_copies

__all__ = ["read_idx", "write_idx", "MNIST", "FashionMNIST", "IMAGES_MAGIC", "LABELS_MAGIC"]

#: Magic number of an IDX file of ``uint8`` images (3 dimensions).
IMAGES_MAGIC = 0x00000803
#: Magic number of an IDX file of ``uint8`` labels (1 dimension).
LABELS_MAGIC = 0x00000801

_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {v.newbyteorder(">") if v.itemsize > 1 else v: k for k, v in _TYPES.items()}


def _read_bytes(path):
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read the file ({e.strerror or e})") from e
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(
                f"{path}: corrupt or truncated gzip data ({e}); delete the file and "
                "download it again (download=True)"
            ) from e
    return raw


def read_idx(path, expected_magic=None):
    """Read an IDX file (raw or gzip-compressed) into a numpy array.

    Parameters
    ----------
    path : str or path-like
    expected_magic : int, optional
        Required magic number, e.g. :data:`IMAGES_MAGIC`.

    Returns
    -------
    numpy.ndarray
        Array of the file's shape, native byte order.

    Raises
    ------
    DataError
        The file is not IDX, has an unexpected magic number, or is truncated or
        too long; the message names the file and what is wrong.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x-idx1-ubyte.gz")
    >>> write_idx(p, np.array([3, 1, 4], dtype=np.uint8))
    >>> read_idx(p, expected_magic=LABELS_MAGIC)
    array([3, 1, 4], dtype=uint8)
    """
    path = Path(path)
    buf = _read_bytes(path)
    if len(buf) < 4:
        raise DataError(f"{path}: file too short for an IDX header ({len(buf)} bytes); "
                        "delete it and download it again")
    magic = struct.unpack(">I", buf[:4])[0]
    code, ndim = buf[2], buf[3]
    if buf[0] != 0 or buf[1] != 0 or code not in _TYPES or ndim == 0:
        want = f" (expected 0x{expected_magic:08X})" if expected_magic is not None else ""
        raise DataError(f"{path}: not an IDX file: bad magic number 0x{magic:08X}{want}")
    if expected_magic is not None and magic != expected_magic:
        raise DataError(
            f"{path}: wrong IDX magic number 0x{magic:08X}, expected 0x{expected_magic:08X} "
            f"({'images' if expected_magic == IMAGES_MAGIC else 'labels'}); is this the right file?"
        )
    head = 4 + 4 * ndim
    if len(buf) < head:
        raise DataError(f"{path}: truncated IDX header: {ndim} dimensions need {head} bytes, "
                        f"file has {len(buf)}")
    dims = struct.unpack(f">{ndim}I", buf[4:head])
    dtype = _TYPES[code]
    need = math.prod(dims) * dtype.itemsize
    have = len(buf) - head
    if have < need:
        raise DataError(f"{path}: truncated: header says shape {dims} = {need} data bytes, "
                        f"file has {have}; delete it and download it again")
    if have > need:
        raise DataError(f"{path}: {have - need} unexpected bytes after the data of shape {dims}; "
                        "the file is corrupt, delete it and download it again")
    arr = np.frombuffer(buf, dtype=dtype, count=math.prod(dims), offset=head).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path, array):
    """Write ``array`` as an IDX file; gzip-compressed if ``path`` ends in ``.gz``.

    Parameters
    ----------
    path : str or path-like
    array : numpy.ndarray
        dtype ``uint8``, ``int8``, ``int16``, ``int32``, ``float32`` or ``float64``.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "t10k-labels-idx1-ubyte")
    ...     write_idx(path, np.array([3, 1, 4], dtype=np.uint8))
    ...     print(os.path.getsize(path), read_idx(path, expected_magic=LABELS_MAGIC))
    11 [3 1 4]
    """
    array = np.asarray(array)
    big = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if big not in _CODES:
        raise TypeError(f"write_idx: dtype {array.dtype} has no IDX type code")
    head = struct.pack(">BBBB", 0, 0, _CODES[big], array.ndim)
    head += struct.pack(f">{array.ndim}I", *array.shape)
    payload = head + array.astype(big).tobytes()
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(payload)


class MNIST(ArrayDataset):
    """MNIST handwritten digits (28x28 grey, 10 classes) from IDX files.

    Looks for ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each raw or ``.gz``) in
    the folders listed by :mod:`streamnets.data.paths` (sub-folders ``mnist/``,
    ``MNIST/raw/``, ``MNIST/``).

    Parameters
    ----------
    root : str or path-like, optional
        Data folder searched first (itself and its sub-folders).
    train : bool
        Training split (60,000 images) or test split (10,000).
    transform, target_transform : callable, optional
        Applied to the float image ``(1, 28, 28)`` in [0, 1] and to the label.
    download : bool
        Download the files (SHA-256-checked) if they are not found.

    Attributes
    ----------
    data : torch.Tensor
        ``uint8`` ``(N, 1, 28, 28)``.
    targets : torch.Tensor
        ``int64`` ``(N,)``.
    folder : pathlib.Path
        Where the files were read from.

    Raises
    ------
    DataError
        Files missing (the message lists every folder searched and what to do), or
        corrupt.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> root = tempfile.mkdtemp()
    >>> for split, n in (("train", 3), ("t10k", 2)):
    ...     write_idx(f"{root}/{split}-images-idx3-ubyte", np.zeros((n, 28, 28), np.uint8))
    ...     write_idx(f"{root}/{split}-labels-idx1-ubyte", np.arange(n, dtype=np.uint8))
    >>> ds = MNIST(root, train=False)
    >>> len(ds), ds.data.shape, ds[1][1]
    (2, torch.Size([2, 1, 28, 28]), 1)
    """

    key = "mnist"
    title = "MNIST"
    subdirs = ("mnist", "MNIST/raw", "MNIST")
    system_dirs = ("/usr/share/datasets/mnist",)
    default_classes = [str(i) for i in range(10)]
    base_urls = (
        "http://yann.lecun.com/exdb/mnist/",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    )
    # SHA-256 and sizes of the official gzip files. t10k-images is given in the
    # project's specification; the others agree across independent public sources
    # (e.g. torchvision's prototype data sets and TensorFlow tutorials' logs).
    checksums = {
        "train-images-idx3-ubyte.gz": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
        "train-labels-idx1-ubyte.gz": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
        "t10k-images-idx3-ubyte.gz": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
        "t10k-labels-idx1-ubyte.gz": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
    }

    def __init__(self, root=None, train=True, transform=None, target_transform=None, download=False):
        check_transforms(self.title, transform, target_transform)
        self.train = bool(train)
        folder, looked = self.locate(root, train)
        if folder is None and download:
            folder = self.download(root, train)
        if folder is None:
            raise missing_error(self.title, looked, self.filenames(train, gz=True),
                                download_dir(root, self.subdirs[0]), self._partial_note(looked, train), root)
        images_file, labels_file = (self._existing(folder, f) for f in self.filenames(train))
        images = read_idx(images_file, IMAGES_MAGIC)
        labels = read_idx(labels_file, LABELS_MAGIC)
        if images.ndim != 3:
            raise DataError(f"{images_file}: expected 3 dimensions (N, H, W), got shape {images.shape}")
        if images.shape[1:] != (28, 28):
            raise DataError(f"{images_file}: the images are {images.shape[1]}x{images.shape[2]}, "
                            f"{self.title}'s are 28x28; is it another data set? Download it again")
        if len(images) != len(labels):
            raise DataError(f"{images_file} has {len(images)} images but {labels_file} has "
                            f"{len(labels)} labels; one of them is corrupt, download again")
        n_classes = len(self.default_classes)
        if len(labels) and int(labels.max()) >= n_classes:
            raise DataError(f"{labels_file}: label {int(labels.max())} out of range 0..{n_classes - 1}")
        self.folder = folder
        split = "train" if train else "test"
        super().__init__(
            torch.from_numpy(images).unsqueeze(1),
            torch.from_numpy(labels.astype(np.int64)),
            self.default_classes,
            f"{self.title} ({split} split, IDX files in {folder})",
            transform,
            target_transform,
        )

    @staticmethod
    def filenames(train, gz=False):
        """The image and label file names of a split (without ``.gz`` unless ``gz``)."""
        p = "train" if train else "t10k"
        ext = ".gz" if gz else ""
        return [f"{p}-images-idx3-ubyte{ext}", f"{p}-labels-idx1-ubyte{ext}"]

    @staticmethod
    def _existing(folder, name):
        for n in (name, name + ".gz"):
            if (folder / n).is_file():
                return folder / n
        return None

    @classmethod
    def locate(cls, root=None, train=True):
        """Find the folder holding the split's files.

        Returns
        -------
        (pathlib.Path or None, list of pathlib.Path)
            The folder (None if not found) and every folder searched.
        """
        looked = candidate_dirs(root, cls.subdirs, cls.system_dirs)
        for d in looked:
            if all(cls._existing(d, f) for f in cls.filenames(train)):
                return d, looked
        return None, looked

    @classmethod
    def _partial_note(cls, looked, train):
        return "; ".join(f"{note}[.gz]" for _, note in partial_copies(looked, cls.filenames(train),
                                                                       cls._existing))

    @classmethod
    def resources(cls, train=True):
        """The :class:`~streamnets.data.download.Resource` objects of a split."""
        out = []
        for f in cls.filenames(train, gz=True):
            sha, size = cls.checksums.get(f, (None, None))
            out.append(dl.Resource(f, tuple(b + f for b in cls.base_urls), sha, size, cls.key))
        return out

    @classmethod
    def download(cls, root=None, train=True, urls=None):
        """Download (and verify) the split's files; return their folder."""
        target = download_dir(root, cls.subdirs[0])
        for res in cls.resources(train):
            dl.fetch(res, target, urls=urls)
        return target


class FashionMNIST(MNIST):
    """Fashion-MNIST (28x28 grey clothing images, 10 classes) from IDX files.

    Same files and interface as :class:`MNIST`; looked for in the sub-folders
    ``fashion-mnist/``, ``FashionMNIST/raw/``, ``FashionMNIST/`` of each data folder
    and in ``/usr/share/datasets/fashion-mnist`` (Debian package
    ``dataset-fashion-mnist``). Note that Debian's ``.gz`` files are compressed
    differently from the official downloads: the SHA-256 values below only apply to
    downloads, local files are checked by their IDX headers.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> root = tempfile.mkdtemp()
    >>> write_idx(f"{root}/t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8))
    >>> write_idx(f"{root}/t10k-labels-idx1-ubyte.gz", np.array([9, 0], np.uint8))
    >>> ds = FashionMNIST(root, train=False)
    >>> ds.classes[ds[0][1]]
    'Ankle boot'
    """

    key = "fashion-mnist"
    title = "Fashion-MNIST"
    subdirs = ("fashion-mnist", "FashionMNIST/raw", "FashionMNIST")
    system_dirs = ("/usr/share/datasets/fashion-mnist",)
    default_classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                       "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    base_urls = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
    # SHA-256 of the official downloads, as pinned by torchvision's prototype data
    # sets and other independent public sources (sizes not pinned).
    checksums = {
        "train-images-idx3-ubyte.gz": ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", None),
        "train-labels-idx1-ubyte.gz": ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", None),
        "t10k-images-idx3-ubyte.gz": ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", None),
        "t10k-labels-idx1-ubyte.gz": ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", None),
    }
