"""Networks: directed graphs of neuron pools (nodes) joined by edges.

A :class:`Network` is the paper's N = (V, E): named nodes with a shape, an
activation and a dropout rate, and directed edges (self-loops allowed) that each
carry a receptive field. Input nodes are the nodes without incoming edges; every
other node must be reachable from one of them.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx

from .errors import ShapeError, SpecError, counted

__all__ = ["Node", "Edge", "Network", "ACTIVATIONS", "OUTPUT_TAGS"]

#: Activation names a node may use (lower case); aliases map onto them.
ACTIVATIONS = ("identity", "relu", "tanh", "sigmoid", "elu", "leaky_relu", "softmax")
_ACTIVATION_ALIASES = {"id": "identity", "linear": "identity", "none": "identity"}

#: Node tags that mark a node as an output of the network.
OUTPUT_TAGS = ("prediction", "output")


def _checked_tags(tags, source, where):
    if isinstance(tags, str):
        tags = [tags]
    if tags is None:
        return ()
    if not isinstance(tags, (list, tuple)) or not all(isinstance(t, (str, int)) for t in tags):
        raise SpecError(f"tags must be a list of names, got {tags!r}", source, where)
    return tuple(str(t) for t in tags)


def _suggest(word, choices):
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def size_ratio(edge, src, tgt):
    """``(stride, upsample)`` of an ``edge`` between the spatial nodes ``src`` and
    ``tgt``: their sizes must differ by one integer factor in height and width
    (else :class:`~streamnets.errors.ShapeError` naming the edge and the fix).

    Examples
    --------
    >>> import streamnets as sn
    >>> net = sn.load("mnist_sr")
    >>> size_ratio(net.edge("image", "h1"), net.nodes["image"], net.nodes["h1"])
    (4, 1)
    """
    (_, hs, ws), (_, ht, wt) = src.shape, tgt.shape

    def fail(why):
        raise ShapeError(
            f"edge {edge.source} -> {edge.target}: cannot connect shape {src.shape} to "
            f"{tgt.shape}: {why}; the size ratio between source and target must be an integer, "
            f"the same in height and width (e.g. 28x28 -> 7x7, 16x16 -> 32x32); change a node's shape")

    if hs >= ht and ws >= wt:
        if hs % ht or ws % wt:
            fail(f"{hs}x{ws} is not an integer multiple of {ht}x{wt}")
        if hs // ht != ws // wt:
            fail(f"the ratios differ ({hs // ht} in height, {ws // wt} in width)")
        return hs // ht, 1
    if hs <= ht and ws <= wt:
        if ht % hs or wt % ws:
            fail(f"{ht}x{wt} is not an integer multiple of {hs}x{ws}")
        if ht // hs != wt // ws:
            fail(f"the ratios differ ({ht // hs} in height, {wt // ws} in width)")
        return 1, ht // hs
    fail("the target is larger in one dimension and smaller in the other")


def _text_number(value):
    """A hint for a dropout YAML 1.1 read as text: an exponent without a '.' (5e-1)."""
    try:
        number = float(value) if isinstance(value, str) and "e" in value.lower() else None
    except ValueError:
        number = None
    if number is None or not 0 <= number < 1:
        return ""
    return f" (YAML reads {value} as text; write {number!r})"


def _is_count(value):
    """A whole number >= 1 (an int or a numpy integer, not a bool)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0


@dataclass(frozen=True)
class Node:
    """A neuron pool: ``shape`` = (channels, height, width); (C, 1, 1) is dense.

    ``activation`` is one of :data:`ACTIVATIONS` (``leaky_relu`` has slope 0.01,
    PyTorch's default; ``softmax`` is over the channels of each pixel), ``dropout``
    a rate in [0, 1) applied to the biased sum of the inputs before the activation.
    An input node (one without incoming edges) holds its frame as given: it is never
    updated, so its activation is not applied (write ``identity`` to say so) and a
    network refuses dropout on it.

    Examples
    --------
    >>> Node("h1", (16, 7, 7), activation="relu", dropout=0.25)
    Node(name='h1', shape=(16, 7, 7), activation='relu', dropout=0.25, tags=())
    """

    name: str
    shape: tuple
    activation: str = "relu"
    dropout: float = 0.0
    tags: tuple = ()

    @property
    def is_spatial(self):
        """True when the node has a spatial extent (height or width above 1)."""
        return self.shape[1] * self.shape[2] > 1

    @property
    def spec_shape(self):
        """The shape as a spec writes it: ``(C,)`` for a dense node, else ``(C, H, W)``.

        Examples
        --------
        >>> Node("h2", (128, 1, 1)).spec_shape, Node("h1", (16, 7, 7)).spec_shape
        ((128,), (16, 7, 7))
        """
        return self.shape if self.is_spatial else self.shape[:1]

    @property
    def size(self):
        """Number of units, C * H * W."""
        c, h, w = self.shape
        return c * h * w


