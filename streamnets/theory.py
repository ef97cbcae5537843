"""Counting, enumerating and comparing rollout patterns (Lemma 1, Theorem 1).

A pattern is valid iff every cycle has a streaming edge. Cycles live inside
strongly connected components (SCCs), so validity factors over SCCs: an edge
between two SCCs (a *forward* edge, on no cycle) may take either value, a
self-loop must be 1, and the remaining edges of each SCC are enumerated on their
own. That makes exact counts instant for networks with many edges but small
cycles (e.g. ``cifar10_dsr6``: 23 edges, one self-loop).
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import networkx as nx

from .errors import SettingError, SpecError, StreamnetsError, whole_number
from .rollout import Rollout, checked_network

__all__ = [
    "PatternCounts", "Lemma1Bounds", "Theorem1Check",
    "all_patterns", "valid_patterns", "count_patterns", "model_parallel_classes",
    "forward_edges", "lemma1_bounds", "minimal_tableau", "check_theorem1",
]

#: Largest number of free edges inside one SCC that is enumerated exhaustively.
MAX_SCC_EDGES = 22


class PatternCounts(NamedTuple):
    """Numbers of all patterns, valid patterns and model-parallel classes of valid ones.

    Examples
    --------
    >>> import streamnets as sn
    >>> net = sn.load("fig2")
    >>> counts = count_patterns(net)
    >>> counts.valid, counts.model_parallel_classes
    (12, 3)
    >>> counts.model_parallel_classes == len(model_parallel_classes(net))
    True
    """

    total: int
    valid: int
    model_parallel_classes: int


class Lemma1Bounds(NamedTuple):
    """Lemma 1: ``max(forward, cycles) <= |valid patterns| <= upper``.

    ``forward`` = 2^|E_forward|; ``cycles`` = prod over ``cycle_set`` of (2^|p| - 1)
    for a set of minimal (chordless), pairwise edge-disjoint cycles whose edges form
    no other cycle (without that, the product can exceed the count);
    ``upper`` = 2^(|E| - |E_rec|).

    Examples
    --------
    >>> import streamnets as sn
    >>> b = lemma1_bounds(sn.load("fig2"))
    >>> b.cycle_set, b.lower, count_patterns(sn.load("fig2")).valid, b.upper
    ((('v', 'w'),), 4, 12, 16)
    """

    forward: int
    cycles: int
    upper: int
    cycle_set: tuple

    @property
    def lower(self):
        return max(self.forward, self.cycles)


class Theorem1Check(NamedTuple):
    """The four statements of Theorem 1 for one valid pattern.

    (a) equally model-parallel to the streaming rollout; (b) F(R) = 1;
    (c) T((i, v)) <= i for every node of the window; (d) the tableau is minimal at
    every node over all valid patterns. The theorem says all four agree.

    Examples
    --------
    >>> import streamnets as sn
    >>> net = sn.load("fig2")
    >>> minimal = minimal_tableau(net, 5)
    >>> checks = [check_theorem1(r, 5, minimal) for r in valid_patterns(net)]
    >>> all(c.consistent for c in checks), sum(c.a for c in checks)
    (True, 4)
    """

    a: bool
    b: bool
    c: bool
    d: bool

    @property
    def consistent(self):
        return self.a == self.b == self.c == self.d


def _structure(net):
    """Per-SCC edge indices (self-loops separated) and forward edge indices."""
    net = checked_network(net)
    component = {}
    for k, scc in enumerate(nx.strongly_connected_components(net.graph)):
        component.update(dict.fromkeys(scc, k))
    forward, loops, inner = [], [], {}
    for j, e in enumerate(net.edges):
        if e.is_self_loop:
            loops.append(j)
        elif component[e.source] != component[e.target]:
            forward.append(j)
        else:
            inner.setdefault(component[e.source], []).append(j)
    return forward, loops, list(inner.values())


def forward_edges(net):
    """The edges on no cycle (between two strongly connected components).

    Examples
    --------
    >>> import streamnets as sn
    >>> forward_edges(sn.load("fig2"))
    [('u', 'v'), ('u', 'w')]
    >>> net = sn.load("cifar10_dsr6")
    >>> len(forward_edges(net)), len(net.edges)
    (22, 23)
    """
    return [net.edges[j].key for j in _structure(net)[0]]


def _scc_valid_assignments(net, edge_ids):
    """All assignments of the non-loop edges of one SCC that leave no zero-delay cycle."""
    if len(edge_ids) > MAX_SCC_EDGES:
        raise StreamnetsError(
            f"a strongly connected part of network {net.name!r} has {len(edge_ids)} edges besides "
            f"self-loops; exact enumeration is limited to {MAX_SCC_EDGES} per part")
    keys = [net.edges[j].key for j in edge_ids]
    valid = []
    for bits in itertools.product((0, 1), repeat=len(edge_ids)):
        zero = nx.DiGraph(k for k, b in zip(keys, bits) if not b)
        if nx.is_directed_acyclic_graph(zero):
            valid.append(bits)
    return valid


def all_patterns(net):
    """Every pattern R: E -> {0, 1} (valid or not) as a :class:`Rollout`, 2^|E| in all.

    Examples
    --------
    >>> import streamnets as sn
    >>> net = sn.load("fig2")
    >>> patterns = list(all_patterns(net))
    >>> len(patterns), sum(r.is_valid for r in patterns)
    (32, 12)
    >>> patterns[0].is_valid, patterns[-1] == sn.Rollout.streaming(net)  # all 0, all 1
    (False, True)
    """
    net = checked_network(net)
    for bits in itertools.product((0, 1), repeat=len(net.edges)):
        yield Rollout.from_bits(net, bits)


def valid_patterns(net):
    """Every valid pattern, generated SCC by SCC (never touching invalid ones).

    Examples
    --------
    >>> import streamnets as sn
    >>> sum(1 for _ in valid_patterns(sn.load("fig2")))
    12
    """
    forward, loops, sccs = _structure(net)
    # One list of choices per independent part; a choice is a tuple of (edge id, delay).
    choices = [[((j, 0),), ((j, 1),)] for j in forward]
    choices += [[((j, 1),)] for j in loops]
    choices += [[tuple(zip(ids, bits)) for bits in _scc_valid_assignments(net, ids)]
                for ids in sccs]
    for combo in itertools.product(*choices):
        bits = [0] * len(net.edges)
        for j, b in itertools.chain.from_iterable(combo):
            bits[j] = b
        yield Rollout.from_bits(net, bits)


def count_patterns(net):
    """Exact numbers of patterns, valid patterns and model-parallel classes.

    Examples
    --------
    >>> import streamnets as sn
    >>> count_patterns(sn.load("fig2"))
    PatternCounts(total=32, valid=12, model_parallel_classes=3)
    >>> count_patterns(sn.load("cifar10_dsr6"))
    PatternCounts(total=8388608, valid=4194304, model_parallel_classes=2097152)
    """
    forward, _, sccs = _structure(net)
    valid = 2 ** len(forward)
    for ids in sccs:
        valid *= len(_scc_valid_assignments(net, ids))
    # Edges out of inputs are forward edges (inputs have no incoming edge): each
    # doubles the valid patterns without changing the model-parallel class.
    from_inputs = sum(1 for e in net.edges if e.source in net.inputs)
    return PatternCounts(2 ** len(net.edges), valid, valid // 2 ** from_inputs)


def model_parallel_classes(net):
    """Group the valid patterns by model-parallel key: ``{key: [Rollout, ...]}``.

    Examples
    --------
    >>> import streamnets as sn
    >>> classes = model_parallel_classes(sn.load("fig2"))
    >>> {key: len(rs) for key, rs in sorted(classes.items())}  # key: R(v->w), R(v->v), R(w->v)
    {(0, 1, 1): 4, (1, 1, 0): 4, (1, 1, 1): 4}
    >>> all(r.is_streaming_equivalent for r in classes[1, 1, 1])
    True
    """
    classes = {}
    for r in valid_patterns(net):
        classes.setdefault(r.model_parallel_key, []).append(r)
    return classes


def _disjoint_chordless_cycles(net):
    """A greedy set of pairwise edge-disjoint chordless cycles (self-loops excluded) whose
    edges together form no other cycle.

    Only then is every pattern with R = 1 off the chosen cycles and one streaming edge on
    each valid, so that the product counts valid patterns. Edge-disjoint cycles alone do
    not ensure it: the 2-cycles of the complete graph on 5 nodes give 3^10 = 59049, but it
    has 29281 valid patterns (the DAGs on 5 nodes).
    """
    graph = nx.DiGraph(e.key for e in net.edges if not e.is_self_loop)
    cycles = sorted((c for c in nx.chordless_cycles(graph)), key=lambda c: (len(c), c))
    used, chosen = set(), []
    for cycle in cycles:
        edges = {(cycle[k], cycle[(k + 1) % len(cycle)]) for k in range(len(cycle))}
        if edges & used:
            continue
        # the union may hold no cycle besides the chosen ones (and this one)
        union = nx.DiGraph(used | edges)
        if sum(1 for _ in itertools.islice(nx.simple_cycles(union), len(chosen) + 2)) == len(chosen) + 1:
            used |= edges
            chosen.append(tuple(cycle))
    return chosen


def lemma1_bounds(net):
    """The bounds of Lemma 1 on the number of valid patterns.

    Examples
    --------
    >>> import streamnets as sn
    >>> b = lemma1_bounds(sn.load("fig2"))
    >>> b.forward, b.cycles, b.upper
    (4, 3, 16)
    """
    forward, loops, _ = _structure(net)
    chosen = _disjoint_chordless_cycles(net)
    cycles = math.prod(2 ** len(c) - 1 for c in chosen)
    return Lemma1Bounds(2 ** len(forward), cycles, 2 ** (len(net.edges) - len(loops)), tuple(chosen))


def minimal_tableau(net, size):
    """The node-wise minimum of the tableaus of all valid patterns over frames 0..size.

    Examples
    --------
    >>> import streamnets as sn
    >>> net = sn.load("fig2")
    >>> minimal_tableau(net, 3)
    {'u': [0, 0, 0, 0], 'v': [0, 1, 2, 3], 'w': [0, 1, 2, 3]}
    >>> minimal_tableau(net, 3) == sn.Rollout.streaming(net).tableau(3)
    True
    """
    best = None
    for r in valid_patterns(net):
        tab = r.tableau(size)
        best = tab if best is None else {v: list(map(min, best[v], tab[v])) for v in tab}
    return best


def check_theorem1(rollout, size=None, minimal=None):
    """Evaluate statements (a)-(d) of Theorem 1 for a valid pattern.

    Parameters
    ----------
    rollout : Rollout
        A valid pattern.
    size : int, optional
        Window size for (c) and (d), at least 1; default ``len(network.nodes) + 2``.
    minimal : dict, optional
        The precomputed :func:`minimal_tableau` for ``size`` (saves enumerating the
        valid patterns again when checking many patterns of one network). A tableau
        of other nodes or frames is a :class:`~streamnets.errors.SettingError`.

    Notes
    -----
    Without ``minimal``, (c) and (d) enumerate every valid pattern of the network:
    fine for the small networks of exercises, but 2^22 patterns for cifar10_dsr6
    (the count is :func:`count_patterns`'s; check it first on a network of your own).

    Examples
    --------
    >>> import streamnets as sn
    >>> net = sn.load("fig2")
    >>> check_theorem1(sn.Rollout.sequential(net))
    Theorem1Check(a=False, b=False, c=False, d=False)
    """
    if not isinstance(rollout, Rollout):
        hint = f"; e.g. Rollout.named(network, {rollout!r})" if isinstance(rollout, str) else ""
        raise SpecError(f"expected a Rollout, got {type(rollout).__name__} {rollout!r}{hint}",
                        field="rollout")
    rollout.validate()
    net = rollout.network
    # frame 0 alone is the initial state: (c) and (d) would hold for every pattern
    size = len(net.nodes) + 2 if size is None else whole_number(
        "size", size, 1, why="(c) and (d) need frame 1 at least: frame 0 is the initial state")
    tab = rollout.tableau(size)
    rows = None
    if minimal is None:
        rows = minimal_tableau(net, size)
    elif isinstance(minimal, dict):
        try:  # rows as lists: tuples or arrays compared unequal to the lists of a tableau
            rows = {v: list(row) for v, row in minimal.items()}
        except TypeError:
            rows = None
    if rows is None or set(rows) != set(tab) or any(len(row) != size + 1 for row in rows.values()):
        # before: a tableau of another size compared unequal, and (d) came out False silently
        made = ""
        if rows is not None and set(rows) != set(tab):
            made = f", it has nodes {', '.join(map(str, rows))}"
        elif rows is not None and len({len(row) for row in rows.values()}) == 1:
            made = f", it covers frames 0..{len(next(iter(rows.values()))) - 1}"
        raise SettingError(f"minimal does not fit size {size} (nodes {', '.join(tab)}, frames "
                           f"0..{size}{made}); pass the size it was made for, or "
                           f"minimal_tableau(network, {size})")
    return Theorem1Check(
        a=rollout.is_streaming_equivalent,
        b=rollout.inference_factor == 1,
        c=all(t <= i for row in tab.values() for i, t in enumerate(row)),
        d=all(rows[v] == row for v, row in tab.items()),
    )
