"""Rollout theory against the paper's reference values and a literal implementation."""

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import streamnets as sn
from streamnets import theory
from streamnets.generate import chain
from streamnets.paper import (AUTHORS_VALUES, CHAIN_SEQUENTIAL_F, FIG2_INVALID,
                              FIG2_TABLEAUS)
from strategies import literal_first_frames, literal_tableau, networks, patterns


@pytest.fixture(scope="module")
def fig2():
    return sn.load("fig2")


@pytest.mark.parametrize("streaming, expected", FIG2_TABLEAUS)
def test_fig2_tableaus_match_the_paper(fig2, streaming, expected):
    r = sn.Rollout.from_streaming_edges(fig2, streaming)
    assert r.tableau(3) == expected


def test_fig2_invalid_pattern_names_the_cycle(fig2):
    r = sn.Rollout.from_streaming_edges(fig2, FIG2_INVALID)
    assert not r.is_valid
    assert set(r.zero_delay_cycle) == {("v", "w"), ("w", "v")}
    with pytest.raises(sn.InvalidRolloutError, match=r"cycle (v -> w -> v|w -> v -> w)") as err:
        r.tableau(3)
    assert set(err.value.cycle) == {("v", "w"), ("w", "v")}


def test_sequential_of_fig2_is_the_papers_sequential_pattern(fig2):
    assert set(sn.Rollout.sequential(fig2).streaming_edges) == {("v", "v"), ("w", "v")}


@pytest.mark.parametrize("depth, factor", CHAIN_SEQUENTIAL_F.items())
def test_inference_factor_of_chains(depth, factor):
    net = chain(depth)
    assert sn.Rollout.sequential(net).inference_factor == factor
    assert sn.Rollout.streaming(net).inference_factor == 1
    assert sn.Rollout.streaming(net).first_response()["out"] == (depth, depth)


@pytest.mark.parametrize("name", AUTHORS_VALUES)
def test_builtin_networks_reproduce_the_authors_values(name):
    net = sn.load(name)
    paper = AUTHORS_VALUES[name]
    seq, stream = sn.Rollout.sequential(net), sn.Rollout.streaming(net)
    (s,) = stream.first_response().values()
    (q,) = seq.first_response().values()
    assert seq.inference_factor == paper.sequential_factor
    assert (s.frame, s.update_step) == paper.streaming_first
    if paper.sequential_first is not None:
        assert (q.frame, q.update_step) == paper.sequential_first


def test_hybrid_pattern_of_mnist_sr():
    net = sn.load("mnist_sr")
    hybrid = sn.Rollout.named(net, "hybrid")
    assert hybrid.inference_factor == 2
    assert hybrid.first_response()["prediction"] == (2, 3)
    assert not hybrid.is_streaming_equivalent


def test_output_steps_put_results_on_the_update_step_axis():
    net = sn.load("mnist_sr")
    seq = sn.Rollout.sequential(net)
    assert seq.output_steps(4) == {"prediction": [None, 3, 6, 9]}
    assert sn.Rollout.streaming(net).output_steps(4) == {"prediction": [None, None, 2, 3]}


def test_window_graph(fig2):
    r = sn.Rollout.sequential(fig2)
    w = r.window(2)
    assert w.number_of_nodes() == 9
    # R=0 edges appear in all 3 frames, R=1 edges in 2 frame pairs.
    assert w.number_of_edges() == 3 * 3 + 2 * 2
    assert w.edges[(0, "w"), (1, "v")]["delay"] == 1
    assert w.edges[(1, "u"), (1, "v")]["delay"] == 0


@pytest.mark.parametrize("size", [-1, 2.5, "3", None, True])
def test_window_and_tableau_sizes_must_be_whole_numbers(fig2, size):
    # before: 2.5 and "3" gave a bare TypeError, True was taken as 1
    r = sn.Rollout.streaming(fig2)
    for method in (r.window, r.tableau):
        with pytest.raises(sn.SettingError, match=r"window size must be a whole number >= 0, got"):
            method(size)


