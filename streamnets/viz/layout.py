"""Layered layout of a network: inputs at the bottom, as in the paper.

Layers are longest-path depths over the acyclic part of the network (the
network without the back edges of a depth-first search from the inputs).
Within a layer, nodes are ordered by the mean position of their predecessors
(one sweep, ties in declaration order) to keep crossings few.
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import SpecError
from ..rollout import Rollout, dfs_back_edges

__all__ = ["Layout", "layered_layout", "back_edges", "checked_rollout"]


def checked_rollout(rollout, where):
    """``rollout`` if it is a :class:`Rollout`, else a SpecError for ``where`` saying
    how to make one."""
    if isinstance(rollout, Rollout):
        return rollout
    raise SpecError(f"{where} draws a Rollout, got {type(rollout).__name__}; pass e.g. "
                    f"sn.Rollout.streaming(net), sn.Rollout.sequential(net) or "
                    f"sn.Rollout.named(net, name)", field="rollout")


class Layout(NamedTuple):
    """Node positions: ``pos[v] = (x, y)`` with ``y`` the layer; ``rows`` lists
    the nodes bottom-up (inputs first), one per row of a rollout window."""

    pos: dict
    layer: dict
    rows: list
    back: frozenset


def back_edges(net):
    """The back edges (self-loops included) of a depth-first search from the
    inputs, in declaration order; removing them leaves the network acyclic.

    Examples
    --------
    >>> import streamnets as sn
    >>> sorted(back_edges(sn.load("fig2")))
    [('v', 'v'), ('w', 'v')]
    """
    return frozenset(dfs_back_edges(net))


def layered_layout(net):
    """Positions of the nodes of ``net`` in layers (see the module docstring).

    Examples
    --------
    >>> import streamnets as sn
    >>> lay = layered_layout(sn.load("fig2"))
    >>> lay.layer
    {'u': 0, 'v': 1, 'w': 2}
    >>> lay.rows
    ['u', 'v', 'w']
    """
    back = back_edges(net)
    forward = [e.key for e in net.edges if e.key not in back]
    order = list(net.nodes)
    rank = {v: i for i, v in enumerate(order)}
    layer = dict.fromkeys(order, 0)
    # Longest path by relaxation in a topological order of the acyclic part.
    indeg = dict.fromkeys(order, 0)
    for _, v in forward:
        indeg[v] += 1
    ready = [v for v in order if indeg[v] == 0]
    topo = []
    while ready:
        u = ready.pop(0)
        topo.append(u)
        for s, v in forward:
            if s == u:
                layer[v] = max(layer[v], layer[u] + 1)
                indeg[v] -= 1
                if indeg[v] == 0:
                    ready.append(v)
    preds = {v: [s for s, t in forward if t == v] for v in order}
    pos = {}
    for k in range(max(layer.values()) + 1):
        members = [v for v in order if layer[v] == k]

        def barycenter(v):
            xs = [pos[p][0] for p in preds[v] if p in pos]
            return (sum(xs) / len(xs) if xs else 0.0, rank[v])

        members.sort(key=barycenter)
        for j, v in enumerate(members):
            pos[v] = (j - (len(members) - 1) / 2, float(k))
    rows = sorted(order, key=lambda v: (pos[v][1], pos[v][0], rank[v]))
    return Layout(pos, layer, rows, back)
