"""Errors a user can cause.

Every error that bad input can trigger (a typo in a spec, an invalid rollout
pattern, missing data, a tensor of the wrong shape) is a :class:`StreamnetsError`
whose message names the place (file, field, node, edge or cycle) and says what to
do. The command line prints such an error on one line and exits with status 2.
"""

__all__ = [
    "StreamnetsError",
    "SpecError",
    "InvalidRolloutError",
    "ShapeError",
    "DataError",
    "DeviceError",
    "SettingError",
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