@pytest.mark.parametrize("bad, message", [
    ({("u", "v"): 2}, "only 0 and 1"),
    ({("u", "x"): 1}, "not an edge"),
])
def test_bad_patterns_are_rejected_with_a_message(fig2, bad, message):
    pattern = {e.key: 1 for e in fig2.edges}
    pattern.update(bad)
    with pytest.raises(sn.SpecError, match=message):
        sn.Rollout(fig2, pattern)


@pytest.mark.parametrize("delay, what", [
    (True, "a bool"), (np.True_, "a bool"), (1.0, "a float"), ("1", "a str"), (None, "a NoneType"),
])
def test_a_delay_is_the_number_0_or_1_not_anything_equal_to_it(fig2, delay, what):
    # before: 1.0 and numpy's True were taken for 1 while True was refused as "has delay True;
    # only 0 and 1 are allowed", which read as a contradiction
    with pytest.raises(sn.SpecError, match=rf"^pattern: edge \('u', 'v'\) has delay .+ \({what}\); "
                                           r"a delay is the number 0 \(within the frame\) or 1"):
        sn.Rollout.from_bits(fig2, [delay, 0, 1, 0, 1])


def test_numpy_integer_delays_are_delays(fig2):
    bits = np.array([1, 0, 1, 0, 1])
    assert sn.Rollout.from_bits(fig2, bits) == sn.Rollout.from_bits(fig2, [1, 0, 1, 0, 1])
    assert sn.Rollout.from_bits(fig2, bits).bits == (1, 0, 1, 0, 1)
    assert all(type(b) is int for b in sn.Rollout.from_bits(fig2, bits).bits)


def test_missing_edge_in_pattern(fig2):
    with pytest.raises(sn.SpecError, match=r"no value for edge \('w', 'v'\)"):
        sn.Rollout(fig2, {e.key: 1 for e in fig2.edges[:-1]})


def test_a_pattern_is_a_mapping_and_may_use_edge_objects(fig2):
    with pytest.raises(sn.SpecError, match=r"pattern: a pattern maps each edge .* got a list; .*from_bits"):
        sn.Rollout(fig2, [1] * len(fig2.edges))
    by_edge = sn.Rollout(fig2, {e: int(e.key == ("u", "v")) for e in fig2.edges})
    assert by_edge.bits == tuple(int(e.key == ("u", "v")) for e in fig2.edges)


def test_a_pattern_cannot_take_a_name_taken_by_another_pattern():
    # before: a hand-made pattern named "streaming" (or the spec's "hybrid") was accepted,
    # and a model trained with it ran that pattern for rollout="streaming"
    net = sn.load("mnist_sr")
    with pytest.raises(sn.SpecError, match=r"^name: the name 'streaming' is taken by the network's "
                                           r"streaming rollout \(streaming edges image->h1, h1->h1, h1->h2, "
                                           r"h2->prediction, h1->prediction\), but this pattern streams "
                                           r"h1->h1; give it another name"):
        sn.Rollout.from_streaming_edges(net, [("h1", "h1")], name="streaming")
    with pytest.raises(sn.SpecError, match=r"the name 'hybrid' is taken .* but this pattern streams none"):
        sn.Rollout.from_bits(net, [0] * 5, name="hybrid")
    with pytest.raises(sn.SpecError, match=r"the name 'sequential' is taken"):
        sn.Rollout.from_bits(net, [1] * 5, name="sequential")
    # the same pattern under its own name, or any pattern under a free name, is fine
    hybrid = sn.Rollout.named(net, "hybrid")
    assert sn.Rollout.from_bits(net, hybrid.bits, "hybrid") == hybrid
    assert sn.Rollout.from_bits(net, [0, 1, 0, 0, 0], "mine").name == "mine"


