"""Counting and Theorem 1, against brute force over all 2^|E| patterns."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import streamnets as sn
from streamnets import theory
from streamnets.paper import FIG2_COUNTS
from streamnets.theory import (all_patterns, check_theorem1, count_patterns, forward_edges,
                               lemma1_bounds, minimal_tableau, model_parallel_classes,
                               valid_patterns)
from strategies import networks


def brute_force_counts(net):
    valid = [r for r in all_patterns(net) if r.is_valid]
    return len(list(all_patterns(net))), valid, {r.model_parallel_key for r in valid}


def test_fig2_counts_match_the_paper():
    assert tuple(count_patterns(sn.load("fig2"))) == FIG2_COUNTS


def test_fig2_classes_and_their_factors():
    classes = model_parallel_classes(sn.load("fig2"))
    assert len(classes) == 3
    assert all(len(members) == 4 for members in classes.values())  # 2 edges out of u
    factors = sorted(members[0].inference_factor for members in classes.values())
    assert factors == [1, 2, 2]


def test_counts_of_the_paper_networks_factor_over_components():
    dsr6 = sn.load("cifar10_dsr6")
    assert len(dsr6.edges) == 23
    # 22 forward edges, one self-loop that must stream; one edge leaves the input.
    assert count_patterns(dsr6) == (2 ** 23, 2 ** 22, 2 ** 21)
    assert len(forward_edges(dsr6)) == 22


@settings(max_examples=80, deadline=None)
@given(networks(max_nodes=5, max_extra_edges=5))
def test_counts_equal_brute_force(net):
    total, valid, keys = brute_force_counts(net)
    assert count_patterns(net) == (total, len(valid), len(keys))
    assert sorted(r.bits for r in valid_patterns(net)) == sorted(r.bits for r in valid)


@settings(max_examples=80, deadline=None)
@given(networks(max_nodes=6, max_extra_edges=6))
def test_lemma1_bounds_hold(net):
    bounds = lemma1_bounds(net)
    valid = count_patterns(net).valid
    assert 1 <= bounds.forward <= valid <= bounds.upper
    assert bounds.cycles <= valid
    edges = [set(zip(c, c[1:] + c[:1])) for c in bounds.cycle_set]
    for i, a in enumerate(edges):  # the chosen cycles are pairwise edge-disjoint
        assert all(not a & b for b in edges[i + 1:])


@settings(max_examples=60, deadline=None)
@given(networks(max_nodes=4, max_extra_edges=4), st.integers(2, 4))
def test_theorem1_statements_agree_on_every_valid_pattern(net, size):
    minimal = minimal_tableau(net, size)
    assert minimal == sn.Rollout.streaming(net).tableau(size)  # (d) for the streaming rollout
    for r in valid_patterns(net):
        check = check_theorem1(r, size, minimal)
        assert check.consistent, (r, check)


def test_theorem1_on_fig2_patterns():
    net = sn.load("fig2")
    results = {r.bits: check_theorem1(r) for r in valid_patterns(net)}
    assert sum(c.a for c in results.values()) == 4  # the streaming class: 4 patterns
    assert all(c.consistent for c in results.values())


def test_check_theorem1_rejects_invalid_patterns():
    net = sn.load("fig2")
    bad = sn.Rollout.from_bits(net, [1, 0, 1, 1, 0])
    with pytest.raises(sn.InvalidRolloutError):
        check_theorem1(bad)


def test_check_theorem1_refuses_a_minimal_tableau_of_another_window():
    # before: the tableaus compared unequal, so (d) was False for the streaming rollout
    net = sn.load("fig2")
    r = sn.Rollout.streaming(net)
    with pytest.raises(sn.SettingError, match=r"^minimal does not fit size 5 \(nodes u, v, w, frames "
                                              r"0\.\.5, it covers frames 0\.\.3\)"):
        check_theorem1(r, minimal=minimal_tableau(net, 3))  # size defaults to 5
    with pytest.raises(sn.SettingError, match="it covers frames 0..3"):
        check_theorem1(r, 4, minimal_tableau(net, 3))
    with pytest.raises(sn.SettingError, match="it has nodes image, h1, h2, prediction"):
        check_theorem1(r, 3, minimal_tableau(sn.load("mnist_sr"), 3))
    assert check_theorem1(r, 3, minimal_tableau(net, 3)) == (True, True, True, True)


def test_enumeration_refuses_huge_components():
    from streamnets.generate import random_network
    net = random_network(12, 60, self_loops=False, seed=3)
    with pytest.raises(sn.StreamnetsError, match="exact enumeration is limited"):
        count_patterns(net)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(3, 8), k=st.integers(1, 3))
def test_random_networks_with_several_inputs_feed_every_input(seed, n, k):
    from streamnets.generate import random_network

    k = min(k, n - 1)
    net = random_network(n, n, n_inputs=k, seed=seed)  # n - k edges to reach the others, k out of the inputs
    assert net.inputs == tuple(f"n{i}" for i in range(k))
    assert all(net.out_edges(v) for v in net.inputs)


@pytest.mark.parametrize("depth", [0, -1, True, 1.5])
def test_chain_depth_is_a_whole_number_of_edges(depth):
    # before: chain(0), chain(-1) and chain(True) all built the depth-1 chain x -> out
    # (named 'chain0' for 0), chain(1.5) raised a bare TypeError
    from streamnets.generate import chain

    with pytest.raises(sn.SettingError, match=r"^depth must be a whole number >= 1"):
        chain(depth)


@pytest.mark.parametrize("args, message", [
    ((4, 5.5), r"^n_edges must be a whole number >= 1, got 5.5"),
    ((4.0, 5), r"^n_nodes must be a whole number >= 2, got 4.0"),
    ((1, 1), r"^n_nodes must be a whole number >= 2, got 1"),
    ((3, 100), r"^n_edges=100: at most 6 edges fit"),
    ((5, 1), r"^n_edges=1: need at least 4 edges"),
])
def test_random_network_refuses_counts_out_of_range(args, message):
    # before: n_edges=5.5 built a network of 6 edges named 'random4x5.5', 4.0 nodes
    # raised a bare TypeError, and the rest a plain ValueError
    from streamnets.generate import random_network

    with pytest.raises(sn.SettingError, match=message):
        random_network(*args)


@pytest.mark.parametrize("function", [count_patterns, lemma1_bounds, forward_edges,
                                      lambda net: list(valid_patterns(net)),
                                      lambda net: minimal_tableau(net, 2)])
def test_theory_wants_a_network_not_its_name(function):
    # before: AttributeError: 'str' object has no attribute 'graph'
    with pytest.raises(sn.SpecError, match=r"^network: expected a Network, got str 'fig2'; load it"):
        function("fig2")


def test_check_theorem1_wants_a_rollout():
    # before: AttributeError: 'str' object has no attribute 'validate'
    with pytest.raises(sn.SpecError, match=r"^rollout: expected a Rollout, got str 'streaming'; "
                                           r"e.g. Rollout.named\(network, 'streaming'\)"):
        check_theorem1("streaming")


def _cycle_net(extra=()):
    """x -> a, and the cycle a -> b -> c -> a (plus ``extra`` edges)."""
    names = ["x", "a", "b", "c", "d"]
    edges = [("x", "a"), ("a", "b"), ("b", "c"), ("c", "a"), *extra]
    used = {v for e in edges for v in e}
    nodes = [sn.Node(v, (1,), tags=("prediction",) if v == "c" else ()) for v in names if v in used]
    return sn.Network(nodes, edges, name="cycles")


def test_scc_enumeration_limit_is_inclusive(monkeypatch):
    """Guards against: ``>=`` for ``>`` in the MAX_SCC_EDGES check, and a limit one too high."""
    monkeypatch.setattr(theory, "MAX_SCC_EDGES", 3)
    # an SCC of exactly 3 edges is enumerated: 2 (forward x->a) * (2^3 - 1)
    assert count_patterns(_cycle_net()).valid == 14
    with pytest.raises(sn.StreamnetsError, match="has 4 edges besides self-loops; exact "
                                                 "enumeration is limited to 3 per part"):
        count_patterns(_cycle_net([("a", "c")]))


def test_lemma1_cycle_set_skips_a_cycle_that_shares_an_edge():
    """Guards against: dropping ``if not edges & used`` in the greedy cycle choice. The two
    chordless cycles a->b->c->a and a->b->d->a share a->b: only one may be chosen."""
    net = _cycle_net([("b", "d"), ("d", "a")])
    b = lemma1_bounds(net)
    # valid: 2 (x->a) * (2^5 - 7), 7 = patterns with one of the two cycles all zero
    assert count_patterns(net).valid == 50
    assert len(b.cycle_set) == 1 and b.cycles == 7
    assert (b.forward, b.upper, b.lower) == (2, 64, 7)


def test_check_theorem1_refuses_a_larger_or_wider_minimal_tableau():
    """Guards against: ``len(row) >= size + 1`` and ``set(minimal) >= set(tab)`` in the check of
    ``minimal``: a tableau of a larger window, or with an extra node, made (d) False
    silently for the streaming rollout."""
    net = sn.load("fig2")
    r = sn.Rollout.streaming(net)
    with pytest.raises(sn.SettingError, match="it covers frames 0..5"):
        check_theorem1(r, 3, minimal_tableau(net, 5))
    wider = {**minimal_tableau(net, 3), "extra": [0, 1, 2, 3]}
    with pytest.raises(sn.SettingError, match="it has nodes u, v, w, extra"):
        check_theorem1(r, 3, wider)
    assert check_theorem1(r, 3, minimal_tableau(net, 3)) == (True, True, True, True)


def test_lemma1_cycle_set_gives_only_valid_patterns():
    """Guards against: a cycle set whose edges form further cycles. In the complete graph the
    2-cycles are chordless and edge-disjoint, but R = 0 on a -> b -> c -> a with R = 1 on
    the way back is invalid; on 5 nodes the product 3^10 = 59049 exceeded the 58562 valid
    patterns."""
    import itertools

    names = "abcd"
    edges = [("x", "a")] + [(u, v) for u in names for v in names if u != v]
    nodes = [sn.Node(v, (1,), tags=("prediction",) if v == "d" else ()) for v in "x" + names]
    net = sn.Network(nodes, edges, name="k4")
    b = lemma1_bounds(net)
    cycles = [list(zip(c, c[1:] + c[:1])) for c in b.cycle_set]
    choices = [[bits for bits in itertools.product((0, 1), repeat=len(c)) if any(bits)]
               for c in cycles]
    for combo in itertools.product(*choices):
        pattern = {e.key: 1 for e in net.edges}
        for cycle, bits in zip(cycles, combo):
            pattern.update(zip(cycle, bits))
        assert sn.Rollout(net, pattern).is_valid, pattern
    assert b.cycles <= count_patterns(net).valid


def test_check_theorem1_compares_a_minimal_tableau_of_tuples_by_value():
    # before: rows given as tuples compared unequal to the tableau's lists: (d) False for the
    # streaming rollout (inconsistent with Theorem 1); rows of numbers raised a bare TypeError
    net = sn.load("fig2")
    r = sn.Rollout.streaming(net)
    rows = {v: tuple(row) for v, row in minimal_tableau(net, 3).items()}
    assert check_theorem1(r, 3, rows) == (True, True, True, True)
    with pytest.raises(sn.SettingError, match="minimal does not fit size 3"):
        check_theorem1(r, 3, {"u": 0, "v": 0, "w": 0})


def test_check_theorem1_needs_a_window_of_one_frame_at_least():
    # before: size=0 left only frame 0, where (c) and (d) hold for every pattern:
    # the sequential rollout of fig2 came out (False, False, True, True), not consistent
    seq = sn.Rollout.sequential(sn.load("fig2"))
    with pytest.raises(sn.SettingError, match=r"^size must be a whole number >= 1, got 0"):
        check_theorem1(seq, 0)
    assert check_theorem1(seq, 1) == (False, False, False, False)
