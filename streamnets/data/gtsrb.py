"""GTSRB training set as tracks of an approaching traffic sign.

Layout (the official ``GTSRB_Final_Training_Images.zip``)::

    GTSRB/Final_Training/Images/000CC/TTTTT_FFFFF.ppm   (class CC, track T, frame F)
    GTSRB/Final_Training/Images/000CC/GT-000CC.csv      (Filename;Width;Height;Roi.X1;...;ClassId)

Images are grouped into tracks by (class, track id), ordered by frame index,
resized to 32x32 (Pillow, bilinear) and brought to a fixed length of 30 frames
(longer tracks are subsampled evenly, shorter ones padded with their last frame).
The decoded tensor of all tracks is cached in a ``.pt`` file (written atomically)
next to the ``Images`` folder, or in ``~/.cache/streamnets`` if that folder is
read-only, so a second load takes a fraction of a second.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .._io import atomic_writer
from ..errors import DataError, StreamnetsError, whole_number
from . import download as dl
from .base import ArrayDataset, check_transforms
from . import paths
from .paths import candidate_dirs, download_dir, missing_error

__all__ = ["GTSRB", "GTSRB_CLASSES", "split_tracks", "SPLITS"]

#: The 43 GTSRB class names, by class id.
GTSRB_CLASSES = [
    "Speed limit (20km/h)", "Speed limit (30km/h)", "Speed limit (50km/h)",
    "Speed limit (60km/h)", "Speed limit (70km/h)", "Speed limit (80km/h)",
    "End of speed limit (80km/h)", "Speed limit (100km/h)", "Speed limit (120km/h)",
    "No passing", "No passing for vehicles over 3.5 metric tons",
    "Right-of-way at the next intersection", "Priority road", "Yield", "Stop",
    "No vehicles", "Vehicles over 3.5 metric tons prohibited", "No entry",
    "General caution", "Dangerous curve to the left", "Dangerous curve to the right",
    "Double curve", "Bumpy road", "Slippery road", "Road narrows on the right",
    "Road work", "Traffic signals", "Pedestrians", "Children crossing",
    "Bicycles crossing", "Beware of ice/snow", "Wild animals crossing",
    "End of all speed and passing limits", "Turn right ahead", "Turn left ahead",
    "Ahead only", "Go straight or right", "Go straight or left", "Keep right",
    "Keep left", "Roundabout mandatory", "End of no passing",
    "End of no passing by vehicles over 3.5 metric tons",
]

#: Split names and fractions of the tracks of each class.
SPLITS = {"train": 0.8, "val": 0.1, "test": 0.1}

_FILE_RE = re.compile(r"^(\d{5})_(\d{5})\.ppm$", re.IGNORECASE)
_CLASS_RE = re.compile(r"^\d{5}$")
_CACHE_VERSION = 1


def split_tracks(labels, seed=0, fractions=(0.8, 0.1, 0.1)):
    """Split track indices into train/val/test, stratified by class, deterministically.

    In every class the tracks are shuffled with ``numpy.random.default_rng(seed)``;
    validation and test each get ``round(fraction * n)`` tracks, but at least one
    each when the class has at least 3 tracks; the rest is training.

    Parameters
    ----------
    labels : array-like of int
        Class of each track.
    seed : int
    fractions : (float, float, float)

    Returns
    -------
    dict
        ``{"train": array, "val": array, "test": array}`` of sorted track indices.

    Examples
    --------
    >>> s = split_tracks([0] * 10 + [1] * 10)
    >>> [len(s[k]) for k in ("train", "val", "test")]
    [16, 2, 2]
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = {"train": [], "val": [], "test": []}
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        n = len(idx)
        n_val = int(round(fractions[1] * n))
        n_test = int(round(fractions[2] * n))
        if n >= 3:
            n_val, n_test = max(1, n_val), max(1, n_test)
        elif n == 2:
            n_val, n_test = 0, 1
        else:
            n_val = n_test = 0
        out["val"].extend(idx[:n_val])
        out["test"].extend(idx[n_val:n_val + n_test])
        out["train"].extend(idx[n_val + n_test:])
    return {k: np.sort(np.asarray(v, dtype=np.int64)) for k, v in out.items()}