def test_unknown_named_rollout(fig2):
    with pytest.raises(sn.SpecError, match="choose one of streaming, sequential"):
        sn.Rollout.named(fig2, "hybird")
    # a pattern written as the CLI's --pattern digits points to from_bits
    with pytest.raises(sn.SpecError, match=r"unknown rollout '10101' for network 'fig2'; for one delay per "
                                           r"edge \(u->v, v->w, v->v, u->w, w->v\) use Rollout.from_bits\("
                                           r"network, \[int\(b\) for b in '10101'\]\)"):
        sn.Rollout.of(fig2, "10101")


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_tableau_dp_equals_the_literal_update_iteration(data):
    net = data.draw(networks())
    r = data.draw(patterns(net))
    size = data.draw(st.integers(1, 4))
    when, finished = literal_tableau(r, size)
    assert finished == r.is_valid  # update steps stall exactly on a zero-delay cycle
    if r.is_valid:
        tab = r.tableau(size)
        assert {(i, v): tab[v][i] for v in tab for i in range(size + 1)} == when


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_validity_equals_acyclicity_of_the_window(data):
    net = data.draw(networks())
    r = data.draw(patterns(net))
    assert r.is_valid == nx.is_directed_acyclic_graph(r.window(2))
    assert (r.zero_delay_cycle is None) == r.is_valid
    if not r.is_valid:
        assert all(r[e] == 0 for e in r.zero_delay_cycle)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_first_response_equals_a_search_over_the_window(data):
    net = data.draw(networks())
    r = data.draw(patterns(net, valid_only=True))
    size = len(net.nodes) + 1
    frames = literal_first_frames(r, size)
    tab = r.tableau(size)
    for o, first in r.first_response().items():
        assert first.frame == frames[o]
        assert first.update_step == tab[o][first.frame]


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_streaming_first_response_is_the_shortest_path(data):
    net = data.draw(networks())
    first = sn.Rollout.streaming(net).first_response()
    for o, f in first.items():
        distance = min(nx.shortest_path_length(net.graph, u, o) for u in net.inputs
                       if nx.has_path(net.graph, u, o))
        assert f.frame == f.update_step == max(distance, 1)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_canonical_sequential_is_valid_and_minimal(data):
    net = data.draw(networks())
    seq = sn.Rollout.sequential(net)
    assert seq.is_valid
    for edge in seq.streaming_edges:  # dropping any streaming edge breaks validity
        assert not sn.Rollout.from_streaming_edges(net, set(seq.streaming_edges) - {edge}).is_valid


def test_output_steps_of_the_hybrid_follow_its_first_response_and_factor():
    hybrid = sn.Rollout.named(sn.load("mnist_sr"), "hybrid")
    assert hybrid.output_steps(5) == {"prediction": [None, None, 3, 5, 7]}


def _tanh_model(net, seed):
    """A StreamNet of ``net`` with tanh everywhere (no dead units: every path carries gradient)."""
    import torch

    from streamnets.nn import StreamNet

    nodes = [sn.Node(n.name, n.shape, "identity" if n.name in net.inputs else "tanh", tags=n.tags)
             for n in net.nodes.values()]
    torch.manual_seed(seed)
    return StreamNet(sn.Network(nodes, list(net.edges), name=net.name)).double().eval()


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_input_paths_are_exactly_the_input_frames_an_output_depends_on(data):
    """The theory's paths against the engine's gradients: input frame j reaches the
    output of the last frame iff its gradient there is non-zero."""
    import torch

    net = data.draw(networks(max_nodes=5))
    rollout = data.draw(patterns(net, valid_only=True))
    model = _tanh_model(net, data.draw(st.integers(0, 50)))
    rollout = sn.Rollout.from_bits(model.network, rollout.bits)
    size = data.draw(st.integers(1, 4))
    frames = {v: torch.rand(1, size + 1, *net.nodes[v].shape, dtype=torch.float64, requires_grad=True)
              for v in net.inputs}
    out = net.outputs[0]
    y = model(frames, rollout).logits[out][:, size].sum()
    if y.requires_grad:  # else the output is still empty at that frame
        y.backward()
    for v in net.inputs:
        grad = frames[v].grad if frames[v].grad is not None else torch.zeros_like(frames[v])
        depends = {j for j in range(size + 1) if grad[0, j].abs().sum() > 0}
        paths = rollout.input_paths(out, size, input=v)
        assert {p[0][0] for p in paths} == depends, (v, rollout.bits)
        for p in paths:  # each a path of the window, leaving frame 0 only from the input
            assert p[0][1] == v and p[-1] == (size, out)
            assert all(b[0] >= 1 for b in p[1:])


