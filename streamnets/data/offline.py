"""Offline stand-ins (no network, no files) with the interface of the real sets.

- :class:`Digits`: scikit-learn's bundled 8x8 digits upsampled to 28x28 (MNIST stand-in).
- :class:`Shapes`: procedural 3x32x32 colour shapes on cluttered backgrounds, 10
  classes (CIFAR-10 stand-in).
- :class:`Signs`: 43 synthetic traffic signs in tracks of 30 frames approaching the
  camera, ``(N, 30, 3, 32, 32)`` (GTSRB stand-in).

All are deterministic for a seed and generated with vectorised torch code.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DataError, whole_number
from .base import ArrayDataset
from .sequences import mix_seed

__all__ = ["Digits", "Shapes", "Signs", "SHAPE_CLASSES", "SIGN_CLASSES", "render_shapes"]

_SQ2 = math.sqrt(2.0)
_SQ3 = math.sqrt(3.0)


# ---------------------------------------------------------------------------
# Signed distance functions (unit = shape radius; < 0 inside, > 0 outside).
# x to the right, y up.
# ---------------------------------------------------------------------------
def _box(x, y, hx, hy):
    return torch.maximum(x.abs() - hx, y.abs() - hy)


def _plus(x, y, arm, width):
    return torch.minimum(_box(x, y, arm, width), _box(x, y, width, arm))


def _triangle(x, y):  # equilateral, pointing up, vertices on the unit circle
    return torch.maximum(-0.5 - y, (_SQ3 * x.abs() + y - 1.0) / 2.0)


def _octagon(x, y):
    a = torch.maximum(x.abs(), y.abs())
    b = (x.abs() + y.abs()) / _SQ2
    return torch.maximum(a, b) - 0.92


_SDF = {
    "circle": lambda x, y: torch.hypot(x, y) - 1.0,
    "square": lambda x, y: _box(x, y, 0.8, 0.8),
    "triangle": _triangle,
    "cross": lambda x, y: _plus((x + y) / _SQ2, (x - y) / _SQ2, 1.0, 0.24),
    "ring": lambda x, y: (torch.hypot(x, y) - 0.75).abs() - 0.22,
    "plus": lambda x, y: _plus(x, y, 0.9, 0.24),
    "diamond": lambda x, y: (x.abs() + y.abs() - 1.0) / _SQ2,
    "frame": lambda x, y: (torch.maximum(x.abs(), y.abs()) - 0.68).abs() - 0.16,
    "half-disc": lambda x, y: torch.maximum(torch.hypot(x, y + 0.35) - 1.0, -(y + 0.35)),
    "bar": lambda x, y: _box(x, y, 0.95, 0.28),
    "triangle-down": lambda x, y: _triangle(x, -y),
    "octagon": _octagon,
}

#: The 10 classes of :class:`Shapes`.
SHAPE_CLASSES = ["circle", "square", "triangle", "cross", "ring",
                 "plus", "diamond", "frame", "half-disc", "bar"]


def _sdf_by_class(kinds, cls, x, y):
    """Evaluate ``_SDF[kinds[cls[b]]]`` for every image b (loop over kinds, not images)."""
    out = torch.empty_like(x)
    for k, kind in enumerate(kinds):
        sel = (cls == k).nonzero().flatten()
        if len(sel):
            out[sel] = _SDF[kind](x[sel], y[sel])
    return out


def _grid(B, size, cx, cy, radius, angle):
    """Normalised shape coordinates (B, size, size): x right, y up, unit = radius."""
    p = torch.arange(size, dtype=torch.float32) + 0.5
    dx = p.view(1, 1, -1) - cx.view(-1, 1, 1)
    dy = cy.view(-1, 1, 1) - p.view(1, -1, 1)
    c, s = torch.cos(angle).view(-1, 1, 1), torch.sin(angle).view(-1, 1, 1)
    r = radius.view(-1, 1, 1)
    return (c * dx + s * dy) / r, (-s * dx + c * dy) / r


def _soft(sdf, radius, softness):
    """Anti-aliased / blurred mask from a unit SDF: softness in pixels."""
    return torch.sigmoid(-sdf * (radius / softness).view(-1, 1, 1))


def _background(B, size, g, n_blobs=4, strength=1.0):
    """Random colour gradients with a few soft coloured blobs (clutter): (B, 3, H, W)."""
    p = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    c0 = torch.rand(B, 3, 1, 1, generator=g)
    c1 = torch.rand(B, 3, 1, 1, generator=g)
    ang = torch.rand(B, 1, 1, 1, generator=g) * 2 * math.pi
    t = (torch.cos(ang) * p.view(1, 1, 1, -1) + torch.sin(ang) * p.view(1, 1, -1, 1) + 1.0) / 2.0
    bg = c0 + (c1 - c0) * t * 0.6
    for _ in range(n_blobs):
        cx = torch.rand(B, 1, 1, 1, generator=g) * size
        cy = torch.rand(B, 1, 1, 1, generator=g) * size
        sig = (1.5 + torch.rand(B, 1, 1, 1, generator=g) * 3.5)
        col = torch.rand(B, 3, 1, 1, generator=g)
        pix = torch.arange(size, dtype=torch.float32) + 0.5
        d2 = (pix.view(1, 1, 1, -1) - cx) ** 2 + (pix.view(1, 1, -1, 1) - cy) ** 2
        a = 0.6 * strength * torch.exp(-d2 / (2 * sig ** 2))
        bg = bg * (1 - a) + col * a
    return bg


def _contrasting(bg_mean, g):
    """Random colours at least 0.45 (RGB distance) away from ``bg_mean`` (B, 3)."""
    fg = torch.rand(bg_mean.shape, generator=g)
    near = (fg - bg_mean).norm(dim=1) < 0.45
    fg[near] = (1.0 - bg_mean[near] + 0.15 * torch.randn(int(near.sum()), 3, generator=g)).clamp(0, 1)
    still = (fg - bg_mean).norm(dim=1) < 0.45
    fg[still] = torch.where(bg_mean[still].mean(1, keepdim=True) > 0.5, 0.0, 1.0).expand(-1, 3)
    return fg


def _to_uint8(x):
    return (x.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8)


def _lerp(easy, hard, difficulty):
    return easy + (hard - easy) * difficulty


def _check_difficulty(what, difficulty):
    d = float(difficulty)
    if not 0.0 <= d <= 1.0:
        raise DataError(f"{what}: difficulty must be in [0, 1], got {difficulty!r}")
    return d


def render_shapes(labels, seed=0, size=32, difficulty=0.0):
    """Render :class:`Shapes` images for the given labels.

    Parameters
    ----------
    labels : torch.Tensor
        ``int64`` class ids (indices into :data:`SHAPE_CLASSES`).
    seed : int
    size : int
    difficulty : float
        0 (default): large shapes (radius 30-40 % of the image) near the centre, each
        lighter than its background in every channel. 1: the harder first version
        of this generator (radius 20-36 %, placed anywhere, any colour contrasting
        with the background), bit for bit. Values in between interpolate sizes and
        placement, and give that fraction of the images an arbitrary colour.

    Returns
    -------
    torch.Tensor
        ``uint8`` ``(N, 3, size, size)``.

    Examples
    --------
    >>> images = render_shapes(torch.tensor([0, 1]), seed=0)  # a circle and a square
    >>> images.shape, images.dtype
    (torch.Size([2, 3, 32, 32]), torch.uint8)
    >>> bool((images[:, :, 16, 16] > images[:, :, 0, 0]).all())  # lighter shape, centred
    True
    >>> torch.equal(images, render_shapes(torch.tensor([0, 1]), seed=0))
    True
    """
    d = _check_difficulty("render_shapes", difficulty)
    labels = torch.as_tensor(labels, dtype=torch.int64)
    out = torch.empty((len(labels), 3, size, size), dtype=torch.uint8)
    chunk = 2048
    for s in range(0, len(labels), chunk):
        cls = labels[s:s + chunk]
        B = len(cls)
        g = torch.Generator().manual_seed(mix_seed(seed, 0x5A, s))
        radius = size * (_lerp(0.3, 0.2, d) + _lerp(0.1, 0.16, d) * torch.rand(B, generator=g))
        room = (size / 2 - radius - 1).clamp(min=0)
        jitter = _lerp(0.3, 0.7, d)
        cx = size / 2 + (torch.rand(B, generator=g) * 2 - 1) * room * jitter
        cy = size / 2 + (torch.rand(B, generator=g) * 2 - 1) * room * jitter
        angle = (torch.rand(B, generator=g) * 2 - 1) * math.radians(15)
        x, y = _grid(B, size, cx, cy, radius, angle)
        sdf = _sdf_by_class(SHAPE_CLASSES, cls, x, y)
        soft = 0.4 + 0.4 * torch.rand(B, generator=g)
        m = _soft(sdf, radius, soft).unsqueeze(1)
        bg = _background(B, size, g)
        fg = _contrasting(bg.mean(dim=(2, 3)), g).view(B, 3, 1, 1)
        noise = 0.03 * torch.randn((B, 3, size, size), generator=g)
        if d < 1:  # drawn after everything else: difficulty 1 is the first version exactly
            light = (torch.rand(B, generator=g) >= d).view(B, 1, 1, 1)
            light_fg = 0.6 + 0.4 * torch.rand((B, 3, 1, 1), generator=g)
            fg = torch.where(light, light_fg, fg)
            bg = torch.where(light, 0.45 * bg, bg)
        img = bg * (1 - m) + fg * m + noise
        out[s:s + B] = _to_uint8(img)
    return out


def _balanced_labels(n, k, g):
    labels = torch.arange(n) % k
    return labels[torch.randperm(n, generator=g)]


class Digits(ArrayDataset):
    """scikit-learn's 8x8 digits, upsampled to 28x28: the offline MNIST stand-in.

    The 1,797 images of :func:`sklearn.datasets.load_digits` (values 0..16) are
    upsampled bilinearly to ``size x size``, scaled to [0, 1] and stored as ``uint8``;
    a stratified split (``test_fraction`` = 0.2, fixed ``seed``) gives 1,437 training
    and 360 test images.

    Parameters
    ----------
    train : bool
    transform, target_transform : callable, optional
    seed : int
        Seed of the train/test split.
    test_fraction : float
    size : int

    Examples
    --------
    >>> ds = Digits(train=True)
    >>> len(ds), ds.data.shape[1:], ds.classes[:3]
    (1437, torch.Size([1, 28, 28]), ['0', '1', '2'])
    >>> x, y = ds[0]; float(x.min()) >= 0 and float(x.max()) <= 1
    True
    """

    def __init__(self, train=True, transform=None, target_transform=None, seed=0,
                 test_fraction=0.2, size=28):
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        size = whole_number("Digits: size", size)
        d = load_digits()
        x = torch.from_numpy(d.images.astype(np.float32) / 16.0).unsqueeze(1)
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        idx_train, idx_test = train_test_split(np.arange(len(d.target)), test_size=test_fraction,
                                               stratify=d.target, random_state=seed)
        idx = np.sort(idx_train if train else idx_test)
        self.train = bool(train)
        split = "train" if train else "test"
        super().__init__(_to_uint8(x[idx]), torch.from_numpy(d.target[idx].astype(np.int64)),
                         [str(i) for i in range(10)],
                         f"digits ({split} split; scikit-learn 8x8 digits upsampled to {size}x{size}, "
                         "offline stand-in for MNIST)",
                         transform, target_transform)


class Shapes(ArrayDataset):
    """Procedural coloured shapes (3x32x32, 10 classes): the offline CIFAR-10 stand-in.

    Each image shows one shape of :data:`SHAPE_CLASSES` (circle, square, triangle,
    cross, ring, plus, diamond, frame, half-disc, bar) with random size, position,
    small rotation and colour on a background of random colour gradients with soft
    coloured blobs (clutter), plus light pixel noise. Classes are balanced (``n``
    divisible by 10 gives exactly ``n / 10`` each).

    By default (``difficulty=0``) the shape is large and near the centre, like a
    CIFAR-10 object, and lighter than its (darker) background in every channel:
    under the CIFAR-10 experiment's noise (std 1.0) a width-0.125 DSR network then
    learns it in a few epochs on a CPU. ``difficulty=1`` is the first, harder version
    (smaller shapes anywhere in the image, any colour contrasting with the
    background), which such a network does not learn within that budget: it stays
    at chance even without noise.

    Parameters
    ----------
    train : bool
        Training and test sets use different seeds (disjoint random draws).
    n : int, optional
        Number of images; default 10,000 (train) or 2,000 (test).
    seed : int
    transform, target_transform : callable, optional
    size : int
    difficulty : float
        In [0, 1]; see :func:`render_shapes`.

    Examples
    --------
    >>> ds = Shapes(train=True, n=100, seed=1)
    >>> ds.data.shape, ds.data.dtype, ds.classes[3]
    (torch.Size([100, 3, 32, 32]), torch.uint8, 'cross')
    >>> bool((Shapes(train=True, n=100, seed=1).data == ds.data).all())
    True
    """

    def __init__(self, train=True, n=None, seed=0, transform=None, target_transform=None, size=32,
                 difficulty=0.0):
        n = (10000 if train else 2000) if n is None else whole_number("Shapes: n", n, lo=0)
        size = whole_number("Shapes: size", size)
        difficulty = _check_difficulty("Shapes", difficulty)
        s = mix_seed(seed, 1 if train else 2)
        g = torch.Generator().manual_seed(s)
        labels = _balanced_labels(n, len(SHAPE_CLASSES), g)
        self.train = bool(train)
        self.seed = seed
        self.difficulty = difficulty
        split = "train" if train else "test"
        hard = f", difficulty {difficulty:g}" if difficulty else ""
        super().__init__(render_shapes(labels, s, size, difficulty), labels, SHAPE_CLASSES,
                         f"shapes ({split} split, n={n}, seed {seed}{hard}; procedural 10-class "
                         "shapes, offline stand-in for CIFAR-10)",
                         transform, target_transform)


# ---------------------------------------------------------------------------
# Signs
# ---------------------------------------------------------------------------
_SIGN_SHAPES = ["circle", "triangle", "triangle-down", "octagon", "diamond"]
# (name, outer/rim colour, inner fill colour, glyph colour)
_SIGN_SCHEMES = [
    ("red-rim", (0.85, 0.08, 0.08), (0.95, 0.95, 0.95), (0.05, 0.05, 0.05)),
    ("blue", (0.10, 0.25, 0.80), (0.10, 0.25, 0.80), (0.95, 0.95, 0.95)),
    ("yellow", (0.95, 0.95, 0.95), (0.98, 0.80, 0.05), (0.05, 0.05, 0.05)),
]
_SIGN_GLYPHS = ["plain", "hbar", "vbar"]
_GLYPH_SDF = {
    "hbar": lambda x, y: _box(x, y, 0.42, 0.13),
    "vbar": lambda x, y: _box(x, y, 0.13, 0.42),
}

#: The 43 classes of :class:`Signs` as (shape, colour scheme, glyph) names.
SIGN_CLASSES = [f"{sh}/{sc[0]}/{gl}" for sc, sh, gl in
                itertools.product(_SIGN_SCHEMES, _SIGN_SHAPES, _SIGN_GLYPHS)][:43]
_SIGN_PARTS = [(_SIGN_SHAPES.index(sh), [s[0] for s in _SIGN_SCHEMES].index(sc), _SIGN_GLYPHS.index(gl))
               for sh, sc, gl in (c.split("/") for c in SIGN_CLASSES)]


def _render_sign_frames(cls, radius, cx, cy, angle, soft, bright, bg, g):
    """Render B frames (B, 3, H, W) of signs of classes ``cls`` on backgrounds ``bg``."""
    B, _, H, W = bg.shape
    parts = torch.tensor(_SIGN_PARTS, dtype=torch.int64)[cls]
    shape_k, scheme_k, glyph_k = parts[:, 0], parts[:, 1], parts[:, 2]
    x, y = _grid(B, H, cx, cy, radius, angle)
    outer = _sdf_by_class(_SIGN_SHAPES, shape_k, x, y)
    inner = _sdf_by_class(_SIGN_SHAPES, shape_k, x / 0.68, y / 0.68) * 0.68
    glyph = torch.full_like(x, 10.0)
    for k, name in enumerate(_SIGN_GLYPHS):
        sel = (glyph_k == k).nonzero().flatten()
        if name in _GLYPH_SDF and len(sel):
            # glyphs shrink with the inner area of triangles (their centroid is lower)
            glyph[sel] = _GLYPH_SDF[name](x[sel], y[sel] + 0.05 * (shape_k[sel] == 1).view(-1, 1, 1))
    m_out = _soft(outer, radius, soft).unsqueeze(1)
    m_in = _soft(inner, radius, soft).unsqueeze(1)
    m_g = _soft(glyph, radius, soft).unsqueeze(1)
    cols = torch.tensor([[s[1], s[2], s[3]] for s in _SIGN_SCHEMES], dtype=torch.float32)[scheme_k]
    rim, fill, gl = (cols[:, i].view(B, 3, 1, 1) for i in range(3))
    sign = rim * (1 - m_in) + m_in * (fill * (1 - m_g) + gl * m_g)
    img = (bg * (1 - m_out) + sign * m_out) * bright.view(B, 1, 1, 1)
    return img + 0.02 * torch.randn(img.shape, generator=g)


def render_sign_tracks(labels, seed=0, frames=30, size=32, difficulty=0.0):
    """Render tracks ``(N, frames, 3, size, size)`` ``uint8`` of approaching signs.

    ``difficulty`` 0 (default): the sign's radius grows from 28-34 % to 38-44 % of
    the frame; 1: the harder first version of this generator, bit for bit (from 9-14 %
    to 36-44 %: far signs a few pixels wide); values in between interpolate.

    Examples
    --------
    >>> tracks = render_sign_tracks([0, 5], seed=1, frames=4)
    >>> tuple(tracks.shape), tracks.dtype
    ((2, 4, 3, 32, 32), torch.uint8)
    >>> torch.equal(tracks, render_sign_tracks([0, 5], seed=1, frames=4))  # the seed fixes every pixel
    True
    """
    d = _check_difficulty("render_sign_tracks", difficulty)
    labels = torch.as_tensor(labels, dtype=torch.int64)
    N = len(labels)
    out = torch.empty((N, frames, 3, size, size), dtype=torch.uint8)
    chunk = max(1, 2048 // frames)
    t = torch.linspace(0.0, 1.0, frames)
    for s in range(0, N, chunk):
        cls = labels[s:s + chunk]
        n = len(cls)
        g = torch.Generator().manual_seed(mix_seed(seed, 0x51, s))
        # per track: start/end radius, start position and drift, tilt, blur, brightness
        r0 = size * (_lerp(0.28, 0.09, d) + _lerp(0.06, 0.05, d) * torch.rand(n, generator=g))
        r1 = size * (_lerp(0.38, 0.36, d) + _lerp(0.06, 0.08, d) * torch.rand(n, generator=g))
        radius = r0.view(-1, 1) * (r1 / r0).view(-1, 1) ** t.view(1, -1)  # (n, T)
        c0x = size / 2 + (torch.rand(n, generator=g) * 2 - 1) * size * 0.12
        c0y = size / 2 + (torch.rand(n, generator=g) * 2 - 1) * size * 0.12
        drift = (torch.rand(n, 2, generator=g) * 2 - 1) * size * 0.08
        cx = c0x.view(-1, 1) + drift[:, :1] * t.view(1, -1)
        cy = c0y.view(-1, 1) + drift[:, 1:] * t.view(1, -1)
        room = size / 2 - radius - 0.5
        cx = torch.maximum(torch.minimum(cx, size / 2 + room), size / 2 - room)
        cy = torch.maximum(torch.minimum(cy, size / 2 + room), size / 2 - room)
        angle = ((torch.rand(n, generator=g) * 2 - 1) * math.radians(8)).view(-1, 1).expand(n, frames)
        blur0 = 1.6 + 0.8 * torch.rand(n, generator=g)
        soft = blur0.view(-1, 1) * (0.35 / blur0.view(-1, 1)) ** t.view(1, -1)  # sharper over time
        bright = (0.55 + 0.6 * torch.rand(n, generator=g)).view(-1, 1).expand(n, frames)
        bg = _background(n, size, g, n_blobs=3, strength=0.8)
        bg = bg.unsqueeze(1).expand(n, frames, 3, size, size).reshape(n * frames, 3, size, size)
        img = _render_sign_frames(
            cls.repeat_interleave(frames), radius.reshape(-1), cx.reshape(-1), cy.reshape(-1),
            angle.reshape(-1), soft.reshape(-1), bright.reshape(-1), bg, g)
        out[s:s + n] = _to_uint8(img).view(n, frames, 3, size, size)
    return out


_SIGN_SPLITS = {"train": (1, 43 * 24), "val": (2, 43 * 3), "test": (3, 43 * 3)}


class Signs(ArrayDataset):
    """Synthetic traffic-sign tracks ``(N, 30, 3, 32, 32)``: the offline GTSRB stand-in.

    43 classes, each a combination of an outer shape (circle, triangle, inverted
    triangle, octagon, diamond), a colour scheme (red rim on white, blue, yellow
    with white rim) and an inner glyph (none, horizontal or vertical bar); see
    :data:`SIGN_CLASSES`. Every track shows one sign approaching the camera over 30
    frames: its size grows geometrically (radius about 9-11 px to 12-14 px), it
    drifts slightly and its edges sharpen (blur about 2 px to 0.35 px). Background
    colours, clutter, tilt and brightness vary per track. Same layout as
    :class:`~streamnets.data.GTSRB`, whose frames are crops that follow the sign with
    a margin of about 10 %: there too the sign fills most of every frame, and the
    approach shows mostly as a gain in resolution. ``difficulty=1`` is the first,
    harder version (far signs about 3-4 px in radius, 43 classes that a width-0.125
    network hardly separates within a CPU budget).

    Parameters
    ----------
    split : {"train", "val", "test"}
        Splits use different seeds (disjoint random draws).
    n_tracks : int, optional
        Default 1,032 (train) or 129 (val, test): 24 / 3 tracks per class.
    seed : int
    transform, target_transform : callable, optional
    frames : int
        Frames per track.
    size : int
    difficulty : float
        In [0, 1]; see :func:`render_sign_tracks`.

    Examples
    --------
    >>> ds = Signs("val", n_tracks=86)
    >>> ds.data.shape, ds.num_classes, int((ds.targets == 0).sum())
    (torch.Size([86, 30, 3, 32, 32]), 43, 2)
    """

    def __init__(self, split="train", n_tracks=None, seed=0, transform=None, target_transform=None,
                 frames=30, size=32, difficulty=0.0):
        if split not in _SIGN_SPLITS:
            raise DataError(f"Signs: unknown split {split!r}; use one of {list(_SIGN_SPLITS)}")
        difficulty = _check_difficulty("Signs", difficulty)
        tag, default_n = _SIGN_SPLITS[split]
        n = default_n if n_tracks is None else whole_number("Signs: n_tracks", n_tracks, lo=0)
        frames = whole_number("Signs: frames", frames)
        size = whole_number("Signs: size", size)
        s = mix_seed(seed, 0x516E, tag)
        g = torch.Generator().manual_seed(s)
        labels = _balanced_labels(n, len(SIGN_CLASSES), g)
        self.split = split
        self.seed = seed
        self.difficulty = difficulty
        hard = f", difficulty {difficulty:g}" if difficulty else ""
        super().__init__(render_sign_tracks(labels, s, frames, size, difficulty), labels, SIGN_CLASSES,
                         f"signs ({split} split, {n} tracks of {frames} frames, seed {seed}{hard}; "
                         "synthetic 43-class traffic signs, offline stand-in for GTSRB)",
                         transform, target_transform)