def _scan(images_dir):
    """Return ``{(class, track): [(frame, path), ...]}`` and a fingerprint of the files."""
    tracks = {}
    h = hashlib.sha1()
    class_dirs = sorted(d for d in images_dir.iterdir() if d.is_dir() and _CLASS_RE.match(d.name))
    if not class_dirs:
        raise DataError(f"{images_dir}: no class folders 00000..00042; is this GTSRB/Final_Training/Images?")
    for cdir in class_dirs:
        cls = int(cdir.name)
        if cls >= len(GTSRB_CLASSES):
            raise DataError(f"{cdir}: class id {cls} out of range 0..{len(GTSRB_CLASSES) - 1}")
        csv_path = cdir / f"GT-{cdir.name}.csv"
        if csv_path.is_file():
            entries = _read_csv(csv_path, cls)
        else:
            entries = sorted(e.name for e in os.scandir(cdir) if _FILE_RE.match(e.name))
        for name in entries:
            m = _FILE_RE.match(name)
            if m is None:
                raise DataError(f"{csv_path}: file name {name!r} is not TTTTT_FFFFF.ppm")
            path = cdir / name
            try:
                size = path.stat().st_size
            except OSError:
                raise DataError(f"{csv_path}: lists {name} but {path} does not exist; the copy is "
                                "incomplete, extract the archive again") from None
            h.update(f"{cls}/{name}:{size};".encode())
            tracks.setdefault((cls, int(m.group(1))), []).append((int(m.group(2)), path))
    if not tracks:
        raise DataError(f"{images_dir}: no TTTTT_FFFFF.ppm images found")
    for v in tracks.values():
        v.sort()
    return tracks, h.hexdigest()


def _id_ranges(ids):
    """Sorted ids as folder-name ranges: ``[0, 1, 2, 7]`` -> ``'00000-00002, 00007'``."""
    runs = []
    for i in ids:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(f"{a:05d}" if a == b else f"{a:05d}-{b:05d}" for a, b in runs)


def _read_csv(csv_path, cls):
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:  # -sig: a BOM from an editor
            rows = list(csv.reader(f, delimiter=";"))
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{csv_path}: not a readable GTSRB annotation file ({e}); extract the "
                        "archive again") from e
    if not rows:
        raise DataError(f"{csv_path}: empty file; expected a header Filename;...;ClassId")
    header = [c.strip() for c in rows[0]]
    for col in ("Filename", "ClassId"):
        if col not in header:
            raise DataError(f"{csv_path}: header has no column {col!r} (found {header}); "
                            "expected Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId")
    fi, ci = header.index("Filename"), header.index("ClassId")
    names, seen = [], {}
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) <= max(fi, ci):
            raise DataError(f"{csv_path}, line {lineno}: {len(row)} fields, expected {len(header)}")
        try:
            row_cls = int(row[ci])
        except ValueError:
            raise DataError(f"{csv_path}, line {lineno}: ClassId {row[ci]!r} is not an integer") from None
        if row_cls != cls:
            raise DataError(f"{csv_path}, line {lineno}: ClassId {row_cls} but the file is in the "
                            f"folder of class {cls}")
        name = row[fi].strip()
        if name in seen:
            raise DataError(f"{csv_path}, line {lineno}: {name} is listed a second time (first on "
                            f"line {seen[name]}); the file is corrupt, extract the archive again")
        seen[name] = lineno
        names.append(name)
    return names


def _decode(path, size):
    try:
        with Image.open(path) as im:
            im = im.convert("RGB").resize((size, size), Image.BILINEAR)
            return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"{path}: cannot decode image ({e}); extract the archive again") from e


def _frame_indices(n, length):
    if n >= length:
        return np.round(np.linspace(0, n - 1, length)).astype(np.int64)
    return np.concatenate([np.arange(n), np.full(length - n, n - 1)]).astype(np.int64)