def test_input_paths_of_the_sequential_mnist_sr_skip_frame_0():
    """Under the sequential rollout the prediction never sees frame 0: h1 of frame 0 is
    the empty initial state, whatever the recurrent edge h1 -> h1 would carry."""
    net = sn.load("mnist_sr")
    seq = sn.Rollout.sequential(net).input_paths("prediction", 3)
    assert sorted({p[0][0] for p in seq}) == [1, 2, 3]
    streaming = sn.Rollout.streaming(net).input_paths("prediction", 3)
    assert {p[0][0]: len(p) - 1 for p in streaming} == {1: 2, 0: 3}
    assert sn.Rollout.streaming(net).input_paths("image", 2) == [[(2, "image")]]
    with pytest.raises(sn.SpecError, match="no node 'h9'"):
        sn.Rollout.streaming(net).input_paths("h9", 2)


def test_input_paths_stop_at_max_paths():
    # before: two cycles through a node double its paths per frame, and a late frame
    # ran until memory ran out
    net = sn.Network([sn.Node(v, (2,), tags=("input",) if v == "x" else ()) for v in "xaby"],
                     [("x", "a"), ("a", "b"), ("b", "a"), ("a", "a"), ("a", "y")], name="two_cycles")
    streaming = sn.Rollout.streaming(net)
    # x of frame j reaches a of frame 7 in 6 - j frames, each a -> a (1) or a -> b -> a (2):
    # Fibonacci(7 - j) ways for j = 0..6
    assert len(streaming.input_paths("y", 8)) == 13 + 8 + 5 + 3 + 2 + 1 + 1
    assert streaming.input_paths("y", 8, max_paths=33) == streaming.input_paths("y", 8)
    with pytest.raises(sn.SettingError, match="more than 32 paths reach 'y' of frame 8; ask for an "
                                              "earlier frame, or raise max_paths"):
        streaming.input_paths("y", 8, max_paths=32)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_finish_times_are_the_heaviest_within_frame_paths(data):
    net = data.draw(networks(max_nodes=6))
    rollout = data.draw(patterns(net, valid_only=True))
    costs = {v: data.draw(st.integers(0, 9)) for v in net.nodes}
    within = nx.DiGraph(e.key for e in net.edges if not rollout[e.key])
    within.add_nodes_from(net.nodes)
    done = rollout.finish_times(costs)
    for v in net.nodes:  # literally: the heaviest chain of zero-delay edges ending at v
        chains = [p for u in net.nodes for p in nx.all_simple_paths(within, u, v)] + [[v]]
        assert done[v] == max(sum(costs[u] for u in p) for p in chains)
    if all(rollout.bits):
        assert max(done.values()) == max(costs.values())


def test_patterns_of_equal_networks_are_equal():
    a, b = sn.load("fig2"), sn.load("fig2")
    assert a is not b and a == b
    assert sn.Rollout.streaming(a) == sn.Rollout.streaming(b)
    assert hash(sn.Rollout.streaming(a)) == hash(sn.Rollout.streaming(b))
    assert sn.Rollout.streaming(a).is_equally_model_parallel(sn.Rollout.streaming(b))
    assert sn.Rollout.streaming(a) != sn.Rollout.sequential(b)
    assert sn.Rollout.streaming(a) != sn.Rollout.streaming(sn.load("mnist_sr"))


