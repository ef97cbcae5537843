"""Hypothesis strategies and literal reference implementations shared by the tests."""

import networkx as nx
from hypothesis import strategies as st

from streamnets import Edge, Network, Node, Rollout


@st.composite
def networks(draw, max_nodes=5, max_extra_edges=5, spatial=False):
    """Small random networks: every node reachable from an input, last node the output."""
    n = draw(st.integers(2, max_nodes))
    n_inputs = draw(st.integers(1, max(1, n // 3)))
    names = [f"n{i}" for i in range(n)]
    edges = []
    for i in range(n_inputs, n):
        edges.append((names[draw(st.integers(0, i - 1))], names[i]))
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(n_inputs, n - 1)),
                          max_size=max_extra_edges))
    for u, v in extra:
        if (names[u], names[v]) not in edges:
            edges.append((names[u], names[v]))
    for i in range(n_inputs):  # every input feeds something (a node without edges is refused)
        if not any(u == names[i] for u, _ in edges):
            edges.append((names[i], names[draw(st.integers(n_inputs, n - 1))]))
    order = draw(st.permutations(range(len(edges))))
    edges = [edges[k] for k in order]

    def shape(i):
        if spatial and draw(st.booleans()):
            side = draw(st.sampled_from([2, 4]))
            return (draw(st.integers(1, 3)), side, side)
        return (draw(st.integers(1, 4)),)

    nodes = [Node(name, shape(i), "identity" if i < n_inputs else draw(st.sampled_from(["relu", "tanh"])))
             for i, name in enumerate(names)]
    nodes[-1] = Node(names[-1], nodes[-1].shape, "identity", tags=("prediction",))
    return Network(nodes, [Edge(u, v, draw(st.sampled_from([1, 3]))) for u, v in edges], name="random")


@st.composite
def patterns(draw, net, valid_only=False):
    """A random pattern of ``net``; with ``valid_only`` resample until valid (streaming fallback)."""
    bits = draw(st.lists(st.integers(0, 1), min_size=len(net.edges), max_size=len(net.edges)))
    r = Rollout.from_bits(net, bits)
    if valid_only and not r.is_valid:
        # Repair: set R = 1 on every edge of every zero-delay cycle found.
        while not r.is_valid:
            bits = list(r.bits)
            for key in r.zero_delay_cycle:
                bits[net.edge_index[key]] = 1
            r = Rollout.from_bits(net, bits)
    return r


def literal_tableau(rollout, size):
    """The paper's definition, executed: start from S_init and apply the update
    step U (every node whose predecessors in R_W are all set becomes set, all in
    parallel) until nothing changes. Returns ({(frame, node): T}, finished)."""
    window = rollout.window(size)
    inputs = set(rollout.network.inputs)
    state = {n: n[0] == 0 or n[1] in inputs for n in window}
    when = {n: 0 for n, s in state.items() if s}
    step = 0
    while True:
        ready = [n for n, s in state.items()
                 if not s and all(state[p] for p in window.predecessors(n))]
        if not ready:
            return when, all(state.values())
        step += 1
        for n in ready:
            state[n] = True
            when[n] = step


def literal_first_frames(rollout, size):
    """Earliest frame >= 1 of each node reached from an input node in R_W, ignoring
    edges into frame 0, found by plain graph search over the window."""
    window = rollout.window(size)
    kept = nx.DiGraph((a, b) for a, b in window.edges if b[0] >= 1)
    kept.add_nodes_from(window)
    reached = set()
    for u in rollout.network.inputs:
        for i in range(size + 1):
            reached |= nx.descendants(kept, (i, u)) | {(i, u)}
    return {v: min((i for i in range(1, size + 1) if (i, v) in reached), default=None)
            for v in rollout.network.nodes}