def _build(images_dir, tracks, size, length):
    keys = sorted(tracks)
    jobs = []
    for k in keys:
        frames = tracks[k]
        jobs.extend(frames[i][1] for i in _frame_indices(len(frames), length))
    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        imgs = list(pool.map(lambda p: _decode(p, size), jobs, chunksize=64))
    data = torch.from_numpy(np.stack(imgs)).reshape(len(keys), length, 3, size, size)
    return {
        "data": data,
        "targets": torch.tensor([k[0] for k in keys], dtype=torch.int64),
        "track_ids": torch.tensor(keys, dtype=torch.int64).reshape(-1, 2),
        "track_lengths": torch.tensor([len(tracks[k]) for k in keys], dtype=torch.int64),
    }


def _atomic_save(obj, path):
    """``torch.save`` written atomically, with the permissions ``open()`` would give,
    so that other users of a shared data folder can read the cache."""
    with atomic_writer(path) as tmp:
        torch.save(obj, tmp)


class GTSRB(ArrayDataset):
    """GTSRB training set as tracks ``(N, 30, 3, 32, 32)`` of an approaching sign.

    Parameters
    ----------
    root : str or path-like, optional
        Data folder; ``GTSRB/Final_Training/Images`` is looked for in it, in its
        ``gtsrb/`` sub-folder and in the other folders of :mod:`streamnets.data.paths`.
    split : {"train", "val", "test"}
        Tracks are split 80/10/10 per class (see :func:`split_tracks`).
    transform, target_transform : callable, optional
        Applied to the float track ``(30, 3, 32, 32)`` in [0, 1] and to the label.
    download : bool
        Download ``GTSRB_Final_Training_Images.zip`` and extract it. Its SHA-256 is
        not pinned (no value known for sure): the check is format-only (a valid zip
        whose images decode).
    seed : int
        Seed of the track split.
    size : int
        Side length of the resized frames.
    track_length : int
        Frames per track (30 in GTSRB).
    cache : bool
        Read/write the decoded tensor cache.

    Attributes
    ----------
    data : torch.Tensor
        ``uint8`` ``(N, track_length, 3, size, size)``, frames in recording order
        (the sign grows from the first to the last frame).
    targets : torch.Tensor
        ``int64`` class ids ``(N,)``.
    track_ids : torch.Tensor
        ``(N, 2)``: class id and track id of every track.
    track_lengths : torch.Tensor
        Number of images each track had on disk.
    missing_classes : list of int
        Class ids without images in the folder (all splits), e.g. after an
        incomplete extraction; the data set's ``name`` lists them too. Empty for
        the full data set.

    Examples
    --------
    >>> import tempfile, os
    >>> from PIL import Image
    >>> root = tempfile.mkdtemp(); d = os.path.join(root, "GTSRB/Final_Training/Images/00001")
    >>> os.makedirs(d)
    >>> for t in range(3):
    ...     for fr in range(30):
    ...         Image.new("RGB", (20 + fr, 20 + fr), (200, 0, 0)).save(f"{d}/{t:05d}_{fr:05d}.ppm")
    >>> ds = GTSRB(root, split="test", cache=False)
    >>> ds.data.shape, ds[0][1], ds.classes[1]
    (torch.Size([1, 30, 3, 32, 32]), 1, 'Speed limit (30km/h)')
    """

    key = "gtsrb"
    title = "GTSRB"
    images_subpath = "GTSRB/Final_Training/Images"
    subdirs = ("gtsrb/GTSRB/Final_Training/Images", "GTSRB/Final_Training/Images",
               "gtsrb/Final_Training/Images", "Final_Training/Images")
    system_dirs = ("/usr/share/datasets/gtsrb/GTSRB/Final_Training/Images",)
    resource = dl.Resource(
        "GTSRB_Final_Training_Images.zip",
        ("https://sid.erda.dk/public/archives/daaeac0d7ce1152aea9b61d9f1e19370/"
         "GTSRB_Final_Training_Images.zip",
         "http://benchmark.ini.rub.de/Dataset/GTSRB_Final_Training_Images.zip"),
        None,  # SHA-256 not known for sure: format-only check
        None,
        "gtsrb",
    )

    def __init__(self, root=None, split="train", transform=None, target_transform=None,
                 download=False, seed=0, size=32, track_length=30, cache=True):
        if split not in SPLITS:
            raise DataError(f"GTSRB: unknown split {split!r}; use one of {list(SPLITS)}")
        check_transforms(self.title, transform, target_transform)
        size = whole_number("GTSRB: size", size)
        track_length = whole_number("GTSRB: track_length", track_length)
        self.split = split
        folder, looked = self.locate(root)
        if folder is None and download:
            folder = self.download(root)
        if folder is None:
            raise missing_error(self.title, looked, ["GTSRB_Final_Training_Images.zip (extracted: "
                                                     f"{self.images_subpath}/000CC/*.ppm, GT-000CC.csv)"],
                                download_dir(root, "gtsrb"), root=root)
        self.folder = folder
        full = self._load_all(folder, size, track_length, cache)
        parts = split_tracks(full["targets"].numpy(), seed, tuple(SPLITS.values()))
        idx = torch.from_numpy(parts[split])
        self.track_ids = full["track_ids"][idx]
        self.track_lengths = full["track_lengths"][idx]
        present = set(full["targets"].tolist())
        self.missing_classes = [c for c in range(len(GTSRB_CLASSES)) if c not in present]
        partial = ""
        if self.missing_classes:
            partial = (f"; only {len(present)} of the {len(GTSRB_CLASSES)} class folders have images "
                       f"(missing: {_id_ranges(self.missing_classes)})")
        super().__init__(full["data"][idx].contiguous(), full["targets"][idx], GTSRB_CLASSES,
                         f"GTSRB ({split} split, seed {seed}, {len(idx)} tracks from {folder}{partial})",
                         transform, target_transform)

    @classmethod
    def locate(cls, root=None):
        """Find the ``Images`` folder; return ``(folder or None, searched)``."""
        looked = candidate_dirs(root, cls.subdirs, cls.system_dirs)
        for d in looked:
            if d.is_dir() and any(c.is_dir() and _CLASS_RE.match(c.name) for c in d.iterdir()):
                return d, looked
        return None, looked

    @classmethod
    def download(cls, root=None, urls=None):
        """Download and extract the training archive; return the ``Images`` folder."""
        target = download_dir(root, "gtsrb")
        return dl.fetch_and_extract(cls.resource, target, cls.images_subpath, urls=urls)

    @staticmethod
    def cache_path(folder, size=32, track_length=30):
        """Where the decoded tensor of ``folder`` is cached (next to the ``Images`` folder)."""
        return Path(folder).parent / f"streamnets-gtsrb-{size}px-{track_length}f.pt"

    @classmethod
    def _load_all(cls, folder, size, length, cache):
        tracks, fingerprint = _scan(folder)
        key = hashlib.sha1(str(Path(folder).resolve()).encode()).hexdigest()[:12]
        files = [cls.cache_path(folder, size, length),
                 paths.CACHE_DIR / f"gtsrb-{key}-{size}px-{length}f.pt"]
        if cache:
            for p in files:
                if p.is_file():
                    try:
                        obj = torch.load(p, weights_only=True)
                    except Exception:  # unreadable cache: rebuild it
                        continue
                    if (isinstance(obj, dict) and obj.get("version") == _CACHE_VERSION
                            and obj.get("fingerprint") == fingerprint):
                        return obj
        obj = _build(folder, tracks, size, length)
        obj.update(version=_CACHE_VERSION, fingerprint=fingerprint)
        if cache:
            for p in files:
                try:
                    _atomic_save(obj, p)
                    break
                except (OSError, StreamnetsError):  # e.g. a read-only folder: try the next
                    continue
            else:
                where = ", ".join(str(f) for f in files)
                warnings.warn(f"GTSRB: could not write a cache file to {where}; the next load "
                              "decodes the images again", stacklevel=3)
        return obj