@pytest.mark.parametrize("edge", ["uv", ("u", "x"), 1, ("u", "v", "w"), ["u", "v", "w"], ([1], "v"), {"u": "v"}])
def test_an_edge_is_an_edge_object_or_a_pair_of_names(fig2, edge):
    # before: r["uv"] and from_streaming_edges(net, ["uv"]) read 'uv' as the edge u -> v,
    # an unknown pair gave a bare KeyError, and 1 or mixed types a TypeError
    r = sn.Rollout.streaming(fig2)
    with pytest.raises(sn.SpecError, match=r"^edge: .*the edges|^edge: .*its edges"):
        r[edge]
    with pytest.raises(sn.SpecError, match=r"^streaming edges: .*edges"):
        sn.Rollout.from_streaming_edges(fig2, [edge, ("v", "v")])


def test_edge_objects_work_wherever_pairs_do(fig2):
    # before: r[Edge] and from_streaming_edges(net, [Edge, ...]) raised TypeError
    seq = sn.Rollout.sequential(fig2)
    assert [seq[e] for e in fig2.edges] == list(seq.bits)
    loops = [e for e in fig2.edges if e.key in {("v", "v"), ("w", "v")}]
    assert sn.Rollout.from_streaming_edges(fig2, loops) == seq


@pytest.mark.parametrize("edges", [("u", "v"), "uv", None, 3])
def test_streaming_edges_must_be_a_list(fig2, edges):
    # before: the single pair ('u', 'v') was read as the edges 'u' and 'v'; None raised TypeError
    with pytest.raises(sn.SpecError, match=r"^streaming edges: expected a list of edges"):
        sn.Rollout.from_streaming_edges(fig2, edges)


@pytest.mark.parametrize("bits", ["10101", 10101, None])
def test_from_bits_wants_a_list_of_delays(fig2, bits):
    # before: 10101 and None raised a bare TypeError, and '10101' complained that
    # edge ('u', 'v') has delay '1' although 1 is allowed
    with pytest.raises(sn.SpecError, match=r"^pattern: bits must be a list of delays 0 or 1, one per "
                                           r"edge in the order u->v, v->w, v->v, u->w, w->v"):
        sn.Rollout.from_bits(fig2, bits)


def test_from_bits_of_the_wrong_length_names_the_edge_order(fig2):
    with pytest.raises(sn.SpecError, match=r"expected 5 delays \(one per edge, in the order u->v, "
                                           r"v->w, v->v, u->w, w->v\), got 3"):
        sn.Rollout.from_bits(fig2, [1, 0, 1])


@pytest.mark.parametrize("given, message", [
    ({"input": "v"}, r"^input: 'v' is not an input node of network 'fig2'; its inputs: u"),
    ({"input": "x"}, r"^input: 'x' is no node of network 'fig2'; its inputs: u"),
    ({"frame": -1}, r"^frame must be a whole number >= 0, got -1"),
    ({"node": "ww"}, r"^node: no node 'ww' in network 'fig2' \(did you mean 'w'\?\)"),
    ({"node": ["w"]}, r"^node: no node \['w'\] in network 'fig2'"),  # before: TypeError (unhashable)
    ({"input": ["u"]}, r"^input: \['u'\] is no node of network 'fig2'"),
])
def test_input_paths_check_their_arguments(fig2, given, message):
    # before: input='v' returned the paths from v (not an input), input='x' raised
    # networkx's NodeNotFound, and frame=-1 was called the "window size"
    args = {"node": "w", "frame": 2, **given}
    with pytest.raises(sn.StreamnetsError, match=message):
        sn.Rollout.streaming(fig2).input_paths(**args)


def test_input_paths_of_an_invalid_pattern_name_the_cycle(fig2):
    # before: paths through the zero-delay cycle v -> w -> v, whose nodes are never computed
    with pytest.raises(sn.InvalidRolloutError, match="cycle"):
        sn.Rollout.from_streaming_edges(fig2, FIG2_INVALID).input_paths("w", 1)


