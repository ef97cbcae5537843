"""Rollout patterns and everything the paper computes from one.

A rollout pattern R assigns each edge a delay of 0 (within the frame) or 1 (to the
next frame). From it follow the rollout window R_W, validity, the tableau T (the
update step at which each node of the window is computed), the inference factor
F(R), the first response of each output, and the model-parallel key.
"""

from __future__ import annotations

import difflib
import itertools
import numbers
from collections import deque
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import NamedTuple

import networkx as nx
import numpy as np

from .errors import InvalidRolloutError, SettingError, SpecError, positive_number, whole_number
from .graph import Edge, Network, _cycle_path, _suggest

__all__ = ["Rollout", "FirstResponse", "dfs_back_edges", "pattern_label"]


class FirstResponse(NamedTuple):
    """When an output first carries input information.

    ``frame`` is the first frame i >= 1 of the window whose output node is reached
    by a path from an input, and ``update_step`` is the tableau value T((i, out)).

    Examples
    --------
    >>> import streamnets as sn
    >>> r = sn.Rollout.sequential(sn.load("fig2"))
    >>> r.first_response()
    {'w': FirstResponse(frame=1, update_step=2)}
    >>> r.first_response()["w"].update_step == r.tableau(1)["w"][1]
    True
    """

    frame: int
    update_step: int


def dfs_back_edges(net):
    """The back edges (self-loops included) of a depth-first search from the inputs
    (in declaration order, successors in edge order): the streaming edges of the
    canonical sequential rollout. Every back edge closes a cycle of tree edges, so
    the set breaks every cycle and no edge can be dropped from it: it is
    inclusion-minimal. Removing them leaves the network acyclic.

    Examples
    --------
    >>> import streamnets as sn
    >>> net = sn.load("fig2")
    >>> sorted(dfs_back_edges(net))
    [('v', 'v'), ('w', 'v')]
    >>> Rollout.from_streaming_edges(net, dfs_back_edges(net)) == Rollout.sequential(net)
    True
    """
    successors = {v: [e.target for e in net.out_edges(v)] for v in net.nodes}
    state = dict.fromkeys(net.nodes, 0)  # 0 new, 1 on the DFS stack, 2 finished
    back = set()
    for root in net.inputs:
        if state[root]:
            continue
        state[root] = 1
        stack = [(root, iter(successors[root]))]
        while stack:
            u, children = stack[-1]
            for v in children:
                if state[v] == 1:
                    back.add((u, v))
                elif state[v] == 0:
                    state[v] = 1
                    stack.append((v, iter(successors[v])))
                    break
            else:
                state[u] = 2
                stack.pop()
    return back


def checked_network(network, where=None, field="network"):
    """``network`` if it is a :class:`Network`, else a :class:`SpecError` for the
    function ``where`` saying how to get one (a name goes through ``sn.load``, a
    rollout has its ``.network``)."""
    if isinstance(network, Network):
        return network
    if isinstance(network, Rollout):
        hint = "pass the rollout's .network"
    elif isinstance(network, str):
        hint = f"load it first: sn.load({network!r})"
    else:
        hint = "e.g. sn.load('fig2')"
    wants = f"{where} takes a Network" if where else "expected a Network"
    got = type(network).__name__ + (f" {network!r}" if isinstance(network, str) else "")
    raise SpecError(f"{wants}, got {got}; {hint}", field=field)


def _check_delay(edge, delay):
    """A :class:`SpecError` unless ``delay`` is the whole number 0 or 1 (an int or a
    numpy integer; no bools, floats or text, so that ``True`` or ``'1'`` is never taken
    for a delay by accident)."""
    if type(delay) is int and 0 <= delay <= 1:  # the common case, without the ABC check
        return
    if isinstance(delay, numbers.Integral) and not isinstance(delay, bool):
        if delay in (0, 1):
            return
        raise SpecError(f"edge {edge!r} has delay {delay!r}; only 0 and 1 are allowed (insert "
                        f"copy nodes for longer delays)", field="pattern")
    what = "a bool" if isinstance(delay, (bool, np.bool_)) else f"a {type(delay).__name__}"
    raise SpecError(f"edge {edge!r} has delay {delay!r} ({what}); a delay is the number 0 "
                    f"(within the frame) or 1 (to the next frame)", field="pattern")


