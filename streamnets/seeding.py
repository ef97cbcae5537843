"""One place for randomness: seed Python, NumPy and PyTorch together.

CPU runs are bit-reproducible with :func:`seed_everything` alone: the CPU kernels
streamnets uses (convolution, matrix products, dropout) are deterministic for a
given PyTorch build, CPU instruction set (``torch.backends.cpu.get_cpu_capability()``,
e.g. AVX2 vs AVX512: the kernels round differently) and number of threads
(``torch.get_num_threads()``; reductions are split across threads), so change none
of them between runs you compare.
``torch.use_deterministic_algorithms`` is therefore *not* switched on by default:
it matters for CUDA (cuDNN algorithm choice, cuBLAS workspaces, atomic adds) and
costs speed there. Pass ``deterministic=True`` to get reproducible GPU runs too.
"""

from __future__ import annotations

import hashlib
import os
import random

import numpy as np
import torch

from .errors import StreamnetsError

__all__ = ["seed_everything", "derive_seed", "seed_worker"]

_MAX_SEED = 2**32 - 1


def seed_everything(seed, deterministic=None):
    """Seed ``random``, NumPy and PyTorch (CPU and every GPU) with ``seed``.

    Parameters
    ----------
    seed : int
        In 0 .. 2**32 - 1.
    deterministic : bool or None
        True also makes GPU runs reproducible: ``torch.use_deterministic_algorithms(True,
        warn_only=True)`` (ops without a deterministic kernel warn instead of
        failing), deterministic cuDNN without autotuning, and the cuBLAS workspace
        setting it needs. ``False`` switches these back off; None (the default)
        leaves them as they are, so that a caller's choice survives the seeding
        that :func:`~streamnets.train.train` does.

    Returns
    -------
    torch.Generator
        A CPU generator seeded with ``seed``, for ``DataLoader(generator=...)`` or
        sampling that must not disturb the global stream.

    Examples
    --------
    >>> g = seed_everything(0)
    >>> a = torch.rand(2); _ = seed_everything(0); torch.equal(a, torch.rand(2))
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= _MAX_SEED:
        raise StreamnetsError(f"seed must be an integer in 0 .. {_MAX_SEED}, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    os.environ["PYTHONHASHSEED"] = str(seed)  # affects subprocesses (e.g. DataLoader workers)
    if deterministic:
        # Must be set before the first cuBLAS call to take effect.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if deterministic is not None:
        torch.use_deterministic_algorithms(bool(deterministic), warn_only=True)
        torch.backends.cudnn.deterministic = bool(deterministic)
        if deterministic:
            torch.backends.cudnn.benchmark = False
    return torch.Generator().manual_seed(seed)


def derive_seed(seed, *keys):
    """A stable seed for a named sub-task, e.g. ``derive_seed(0, "mnist_sr", rep)``.

    The same ``(seed, *keys)`` always gives the same value (unlike ``hash``, which
    is salted per process).

    Examples
    --------
    >>> derive_seed(0, "mnist_sr", 1) == derive_seed(0, "mnist_sr", 1)
    True
    >>> derive_seed(0, "a") != derive_seed(0, "b")
    True
    """
    text = "\x1f".join(str(k) for k in (seed, *keys)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=4).digest(), "little")


def seed_worker(worker_id):
    """``DataLoader(worker_init_fn=seed_worker)``: seed ``random`` and NumPy in a worker
    from the seed PyTorch gave it (itself derived from the loader's generator).

    Examples
    --------
    >>> import random, numpy as np
    >>> _ = torch.manual_seed(7)  # in a worker: the seed the DataLoader gave it
    >>> seed_worker(0)
    >>> drawn = (random.random(), np.random.rand())
    >>> random.seed(7); np.random.seed(7)
    >>> drawn == (random.random(), np.random.rand())
    True
    """
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)