@pytest.mark.parametrize("costs, message", [
    ({"vv": 3}, r"^costs: network 'fig2' has no node 'vv' \(did you mean 'v'\?\)"),
    ({"v": -3}, r"^costs: the cost of node 'v' must be a finite number >= 0, got -3"),
    ({"v": "3"}, r"^costs: the cost of node 'v' must be a finite number >= 0, got '3'"),
    ({"v": float("nan")}, r"^costs: the cost of node 'v' must be a finite number >= 0, got nan"),
    ([1, 2, 3], r"^costs must be a dict \{node: cost\}, got list"),
])
def test_finish_times_check_the_costs(fig2, costs, message):
    # before: a misspelt node silently cost 0, a negative cost shortened the frame,
    # '3' raised TypeError and a list AttributeError
    with pytest.raises(sn.SettingError, match=message):
        sn.Rollout.sequential(fig2).finish_times(costs)


@pytest.mark.parametrize("frames", [-1, 1.5, None])
def test_output_steps_want_a_whole_number_of_frames(fig2, frames):
    # before: -1 silently gave no steps, 1.5 and None raised TypeError
    with pytest.raises(sn.SettingError, match=r"^frames must be a whole number >= 0"):
        sn.Rollout.streaming(fig2).output_steps(frames)


def test_an_edge_given_as_a_string_is_refused():
    # before: Network(..., ["xh"]) built the edge x -> h from the letters of 'xh'
    nodes = [sn.Node("x", (1,)), sn.Node("h", (1,))]
    with pytest.raises(sn.SpecError, match=r"^edges\[0\]: an edge is a pair \(source, target\), got 'xh'"):
        sn.Network(nodes, ["xh"])


@pytest.mark.parametrize("make", [
    lambda net: sn.Rollout.streaming(net), lambda net: sn.Rollout.sequential(net),
    lambda net: sn.Rollout.from_bits(net, [1] * 5), lambda net: sn.Rollout.named(net, "streaming"),
    lambda net: sn.Rollout.from_streaming_edges(net, []), lambda net: sn.Rollout(net, {}),
])
def test_rollouts_want_a_network_not_its_name(make):
    # before: AttributeError: 'str' object has no attribute 'edges'
    with pytest.raises(sn.SpecError, match=r"^network: expected a Network, got str 'fig2'; load it "
                                           r"first: sn.load\('fig2'\)"):
        make("fig2")


def test_rollouts_of_a_rollout_or_a_number_say_what_to_pass(fig2):
    # one check for the theory, the rollouts and the drawings (viz had its own copy)
    with pytest.raises(sn.SpecError, match=r"^network: expected a Network, got Rollout; pass the "
                                           r"rollout's .network$"):
        sn.Rollout.sequential(sn.Rollout.streaming(fig2))
    with pytest.raises(sn.SpecError, match=r"^network: expected a Network, got int; e.g. "
                                           r"sn.load\('fig2'\)$"):
        theory.count_patterns(3)


@pytest.mark.parametrize("width", ["a", None, float("inf"), True, 0, float("nan")])
def test_scaled_wants_a_finite_positive_width(fig2, width):
    # before: 'a' and None raised TypeError, inf OverflowError, and True was taken as 1
    with pytest.raises(sn.SpecError, match=r"fig2: width: width must be a finite number > 0, got"):
        fig2.scaled(width)


@pytest.mark.parametrize("nodes, edges, message", [
    (sn.Node("x", (1,)), [("x", "h")], r"^nodes: nodes must be a list, got Node"),
    ([sn.Node("x", (1,)), sn.Node("h", (1,))], None, r"^edges: edges must be a list, got None"),
    ([sn.Node("x", (1,)), sn.Node("h", (1,))], ("x", "h"),
     r"^edges\[0\]: an edge is a pair \(source, target\), got 'x'; edges is a list of pairs"),
])
def test_network_wants_lists_of_nodes_and_edges(nodes, edges, message):
    # before: a single Node or edges=None raised a bare TypeError, and the single pair
    # ('x', 'h') was reported as the edge 'x' without saying that edges is a list of pairs
    with pytest.raises(sn.SpecError, match=message):
        sn.Network(nodes, edges)


