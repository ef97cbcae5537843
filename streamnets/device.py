"""Choosing where to run: device resolution, optional mixed precision and compilation, and
what decides the float rounding of a run (:func:`float_environment`).

Nothing here is required: every default runs on the CPU in full precision.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import platform
from pathlib import Path

import torch

from .errors import DeviceError

__all__ = ["DeviceError", "resolve_device", "available_devices", "autocast", "autocast_dtype", "maybe_compile",
           "intra_op_threads", "cpu_cores", "cpu_name", "keep_freed_memory", "float_environment",
           "environment_text"]


def _mps_available():
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices():
    """Device names usable here, best first (e.g. ``["cuda:0", "cpu"]``).

    Examples
    --------
    >>> available_devices()[-1]
    'cpu'
    """
    names = [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    if _mps_available():
        names.append("mps")
    return names + ["cpu"]


def resolve_device(device="auto"):
    """A :class:`torch.device` for ``device``, checked to exist.

    Parameters
    ----------
    device : str, torch.device or None
        ``"auto"`` (or None) picks CUDA, else Apple MPS, else the CPU. ``"cuda"``
        means the current CUDA device; ``"cuda:1"``, ``"mps"``, ``"cpu"`` as usual.

    Raises
    ------
    DeviceError
        The device is unknown or not available (e.g. CUDA on a machine without it).

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("auto").type in ("cuda", "mps", "cpu")
    True
    """
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    try:
        dev = torch.device(device.strip().lower() if isinstance(device, str) else device)
    except (RuntimeError, TypeError, ValueError):
        raise DeviceError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or "
                          f"'mps' (available here: {', '.join(available_devices())})") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = (f"this PyTorch {torch.__version__} was built without CUDA" if torch.version.cuda
                     is None else "no CUDA GPU is visible (check drivers / CUDA_VISIBLE_DEVICES)")
            raise DeviceError(f"device {str(device)!r} was requested but CUDA is not available: "
                              f"{build}; use the CPU or 'auto' (device='cpu' in Python, --device cpu on the command line)")
        count = torch.cuda.device_count()
        index = torch.cuda.current_device() if dev.index is None else dev.index
        if index >= count:
            raise DeviceError(f"device {str(device)!r} was requested but only {count} CUDA device(s) "
                              f"exist (cuda:0 .. cuda:{count - 1})")
        return torch.device("cuda", index)
    if dev.type == "mps" and not _mps_available():
        raise DeviceError(f"device {str(device)!r} was requested but Apple MPS is not available "
                          f"here; use the CPU or 'auto' (device='cpu' in Python, --device cpu on the command line)")
    if dev.type not in ("cpu", "mps") or dev.index not in (None, 0):
        raise DeviceError(f"device {str(device)!r} is not one streamnets runs on; use 'auto', 'cpu', "
                          f"'cuda', 'cuda:N' or 'mps' (available here: {', '.join(available_devices())})")
    return torch.device(dev.type)


def autocast(device, enabled=None, dtype=None):
    """A mixed-precision context for ``device`` (a no-op unless enabled).

    Parameters
    ----------
    device : str or torch.device
    enabled : bool, optional
        Default: on for CUDA, off elsewhere (CPU autocast is rarely faster).
    dtype : torch.dtype, optional
        Default: bfloat16 where the GPU supports it (no loss scaling needed),
        else float16 (use a ``torch.amp.GradScaler`` then).

    Examples
    --------
    >>> with autocast("cpu"):
    ...     torch.ones(1).dtype
    torch.float32
    """
    dev = resolve_device(device)
    default = autocast_dtype(dev, enabled)
    if default is None:
        return contextlib.nullcontext()
    return torch.autocast(dev.type, dtype=dtype or default)


def autocast_dtype(device, enabled=None):
    """The dtype :func:`autocast` computes in on ``device`` by default, or None when it
    is off (``enabled`` as there). float16 needs loss scaling (``torch.amp.GradScaler``).

    Examples
    --------
    >>> autocast_dtype("cpu") is None, autocast_dtype("cpu", enabled=True)
    (True, torch.bfloat16)
    """
    dev = resolve_device(device)
    if not (dev.type == "cuda" if enabled is None else enabled):
        return None
    if dev.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def maybe_compile(module, enabled=False, **options):
    """``torch.compile(module, **options)`` when ``enabled``, else ``module`` itself.

    Compilation traces one graph per rollout pattern and window length (the frame
    loop is unrolled), so it pays off for long training runs on a GPU, not for
    tests or short CPU runs.

    Examples
    --------
    >>> layer = torch.nn.Linear(2, 2)
    >>> maybe_compile(layer) is layer
    True
    """
    return torch.compile(module, **options) if enabled else module


@contextlib.contextmanager
def intra_op_threads(n):
    """Run the block with ``torch.set_num_threads(n)`` in this thread, then restore.

    With the OpenMP backend of the CPU builds the count is the calling thread's
    own, but ``set_num_threads`` also sets process-wide defaults while the block
    runs: MKL's count, and the count of threads that have not run a parallel op
    yet (they start with ``n``).

    Examples
    --------
    >>> with intra_op_threads(1):
    ...     torch.get_num_threads()
    1
    """
    before = torch.get_num_threads()
    if n is None or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cpu_cores():
    """The cores this process may run on.

    Examples
    --------
    >>> cpu_cores() >= 1
    True
    """
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def cpu_name():
    """The CPU's model name (``/proc/cpuinfo``; elsewhere what :mod:`platform` knows),
    for benchmark reports.

    Examples
    --------
    >>> isinstance(cpu_name(), str)
    True
    """
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover - not Linux
        pass
    return platform.processor() or platform.machine()


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h>
_KEPT = None


def keep_freed_memory(mmap_threshold=32 << 20, trim_threshold=512 << 20):
    """Let glibc's allocator keep freed tensor memory for reuse (process-wide, once).

    By default glibc serves every block above a dynamic threshold (128 KiB to
    32 MiB) with a fresh ``mmap`` and returns it on free, and threads other than
    the main one allocate from arenas that hand freed memory back to the system.
    Stateful inference allocates each node's new value every frame (2 MiB for a
    32x32x32 state at batch 16), so every frame then pays page faults, in every
    worker thread at once. Measured on 2 cores: the update of cifar10_dsr6's
    node h1 at batch 16 took 4.3-5.9 ms in fresh threads, 2.0-2.1 ms with this
    setting. Raising both thresholds with ``mallopt`` keeps the memory in the
    heap: up to ``trim_threshold`` bytes of freed memory stay with the process
    (32 MiB is the largest mmap threshold every glibc accepts).

    Returns the setting applied, e.g. ``"glibc mallopt: mmap threshold 32 MiB,
    trim threshold 512 MiB"``, or None where the C library is not glibc (nothing
    is changed there). Only the first call changes anything; later calls return
    the first one's result.

    Examples
    --------
    >>> kept = keep_freed_memory()
    >>> kept is None or kept.startswith("glibc mallopt: mmap threshold")
    True
    >>> keep_freed_memory(1 << 20) == kept  # only the first call changes anything
    True
    """
    global _KEPT
    if _KEPT is None:
        _KEPT = _mallopt(mmap_threshold, trim_threshold) or ""
    return _KEPT or None


def _mallopt(mmap_threshold, trim_threshold):
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # only glibc has it (musl also has a mallopt, which ignores these)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):  # not glibc (musl, macOS, Windows)
        return None
    if not (mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold)) and mallopt(_M_TRIM_THRESHOLD, int(trim_threshold))):
        return None  # pragma: no cover - glibc refused the values
    return (f"glibc mallopt: mmap threshold {int(mmap_threshold) >> 20} MiB, "
            f"trim threshold {int(trim_threshold) >> 20} MiB")


def float_environment(device="cpu"):
    """What decides the float rounding of a run: the torch build and the instruction set
    its CPU kernels use; on the CPU the number of torch threads (reductions are split
    over them), on another device (``auto`` is resolved) that device's name and autocast
    precision. Runs repeat bit for bit only where all are the same.

    Examples
    --------
    >>> sorted(float_environment("cpu"))
    ['cpu_capability', 'threads', 'torch']
    """
    env = {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    dev = resolve_device(device)
    if dev.type == "cpu":
        env["threads"] = torch.get_num_threads()
    else:
        name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else dev.type
        dtype = autocast_dtype(dev)
        env["device"] = name + (f" ({str(dtype).removeprefix('torch.')} autocast)" if dtype else "")
    return env


def environment_text(env):
    """A :func:`float_environment` in words (one that mixes several, as a resumed run
    may record, lists them).

    Examples
    --------
    >>> environment_text({"torch": "2.13.0", "cpu_capability": "AVX2", "threads": 2})
    'torch 2.13.0 on AVX2, 2 threads'
    >>> environment_text({"mixed": [{"torch": "2.13.0", "cpu_capability": "AVX2", "threads": 2},
    ...                             {"torch": "2.13.0", "cpu_capability": "AVX2", "threads": 1}]})
    'a mix of torch 2.13.0 on AVX2, 2 threads and torch 2.13.0 on AVX2, 1 thread'
    """
    if isinstance(env.get("mixed"), list):
        return "a mix of " + " and ".join(environment_text(part) for part in env["mixed"])
    n = env.get("threads") if not env.get("device") else None
    threads = f", {n} thread{'s' * (n != 1)}" if n else ""
    return f"torch {env.get('torch', '?')} on {env.get('device') or env.get('cpu_capability', '?')}{threads}"
