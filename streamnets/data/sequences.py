"""Sequence data sets: the paper's noisy frame sequences and track windows.

Every sample is a sequence of ``frames`` frames ``(T, C, H, W)`` (``float32``,
clipped to [0, 1]) and an ``int64`` label:

- :class:`NoisyFrames`: the same image in every frame, each frame with fresh
  Gaussian noise (MNIST, CIFAR-10 experiments);
- :class:`TrackWindows`: ``frames`` consecutive frames of a track (GTSRB
  experiment), each with fresh Gaussian noise.

Randomness
----------
Training (``train=True``): noise (and the window start) come from a
:class:`torch.Generator` the data set owns. It is seeded from ``(seed, epoch)``
by :meth:`~NoisyFrames.set_epoch`, so every epoch sees new noise, and a run with
the same seed, the same access order and ``num_workers=0`` is bit-identical on
CPU. In a DataLoader worker the generator is seeded from
``(seed, epoch, worker id)`` instead, so workers do not repeat each other's noise
(reproducible for a fixed ``num_workers`` and sampler order).

Evaluation (``train=False``): the noise of sample ``i`` (and its window start)
depends only on ``(seed, i)``, so test accuracy is the same for any order,
batching or number of workers.

Speed
-----
:meth:`~NoisyFrames.batch` builds a whole batch with a few tensor operations
(one gather, one ``randn``, one fused add/clamp); :meth:`~NoisyFrames.iter_batches`
iterates over an epoch of such batches, and ``__getitems__`` lets a
:class:`torch.utils.data.DataLoader` with ``batch_size`` use the same fast path.
In evaluation mode the noise is drawn per sample (one small generator per
index) so that it does not depend on the batch composition.

On a GPU, call :meth:`~NoisyFrames.to` once (``seqs.to("cuda")``): the images
stay on the device and gathering and noise run there, so the host does almost
no work per batch. (Noise drawn on a CUDA device differs from CPU noise; each is
reproducible for a seed.)
"""

from __future__ import annotations

import math
import operator

import torch
from torch.utils.data import Dataset, get_worker_info

from ..errors import DataError, ShapeError, whole_number

__all__ = ["NoisyFrames", "TrackWindows", "mix_seed"]

_MASK64 = (1 << 64) - 1
_TAG_TRAIN, _TAG_EVAL, _TAG_SHUFFLE, _TAG_START = 0x7452, 0x4576, 0x5368, 0x5374


def _splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def mix_seed(*parts):
    """Derive a 63-bit seed from integers (SplitMix64 chaining); deterministic.

    Examples
    --------
    >>> mix_seed(0, 1) == mix_seed(0, 1) != mix_seed(1, 0)
    True
    """
    x = 0
    for p in parts:
        x = _splitmix64(x ^ (int(p) & _MASK64))
    return x & ((1 << 63) - 1)


def _source(images, labels, ndim, what):
    """Normalise the inputs: (tensor uint8|float32, labels int64, name, classes)."""
    name = None
    classes = None
    if not isinstance(images, torch.Tensor) and hasattr(images, "data") and hasattr(images, "targets"):
        name = getattr(images, "name", type(images).__name__)
        classes = getattr(images, "classes", None)
        classes = list(classes) if classes is not None and len(classes) else None
        if labels is None:
            labels = images.targets
        images = images.data
    images = torch.as_tensor(images)
    if labels is None:
        raise ShapeError(f"{what}: labels missing; pass labels, or a data set with .data and .targets")
    labels = torch.as_tensor(labels)
    if labels.is_floating_point() and not torch.equal(labels, labels.round()):
        raise DataError(f"{what}: labels must be integer class ids, got non-integer values "
                        f"such as {float(labels[labels != labels.round()][0]):g}")
    labels = labels.to(torch.int64).reshape(-1)
    if len(labels) and int(labels.min()) < 0:
        raise DataError(f"{what}: labels must be class ids 0, 1, ..., got {int(labels.min())}")
    if classes is not None and len(labels) and int(labels.max()) >= len(classes):
        raise DataError(f"{what}: label {int(labels.max())} has no class name: the data set names "
                        f"{len(classes)} classes (ids 0..{len(classes) - 1}); give every class a name")
    if images.ndim != ndim:
        want = "(N, C, H, W)" if ndim == 4 else "(N, L, C, H, W)"
        hint = {5: "; tracks (N, L, C, H, W) go into TrackWindows",
                4: "; single images (N, C, H, W) go into NoisyFrames"}.get(images.ndim, "")
        raise ShapeError(f"{what}: images must have shape {want}, got {tuple(images.shape)}{hint}")
    if images.shape[0] != labels.shape[0]:
        raise ShapeError(f"{what}: {images.shape[0]} samples but {labels.shape[0]} labels")
    if images.dtype == torch.uint8:
        scale = 1.0 / 255.0
    elif images.is_floating_point():
        images = images.to(torch.float32)
        scale = 1.0
        if not bool(images.isfinite().all()):
            raise DataError(f"{what}: images contain NaN or infinite values")
        if images.numel() and (float(images.min()) < 0.0 or float(images.max()) > 1.0):
            raise DataError(f"{what}: float images must lie in [0, 1] (got min "
                            f"{float(images.min()):.3g}, max {float(images.max()):.3g}); "
                            "divide by 255 or pass uint8 images")
    else:
        raise DataError(f"{what}: images must be uint8 or float in [0, 1], got {images.dtype}")
    return images.contiguous(), labels, scale, name, classes