def test_numpy_numbers_make_a_network_of_plain_numbers():
    # before: np.int64(4) as a size or rf was "not a positive integer", a list as an
    # edge's end a TypeError (unhashable)
    net = sn.Network([sn.Node("x", (np.int64(4),)), sn.Node("h", (2,), dropout=np.float32(0.5))],
                     [("x", "h", np.int64(3))])
    assert net.nodes["x"].shape == (4, 1, 1) and type(net.nodes["x"].shape[0]) is int
    assert type(net.edges[0].rf) is int and net.nodes["h"].dropout == 0.5
    assert sn.Network([sn.Node("x", np.int64(4)), sn.Node("h", 2)], [("x", "h")]).nodes["x"].shape == (4, 1, 1)
    with pytest.raises(sn.SpecError, match=r"^edges\[0\].source: unknown node \['x'\]"):
        sn.Network([sn.Node("x", (1,)), sn.Node("h", (1,))], [(["x"], "h")])


@pytest.mark.parametrize("streaming, message", [
    (5, r"^rollouts.a: a named pattern is a list of its streaming edges \[source, target\], got 5"),
    ("xh", r"^rollouts.a: a named pattern is a list .* got 'xh'"),
    ([[["x"], "h"]], r"^rollouts.a\[0\]: \(\['x'\], 'h'\) is not an edge of the network"),
])
def test_named_patterns_of_a_network_are_lists_of_edges(streaming, message):
    # before: TypeError ('int' object is not iterable; unhashable type: 'list')
    with pytest.raises(sn.SpecError, match=message):
        sn.Network([sn.Node("x", (1,)), sn.Node("h", (1,))], [("x", "h")], rollouts={"a": streaming})


def test_a_pattern_gives_each_edge_once(fig2):
    # before: {Edge u->v: 0, ('u', 'v'): 1, ...} silently kept the later value
    pattern = {e.key: 1 for e in fig2.edges}
    pattern[fig2.edges[0]] = 0
    with pytest.raises(sn.SpecError, match=r"^pattern: edge \('u', 'v'\) is given twice"):
        sn.Rollout(fig2, pattern)


def test_equally_model_parallel_compares_with_a_rollout(fig2):
    # before: AttributeError: 'str' object has no attribute 'network'
    with pytest.raises(sn.SpecError, match=r"^other: expected a Rollout to compare with, got str "
                                           r"'streaming'; e\.g\. Rollout\.of\(network, 'streaming'\)"):
        sn.Rollout.sequential(fig2).is_equally_model_parallel("streaming")


# -- found by mutation testing: node order, tie order, other networks --------------------


def _redeclared(net, order, name=None):
    """``net`` with its nodes declared in ``order`` (same edges, same edge order)."""
    return sn.Network([net.nodes[v] for v in order], net.edges, name or net.name,
                      {k: sorted(v) for k, v in net.rollouts.items()})


def _renamed(net, name):
    """A network equal to ``net`` in everything but its name: a different network."""
    return sn.Network(list(net.nodes.values()), net.edges, name)


def test_fig2_with_its_output_declared_first():
    """Guards against: inference_factor taking the max over frame 1 without the first declared
    node (``max(rows[1][1:])``, right whenever an input comes first); and the DFS of
    the sequential rollout starting from the first declared node instead of the inputs."""
    net = _redeclared(sn.load("fig2"), ["w", "v", "u"])
    seq = sn.Rollout.sequential(net)
    assert set(seq.streaming_edges) == {("v", "v"), ("w", "v")}  # PAPER.md: the sequential pattern
    assert seq.tableau(3) == {"w": [0, 2, 4, 6], "v": [0, 1, 3, 5], "u": [0, 0, 0, 0]}
    assert seq.inference_factor == 2
    assert seq.first_response() == {"w": (1, 2)}


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_theory_does_not_depend_on_the_node_declaration_order(data):
    net = data.draw(networks())
    r = data.draw(patterns(net, valid_only=True))
    order = data.draw(st.permutations(list(net.nodes)))
    other = sn.Rollout.from_bits(_redeclared(net, order), r.bits)
    assert other.tableau(3) == r.tableau(3)
    assert other.inference_factor == r.inference_factor
    assert other.first_response() == r.first_response()
    assert other.first_frames == r.first_frames


