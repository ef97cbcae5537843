"""Data for the paper's experiments: noisy frame sequences over image data sets.

Sequence data sets (what the networks are trained on):

- :class:`NoisyFrames` -- the same image in every frame, fresh Gaussian noise per
  frame, clipped to [0, 1] (MNIST: std 2.0, CIFAR-10: std 1.0);
- :class:`TrackWindows` -- windows of consecutive frames of a track (GTSRB: std 0.5).

Image and track data sets (torchvision-like: ``.data`` ``uint8``, ``.targets``
``int64``, ``.classes``, ``.name``; ``ds[i]`` gives a float tensor in [0, 1] and a
label):

- real: :class:`MNIST`, :class:`FashionMNIST`, :class:`CIFAR10`, :class:`GTSRB`
  (looked up under ``root``, ``$STREAMNETS_DATA``, the repository's ``data/``,
  ``~/.cache/streamnets`` and system paths; ``download=True`` fetches them);
- offline stand-ins: :class:`Digits` (MNIST), :class:`Shapes` (CIFAR-10),
  :class:`Signs` (GTSRB).

:func:`load` loads any of them by name and :func:`default_for` picks the real data
set of an experiment when present, else its stand-in, and says which
(:func:`default_splits`: several splits, never some real and some offline).

Examples
--------
>>> from streamnets.data import default_for, NoisyFrames
>>> import tempfile
>>> train, note = default_for("mnist", root=tempfile.mkdtemp())   # no MNIST there
>>> "digits" in note
True
>>> seqs = NoisyFrames(train, None, frames=8, noise_std=2.0, train=True, seed=0)
>>> x, y = seqs.batch([0, 1, 2])
>>> tuple(x.shape)
(3, 8, 1, 28, 28)
"""

from .base import ArrayDataset
from .cifar import CIFAR10, read_cifar_batch
from .download import MIRRORS, Resource, fetch
from .gtsrb import GTSRB, GTSRB_CLASSES, split_tracks
from .idx import MNIST, FashionMNIST, read_idx, write_idx
from .offline import SHAPE_CLASSES, SIGN_CLASSES, Digits, Shapes, Signs
from .registry import (EXPERIMENTS, FRAME_SHAPES, NAMES, canonical_name, default_for, default_splits,
                       is_available, load)
from .sequences import NoisyFrames, TrackWindows, mix_seed

__all__ = [
    "NoisyFrames",
    "TrackWindows",
    "MNIST",
    "FashionMNIST",
    "CIFAR10",
    "GTSRB",
    "Digits",
    "Shapes",
    "Signs",
    "load",
    "default_for",
    "default_splits",
    "is_available",
    "NAMES",
    "FRAME_SHAPES",
    "canonical_name",
    "EXPERIMENTS",
    "ArrayDataset",
    "read_idx",
    "write_idx",
    "read_cifar_batch",
    "split_tracks",
    "fetch",
    "Resource",
    "MIRRORS",
    "mix_seed",
    "GTSRB_CLASSES",
    "SHAPE_CLASSES",
    "SIGN_CLASSES",
]
