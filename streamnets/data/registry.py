"""Load data sets by name, and pick real data or the offline stand-in per experiment."""

from __future__ import annotations

import difflib
import inspect
from pathlib import Path

from ..errors import DataError, SettingError, one_line
from .cifar import CIFAR10
from .gtsrb import GTSRB
from .idx import MNIST, FashionMNIST
from .offline import Digits, Shapes, Signs
from .paths import candidate_dirs, partial_copies

__all__ = ["NAMES", "EXPERIMENTS", "FRAME_SHAPES", "canonical_name", "load", "default_for",
           "default_splits", "is_available"]

#: Data set names accepted by :func:`load`.
NAMES = ("mnist", "fashion-mnist", "cifar10", "gtsrb", "digits", "shapes", "signs")

#: ``{experiment: (real data set, offline stand-in)}``.
EXPERIMENTS = {"mnist": ("mnist", "digits"), "cifar10": ("cifar10", "shapes"), "gtsrb": ("gtsrb", "signs")}

#: ``{name: (C, H, W)}``: one frame of each data set, at the loaders' default size.
FRAME_SHAPES = {"mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "digits": (1, 28, 28),
                "cifar10": (3, 32, 32), "shapes": (3, 32, 32), "gtsrb": (3, 32, 32),
                "signs": (3, 32, 32)}

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


def canonical_name(name):
    """The name :data:`NAMES` has for a data set name or alias; a DataError if none.

    Examples
    --------
    >>> canonical_name("Fashion_MNIST"), canonical_name("CIFAR-10")
    ('fashion-mnist', 'cifar10')
    """
    return _canonical(name, NAMES, "data set")


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
    name = canonical_name(name)
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


def _same_source(name, split, first, root, download, kw):
    try:
        return load(name, split, root=root, download=download, **kw)
    except DataError as e:
        raise DataError(f"{_TITLES[name]}: the {first} split was read but the {split} split "
                        f"cannot be ({str(e).splitlines()[0]}); repair or delete its files, "
                        "so that every split comes from the same data set") from e


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
    if _CLASSES[name] is GTSRB:  # one folder holds every split
        return _split_there(name, "train", root)
    (a, looked), (b, _) = (_split_there(name, split, root) for split in ("train", "test"))
    return a and b, looked


def _split_there(name, split, root):
    """``(present, searched)`` for the files of one split of a real data set."""
    cls = _CLASSES[name]
    folder, looked = cls.locate(root) if cls is GTSRB else cls.locate(root, split == "train")
    return folder is not None, looked


def _partial_copies(name, root):
    """:func:`~streamnets.data.paths.partial_copies` of a real data set's files over the
    folders searched for it (MNIST, Fashion-MNIST, CIFAR-10; GTSRB's loader reports its own)."""
    cls = _CLASSES[name]
    if cls is GTSRB:
        return []
    return partial_copies(candidate_dirs(root, cls.subdirs, cls.system_dirs),
                          [f for train in (True, False) for f in cls.filenames(train)],
                          getattr(cls, "_existing", None))


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

    See Also
    --------
    default_splits : several splits, all from the same source.

    Examples
    --------
    >>> import tempfile
    >>> ds, note = default_for("cifar10", root=tempfile.mkdtemp(), split="test", n=10)
    >>> "using the offline stand-in 'shapes'" in note
    True
    """
    (ds,), note = default_splits(experiment, (split,), root=root, download=download, **kw)
    return ds, note


def default_splits(experiment, splits=("train", "test"), root=None, download=False, strict=False, **kw):
    """Several splits of an experiment's data set, all real or all offline.

    The first split is chosen as :func:`default_for` chooses it. The others come
    from the same source, so a model is never trained on the real data set and
    tested on its stand-in (or the other way round) without notice: when the real
    data set gave the first split but cannot give a later one, that is a
    :class:`~streamnets.errors.DataError`.

    Parameters
    ----------
    experiment : {"mnist", "cifar10", "gtsrb"}
    splits : sequence of str
        E.g. ``("train", "test")``; the first decides between real and offline.
    root, download, **kw
        As for :func:`default_for`.
    strict : bool
        Real data that is there but cannot be read, a partial copy under ``root``, or a
        download that fails, is a :class:`~streamnets.errors.DataError` rather than a
        note and the stand-in (for callers that named a data folder or asked for a
        download).

    Returns
    -------
    (tuple of ArrayDataset, str)
        One data set per split, and the note of the first.

    Examples
    --------
    >>> import tempfile
    >>> (train, test), note = default_splits("mnist", root=tempfile.mkdtemp())
    >>> train.name.split()[0], test.name.split()[0]
    ('digits', 'digits')
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
    first, *rest = splits
    title = _TITLES[real]
    ok, looked = is_available(real, root)
    partial = [] if ok else _partial_copies(real, root)
    # what made this call strict, to be left out for the stand-in
    asked = " and ".join(filter(None, (root is not None and "the data folder (--data-dir)",
                                       download and "the download (--download; --no-download for "
                                                    "reproduce --profile paper)"))) or "strict=True"
    why = None
    if ok or download:
        there = ok or _split_there(real, first, root)[0]  # then an error is the copy's, not the download's
        try:
            ds = load(real, first, root=root, download=download and not ok, **real_kw)
        except DataError as e:
            if there or is_available(real, root)[0]:  # (perhaps just downloaded) but unreadable
                why = f"{title} found but unreadable ({str(e).splitlines()[0]})"
                fix = "repair the files, or remove them and download them again"
            else:  # every address tried and why it failed, and where to put a copy by hand
                why = f"{title} download failed ({one_line(str(e))})"
                fix = "put the files in place by hand"
            if strict:
                raise DataError(f"{why}; {fix}, or leave out {asked} to use the offline stand-in "
                                f"{standin!r}") from None
        else:
            others = [_same_source(real, split, first, root, download, real_kw)
                      for split in rest]
            return (ds, *others), f"using {title}{'' if ok else ', downloaded'} ({ds.name})"
    if why is None and partial:
        why = f"{title} incomplete ({'; '.join(note for _, note in partial)})"
        named = root is not None and any(
            folder.resolve().is_relative_to(Path(root).expanduser().resolve()) for folder, _ in partial)
        if strict and named:  # a leftover elsewhere does not stop a run on another folder
            raise DataError(f"{why}; add the missing files (or --download them), or leave out {asked} "
                            f"to use the offline stand-in {standin!r}")
    if why is None:
        why = f"{title} not found in [{', '.join(str(p) for p in looked)}]"
    ds, *others = (load(standin, s, **standin_kw) for s in splits)
    if download:
        hint = ""
    elif ok:  # --download fetches what is missing; it does not repair what is there
        hint = "; to use the real data repair the files, or remove them and pass download=True (--download)"
    else:
        hint = "; to use the real data pass download=True (--download)"
    return (ds, *others), f"{why}; using the offline stand-in {standin!r} ({ds.name}){hint}"
