"""streamnets: the streaming rollout of deep networks, executable.

Graphs and rollout theory (no torch needed): :class:`Network`, :class:`Rollout`,
:func:`load`; the PyTorch engine and experiments live in submodules.
"""

from .errors import DataError, InvalidRolloutError, ShapeError, SpecError, StreamnetsError
from .graph import Edge, Network, Node
from .rollout import FirstResponse, Rollout
from .spec import builtin_names, load, save

__version__ = "0.1.0"

__all__ = [
    "Network", "Node", "Edge", "Rollout", "FirstResponse", "load", "save", "builtin_names",
    "StreamnetsError", "SpecError", "InvalidRolloutError", "ShapeError", "DataError",
]
