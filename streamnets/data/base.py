"""The common interface of every image and track data set in this package.

Every data set holds all its samples in memory as one ``uint8`` tensor:

- ``data``: ``(N, C, H, W)`` for images, ``(N, L, C, H, W)`` for tracks of L frames,
- ``targets``: ``(N,)`` ``int64`` labels,
- ``classes``: list of class names,
- ``name``: a human-readable name saying which data this is (real or stand-in),

and ``ds[i]`` returns ``(float32 tensor in [0, 1] after transform, label int)``,
like torchvision's data sets.
"""

from __future__ import annotations

import operator

import torch
from torch.utils.data import Dataset

__all__ = ["ArrayDataset"]


def check_transforms(title, transform, target_transform):
    """Refuse a ``transform`` or ``target_transform`` that cannot be called, before
    any file is read: ``MNIST(root, False, True)`` passed ``download`` third
    before the loaders took torchvision's order (transforms third and fourth)."""
    from ..errors import DataError

    for name, value in (("transform", transform), ("target_transform", target_transform)):
        if value is not None and not callable(value):
            raise DataError(f"{title}: {name} must be callable or None, got {value!r}; the arguments "
                            f"follow torchvision's order (root, train or split, transform, "
                            f"target_transform, download): pass download=... by name")


class ArrayDataset(Dataset):
    """In-memory data set of ``uint8`` images or tracks with integer labels.

    Parameters
    ----------
    data : torch.Tensor
        ``uint8`` tensor ``(N, C, H, W)`` or ``(N, L, C, H, W)``.
    targets : torch.Tensor
        ``int64`` tensor ``(N,)``.
    classes : list of str
        Class names, ``len(classes)`` = number of classes.
    name : str
        Human-readable description of the data.
    transform, target_transform : callable, optional
        Applied by ``__getitem__`` to the float sample and to the label.

    Examples
    --------
    >>> import torch
    >>> ds = ArrayDataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 1]),
    ...                   ["a", "b"], "toy")
    >>> x, y = ds[1]
    >>> x.shape, x.dtype, y
    (torch.Size([1, 4, 4]), torch.float32, 1)
    """

    def __init__(self, data, targets, classes, name, transform=None, target_transform=None):
        self.data = data
        self.targets = torch.as_tensor(targets, dtype=torch.int64)
        self.classes = list(classes)
        self.name = name
        self.transform = transform
        self.target_transform = target_transform

    @property
    def num_classes(self):
        """Number of classes."""
        return len(self.classes)

    @property
    def sample_shape(self):
        """Shape of one sample, e.g. ``(1, 28, 28)`` or ``(30, 3, 32, 32)``."""
        return tuple(self.data.shape[1:])

    def __len__(self):
        return int(self.data.shape[0])

    def __getitem__(self, index):
        index = self._check_index(index)
        x = self.data[index].to(torch.float32).div_(255.0)
        y = int(self.targets[index])
        if self.transform is not None:
            x = self.transform(x)
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y

    def _check_index(self, index):
        try:
            i = operator.index(index)
        except TypeError:
            raise TypeError(f"{type(self).__name__}: index must be an integer, got "
                            f"{type(index).__name__}; for several samples use .data[...] and "
                            ".targets[...], or a DataLoader") from None
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"{type(self).__name__}: index {i} out of range for {n} samples")
        return i

    def __repr__(self):
        return (
            f"{type(self).__name__}(name={self.name!r}, n={len(self)}, "
            f"sample_shape={self.sample_shape}, classes={self.num_classes})"
        )