@dataclass(frozen=True)
class Edge:
    """A directed edge ``source -> target`` with a receptive field ``rf``.

    ``rf`` is the kernel size of the convolution into a spatial target; it is
    ignored for dense (1x1) targets.

    Examples
    --------
    >>> Edge("h1", "h1", rf=3).is_self_loop
    True
    """

    source: str
    target: str
    rf: int = 3
    tags: tuple = ()

    @property
    def key(self):
        """The pair ``(source, target)`` that identifies the edge."""
        return (self.source, self.target)

    @property
    def is_self_loop(self):
        return self.source == self.target


#: Rollout names a spec cannot give a pattern of its own ("sequential" it can: that
#: pattern then is the network's sequential rollout).
_RESERVED_ROLLOUTS = {"streaming": "it always means every edge delayed by one frame",
                      "custom": "it labels unnamed patterns"}


class Network:
    """A directed graph of nodes and edges: the paper's network N = (V, E).

    Parameters
    ----------
    nodes : iterable of Node
        The nodes, in a fixed order (drawings and tables follow it).
    edges : iterable of Edge or (source, target) pairs
        The edges. At most one edge per ordered pair of nodes.
    name : str
        A name for messages and plots.
    rollouts : mapping of str to iterable of (source, target), optional
        Named rollout patterns that come with the network, each given by its
        streaming edges (R = 1); all other edges have R = 0. The name
        ``"sequential"`` overrides the canonical sequential rollout.
    source : str, optional
        Where the description came from (a file or built-in name), for messages.
    description : str, optional
        One or two sentences on what the network is.

    Raises
    ------
    SpecError
        Duplicate node or edge, an edge to an unknown node, a bad shape,
        activation or dropout, no input node, or a node no input reaches.

    Examples
    --------
    >>> net = Network(
    ...     [Node("u", (1,)), Node("v", (8,)), Node("w", (8,), tags=("prediction",))],
    ...     [("u", "v"), ("v", "w"), ("v", "v"), ("u", "w"), ("w", "v")],
    ...     name="fig2",
    ... )
    >>> net.inputs, net.outputs
    (('u',), ('w',))
    >>> len(net.edges)
    5
    """

    def __init__(self, nodes, edges, name="network", rollouts=None, source=None, description=""):
        self.name = str(name)
        self.description = str(description or "")
        self.source = source
        for field, given in (("nodes", nodes), ("edges", edges)):
            if isinstance(given, (str, Node, Edge)) or not isinstance(given, Iterable):
                raise SpecError(f"{field} must be a list, got {given!r}", source, field)
        self.nodes = {}
        for i, node in enumerate(nodes):
            node = self._checked_node(node, f"nodes[{i}]")
            if node.name in self.nodes:
                raise SpecError(f"node {node.name!r} is defined twice; give each node a unique name",
                                source, f"nodes.{node.name}")
            self.nodes[node.name] = node
        self.edges = tuple(self._checked_edges(edges))
        self.edge_index = {e.key: i for i, e in enumerate(self.edges)}
        self._in_edges = {v: [] for v in self.nodes}
        self._out_edges = {v: [] for v in self.nodes}
        for e in self.edges:
            self._in_edges[e.target].append(e)
            self._out_edges[e.source].append(e)
        self.graph = nx.DiGraph()
        self.graph.add_nodes_from(self.nodes)
        self.graph.add_edges_from(self.edge_index)
        self.inputs = tuple(v for v in self.nodes if self.graph.in_degree(v) == 0)
        self._check_reachable()
        self.outputs = self._find_outputs()
        if not self.outputs:
            raise SpecError("the network has no output node (no node tagged 'prediction' or "
                            "'output', and every node has an outgoing edge); tag the output node "
                            "with 'prediction'", source, "nodes")
        self.rollouts = self._checked_rollouts(rollouts or {})

    # -- validation -----------------------------------------------------------------

    def _checked_node(self, node, where):
        if not isinstance(node, Node):
            raise SpecError(f"expected a Node, got {type(node).__name__}", self.source, where)
        name = node.name
        if not isinstance(name, str) or not name:
            raise SpecError("a node needs a non-empty string name", self.source, where)
        shape = node.shape
        if isinstance(shape, numbers.Integral):
            shape = (shape,)
        try:
            shape = tuple(shape)
        except TypeError:
            shape = None
        ok = shape is not None and len(shape) in (1, 3) and all(_is_count(s) for s in shape)
        if not ok:
            raise SpecError(f"shape must be [channels] or [channels, height, width] of positive "
                            f"integers, got {node.shape!r}", self.source, f"nodes.{name}.shape")
        shape = tuple(int(s) for s in shape)  # numpy integers too
        if len(shape) == 1:
            shape = (shape[0], 1, 1)
        if not isinstance(node.activation, str):  # e.g. an empty 'activation:' in YAML (None)
            raise SpecError(f"activation must be a name, one of {', '.join(ACTIVATIONS)}, got "
                            f"{node.activation!r}; leave the field out for the default (relu)",
                            self.source, f"nodes.{name}.activation")
        act = node.activation.lower()
        act = _ACTIVATION_ALIASES.get(act, act)
        if act not in ACTIVATIONS:
            raise SpecError(f"unknown activation {node.activation!r}{_suggest(act, ACTIVATIONS)}; "
                            f"choose one of {', '.join(ACTIVATIONS)}", self.source,
                            f"nodes.{name}.activation")
        dropout = node.dropout
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
            raise SpecError(f"dropout must be a number in [0, 1), got {dropout!r}{_text_number(dropout)}",
                            self.source, f"nodes.{name}.dropout")
        tags = _checked_tags(node.tags, self.source, f"nodes.{name}.tags")
        for tag in tags:
            close = difflib.get_close_matches(tag.lower(), OUTPUT_TAGS, n=1, cutoff=0.8)
            if close and tag not in OUTPUT_TAGS:
                raise SpecError(f"tag {tag!r} is not {close[0]!r}, the tag that marks an output "
                                f"node; write {close[0]!r} (or name the tag less alike)",
                                self.source, f"nodes.{name}.tags")
        return Node(name, shape, act, float(dropout), tags)

    def _checked_edges(self, edges):
        seen = set()
        for i, edge in enumerate(edges):
            if not isinstance(edge, Edge):
                try:
                    if isinstance(edge, str):  # Edge(*"xh") would be the edge x -> h
                        raise TypeError
                    edge = Edge(*edge)
                except TypeError:
                    hint = ("; edges is a list of pairs [(source, target), ...]"
                            if isinstance(edge, str) and edge in self.nodes else "")
                    raise SpecError(f"an edge is a pair (source, target), got {edge!r}{hint}",
                                    self.source, f"edges[{i}]") from None
            for end in ("source", "target"):
                name = getattr(edge, end)
                if not isinstance(name, str) or name not in self.nodes:
                    raise SpecError(f"unknown node {name!r}{_suggest(name, self.nodes)}; "
                                    f"define it under 'nodes' or fix the name",
                                    self.source, f"edges[{i}].{end}")
            if not _is_count(edge.rf):
                raise SpecError(f"receptive field must be a positive integer, got {edge.rf!r}",
                                self.source, f"edges[{i}].rf ({edge.source} -> {edge.target})")
            rf = int(edge.rf)
            if edge.key in seen:
                raise SpecError(f"edge {edge.source} -> {edge.target} is defined twice; "
                                f"a network has at most one edge per ordered pair of nodes",
                                self.source, f"edges[{i}]")
            seen.add(edge.key)
            src, tgt = self.nodes[edge.source], self.nodes[edge.target]
            if src.is_spatial and tgt.is_spatial:
                try:
                    size_ratio(edge, src, tgt)
                except ShapeError as err:
                    raise SpecError(str(err), self.source, f"edges[{i}]") from None
            tags = _checked_tags(edge.tags, self.source, f"edges[{i}].tags")
            yield Edge(edge.source, edge.target, rf, tags)
        if not seen:
            raise SpecError("a network needs at least one edge", self.source, "edges")

    def _find_outputs(self):
        tagged = tuple(v for v, n in self.nodes.items() if set(n.tags) & set(OUTPUT_TAGS))
        if tagged:
            return tagged
        return tuple(v for v in self.nodes
                     if all(t == v for t in self.graph.successors(v)))

    def _check_reachable(self):
        if not self.inputs:
            raise SpecError("the network has no input node (every node has an incoming edge); "
                            "an input is a node without incoming edges", self.source, "edges")
        lone = [v for v in self.nodes if self.graph.degree(v) == 0]
        if lone:  # it would count as an input that feeds nothing: most likely a typo
            raise SpecError(f"node {lone[0]!r} has no edges; connect it or remove it",
                            self.source, f"nodes.{lone[0]}")
        dropped = [v for v in self.inputs if self.nodes[v].dropout]
        if dropped:  # an input holds its frame as given: no update, so no dropout
            raise SpecError(f"{dropped[0]!r} has no incoming edge, so it is an input node: it holds "
                            f"its frame as given, and its dropout would never be applied; remove it "
                            f"(or add a node after the input and give that one the dropout)",
                            self.source, f"nodes.{dropped[0]}.dropout")
        reached = set(self.inputs)
        for u in self.inputs:
            reached |= nx.descendants(self.graph, u)
        missing = [v for v in self.nodes if v not in reached]
        if missing:
            raise SpecError(f"node {missing[0]!r} is not reachable from any input node "
                            f"({', '.join(self.inputs)}); add an edge into it from a reachable node",
                            self.source, f"nodes.{missing[0]}")

    def _checked_rollouts(self, rollouts):
        checked = {}
        for name, streaming in dict(rollouts).items():
            if str(name) in _RESERVED_ROLLOUTS:
                raise SpecError(f"the name {name!r} is taken ({_RESERVED_ROLLOUTS[str(name)]}); give this "
                                f"pattern another name", self.source, f"rollouts.{name}")
            if isinstance(streaming, (str, bytes)) or not isinstance(streaming, (Iterable, type(None))):
                raise SpecError(f"a named pattern is a list of its streaming edges [source, target], "
                                f"got {streaming!r}", self.source, f"rollouts.{name}")
            keys = []
            for j, pair in enumerate(streaming or ()):
                pair = tuple(pair) if isinstance(pair, (list, tuple)) else pair
                try:
                    known = pair in self.edge_index
                except TypeError:  # unhashable, e.g. a list inside the pair
                    known = False
                if not known:
                    raise SpecError(f"{pair!r} is not an edge of the network; list edges as "
                                    f"[source, target]", self.source, f"rollouts.{name}[{j}]")
                keys.append(pair)
            checked[str(name)] = frozenset(keys)
            self._check_valid(name, checked[str(name)])
        return checked

    def _check_valid(self, name, streaming):
        """A named pattern must be valid: every cycle needs a streaming edge."""
        cycle = _cycle_without(streaming, (e.key for e in self.edges))
        if cycle is None:
            return
        path = _cycle_path(cycle)
        raise SpecError(f"the cycle {path} has no streaming edge, so a frame would depend on itself "
                        f"(an invalid pattern); add one of its edges to the list", self.source,
                        f"rollouts.{name}")

    # -- queries --------------------------------------------------------------------

    def in_edges(self, v):
        """The edges into node ``v``, in declaration order."""
        return tuple(self._in_edges[v])

    def out_edges(self, v):
        """The edges out of node ``v``, in declaration order."""
        return tuple(self._out_edges[v])

    def edge(self, source, target):
        """The edge ``source -> target``."""
        try:
            return self.edges[self.edge_index[(source, target)]]
        except KeyError:
            raise SpecError(f"no edge {source} -> {target} in network {self.name!r}") from None

    def scaled(self, width):
        """A copy whose hidden nodes have ``max(1, round(C * width))`` channels.

        Inputs and outputs keep their shapes, so the copy takes the same data and
        has the same rollout theory; only its size changes (small CPU runs).

        Examples
        --------
        >>> import streamnets as sn
        >>> sn.load("cifar10_dsr0").scaled(0.25).nodes["h1"].shape
        (8, 32, 32)
        """
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0 < width < math.inf:
            raise SpecError(f"width must be a finite number > 0, got {width!r}", self.source, "width")
        keep = set(self.inputs) | set(self.outputs)
        nodes = [n if n.name in keep else
                 Node(n.name, (max(1, round(n.shape[0] * width)),) + n.shape[1:], n.activation,
                      n.dropout, n.tags)
                 for n in self.nodes.values()]
        name = self.name if width == 1 else f"{self.name}@{width:g}"
        return Network(nodes, self.edges, name, {k: sorted(v) for k, v in self.rollouts.items()},
                       self.source, self.description)

    def __repr__(self):
        return (f"Network({self.name!r}, {counted(self.nodes, 'node')}, {counted(self.edges, 'edge')}, "
                f"inputs={list(self.inputs)}, outputs={list(self.outputs)})")

    def __eq__(self, other):
        return (isinstance(other, Network) and self.name == other.name
                and list(self.nodes.values()) == list(other.nodes.values())
                and self.edges == other.edges and self.rollouts == other.rollouts)

    __hash__ = object.__hash__


def _cycle_without(streaming, edges):
    """A cycle (list of edge keys) of ``edges`` none of whose edges is in ``streaming``, or None."""
    try:
        return nx.find_cycle(nx.DiGraph(key for key in edges if key not in streaming))
    except nx.NetworkXNoCycle:
        return None


def _cycle_path(cycle):
    """A cycle given as a list of edges, written ``a -> b -> a``."""
    return " -> ".join([cycle[0][0]] + [v for _, v in cycle])