def _integer(value, invalid):
    """``value`` as an int if it is an integer (not a float), else ``invalid``."""
    try:
        return operator.index(value)
    except TypeError:
        return invalid


def _number(value, invalid):
    """``float(value)``, or ``invalid`` if that fails."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return invalid


class _NoisySequences(Dataset):
    """Shared machinery: generators, epochs, fast batches."""

    _ndim = 4

    def __init__(self, images, labels, frames, noise_std, train=True, seed=0):
        what = type(self).__name__
        self.source, self.labels, self._scale, src_name, classes = _source(images, labels, self._ndim, what)
        self.frames = _integer(frames, -1)
        if self.frames < 1:
            raise ShapeError(f"{what}: frames must be >= 1 (an integer), got {frames!r}")
        self.noise_std = _number(noise_std, math.nan)
        if not math.isfinite(self.noise_std) or self.noise_std < 0:
            raise DataError(f"{what}: noise_std must be a finite number >= 0, got {noise_std!r}")
        self.train = bool(train)
        self.seed = int(seed)
        self.classes = list(classes) if classes is not None else None
        base = src_name or f"{len(self.labels)} tensors"
        self.name = f"{base}; {self.frames} frames, Gaussian noise std {self.noise_std:g}"
        self.epoch = 0
        self._gen = None
        self._gen_key = None

    # -- randomness -------------------------------------------------------------
    def set_epoch(self, epoch):
        """Re-seed the training generator from ``(seed, epoch)``."""
        self.epoch = int(epoch)
        self._gen_key = None

    def _train_gen(self):
        info = get_worker_info()
        wid = -1 if info is None else info.id
        key = (self.epoch, wid, self.device)
        if self._gen_key != key:
            seed = mix_seed(self.seed, _TAG_TRAIN, self.epoch, wid + 1)
            self._gen = torch.Generator(device=self.device).manual_seed(seed)
            self._gen_key = key
        return self._gen

    def _eval_gen(self, index):
        return torch.Generator(device=self.device).manual_seed(mix_seed(self.seed, _TAG_EVAL, index))

    # -- device ---------------------------------------------------------------------
    @property
    def device(self):
        """Device of the stored images; batches (and their noise) are made there."""
        return self.source.device

    def to(self, device):
        """Keep the images on ``device`` (e.g. ``"cuda"``) and build batches there.

        Gathering and noise then run on the device, so the host does almost no work
        per batch. Noise drawn on another device type differs from CPU noise (each is
        reproducible for a seed). Use :meth:`batch` / :meth:`iter_batches` (not
        DataLoader workers) with device tensors. Returns ``self``.
        """
        device = torch.device(device)
        self.source = self.source.to(device)
        self.labels = self.labels.to(device)
        self._gen_key = None
        return self

    # -- dataset protocol ---------------------------------------------------------
    @property
    def frame_shape(self):
        """Shape of one frame ``(C, H, W)``."""
        return tuple(self.source.shape[-3:])

    @property
    def num_classes(self):
        """Number of classes (the source's ``classes``, else the largest label + 1)."""
        if self.classes is not None:
            return len(self.classes)
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    def __len__(self):
        return int(self.labels.shape[0])

    def __getitem__(self, index):
        i = _integer(index, None)
        if i is None:
            raise TypeError(f"{type(self).__name__}: index must be an integer, got "
                            f"{type(index).__name__}; for several samples use .batch(indices)")
        x, y = self.batch([i])
        return x[0], y[0]

    def __getitems__(self, indices):
        x, y = self.batch(indices)
        return list(zip(x.unbind(0), y.unbind(0)))

    def batch(self, indices):
        """Build a batch ``(B, T, C, H, W)`` float32 and its labels ``(B,)`` int64.

        In training mode the noise comes from the data set's generator (one draw
        for the whole batch); in evaluation mode from ``(seed, index)``, so
        ``batch([i, j])[0][0]`` equals ``self[i][0]``.
        """
        idx = self._indices(indices)
        B, T, dev = idx.numel(), self.frames, self.device
        out = torch.empty((B, T) + self.frame_shape, dtype=torch.float32, device=dev)
        if self.train:
            g = self._train_gen()
            starts = self._train_starts(B, g)
            if self.noise_std > 0:
                out.normal_(0.0, self.noise_std, generator=g)
        else:
            host = idx.tolist()
            starts = torch.tensor([self._eval_start(i) for i in host], dtype=torch.int64, device=dev)
            if self.noise_std > 0:
                for b, i in enumerate(host):
                    out[b].normal_(0.0, self.noise_std, generator=self._eval_gen(i))
        idx = idx.to(dev)
        clean = self._clean(idx, starts)
        if self.noise_std > 0:
            out.add_(clean).clamp_(0.0, 1.0)
        else:
            out.copy_(clean)
        return out, self.labels[idx]

    def _indices(self, indices):
        """``indices`` as a flat int64 tensor in ``0..n-1`` (negative ones counted from the end)."""
        idx = torch.as_tensor(indices).reshape(-1)
        if idx.numel() and (idx.is_floating_point() or idx.dtype == torch.bool):
            raise IndexError(f"{type(self).__name__}: indices must be integers, got {idx.dtype}")
        idx = idx.to(torch.int64)
        n = len(self)
        bad = (idx < -n) | (idx >= n)
        if bool(bad.any()):
            raise IndexError(f"{type(self).__name__}: index {int(idx[bad][0])} out of range for "
                             f"{n} samples")
        return idx % max(n, 1)  # -1 is sample n-1, with sample n-1's evaluation noise

    def iter_batches(self, batch_size, shuffle=None, drop_last=False):
        """Iterate over one epoch in batches (uses the current :attr:`epoch`).

        Parameters
        ----------
        batch_size : int
        shuffle : bool, optional
            Default: shuffle in training mode. The order is seeded from
            ``(seed, epoch)``.
        drop_last : bool
        """
        batch_size = whole_number(f"{type(self).__name__}.iter_batches: batch_size", batch_size)
        n = len(self)
        if shuffle is None:
            shuffle = self.train
        if shuffle:
            g = torch.Generator().manual_seed(mix_seed(self.seed, _TAG_SHUFFLE, self.epoch))
            order = torch.randperm(n, generator=g)
        else:
            order = torch.arange(n)
        stop = n - n % batch_size if drop_last else n
        for s in range(0, stop, batch_size):
            yield self.batch(order[s:s + batch_size])

    def __repr__(self):
        mode = "train" if self.train else "eval"
        return f"{type(self).__name__}({self.name!r}, n={len(self)}, mode={mode}, seed={self.seed})"

    # -- hooks --------------------------------------------------------------------
    def _train_starts(self, B, g):
        return None

    def _eval_start(self, index):
        return 0


class NoisyFrames(_NoisySequences):
    """The same image in every frame, each frame with fresh Gaussian noise.

    Frame ``t`` of sample ``i`` is ``clip(image_i + noise_std * n_t, 0, 1)`` with
    independent standard normal ``n_t``.

    Parameters
    ----------
    images : torch.Tensor or data set
        ``(N, C, H, W)`` float in [0, 1] or ``uint8`` (divided by 255), or a data set
        exposing ``.data`` (``uint8``) and ``.targets`` such as
        :class:`~streamnets.data.MNIST` or :class:`~streamnets.data.Digits` (its
        ``transform`` is not applied).
    labels : tensor of int, or None
        ``(N,)`` labels; None to take ``images.targets``.
    frames : int
        Frames per sequence T.
    noise_std : float
        Standard deviation of the noise (2.0 MNIST, 1.0 CIFAR-10 in the paper).
    train : bool
        Fresh noise per access (True) or noise fixed by ``(seed, index)`` (False).
    seed : int

    Examples
    --------
    >>> from streamnets.data import Digits
    >>> ds = NoisyFrames(Digits(train=False), None, frames=4, noise_std=2.0, train=False)
    >>> x, y = ds[0]
    >>> x.shape, x.dtype, y.dtype
    (torch.Size([4, 1, 28, 28]), torch.float32, torch.int64)
    >>> bool((x >= 0).all() and (x <= 1).all())
    True
    >>> xb, yb = ds.batch([5, 0])
    >>> bool((xb[1] == x).all())
    True
    """

    def _clean(self, idx, starts):
        img = self.source[idx].to(torch.float32)
        if self._scale != 1.0:
            img.mul_(self._scale)
        return img.unsqueeze(1)


class TrackWindows(_NoisySequences):
    """Windows of ``frames`` consecutive frames of a track, with Gaussian noise.

    Parameters
    ----------
    tracks : torch.Tensor or data set
        ``(N, L, C, H, W)`` float in [0, 1] or ``uint8``, or a data set with ``.data``
        and ``.targets`` (:class:`~streamnets.data.GTSRB`, :class:`~streamnets.data.Signs`).
    labels : tensor of int, or None
        ``(N,)`` labels; None to take ``tracks.targets``.
    frames : int
        Window length T (``<= L``).
    noise_std : float
        Standard deviation of the noise (0.5 for GTSRB in the paper).
    train : bool
        Training: a uniformly random start frame ``0..L-T`` per access.
        Evaluation: a start fixed per sample (see ``eval_start``).
    seed : int
    eval_start : "seeded" or "last" or int
        Start frame in evaluation: ``"seeded"`` (default) draws it uniformly from
        ``(seed, index)``, so the test set covers all distances of the sign and is
        repeatable; ``"last"`` uses ``L - T`` (the closest frames); an int uses that
        frame for every track.

    Attributes
    ----------
    last_starts : torch.Tensor
        Start frames of the last batch built (for inspection and tests).

    Examples
    --------
    >>> from streamnets.data import Signs
    >>> tracks = Signs("test", n_tracks=43)
    >>> ds = TrackWindows(tracks, None, frames=8, noise_std=0.5, train=False)
    >>> x, y = ds[3]
    >>> x.shape, int(y) == int(tracks.targets[3])
    (torch.Size([8, 3, 32, 32]), True)
    """

    _ndim = 5

    def __init__(self, tracks, labels, frames, noise_std, train=True, seed=0, eval_start="seeded"):
        super().__init__(tracks, labels, frames, noise_std, train=train, seed=seed)
        self.track_length = int(self.source.shape[1])
        if self.frames > self.track_length:
            raise ShapeError(f"TrackWindows: window of {self.frames} frames is longer than the "
                             f"tracks ({self.track_length} frames)")
        n_starts = self.track_length - self.frames + 1
        if eval_start == "last":
            eval_start = n_starts - 1
        if eval_start != "seeded":
            if _integer(eval_start, None) is None:
                raise ShapeError(f"TrackWindows: eval_start must be 'seeded', 'last' or a frame "
                                 f"index 0..{n_starts - 1}, got {eval_start!r}")
            eval_start = int(eval_start)
            if not 0 <= eval_start < n_starts:
                raise ShapeError(f"TrackWindows: eval_start {eval_start} must be in 0..{n_starts - 1}")
        self.eval_start = eval_start
        self.last_starts = None

    def _train_starts(self, B, g):
        return torch.randint(0, self.track_length - self.frames + 1, (B,), generator=g, device=g.device)

    def _eval_start(self, index):
        if self.eval_start == "seeded":
            return mix_seed(self.seed, _TAG_START, index) % (self.track_length - self.frames + 1)
        return self.eval_start

    def _clean(self, idx, starts):
        self.last_starts = starts
        t = starts.unsqueeze(1) + torch.arange(self.frames, device=starts.device).unsqueeze(0)
        win = self.source[idx.unsqueeze(1), t].to(torch.float32)
        if self._scale != 1.0:
            win.mul_(self._scale)
        return win
