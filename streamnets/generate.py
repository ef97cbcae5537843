"""Networks made by code: feed-forward chains and random networks.

For teaching (chains of any depth), property tests and benchmarks (random
networks of any size). Every generated network is valid: all nodes are reachable
from an input, and the last node is tagged as the output.
"""

import random

from .errors import SettingError, whole_number
from .graph import Edge, Network, Node

__all__ = ["chain", "random_network"]


def chain(depth, width=8):
    """A feed-forward chain ``x -> h1 -> ... -> out`` with ``depth`` >= 1 edges.

    Examples
    --------
    >>> from streamnets import Rollout
    >>> Rollout.sequential(chain(3)).inference_factor
    3
    """
    depth = whole_number("depth", depth, 1, why="the number of edges from x to out")
    width = whole_number("width", width, 1)
    names = ["x"] + [f"h{i}" for i in range(1, depth)] + ["out"]
    nodes = [Node(n, (width,), "identity" if n == "x" else "relu") for n in names]
    nodes[-1] = Node("out", (width,), "identity", tags=("prediction",))
    return Network(nodes, list(zip(names, names[1:])), name=f"chain{depth}")


def random_network(n_nodes, n_edges, n_inputs=1, self_loops=True, seed=0, shape=(1,)):
    """A random network with ``n_nodes`` nodes and ``n_edges`` edges.

    The first ``n_inputs`` nodes are inputs. Every other node first gets one edge
    from an earlier node (so all are reachable) and every input one edge out; then
    random edges are added (forward, backward, and self-loops when allowed) until
    there are ``n_edges``. Counts out of range raise
    :class:`~streamnets.errors.SettingError`.

    Examples
    --------
    >>> net = random_network(6, 10, seed=1)
    >>> len(net.nodes), len(net.edges), net.inputs
    (6, 10, ('n0',))
    """
    n_nodes = whole_number("n_nodes", n_nodes, 2, why="an input and a node it feeds")
    n_inputs = whole_number("n_inputs", n_inputs, 1, n_nodes - 1,
                            why=f"at least one of the {n_nodes} nodes must not be an input")
    n_edges = whole_number("n_edges", n_edges, 1)
    rng = random.Random(seed)
    names = [f"n{i}" for i in range(n_nodes)]
    parents = [(names[rng.randrange(i)], names[i]) for i in range(n_inputs, n_nodes)]
    for u in names[:n_inputs]:  # every input feeds a node (one without edges is refused)
        if not any(p == u for p, _ in parents):
            target = names[rng.randrange(n_inputs, n_nodes)]
            if (u, target) not in parents:
                parents.append((u, target))
    room = (n_nodes - n_inputs) * (n_nodes if self_loops else n_nodes - 1)
    if n_edges > room:
        raise SettingError(f"n_edges={n_edges}: at most {room} edges fit between {n_nodes} nodes "
                           f"with {n_inputs} input(s){'' if self_loops else ' and no self-loops'}")
    if n_edges < len(parents):
        raise SettingError(f"n_edges={n_edges}: need at least {len(parents)} edges to reach every "
                           f"node and leave every input")
    edges, edge_list = set(parents), list(parents)
    while len(edges) < n_edges:
        u, v = rng.choice(names), names[rng.randrange(n_inputs, n_nodes)]
        if (u, v) not in edges and (self_loops or u != v):
            edges.add((u, v))
            edge_list.append((u, v))
    nodes = [Node(n, shape, "identity" if i < n_inputs else "relu") for i, n in enumerate(names)]
    nodes[-1] = Node(names[-1], shape, "relu", tags=("prediction",))
    return Network(nodes, [Edge(u, v, 1) for u, v in edge_list], name=f"random{n_nodes}x{n_edges}")
