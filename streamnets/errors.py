"""Errors a user can cause.

Every error that bad input can trigger (a typo in a spec, an invalid rollout
pattern, missing data, a tensor of the wrong shape) is a :class:`StreamnetsError`
whose message names the place (file, field, node, edge or cycle) and says what to
do. The command line prints such an error on one line and exits with status 2.
:func:`whole_number` is the one check of count-like settings, :func:`positive_number`
the one of rates and scales.
"""

import math
import numbers
import operator

__all__ = [
    "StreamnetsError",
    "SpecError",
    "InvalidRolloutError",
    "ShapeError",
    "DataError",
    "DeviceError",
    "SettingError",
    "one_line",
    "whole_number",
    "positive_number",
]


class StreamnetsError(Exception):
    """Base class of every error a user of streamnets can trigger."""


class SpecError(StreamnetsError, ValueError):
    """A network description (YAML spec, .st_graph file or Python call) is wrong.

    Parameters
    ----------
    message : str
        What is wrong and what to do about it.
    source : str, optional
        The file (or built-in spec name) the description came from.
    field : str, optional
        The field inside the description, e.g. ``"nodes.h1.shape"``.
    """

    def __init__(self, message, source=None, field=None):
        self.source = source
        self.field = field
        where = ": ".join(str(p) for p in (source, field) if p)
        super().__init__(f"{where}: {message}" if where else message)


class InvalidRolloutError(StreamnetsError, ValueError):
    """A rollout pattern is not valid: some cycle has no streaming edge.

    Attributes
    ----------
    cycle : list of tuple
        The offending cycle as a list of edges ``(source, target)`` whose
        pattern value is 0.
    """

    def __init__(self, message, cycle=()):
        self.cycle = list(cycle)
        super().__init__(message)


class ShapeError(StreamnetsError, ValueError):
    """A tensor or a pair of node shapes does not fit."""


class DataError(StreamnetsError, OSError):
    """A data set is missing, incomplete or corrupt."""


class DeviceError(StreamnetsError, RuntimeError):
    """A requested device does not exist on this machine or in this PyTorch build."""


class SettingError(StreamnetsError, ValueError):
    """A setting (a keyword argument or a command-line option) is out of its range."""


def whole_number(name, value, lo=1, hi=None, why=None, default=False):
    """``value`` as an int in ``lo..hi`` (``hi=None``: no upper bound), else a
    :class:`SettingError` naming ``name``, the value and the range.

    Booleans and floats are refused even when whole (``True``, ``2.0``): given
    as a count they are most likely a slip.

    Parameters
    ----------
    name : str
        How the message names the setting, e.g. ``"workers"`` or
        ``"GTSRB: size"``.
    value : object
    lo, hi : int
        The range, both ends included.
    why : str, optional
        Appended to the message: why the range, or what to do.
    default : bool
        ``None`` stands for the caller's default: it is returned as is (and the
        message says so).

    Examples
    --------
    >>> whole_number("workers", 3), whole_number("workers", None, default=True)
    (3, None)
    >>> whole_number("workers", 0, default=True)
    Traceback (most recent call last):
    ...
    streamnets.errors.SettingError: workers must be a whole number >= 1 (or None for the default), got 0
    >>> whole_number("frame", 9, 0, 7, why="the clip has 8 frames")
    Traceback (most recent call last):
    ...
    streamnets.errors.SettingError: frame=9 is out of range 0..7: the clip has 8 frames
    """
    if value is None and default:
        return None
    try:
        number = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        number = None
    if number is not None and number >= lo and (hi is None or number <= hi):
        return number
    tail = f": {why}" if why else ""
    if number is None or hi is None:
        bounds = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        note = " (or None for the default)" if default else ""
        raise SettingError(f"{name} must be a whole number {bounds}{note}, got {value!r}{tail}")
    raise SettingError(f"{name}={number} is out of range {lo}..{hi}{tail}")


def positive_number(name, value, zero=False):
    """``value`` if it is a finite real number > 0 (``zero``: >= 0; numpy scalars
    too), else a :class:`SettingError` naming ``name`` and the value. Booleans are
    refused.

    Examples
    --------
    >>> positive_number("lr", 1e-3)
    0.001
    >>> positive_number("lr", float("nan"))
    Traceback (most recent call last):
    ...
    streamnets.errors.SettingError: lr must be a finite number > 0, got nan
    """
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
          and (value > 0 or (zero and value == 0)))
    if not ok:
        raise SettingError(f"{name} must be a finite number {'>= 0' if zero else '> 0'}, got {value!r}")
    return value


def one_line(message):
    r"""A message of several lines (e.g. a list of folders searched) on one line: list
    bullets dropped, the items joined by "; ", the list ended by ".", other lines
    joined by "; " (by a space after a line ending in ":").

    Examples
    --------
    >>> one_line("MNIST not found. Looked in:\n  - data/mnist\n  - ~/data\nTo fix: download it.")
    'MNIST not found. Looked in: data/mnist; ~/data. To fix: download it.'
    """
    text, in_list = "", False
    for line in message.splitlines():
        line = line.strip()
        item = line.startswith(("- ", "* "))
        line = line[2:] if item else line
        if line:
            joint = ("" if not text else " " if text.endswith(":")
                     else ". " if in_list and not item else "; ")
            text += joint + line
            in_list = item
    return text


def counted(items, noun):
    """``"1 edge"``, ``"5 edges"``: the size of ``items`` (or a count) with its noun.

    Examples
    --------
    >>> counted(["u->v"], "edge"), counted(3, "node")
    ('1 edge', '3 nodes')
    """
    n = items if isinstance(items, int) else len(items)
    return f"{n} {noun}{'' if n == 1 else 's'}"