def _literal_frame_order(rollout):
    """Repeatedly take the first declared node whose zero-delay sources are all placed."""
    net, placed, order = rollout.network, set(), []
    while len(order) < len(net.nodes):
        v = next(v for v in net.nodes if v not in placed and all(
            e.source in placed for e in net.in_edges(v) if rollout[e.key] == 0))
        placed.add(v)
        order.append(v)
    return order


def test_frame_order_breaks_ties_in_declaration_order():
    """Guards against: ``nx.topological_sort`` in place of the lexicographical one (mnist_hybrid's
    sequential rollout then computes h2 before h1)."""
    net = sn.load("mnist_hybrid")
    assert sn.Rollout.sequential(net).frame_order == ["image", "h1", "h2", "prediction"]


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_frame_order_equals_a_literal_tie_breaking_order(data):
    net = data.draw(networks(max_nodes=6))
    r = data.draw(patterns(net, valid_only=True))
    assert r.frame_order == _literal_frame_order(r)


def test_first_frames_of_an_invalid_pattern_name_the_cycle():
    """Guards against: first_frames without ``self.validate()`` (it then returns frames for nodes
    on a zero-delay cycle, which are never computed; nn.plan reads these)."""
    r = sn.Rollout.from_streaming_edges(sn.load("fig2"), FIG2_INVALID)
    with pytest.raises(sn.InvalidRolloutError, match="cycle"):
        r.first_frames


def test_first_response_of_an_output_that_is_an_input_is_frame_1():
    """Guards against: first_response without ``max(first_frames[o], 1)``: PAPER.md's first
    response is a frame i >= 1, and an input tagged as output has first frame 0."""
    net = sn.Network([sn.Node("x", (1,), tags=("prediction",)), sn.Node("h", (2,))],
                     [("x", "h"), ("h", "h")], name="tagged_input")
    for r in (sn.Rollout.streaming(net), sn.Rollout.sequential(net)):
        assert r.first_frames == {"x": 0, "h": 1}
        assert r.first_response() == {"x": (1, 0)}


def test_patterns_of_different_networks_are_not_equally_model_parallel():
    """Guards against: is_equally_model_parallel comparing only the keys (not the networks)."""
    fig2 = sn.load("fig2")
    other = _renamed(fig2, "fig2_copy")
    assert other != fig2
    a, b = sn.Rollout.streaming(fig2), sn.Rollout.streaming(other)
    assert a.model_parallel_key == b.model_parallel_key
    assert not a.is_equally_model_parallel(b)
    assert a.is_equally_model_parallel(sn.Rollout.streaming(sn.load("fig2")))


def test_rollout_of_refuses_a_rollout_of_another_network_with_as_many_edges():
    """Guards against: Rollout.of without the ``rollout.network != network`` check (from_bits
    then silently moves the bits onto the other network's edges)."""
    fig2 = sn.load("fig2")
    other = _renamed(fig2, "fig2_copy")
    with pytest.raises(sn.SpecError, match="belongs to network 'fig2_copy', not to 'fig2'"):
        sn.Rollout.of(fig2, sn.Rollout.sequential(other))


def test_input_paths_of_equal_length_come_latest_input_frame_first():
    """Guards against: ``sorted(paths, key=len)`` (equal-length paths then keep the order in
    which they were found, earliest input frame first)."""
    nodes = [sn.Node(v, (1,)) for v in "xabcd"] + [sn.Node("out", (1,))]
    net = sn.Network(nodes, [("x", "a"), ("a", "b"), ("b", "out"), ("x", "c"), ("c", "d"),
                             ("d", "out")], name="two_ways")
    r = sn.Rollout.from_streaming_edges(net, [("x", "c")])
    assert r.input_paths("out", 2) == [[(2, "x"), (2, "a"), (2, "b"), (2, "out")],
                                       [(1, "x"), (2, "c"), (2, "d"), (2, "out")]]
