"""Load data sets by name, and pick real data or the offline stand-in per experiment."""

from __future__ import annotations

import difflib
import inspect

from ..errors import DataError, SettingError
from .cifar import CIFAR10
from .gtsrb import GTSRB
from .idx import MNIST, FashionMNIST
from .offline import Digits, Shapes, Signs

__all__ = ["NAMES", "EXPERIMENTS", "load", "default_for", "is_available"]

#: Data set names accepted by :func:`load`.
NAMES = ("mnist", "fashion-mnist", "cifar10", "gtsrb", "digits", "shapes", "signs")

#: ``{experiment: (real data set, offline stand-in)}``.
EXPERIMENTS = {"mnist": ("mnist", "digits"), "cifar10": ("cifar10", "shapes"), "gtsrb": ("gtsrb", "signs")}

_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist",
            "cifar-10": "cifar10", "cifar_10": "cifar10"}
_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "gtsrb": "GTSRB"}
_TRACK_SETS = ("gtsrb", "signs")
_CLASSES = {"mnist": MNIST, "fashion-mnist": FashionMNIST, "cifar10": CIFAR10, "gtsrb": GTSRB,
            "digits": Digits, "shapes": Shapes, "signs": Signs}


def _canonical(name, choices, what):
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in choices:
        known = list(choices) + [a for a, k in _ALIASES.items() if k in choices]
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"did you mean {_ALIASES.get(close[0], close[0])!r}? " if close else ""
        raise DataError(f"unknown {what} {name!r}; {hint}choose one of {', '.join(choices)}")
    return key


def _no_train_kw(kw, where):
    # torchvision habit: train=False; here the split is chosen by name
    if "train" in kw:
        split = "train" if kw["train"] else "test"
        raise SettingError(f"{where}: choose the split with split={split!r}, not "
                           f"train={kw['train']!r}")


def _accepted(cls, kw):
    """The items of ``kw`` that ``cls(...)`` takes as keyword arguments."""
    params = inspect.signature(cls).parameters
    return {k: v for k, v in kw.items() if k in params}


def _split_arg(name, split):
    valid = ("train", "val", "test") if name in _TRACK_SETS else ("train", "test")
    if split not in valid:
        raise DataError(f"data set {name!r} has no split {split!r}; use one of {', '.join(valid)}")
    return split


def load(name, split="train", root=None, download=False, **kw):
    """Load a data set by name.

    Parameters
    ----------
    name : str
        One of :data:`NAMES` (``"mnist"``, ``"fashion-mnist"``, ``"cifar10"``,
        ``"gtsrb"``, ``"digits"``, ``"shapes"``, ``"signs"``).
    split : str
        ``"train"`` or ``"test"``; ``"val"`` too for ``"gtsrb"`` and ``"signs"``.
    root : str or path-like, optional
        Data folder (real data sets only; see :mod:`streamnets.data.paths`).
    download : bool
        Download real data sets that are missing.
    **kw
        Passed to the data set class (e.g. ``n=`` for shapes, ``n_tracks=`` for signs,
        ``transform=``).

    Returns
    -------
    ArrayDataset

    Raises
    ------
    DataError
        Unknown name or split, or the real data set is missing or corrupt.

    Examples
    --------
    >>> ds = load("shapes", "test", n=20)
    >>> ds.name.split(" (")[0], len(ds)
    ('shapes', 20)
    """
    name = _canonical(name, NAMES, "data set")
    _no_train_kw(kw, "load")
    split = _split_arg(name, split)
    train = split == "train"
    if name == "mnist":
        return MNIST(root, train=train, download=download, **kw)
    if name == "fashion-mnist":
        return FashionMNIST(root, train=train, download=download, **kw)
    if name == "cifar10":
        return CIFAR10(root, train=train, download=download, **kw)
    if name == "gtsrb":
        return GTSRB(root, split=split, download=download, **kw)
    if name == "digits":
        return Digits(train=train, **kw)
    if name == "shapes":
        return Shapes(train=train, **kw)
    return Signs(split, **kw)


def is_available(name, root=None):
    """Whether a real data set's files (all splits) are present locally.

    Returns
    -------
    (bool, list of pathlib.Path)
        Availability and the folders searched.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as root:
    ...     folder = pathlib.Path(root, "mnist")
    ...     folder.mkdir()
    ...     for name in MNIST.filenames(train=True) + MNIST.filenames(train=False):
    ...         _ = (folder / name).write_bytes(b"")  # only the files' presence is checked
    ...     available, looked = is_available("mnist", root=root)
    ...     print(available, looked[0] == folder)
    True True
    """
    name = _canonical(name, tuple(_TITLES), "real data set")
    if name in ("mnist", "fashion-mnist"):
        cls = MNIST if name == "mnist" else FashionMNIST
        a, looked = cls.locate(root, True)
        b, _ = cls.locate(root, False)
        return a is not None and b is not None, looked
    if name == "cifar10":
        a, looked = CIFAR10.locate(root, True)
        b, _ = CIFAR10.locate(root, False)
        return a is not None and b is not None, looked
    a, looked = GTSRB.locate(root)
    return a is not None, looked


def default_for(experiment, root=None, download=False, split="train", **kw):
    """The data set for one of the paper's experiments: real if present, else offline.

    Parameters
    ----------
    experiment : {"mnist", "cifar10", "gtsrb"}
    root : str or path-like, optional
    download : bool
        Try to download the real data set first if it is missing; if that fails the
        offline stand-in is used and the note says why.
    split : str
        ``"train"`` or ``"test"`` (``"val"`` too for ``"gtsrb"``).
    **kw
        Passed to the data set class that is chosen, as far as it takes them:
        ``transform=`` reaches either, ``n=`` only the stand-in, ``cache=`` only
        GTSRB. A keyword that neither takes is a
        :class:`~streamnets.errors.SettingError`.

    Returns
    -------
    (ArrayDataset, str)
        The data set and a one-line note saying which data set this is and why.

    Examples
    --------
    >>> import tempfile
    >>> ds, note = default_for("cifar10", root=tempfile.mkdtemp(), split="test", n=10)
    >>> "using the offline stand-in 'shapes'" in note
    True
    """
    experiment = _canonical(experiment, tuple(EXPERIMENTS), "experiment")
    _no_train_kw(kw, "default_for")
    real, standin = EXPERIMENTS[experiment]
    real_kw = _accepted(_CLASSES[real], kw)
    standin_kw = _accepted(_CLASSES[standin], kw)
    unknown = sorted(set(kw) - set(real_kw) - set(standin_kw))
    if unknown:
        raise SettingError(f"default_for: neither {_CLASSES[real].__name__} nor "
                           f"{_CLASSES[standin].__name__} takes the keyword argument(s) "
                           f"{', '.join(unknown)}")
    title = _TITLES[real]
    ok, looked = is_available(real, root)
    why = None
    if ok:
        try:
            ds = load(real, split, root=root, **real_kw)
            return ds, f"using {title} ({ds.name})"
        except DataError as e:
            why = f"{title} found but unreadable ({str(e).splitlines()[0]})"
    elif download:
        try:
            ds = load(real, split, root=root, download=True, **real_kw)
            return ds, f"using {title}, downloaded ({ds.name})"
        except DataError as e:
            why = f"{title} download failed ({str(e).splitlines()[0]})"
    if why is None:
        why = f"{title} not found in [{', '.join(str(p) for p in looked)}]"
    ds = load(standin, split, **standin_kw)
    hint = "" if download else "; to use the real data pass download=True (--download)"
    return ds, f"{why}; using the offline stand-in {standin!r} ({ds.name}){hint}"