def _edge_key(network, edge, field):
    """``edge`` (an :class:`Edge` or a pair ``(source, target)``) as the key of an edge
    of ``network``, else a :class:`SpecError` naming ``field`` and the edges."""
    if isinstance(edge, Edge):
        edge = edge.key
    elif isinstance(edge, (tuple, list)) and len(edge) == 2:
        edge = tuple(edge)
    pair = isinstance(edge, tuple) and all(isinstance(v, str) for v in edge)
    if pair and edge in network.edge_index:
        return edge
    names = [f"{u}->{v}" for u, v in network.edge_index]
    if pair:
        close = difflib.get_close_matches("->".join(edge), names, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise SpecError(f"{edge!r} is not an edge of network {network.name!r}; {hint}"
                        f"its edges: {', '.join(names)}", field=field)
    raise SpecError(f"an edge is an Edge or a pair (source, target), got {edge!r}; the edges of "
                    f"network {network.name!r}: {', '.join(names)}", field=field)


def _named_streaming_edges(network, name):
    """The streaming edges of the rollout that ``name`` names in ``network`` by itself:
    ``"streaming"`` (every edge), ``"sequential"`` (the spec's, else the DFS back
    edges) or a pattern of its spec; None for any other name."""
    if not isinstance(name, str):
        return None
    if name == "streaming":
        return {e.key for e in network.edges}
    if name == "sequential" and "sequential" not in network.rollouts:
        return {_edge_key(network, e, "sequential") for e in dfs_back_edges(network)}
    if name in network.rollouts:
        return {_edge_key(network, e, f"rollouts.{name}") for e in network.rollouts[name]}
    return None


def pattern_label(name, bits):
    """A rollout's label for run folders and legends: its name, or ``custom-<bits>`` for
    a pattern of one's own (all of them are named "custom", their delays tell them apart).

    Examples
    --------
    >>> pattern_label("custom", (0, 1, 1)), pattern_label("hybrid", (0, 1, 1))
    ('custom-011', 'hybrid')
    """
    return f"custom-{''.join(str(int(b)) for b in bits)}" if name == "custom" else name


def _edge_list(keys):
    """Edges ``(u, v)`` as ``u->v, ...`` for messages ("none" for no edge)."""
    return ", ".join(f"{u}->{v}" for u, v in keys) or "none"


class Rollout:
    """A rollout pattern R: E -> {0, 1} of a network.

    Parameters
    ----------
    network : Network
    pattern : mapping of (source, target) or Edge to 0 or 1
        The delay of every edge of the network.
    name : str, optional
        A label for messages and plots (``"streaming"``, ``"sequential"``, ...).

    Examples
    --------
    >>> import streamnets as sn
    >>> net = sn.load("fig2")
    >>> r = sn.Rollout.sequential(net)
    >>> sorted(r.streaming_edges)
    [('v', 'v'), ('w', 'v')]
    >>> r.inference_factor
    2
    >>> r.tableau(3)["w"]
    [0, 2, 4, 6]
    >>> sn.Rollout.streaming(net).first_response()
    {'w': FirstResponse(frame=1, update_step=1)}
    """

    def __init__(self, network: Network, pattern, name=None):
        network = checked_network(network)
        self.network = network
        if not isinstance(pattern, Mapping):
            raise SpecError(f"a pattern maps each edge (source, target) to 0 or 1, got a "
                            f"{type(pattern).__name__}; for a sequence of bits in edge order use "
                            f"Rollout.from_bits(network, bits)", field="pattern")
        keys = [k.key if isinstance(k, Edge) else k for k in pattern]
        pattern = dict(zip(keys, pattern.values()))
        if len(pattern) < len(keys):  # an Edge and its pair (source, target) both given
            twice = next(k for k in keys if keys.count(k) > 1)
            raise SpecError(f"edge {twice!r} is given twice (as an Edge and as a pair); give each "
                            f"edge one delay", field="pattern")
        unknown = [k for k in pattern if k not in network.edge_index]
        if unknown:
            raise SpecError(f"{unknown[0]!r} is not an edge of network {network.name!r}; a pattern "
                            f"maps each edge (source, target) to 0 or 1", field="pattern")
        missing = [e.key for e in network.edges if e.key not in pattern]
        if missing:
            raise SpecError(f"the pattern gives no value for edge {missing[0]!r}; give every edge "
                            f"0 (within the frame) or 1 (to the next frame)", field="pattern")
        for key, delay in pattern.items():
            _check_delay(key, delay)
        self.bits = tuple(int(pattern[e.key]) for e in network.edges)
        self.name = name or "custom"
        taken = _named_streaming_edges(network, self.name)
        if taken is not None and set(self.streaming_edges) != taken:
            theirs = _edge_list(e.key for e in network.edges if e.key in taken)
            raise SpecError(f"the name {self.name!r} is taken by the network's {self.name} rollout "
                            f"(streaming edges {theirs}), but this pattern streams "
                            f"{_edge_list(self.streaming_edges)}; give it another name (a trained "
                            f"model answers to its rollout's name)", field="name")

    # -- constructors ---------------------------------------------------------------

    @classmethod
    def streaming(cls, network):
        """The streaming rollout: every edge delays by one frame (R = 1)."""
        network = checked_network(network)
        return cls(network, {e.key: 1 for e in network.edges}, "streaming")

    @classmethod
    def sequential(cls, network):
        """The sequential rollout: R = 1 only where needed to break cycles.

        Uses the network's own ``"sequential"`` pattern if its spec defines one
        (for statestream ``.st_graph`` files: the edges tagged ``stream``);
        otherwise the back edges of a depth-first search from the inputs, an
        inclusion-minimal set of streaming edges that breaks every cycle.
        """
        network = checked_network(network)
        return cls.from_streaming_edges(network, _named_streaming_edges(network, "sequential"),
                                        "sequential")

    @classmethod
    def from_streaming_edges(cls, network, edges, name=None):
        """The pattern with R = 1 on ``edges`` and R = 0 on all others.

        ``edges``: a list of :class:`Edge` objects or pairs ``(source, target)``.

        Examples
        --------
        >>> import streamnets as sn
        >>> Rollout.from_streaming_edges(sn.load("fig2"), [("v", "v"), ("w", "v")]).bits
        (0, 0, 1, 0, 1)
        """
        network = checked_network(network)
        single = isinstance(edges, Edge) or (isinstance(edges, tuple) and len(edges) == 2
                                             and all(isinstance(v, str) for v in edges))
        if single or isinstance(edges, str) or not isinstance(edges, Iterable):
            raise SpecError(f"expected a list of edges (source, target), got {edges!r}"
                            + (f"; for one edge write [{edges!r}]" if single else ""),
                            field="streaming edges")
        edges = {_edge_key(network, e, "streaming edges") for e in edges}
        return cls(network, {e.key: int(e.key in edges) for e in network.edges}, name)

    @classmethod
    def from_bits(cls, network, bits, name=None):
        """The pattern whose delays, in the network's edge order, are ``bits``.

        Examples
        --------
        >>> import streamnets as sn
        >>> Rollout.from_bits(sn.load("fig2"), [1, 0, 1, 0, 1]).streaming_edges
        [('u', 'v'), ('v', 'v'), ('w', 'v')]
        """
        network = checked_network(network)
        order = _edge_list(network.edge_index)
        if isinstance(bits, str) or not isinstance(bits, Iterable):
            hint = f"; for the digits of {bits!r} write [int(b) for b in {bits!r}]" if isinstance(
                bits, str) else ""
            raise SpecError(f"bits must be a list of delays 0 or 1, one per edge in the order "
                            f"{order}, got {bits!r}{hint}", field="pattern")
        bits = tuple(bits)
        if len(bits) != len(network.edges):
            raise SpecError(f"expected {len(network.edges)} delays (one per edge, in the order "
                            f"{order}), got {len(bits)}", field="pattern")
        return cls(network, {e.key: b for e, b in zip(network.edges, bits)}, name)

    @classmethod
    def of(cls, network, rollout):
        """``rollout`` as a pattern of ``network``: a name (:meth:`named`), a Rollout
        of ``network`` or of an equal network, or a mapping ``{edge: 0/1}``.

        Examples
        --------
        >>> import streamnets as sn
        >>> net = sn.load("fig2")
        >>> Rollout.of(net, Rollout.streaming(sn.load("fig2"))).network is net
        True
        """
        network = checked_network(network)
        if isinstance(rollout, str):
            return cls.named(network, rollout)
        if isinstance(rollout, Rollout):
            if rollout.network is network:
                return rollout
            if rollout.network != network:
                raise SpecError(f"rollout {rollout.name!r} belongs to network {rollout.network.name!r}, "
                                f"not to {network.name!r}; build it from that network, e.g. "
                                f"Rollout.streaming(network), or give a name", field="rollout")
            return cls.from_bits(network, rollout.bits, rollout.name)
        if isinstance(rollout, Mapping):
            return cls(network, rollout)
        raise SpecError(f"expected a Rollout, a rollout name or {{edge: 0/1}}, got "
                        f"{type(rollout).__name__}", field="rollout")

    @classmethod
    def named(cls, network, name):
        """``"streaming"``, ``"sequential"`` or a pattern named in the network's spec."""
        network = checked_network(network)
        edges = _named_streaming_edges(network, name)
        if edges is not None:
            return cls.from_streaming_edges(network, edges, name)
        known = ["streaming", "sequential", *sorted(set(network.rollouts) - {"sequential"})]
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        if isinstance(name, str) and name and set(name) <= {"0", "1"}:
            hint = (f"for one delay per edge ({_edge_list(network.edge_index)}) "
                    f"use Rollout.from_bits(network, [int(b) for b in {name!r}]); ")
        raise SpecError(f"unknown rollout {name!r} for network {network.name!r}; {hint}"
                        f"choose one of {', '.join(known)}", field="rollout")

    # -- the pattern ----------------------------------------------------------------

    @property
    def pattern(self):
        """The delays as a dict ``{(source, target): 0 or 1}``."""
        return {e.key: b for e, b in zip(self.network.edges, self.bits)}

    def __getitem__(self, edge):
        """R(edge) of an :class:`Edge` or a pair ``(source, target)``.

        Examples
        --------
        >>> import streamnets as sn
        >>> sn.Rollout.sequential(sn.load("fig2"))["w", "v"]
        1
        """
        return self.bits[self.network.edge_index[_edge_key(self.network, edge, "edge")]]

    @property
    def streaming_edges(self):
        """The edges with R = 1, in edge order."""
        return [e.key for e, b in zip(self.network.edges, self.bits) if b]

    @property
    def model_parallel_key(self):
        """The delays of the edges whose source is not an input node.

        Two patterns are equally model-parallel iff their keys are equal.
        """
        inputs = set(self.network.inputs)
        return tuple(b for e, b in zip(self.network.edges, self.bits) if e.source not in inputs)

    def is_equally_model_parallel(self, other):
        """True when ``self`` and ``other`` (of the same or an equal network) agree on
        every edge not leaving an input."""
        if not isinstance(other, Rollout):
            raise SpecError(f"expected a Rollout to compare with, got {type(other).__name__} "
                            f"{other!r}; e.g. Rollout.of(network, {other!r})", field="other")
        return self._same_network(other) and self.model_parallel_key == other.model_parallel_key

    @property
    def is_streaming_equivalent(self):
        """Theorem 1 (a): equally model-parallel to the streaming rollout."""
        return all(self.model_parallel_key)

    def _same_network(self, other):
        """The same network, or an equal one (e.g. the same spec loaded twice)."""
        return self.network is other.network or self.network == other.network

    def __eq__(self, other):
        return isinstance(other, Rollout) and self.bits == other.bits and self._same_network(other)

    def __hash__(self):
        return hash((self.network.name, self.bits))

    def __repr__(self):
        return (f"Rollout({self.name!r} of {self.network.name!r}, streaming edges: "
                f"{_edge_list(self.streaming_edges)})")

    # -- validity -------------------------------------------------------------------

    @cached_property
    def _zero_graph(self):
        """The network's edges with R = 0: what one frame computes internally."""
        graph = nx.DiGraph()
        graph.add_nodes_from(self.network.nodes)
        graph.add_edges_from(e.key for e, b in zip(self.network.edges, self.bits) if not b)
        return graph

    @cached_property
    def zero_delay_cycle(self):
        """A cycle of edges with R = 0 as a list of edges, or None if there is none."""
        if nx.is_directed_acyclic_graph(self._zero_graph):
            return None
        return [tuple(e) for e in nx.find_cycle(self._zero_graph)]

    @property
    def is_valid(self):
        """True iff every cycle of the network has an edge with R = 1."""
        return self.zero_delay_cycle is None

    def validate(self):
        """Raise :class:`InvalidRolloutError` naming a zero-delay cycle, else return self."""
        cycle = self.zero_delay_cycle
        if cycle is not None:
            path = _cycle_path(cycle)
            raise InvalidRolloutError(
                f"rollout {self.name!r} of network {self.network.name!r} is not valid: the cycle "
                f"{path} has no streaming edge, so a frame would depend on itself; set R=1 on one "
                f"of its edges", cycle)
        return self

    # -- the rollout window ---------------------------------------------------------

    @cached_property
    def _frame_order(self):
        """Nodes in an order in which zero-delay predecessors come first, each with
        its incoming edges as (source index, delay) pairs."""
        self.validate()
        names = list(self.network.nodes)
        index = {v: i for i, v in enumerate(names)}
        order = list(nx.lexicographical_topological_sort(self._zero_graph, key=index.__getitem__))
        preds = {v: [] for v in names}
        for e, b in zip(self.network.edges, self.bits):
            preds[e.target].append((index[e.source], b))
        inputs = set(self.network.inputs)
        return [(index[v], v in inputs, preds[v]) for v in order], names

    @property
    def frame_order(self):
        """Node names in an order that computes a frame: every node comes after the
        sources of its zero-delay incoming edges (ties in declaration order)."""
        order, names = self._frame_order
        return [names[v] for v, _, _ in order]

    def window(self, size):
        """The rollout window R_W as a networkx DiGraph on nodes ``(frame, node)``.

        Frames run 0..size. Edge attribute ``delay`` holds R(e).
        """
        size = whole_number("window size", size, 0)
        graph = nx.DiGraph()
        for i in range(size + 1):
            graph.add_nodes_from(((i, v) for v in self.network.nodes), frame=i)
        for e, b in zip(self.network.edges, self.bits):
            for i in range(size + 1 - b):
                graph.add_edge((i, e.source), (i + b, e.target), delay=b, edge=e.key)
        return graph

    def _tableau_rows(self, size):
        order, names = self._frame_order
        rows = [[0] * len(names)]
        for i in range(1, size + 1):
            row = [0] * len(names)
            rows.append(row)
            for v, is_input, preds in order:
                if not is_input:
                    row[v] = 1 + max(rows[i - d][u] for u, d in preds)
        return rows

    def tableau(self, size):
        """The tableau T over frames 0..size: ``{node: [T((0, v)), ..., T((size, v))]}``.

        T((i, v)) is the number of update steps until node v of frame i is
        computed, starting from the initial state (frame 0 and the inputs). It is
        computed by dynamic programming over R_W in time O(size * |E|).
        """
        size = whole_number("window size", size, 0)
        rows = self._tableau_rows(size)
        names = self._frame_order[1]
        return {v: [row[j] for row in rows] for j, v in enumerate(names)}

    @cached_property
    def inference_factor(self):
        """F(R): update steps per frame in steady state (max tableau value of frame 1
        in the window of size 1)."""
        return max(self._tableau_rows(1)[1])

    @cached_property
    def first_frames(self):
        """The earliest frame at which each node carries input information:
        0 for inputs, >= 1 for every other node (before it, the node is empty).

        A shortest path from the inputs with edge weights R(e), at least frame 1
        past an input (edges into frame 0 carry nothing), found by 0-1 BFS.
        """
        self.validate()
        successors = {v: [] for v in self.network.nodes}
        for e, b in zip(self.network.edges, self.bits):
            successors[e.source].append((e.target, b))
        dist = dict.fromkeys(self.network.inputs, 0)
        queue = deque(self.network.inputs)
        while queue:
            u = queue.popleft()
            for v, b in successors[u]:
                d = max(dist[u] + b, 1)
                if d < dist.get(v, d + 1):
                    dist[v] = d
                    if d > dist[u]:
                        queue.append(v)
                    else:
                        queue.appendleft(v)
        return {v: dist[v] for v in self.network.nodes}

    def first_response(self):
        """The first response of every output: ``{output: FirstResponse(frame, update_step)}``.

        The frame is the first i >= 1 where a path from an input reaches the
        output in R_W (edges into frame 0 ignored); the update step is T((i, out)).
        """
        frames = {o: max(self.first_frames[o], 1) for o in self.network.outputs}
        rows = self._tableau_rows(max(frames.values()))
        names = self._frame_order[1]
        return {o: FirstResponse(i, rows[i][names.index(o)]) for o, i in frames.items()}

    def output_steps(self, frames):
        """The update step at which each output of frames 0..frames-1 is available
        in stateful inference (chained windows of size 1, the paper's protocol):
        the first response at step t = T((first frame, out)), then one frame every
        F(R) steps; None before the first response. This is the time axis on which
        the results of this rollout are plotted.

        t is the tableau value, as the paper's authors count it. Under the streaming
        rollout it is the first frame; a pattern with F(R) > 1 whose first response
        comes after frame 1 can answer earlier than windows run strictly one after the
        other would (``mnist_hybrid``: frame 2 at step 3 rather than 4).

        Examples
        --------
        >>> import streamnets as sn
        >>> sn.Rollout.sequential(sn.load("mnist_sr")).output_steps(4)
        {'prediction': [None, 3, 6, 9]}
        """
        frames = whole_number("frames", frames, 0)
        factor = self.inference_factor
        return {o: [f.update_step + (i - f.frame) * factor if i >= f.frame else None
                    for i in range(frames)]
                for o, f in self.first_response().items()}

    # -- signals and costs ------------------------------------------------------------

    def input_paths(self, node, frame, input=None, max_paths=100_000):
        """Every path along which an input frame reaches ``node`` of ``frame`` in the
        rollout window: lists of ``(frame, node)``, shortest first (of equal length,
        the one from the latest input frame first).

        Edges into frame 0 carry nothing (every node but the inputs is empty
        there, the initial state), as for :attr:`first_frames`. ``input``: one
        input node (default: all of them). An invalid pattern raises
        :class:`InvalidRolloutError`: its nodes on a zero-delay cycle are never computed.
        The number of paths can grow exponentially with ``frame`` (one choice per
        cycle per frame); more than ``max_paths`` raise :class:`SettingError`.

        Examples
        --------
        >>> import streamnets as sn
        >>> net = sn.load("mnist_sr")
        >>> for p in sn.Rollout.streaming(net).input_paths("prediction", 3):
        ...     print(" -> ".join(f"{v}@{i}" for i, v in p))
        image@1 -> h1@2 -> prediction@3
        image@0 -> h1@1 -> h1@2 -> prediction@3
        image@0 -> h1@1 -> h2@2 -> prediction@3
        >>> sorted({p[0][0] for p in sn.Rollout.sequential(net).input_paths("prediction", 3)})
        [1, 2, 3]
        """
        net = self.network
        if not isinstance(node, str) or node not in net.nodes:
            raise SpecError(f"no node {node!r} in network {net.name!r}{_suggest(node, net.nodes)}",
                            field="node")
        if input is not None and (not isinstance(input, str) or input not in net.inputs):
            what = "is not an input node" if isinstance(input, str) and input in net.nodes else "is no node"
            raise SpecError(f"{input!r} {what} of network {net.name!r}; its inputs: "
                            f"{', '.join(net.inputs)}", field="input")
        frame = whole_number("frame", frame, 0)
        max_paths = whole_number("max_paths", max_paths)
        self.validate()
        sources = net.inputs if input is None else (input,)
        graph = self.window(frame)
        graph.remove_edges_from([(u, v) for u, v in graph.edges if v[0] == 0])
        found = (p for i in sources for j in range(frame + 1)
                 for p in nx.all_simple_paths(graph, (j, i), (frame, node)))
        paths = list(itertools.islice(found, max_paths + 1))
        if len(paths) > max_paths:
            raise SettingError(f"more than {max_paths} paths reach {node!r} of frame {frame}; ask "
                               f"for an earlier frame, or raise max_paths")
        return sorted(paths, key=lambda p: (len(p), [(-f, v) for f, v in p]))

    def finish_times(self, costs):
        """When each node of a frame is done with one processor per node: a node
        starts once the sources of its zero-delay edges are done and takes
        ``costs[node]``, a number >= 0 (missing nodes cost 0). The frame takes the largest value:
        ``max costs`` under the streaming rollout, the heaviest within-frame path
        (for a chain, the sum) under the sequential one.

        Examples
        --------
        >>> import streamnets as sn
        >>> net = sn.load("mnist_ff")
        >>> costs = {"h1": 3, "h2": 2, "prediction": 1}
        >>> sn.Rollout.sequential(net).finish_times(costs)
        {'image': 0, 'h1': 3, 'h2': 5, 'prediction': 6}
        >>> max(sn.Rollout.streaming(net).finish_times(costs).values())
        3
        """
        costs = self._checked_costs(costs)
        order, names = self._frame_order
        done = {}
        for v, _, preds in order:
            start = max((done[names[u]] for u, d in preds if not d), default=0)
            done[names[v]] = start + costs.get(names[v], 0)
        return {v: done[v] for v in names}

    def _checked_costs(self, costs):
        """``costs`` if it maps nodes of the network to finite numbers >= 0, else a
        :class:`SettingError` naming the node (a misspelt one would silently cost 0)."""
        net = self.network
        if not isinstance(costs, Mapping):
            raise SettingError(f"costs must be a dict {{node: cost}}, got {type(costs).__name__}")
        for v, c in costs.items():
            if v not in net.nodes:
                raise SettingError(f"costs: network {net.name!r} has no node {v!r}"
                                   f"{_suggest(v, net.nodes)}; its nodes: {', '.join(net.nodes)}")
            positive_number(f"costs: the cost of node {v!r}", c, zero=True)
        return costs
