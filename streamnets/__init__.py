"""streamnets: the streaming rollout of deep networks, executable.

Graphs and rollout theory (no torch needed): :class:`Network`, :class:`Rollout`,
:func:`load`. The PyTorch engine :class:`StreamNet` (loaded on first use), and in
submodules: :mod:`.theory`, :mod:`.data`, :mod:`.train`, :mod:`.experiments`,
:mod:`.parallel`, :mod:`.viz`, :mod:`.widgets`.
"""

from .errors import DataError, InvalidRolloutError, SettingError, ShapeError, SpecError, StreamnetsError
from .graph import Edge, Network, Node
from .rollout import FirstResponse, Rollout
from .spec import builtin_names, load, save

__version__ = "0.1.0"

# The torch engine and the submodules load on first use (``sn.theory``, ``sn.viz``),
# so the theory works without importing torch.
_LAZY = {"StreamNet": ("streamnets.nn", "StreamNet")}
_SUBMODULES = ("theory", "generate", "paper", "nn", "data", "train", "experiments", "parallel",
               "viz", "widgets", "device", "notebooks", "cli")


def __getattr__(name):
    import importlib

    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in _SUBMODULES:
        return importlib.import_module(f"streamnets.{name}")
    raise AttributeError(f"module 'streamnets' has no attribute {name!r}")


__all__ = [
    "Network", "Node", "Edge", "Rollout", "FirstResponse", "load", "save", "builtin_names", "StreamNet",
    "StreamnetsError", "SpecError", "InvalidRolloutError", "ShapeError", "DataError", "SettingError",
]
