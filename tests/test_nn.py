"""StreamNet against the rollout theory: emptiness, first responses, window == step,
gradients, shapes of the paper's networks, edge transforms and error messages."""

import math
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import networkx as nx
import pytest
import torch
import torch.nn.functional as F

import streamnets as sn
from streamnets.errors import InvalidRolloutError, SettingError, ShapeError, SpecError, StreamnetsError
from streamnets.graph import ACTIVATIONS
from streamnets.nn import ConvEdge, DenseEdge, StreamNet, edge_transform
from streamnets.nn.node import NodeUpdate
from streamnets.theory import valid_patterns

SMOOTH = ("identity", "tanh", "sigmoid", "elu", "leaky_relu")  # never a zero gradient


def random_network(seed, activations=ACTIVATIONS, max_nodes=6):
    """A small random network: dense and spatial nodes, self-loops and back edges,
    every node reachable from an input, one or two outputs."""
    rng = random.Random(seed)
    n = rng.randint(3, max_nodes)
    n_inputs = rng.choice([1, 1, 2]) if n >= 4 else 1
    names = [f"n{i}" for i in range(n)]

    def shape():
        if rng.random() < 0.5:
            return (rng.randint(1, 3),)
        side = rng.choice([2, 4, 8])
        return (rng.randint(1, 3), side, side)

    edges = {(names[rng.randrange(i)], names[i]) for i in range(n_inputs, n)}
    for _ in range(rng.randint(0, 2 * n)):
        edges.add((names[rng.randrange(n)], names[rng.randrange(n_inputs, n)]))
    edges = sorted(edges)
    rng.shuffle(edges)
    outputs = {names[-1]} | ({names[rng.randrange(n_inputs, n)]} if rng.random() < 0.3 else set())
    nodes = [sn.Node(v, shape(), "identity" if i < n_inputs else rng.choice(activations),
                     rng.choice([0.0, 0.3]) * (i >= n_inputs), ("prediction",) if v in outputs else ())
             for i, v in enumerate(names)]  # inputs take no dropout (the draw keeps the sequence)
    return sn.Network(nodes, [sn.Edge(u, v, rng.choice([1, 2, 3])) for u, v in edges],
                      name=f"random{seed}")


def some_patterns(net, seed, extra=3):
    """Streaming, sequential and a few random valid hybrids."""
    rng = random.Random(seed)
    valid = list(valid_patterns(net))
    chosen = rng.sample(valid, min(extra, len(valid)))
    return [sn.Rollout.streaming(net), sn.Rollout.sequential(net)] + chosen


def random_frames(net, batch, frames, seed=0):
    g = torch.Generator().manual_seed(seed)
    xs = {v: torch.rand(batch, frames, *net.nodes[v].shape, generator=g) for v in net.inputs}
    return xs if len(xs) > 1 else xs[net.inputs[0]]


def run_steps(model, frames, rollout):
    """Chain model.step over all frames: per frame the logits dict and the state."""
    xs = frames if isinstance(frames, dict) else {model.network.inputs[0]: frames}
    batch, time = next(iter(xs.values())).shape[:2]
    state = model.initial_state(batch)
    results = []
    for t in range(time):
        logits, state = model.step({k: x[:, t] for k, x in xs.items()}, state, rollout=rollout)
        results.append((logits, state))
    return results


def nonempty_window(rollout, size):
    """Literal emptiness over R_W: inputs are set in every frame, other nodes of frame 0
    are empty, (i, v) is set iff some predecessor in the window is."""
    window = rollout.window(size)
    inputs = set(rollout.network.inputs)
    nonempty = set()
    for node in nx.topological_sort(window):
        i, v = node
        if v in inputs or (i >= 1 and any(p in nonempty for p in window.predecessors(node))):
            nonempty.add(node)
    return window, nonempty


@pytest.fixture(scope="module")
def mnist_sr():
    return sn.load("mnist_sr")


# -- the window pass against the theory --------------------------------------------------

@pytest.mark.parametrize("seed", range(12))
def test_window_equals_chained_steps_on_random_networks(seed):
    net = random_network(seed)
    torch.manual_seed(seed)
    model = StreamNet(net).eval()
    frames = random_frames(net, batch=2, frames=6, seed=seed)
    for r in some_patterns(net, seed):
        with torch.no_grad():
            out = model(frames, rollout=r, return_states=True)
            steps = run_steps(model, frames, r)
        for t, (logits, state) in enumerate(steps):
            for o in net.outputs:
                assert (logits[o] is not None) == bool(out.mask[o][t]), (r, o, t)
                if logits[o] is not None:
                    torch.testing.assert_close(logits[o], out.logits[o][:, t], atol=1e-6, rtol=0)
                else:
                    assert not out.logits[o][:, t].any()
            for v in net.nodes:
                a, b = state[v], out.states[t][v]
                assert (a is None) == (b is None), (r, v, t)
                if a is not None:
                    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


@pytest.mark.parametrize("seed", range(12, 24))
def test_mask_and_update_steps_follow_the_theory_on_random_networks(seed):
    net = random_network(seed)
    model = StreamNet(net).eval()
    frames_n = 7
    frames = random_frames(net, batch=1, frames=frames_n, seed=seed)
    for r in some_patterns(net, seed, extra=4):
        with torch.no_grad():
            out = model(frames, rollout=r)
        steps = r.output_steps(frames_n)
        _, nonempty = nonempty_window(r, frames_n - 1)
        for o, first in r.first_response().items():
            mask = out.mask[o].tolist()
            assert mask == [t >= first.frame for t in range(frames_n)]
            assert mask == [t >= 1 and (t, o) in nonempty for t in range(frames_n)]
            assert out.update_step[o].tolist() == [s or 0 for s in steps[o]]
            if first.frame < frames_n:
                assert out.update_step[o][first.frame] == first.update_step


def test_changing_a_mask_in_place_leaves_later_calls_alone():
    # before: the mask and update-step tensors were the plan's cached ones, so a
    # caller's in-place edit changed what every later forward pass returned
    net = sn.load("mnist_sr")
    model = StreamNet(net).eval()
    frames = random_frames(net, batch=1, frames=5)
    with torch.no_grad():
        first = model(frames)
        first.mask["prediction"].fill_(True)
        first.update_step["prediction"].zero_()
        again = model(frames)
    assert again.mask["prediction"].tolist() == [False, False, True, True, True]
    assert again.update_step["prediction"].tolist() == [0, 0, 2, 3, 4]


def builtin_cases():
    for name in sn.builtin_names():
        net = sn.load(name)
        for rollout in ["streaming", "sequential", *sorted(set(net.rollouts) - {"sequential"})]:
            yield pytest.param(name, rollout, id=f"{name}-{rollout}")


@pytest.mark.parametrize("name, rollout", list(builtin_cases()))
def test_builtin_networks_first_response_and_shapes(name, rollout):
    net = sn.load(name)
    r = sn.Rollout.named(net, rollout)
    first = r.first_response()
    frames_n = max(f.frame for f in first.values()) + 2
    torch.manual_seed(0)
    model = StreamNet(net).eval()
    frames = random_frames(net, batch=2, frames=frames_n)
    with torch.no_grad():
        out = model(frames, rollout=rollout)
    steps = r.output_steps(frames_n)
    for o in net.outputs:
        node = net.nodes[o]
        shape = node.shape if node.is_spatial else node.shape[:1]
        assert out.logits[o].shape == (2, frames_n, *shape)
        assert out.mask[o].dtype == torch.bool and out.mask[o].shape == (frames_n,)
        assert out.update_step[o].dtype == torch.long
        mask = out.mask[o].tolist()
        assert mask.index(True) == first[o].frame
        assert all(mask[first[o].frame:])
        assert out.update_step[o].tolist() == [s or 0 for s in steps[o]]
        assert out.logits[o][:, first[o].frame:].abs().sum() > 0
        assert not out.logits[o][:, :first[o].frame].any()


@pytest.mark.parametrize("name", ["fig2", "mnist_ff", "mnist_sr", "mnist_hybrid"])
def test_builtin_step_emptiness_matches_mask(name):
    net = sn.load(name)
    model = StreamNet(net).eval()
    frames = random_frames(net, batch=2, frames=6)
    for rollout in ("streaming", "sequential"):
        with torch.no_grad():
            out = model(frames, rollout=rollout)
            steps = run_steps(model, frames, rollout)
        for o in net.outputs:
            assert [lg[o] is not None for lg, _ in steps] == out.mask[o].tolist()
            torch.testing.assert_close(steps[-1][0][o], out.logits[o][:, -1], atol=1e-6, rtol=0)


def test_cifar_step_equals_window():
    net = sn.load("cifar10_dsr1")
    model = StreamNet(net).eval()
    frames = random_frames(net, batch=1, frames=6)
    with torch.no_grad():
        out = model(frames)
        steps = run_steps(model, frames, None)
    for t, (logits, _) in enumerate(steps):
        if out.mask["prediction"][t]:
            torch.testing.assert_close(logits["prediction"], out.logits["prediction"][:, t],
                                       atol=1e-6, rtol=0)


def test_a_model_moved_in_mid_stream_asks_for_a_new_stream(mnist_sr):
    # before: torch's "Input type (float) and bias type (double) should be the same"
    model = StreamNet(mnist_sr).eval()
    x = {"image": torch.zeros(2, 1, 28, 28)}
    state = model.initial_state(2)
    with torch.no_grad():
        for _ in range(2):
            _, state = model.step(x, state)
        model.double()
        with pytest.raises(sn.errors.DeviceError, match=r"the state holds torch.float32 values on cpu, but "
                                                 r"the model is now torch.float64 on cpu; after "
                                                 r"moving a model start a new stream with "
                                                 r"initial_state\(2\)"):
            model.step(x, state)
        state = model.initial_state(2)
        for _ in range(4):
            _, state = model.step(x, state)
    assert {v.dtype for v in state.values} == {torch.float64}


def test_autocast_state_is_not_taken_for_a_moved_model():
    # under autocast the state is bfloat16 while the weights stay float32; another error
    # there stays torch's own instead of becoming "the model moved"
    net = sn.spec.from_dict({"nodes": {"h": {"shape": [4]}, "x": {"shape": [3]}},
                             "edges": [["x", "h"], ["h", "h"]]})
    model = StreamNet(net).eval()
    state = model.initial_state(2)
    frame = {"x": torch.zeros(2, 3)}
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        for _ in range(2):
            _, state = model.step(frame, state)
        assert state.values[0].dtype == torch.bfloat16  # h, the first value the check looks at

        def fail(module, args):
            raise RuntimeError("boom")

        next(iter(model.edge_modules.values())).register_forward_pre_hook(fail)
        with pytest.raises(RuntimeError, match="^boom$") as caught:
            model.step(frame, state)
    assert not isinstance(caught.value, sn.errors.DeviceError)


# -- gradients ---------------------------------------------------------------------------

def reaching_edges_and_nodes(rollout, frames_n):
    """Edges and nodes whose effect reaches a non-empty output frame within frames
    0..frames_n-1, from a literal walk over the window."""
    net = rollout.network
    window, nonempty = nonempty_window(rollout, frames_n - 1)
    targets = {(t, o) for t in range(1, frames_n) for o in net.outputs if (t, o) in nonempty}
    reaches = {n for n in window if n in targets or nx.descendants(window, n) & targets}
    edges = set()
    for a, b, data in window.edges(data=True):
        if a in nonempty and b in reaches and b[0] >= 1:
            edges.add(data["edge"])
    nodes = {v for (i, v) in reaches if i >= 1 and (i, v) in nonempty and v not in net.inputs}
    return edges, nodes


def assert_gradients_follow_reach(model, rollout, frames, frames_n):
    net = model.network
    model.zero_grad(set_to_none=True)
    out = model(frames, rollout=rollout)
    g = torch.Generator().manual_seed(1)
    loss = sum((out.logits[o][:, out.mask[o]] * torch.randn(out.logits[o][:, out.mask[o]].shape,
                                                             generator=g)).sum()
               for o in net.outputs)
    if not torch.is_tensor(loss) or not loss.requires_grad:
        return set(), set()
    loss.backward()
    edges, nodes = reaching_edges_and_nodes(rollout, frames_n)
    for e in net.edges:
        grad = model.edge_modules[f"{e.source}->{e.target}"].weight.grad
        if e.key in edges:
            assert grad is not None and grad.abs().sum() > 0, (rollout, e.key)
        else:
            assert grad is None or not grad.any(), (rollout, e.key)
    for v in net.nodes:
        if v in net.inputs:
            continue
        grad = model.node_modules[v].bias.grad
        if v in nodes:
            assert grad is not None and grad.abs().sum() > 0, (rollout, v)
        else:
            assert grad is None or not grad.any(), (rollout, v)
    return edges, nodes


@pytest.mark.parametrize("seed", range(30, 40))
def test_gradients_reach_exactly_the_edges_that_reach_an_output(seed):
    net = random_network(seed, activations=SMOOTH)
    torch.manual_seed(seed)
    model = StreamNet(net).eval()
    frames_n = random.Random(seed).randint(2, 5)
    frames = random_frames(net, batch=3, frames=frames_n, seed=seed)
    for r in some_patterns(net, seed):
        assert_gradients_follow_reach(model, r, frames, frames_n)


def test_gradients_of_mnist_sr_in_a_short_window(mnist_sr):
    # Streaming, frames 0..2: prediction at frame 2 reads h1 of frame 1 only; h1 -> h1 and
    # h1 -> h2 act at frame 2, too late, and h2 is still empty for h2 -> prediction.
    model = StreamNet(mnist_sr).train()
    frames = torch.rand(4, 3, 1, 28, 28)
    edges, nodes = assert_gradients_follow_reach(model, sn.Rollout.streaming(mnist_sr), frames, 3)
    assert edges == {("image", "h1"), ("h1", "prediction")}
    assert nodes == {"h1", "prediction"}
    edges, _ = assert_gradients_follow_reach(model, sn.Rollout.streaming(mnist_sr),
                                             torch.rand(4, 4, 1, 28, 28), 4)
    assert edges == set(mnist_sr.edge_index)


# -- semantics details -------------------------------------------------------------------

def test_frame_zero_and_a_single_frame(mnist_sr):
    model = StreamNet(mnist_sr)
    out = model(torch.rand(2, 1, 1, 28, 28), return_states=True)
    assert out.logits["prediction"].shape == (2, 1, 10)
    assert out.mask["prediction"].tolist() == [False]
    assert not out.logits["prediction"].any()
    assert out.states[0]["h1"] is None and out.states[0]["image"].shape == (2, 1, 28, 28)
    assert out.responses().shape == (2, 0, 10)


def test_softmax_outputs_report_preactivation_logits():
    net = sn.Network([sn.Node("x", (3,)), sn.Node("y", (4,), "softmax", tags=("prediction",))],
                     [("x", "y")])
    model = StreamNet(net)
    out = model(torch.randn(5, 3, 3), return_states=True)
    logits = out.logits["y"][:, 2]
    assert not torch.allclose(logits.sum(-1), torch.ones(5))
    torch.testing.assert_close(torch.softmax(logits, -1), out.states[2]["y"])


def test_dense_inputs_accept_both_layouts():
    net = sn.load("fig2")
    model = StreamNet(net).eval()
    x = torch.rand(2, 4, 1)
    with torch.no_grad():
        a = model(x).logits["w"]
        b = model(x[..., None, None]).logits["w"]
    torch.testing.assert_close(a, b)


def test_multiple_inputs_as_a_dict():
    net = sn.Network([sn.Node("a", (1, 4, 4)), sn.Node("b", (2,)), sn.Node("h", (3, 2, 2)),
                      sn.Node("o", (2,), "identity", tags=("prediction",))],
                     [("a", "h"), ("b", "h"), ("h", "o"), ("b", "o"), ("h", "h")])
    model = StreamNet(net).eval()
    frames = {"a": torch.rand(2, 5, 1, 4, 4), "b": torch.rand(2, 5, 2)}
    out = model(frames, rollout="sequential")
    assert out.mask["o"].tolist() == [False, True, True, True, True]
    with pytest.raises(ShapeError, match="has inputs a, b; pass a dict"):
        model(frames["a"])
    with pytest.raises(ShapeError, match="no frames for input 'b'"):
        model({"a": frames["a"]})
    with pytest.raises(ShapeError, match="unknown input 'c'"):
        model({**frames, "c": frames["b"]})
    with pytest.raises(ShapeError, match="all inputs must agree"):
        model({"a": frames["a"], "b": torch.rand(2, 4, 2)})


def test_plans_are_cached_per_pattern(mnist_sr):
    model = StreamNet(mnist_sr)
    assert model.plan() is model.plan(sn.Rollout.streaming(mnist_sr))
    assert model.plan("hybrid") is model.plan(sn.Rollout.named(mnist_sr, "hybrid"))
    # An equal network loaded again is accepted; its rollout maps onto the model's.
    other = sn.load("mnist_sr")
    assert model.plan(sn.Rollout.sequential(other)).rollout.network is mnist_sr
    assert model.resolve_rollout(sn.Rollout.sequential(other)).network is mnist_sr
    assert model.resolve_rollout("hybrid") is model.resolve_rollout("hybrid")
    custom = sn.Rollout.from_bits(mnist_sr, sn.Rollout.streaming(mnist_sr).bits, "mine")
    assert model(torch.rand(1, 2, 1, 28, 28), rollout=custom).rollout.name == "mine"


def test_dropout_is_active_in_training_only(mnist_sr):
    model = StreamNet(mnist_sr)
    x = torch.rand(4, 4, 1, 28, 28)
    with torch.no_grad():
        model.train()
        a, b = model(x).logits["prediction"], model(x).logits["prediction"]
        model.eval()
        c, d = model(x).logits["prediction"], model(x).logits["prediction"]
    assert not torch.equal(a, b)
    assert torch.equal(c, d)


def test_dropout_is_in_place_except_where_pytorch_fuses_it(mnist_sr, monkeypatch):
    import torch.nn.functional as F

    import streamnets.nn.node as node

    calls, real = [], F.dropout

    def spy(x, p, training, inplace):
        calls.append(inplace)
        return real(x, p, training, inplace)

    monkeypatch.setattr(F, "dropout", spy)
    model = StreamNet(mnist_sr).train()
    x = torch.rand(2, 4, 1, 28, 28)
    model(x)
    assert calls and all(calls)  # on the CPU in place: no second tensor kept
    calls.clear()
    monkeypatch.setattr(node, "_FUSED_DROPOUT", ("cpu",))  # as on CUDA (see test_nn_device)
    model(x)
    assert calls and not any(calls)


def test_dropout_in_and_out_of_place_give_the_same_gradients(mnist_sr, monkeypatch):
    import streamnets.nn.node as node

    model = StreamNet(mnist_sr).train()
    x = torch.rand(2, 4, 1, 28, 28)
    grads = []
    for fused in ((), ("cpu",)):
        monkeypatch.setattr(node, "_FUSED_DROPOUT", fused)
        torch.manual_seed(3)  # the same masks: on the CPU both draw the same noise
        model.zero_grad()
        model(x).responses().square().sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_float64_model_converts_frames(mnist_sr):
    model = StreamNet(mnist_sr).double()
    out = model(torch.rand(1, 3, 1, 28, 28))
    assert out.logits["prediction"].dtype == torch.float64


# -- per-node API (model-parallel executors) ---------------------------------------------

@pytest.mark.parametrize("seed", range(40, 44))
def test_streaming_node_updates_are_order_independent_and_thread_safe(seed):
    net = random_network(seed)
    model = StreamNet(net).eval()
    r = sn.Rollout.streaming(net)
    frames = random_frames(net, batch=2, frames=5, seed=seed)
    steps = run_steps(model, frames, r)
    hidden = [v for v in net.nodes if v not in net.inputs]
    with torch.no_grad():
        for t in range(1, 5):
            previous = steps[t - 1][1]
            expected = steps[t][1]

            def update(v):
                return v, model.node_update(v, model.frame_sources(v, previous, {}, r))

            order = hidden[::-1]
            with ThreadPoolExecutor(max_workers=3) as pool:
                results = dict(pool.map(update, order))
            for v in hidden:
                assert (results[v] is None) == (expected[v] is None)
                if results[v] is not None:
                    torch.testing.assert_close(results[v], expected[v], atol=1e-6, rtol=0)


def test_node_updates_in_frame_order_reproduce_a_sequential_step(mnist_sr):
    model = StreamNet(mnist_sr).eval()
    r = sn.Rollout.sequential(mnist_sr)
    frames = torch.rand(2, 3, 1, 28, 28)
    steps = run_steps(model, frames, r)
    current = {"image": frames[:, 2]}
    with torch.no_grad():
        for v in r.frame_order:
            if v not in mnist_sr.inputs:
                current[v], logits = model.node_update(
                    v, model.frame_sources(v, steps[1][1], current, r), return_logits=True)
    torch.testing.assert_close(logits, steps[2][0]["prediction"])
    assert model.node_update("h2", {"h1": None}) is None


def test_node_update_errors(mnist_sr):
    model = StreamNet(mnist_sr)
    with pytest.raises(SpecError, match="'image' is an input node"):
        model.node_update("image", {})
    with pytest.raises(SpecError, match="no incoming edge from 'image'"):
        model.node_update("h2", {"image": torch.zeros(1, 1, 28, 28)})
    with pytest.raises(SpecError, match="no node 'h3'"):
        model.node_update("h3", {})


# -- edge transforms ---------------------------------------------------------------------

@pytest.mark.parametrize("src, tgt, rf, kind, stride, up", [
    ((1, 28, 28), (16, 7, 7), 7, ConvEdge, 4, 1),
    ((32, 32, 32), (64, 16, 16), 3, ConvEdge, 2, 1),
    ((64, 16, 16), (512, 4, 4), 3, ConvEdge, 4, 1),
    ((3, 32, 32), (32, 32, 32), 5, ConvEdge, 1, 1),
    ((2, 4, 4), (3, 8, 8), 3, ConvEdge, 1, 2),
    ((2, 4, 6), (3, 8, 12), 2, ConvEdge, 1, 2),
    ((2, 8, 8), (3, 8, 8), 2, ConvEdge, 1, 1),
    ((16, 7, 7), (128, 1, 1), 3, DenseEdge, None, None),
    ((5, 1, 1), (3, 4, 4), 3, ConvEdge, 1, 1),
])
def test_edge_transform_shapes(src, tgt, rf, kind, stride, up):
    a, b = sn.Node("a", src), sn.Node("b", tgt)
    module = edge_transform(sn.Edge("a", "b", rf), a, b)
    assert isinstance(module, kind)
    if kind is ConvEdge:
        assert (module.stride, module.upsample) == (stride, up)
        assert module.weight.shape == (tgt[0], src[0], rf, rf)
    x = torch.rand(2, *src) if a.is_spatial else torch.rand(2, src[0])
    y = module(x, torch.zeros(tgt[0]))
    assert y.shape == ((2, *tgt) if b.is_spatial else (2, tgt[0]))


def test_same_convolution_is_centred():
    # An odd kernel at stride 1 keeps a centred impulse centred.
    edge = ConvEdge(1, 1, kernel=3)
    with torch.no_grad():
        edge.weight.fill_(1.0)
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 1
    y = edge(x)[0, 0]
    assert y[1:4, 1:4].eq(1).all() and y.sum() == 9


@pytest.mark.parametrize("kernel", [2, 4])
@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_even_kernels_pad_like_pytorch_same(kernel):
    edge = ConvEdge(2, 3, kernel=kernel)
    x = torch.rand(2, 2, 6, 6)
    torch.testing.assert_close(edge(x), torch.nn.functional.conv2d(x, edge.weight, padding="same"))


@pytest.mark.parametrize("src, tgt, why", [
    ((1, 28, 28), (4, 10, 10), "28x28 is not an integer multiple of 10x10"),
    ((1, 8, 8), (2, 4, 2), "the ratios differ"),
    ((1, 4, 8), (2, 8, 4), "larger in one dimension and smaller in the other"),
    ((1, 4, 4), (2, 6, 6), "6x6 is not an integer multiple of 4x4"),
])
def test_incompatible_shapes_raise_shape_error_naming_the_edge(src, tgt, why):
    """Already when the network is described (a spec error naming the edge), and in the
    engine's edge transform for a single edge."""
    from streamnets.nn.edges import edge_transform

    nodes = [sn.Node("image", src), sn.Node("h", tgt), sn.Node("p", (2,), tags=("prediction",))]
    with pytest.raises(sn.SpecError) as err:
        sn.Network(nodes, [("image", "h"), ("h", "p")])
    msg = str(err.value)
    assert msg.startswith("edges[0]: edge image -> h") and str(src) in msg and str(tgt) in msg and why in msg
    with pytest.raises(ShapeError, match=why):
        edge_transform(sn.Edge("image", "h"), nodes[0], nodes[1])


# -- error messages ----------------------------------------------------------------------

def test_wrong_frame_shape_names_input_and_layout(mnist_sr):
    model = StreamNet(mnist_sr)
    with pytest.raises(ShapeError) as err:
        model(torch.rand(2, 5, 28, 28))
    msg = str(err.value)
    assert "'image'" in msg and "(batch, time, 1, 28, 28)" in msg and "(2, 5, 28, 28)" in msg
    assert "(batch, time, C, H, W)" in msg
    with pytest.raises(ShapeError, match=r"\(batch, 1, 28, 28\).*\(batch, C, H, W\)"):
        model.step(torch.rand(2, 1, 1, 28, 28), model.initial_state(2))
    with pytest.raises(ShapeError, match="empty batch or time"):
        model(torch.rand(2, 0, 1, 28, 28))
    with pytest.raises(ShapeError, match="unknown input 'img'"):
        model({"img": torch.rand(2, 5, 1, 28, 28)})
    with pytest.raises(ShapeError, match="expected a tensor"):
        model({"image": [1, 2]})


def test_invalid_rollout_names_the_cycle():
    net = sn.load("fig2")
    model = StreamNet(net)
    bad = sn.Rollout.from_streaming_edges(net, [("v", "v"), ("u", "w")])
    with pytest.raises(InvalidRolloutError, match=r"cycle (v -> w -> v|w -> v -> w)") as err:
        model(torch.rand(1, 3, 1), rollout=bad)
    assert set(err.value.cycle) == {("v", "w"), ("w", "v")}
    with pytest.raises(InvalidRolloutError):
        model.step(torch.rand(1, 1), model.initial_state(1), rollout=bad)


def test_rollout_of_another_network_and_bad_states(mnist_sr):
    model = StreamNet(mnist_sr)
    with pytest.raises(SpecError, match="belongs to network 'mnist_s'"):
        model(torch.rand(1, 3, 1, 28, 28), rollout=sn.Rollout.streaming(sn.load("mnist_s")))
    with pytest.raises(SpecError, match="unknown rollout 'hybird'"):
        model(torch.rand(1, 3, 1, 28, 28), rollout="hybird")
    with pytest.raises(SpecError, match="expected a Rollout"):
        model(torch.rand(1, 3, 1, 28, 28), rollout=3)
    # before: a pattern as {edge: 0/1}, which Rollout.of and the Trainer take, was refused here
    frames, _ = torch.rand(1, 3, 1, 28, 28), model.eval()
    pattern = sn.Rollout.named(mnist_sr, "hybrid").pattern
    assert torch.equal(model(frames, rollout=pattern).logits["prediction"],
                       model(frames, rollout="hybrid").logits["prediction"])
    state = model.initial_state(2)
    with pytest.raises(ShapeError, match="batch size 3 .* made for 2"):
        model.step(torch.rand(3, 1, 28, 28), state)
    with pytest.raises(SpecError, match="initial_state"):
        model.step(torch.rand(2, 1, 28, 28), StreamNet(sn.load("fig2")).initial_state(2))
    assert isinstance(ShapeError("x"), StreamnetsError)


def test_a_stream_keeps_its_rollout(mnist_sr):
    # before: a state made under one pattern was stepped under another without a word
    # (e.g. after changing default_rollout), and the stream followed neither pattern:
    # outputs before the pattern's first response, unequal to model(frames)
    model = StreamNet(mnist_sr).eval()
    x = torch.rand(2, 3, 1, 28, 28)
    state = model.initial_state(2)
    assert state.rollout is None
    for t in range(2):
        _, state = model.step(x[:, t], state, rollout="sequential")
    assert state.rollout == sn.Rollout.sequential(mnist_sr)
    with pytest.raises(SpecError, match=r"rollout: the state was made under rollout 'sequential' "
                                        r"\(streaming edges h1->h1\), but this step runs 'streaming' "
                                        r"\(streaming edges image->h1, .*\); a stream keeps its rollout: "
                                        r"start one under 'streaming' with initial_state\(2\)"):
        model.step(x[:, 2], state)
    model.default_rollout = sn.Rollout.sequential(mnist_sr)
    logits, _ = model.step(x[:, 2], state)  # the same pattern by another route
    assert torch.equal(logits["prediction"], model(x, rollout="sequential").logits["prediction"][:, 2])
    # a pattern equal in its delays is the same stream, whatever its name
    same = sn.Rollout.from_streaming_edges(mnist_sr, [("h1", "h1")], name="mine")
    assert model.step(x[:, 2], state, rollout=same)[1].rollout.bits == same.bits


def test_a_state_of_another_network_with_the_same_node_names_is_named(mnist_sr):
    # before: torch's "expected input[1, 16, 7, 7] to have 8 channels" from inside conv2d
    state = StreamNet(mnist_sr).eval().initial_state(1)
    for _ in range(2):
        _, state = StreamNet(mnist_sr).eval().step(torch.rand(1, 1, 28, 28), state)
    narrow = StreamNet(mnist_sr.scaled(0.5)).eval()
    with pytest.raises(ShapeError, match=r"the state holds 'h1' with shape \[16, 7, 7\], but this "
                                         r"model's 'h1' has shape \[8, 7, 7\]: the state comes from "
                                         r"another network; start a stream with initial_state\(1\)"):
        narrow.step(torch.rand(1, 1, 28, 28), state)


def test_frame_sources_refuses_an_invalid_pattern():
    # before: it returned sources for a pattern whose zero-delay cycle forward, step and
    # plan refuse
    model = StreamNet(sn.load("fig2"))
    with pytest.raises(sn.InvalidRolloutError, match="is not valid: the cycle"):
        model.frame_sources("v", model.initial_state(1), {}, rollout={("u", "v"): 0, ("v", "w"): 0,
                            ("v", "v"): 1, ("u", "w"): 0, ("w", "v"): 0})


@pytest.mark.parametrize("batch_size", [0, -1, 2.7, None, "2", True])
def test_initial_state_refuses_a_batch_size_that_is_not_a_count(mnist_sr, batch_size):
    # 2.7 silently became 2, 0 or -1 made a state no frame could match, and
    # None was a bare TypeError.
    with pytest.raises(SettingError, match=f"batch_size must be a whole number >= 1, got {batch_size!r}"):
        StreamNet(mnist_sr).initial_state(batch_size)


def test_state_is_not_modified_and_can_branch(mnist_sr):
    model = StreamNet(mnist_sr).eval()
    x = torch.rand(2, 4, 1, 28, 28)
    state = model.initial_state(2)
    for t in range(3):
        _, state = model.step(x[:, t], state)
    assert state.frame == 2 and state["h1"] is not None
    a, _ = model.step(x[:, 3], state)
    b, _ = model.step(x[:, 3], state)
    assert torch.equal(a["prediction"], b["prediction"])
    assert state.detach()["h1"].requires_grad is False
    with pytest.raises(SpecError, match="no node 'h9'"):
        state["h9"]


def test_threads_do_not_share_mutable_plan_state(mnist_sr):
    # Plans are built once and then only read; concurrent windows agree.
    model = StreamNet(mnist_sr).eval()
    x = torch.rand(2, 5, 1, 28, 28)
    with torch.no_grad():
        expected = model(x, rollout="hybrid").logits["prediction"]
    results = []

    def run():
        with torch.no_grad():
            results.append(model(x, rollout="hybrid").logits["prediction"])

    threads = [threading.Thread(target=run) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(torch.equal(r, expected) for r in results)


def test_module_hooks_still_fire(mnist_sr):
    # The window pass skips nn.Module.__call__ only for modules without hooks.
    model = StreamNet(mnist_sr).eval()
    calls = []
    handle = model.edge_modules["h1->h1"].register_forward_hook(lambda m, i, o: calls.append(o.shape))
    model(torch.rand(2, 4, 1, 28, 28))
    handle.remove()
    assert calls == [torch.Size([2, 16, 7, 7])] * 2  # frames 2 and 3
    model(torch.rand(2, 4, 1, 28, 28))
    assert len(calls) == 2


@pytest.mark.parametrize("nodes, edges, message", [
    (["x", "a.b", "a_b", "y"], [("x", "a.b"), ("x", "a_b"), ("a.b", "y"), ("a_b", "y")],
     "node a.b and node a_b would share the parameter name 'a_b'"),
    (["x", "x->y", "y", "y->z", "z"], [("x", "x->y"), ("x", "y"), ("y", "y->z"), ("x", "y->z"),
                                       ("x->y", "z"), ("y->z", "z")],
     "edge x -> y->z and edge x->y -> z would share the parameter name 'x->y->z'"),
])
def test_node_names_that_would_share_a_parameter_name_are_named(nodes, edges, message):
    # before: "node names collide once '.' is replaced by '_'", also for the '->' clash
    net = sn.Network([sn.Node(v, [2]) for v in nodes], edges, name="clash")
    with pytest.raises(SpecError, match=f"^nodes: {message}"):
        StreamNet(net)


# -- the window pass against a literal loop, and each piece against its definition -------------

LITERAL_ACTIVATIONS = {
    "identity": lambda x: x,
    "relu": lambda x: torch.where(x > 0, x, torch.zeros_like(x)),
    "tanh": lambda x: (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x)),
    "sigmoid": lambda x: 1 / (1 + torch.exp(-x)),
    "elu": lambda x: torch.where(x > 0, x, torch.exp(x) - 1),
    "leaky_relu": lambda x: torch.where(x > 0, x, 0.01 * x),
    "softmax": lambda x: torch.exp(x) / torch.exp(x).sum(1, keepdim=True),  # over channels
}


def mixed_network():
    """Every kind of edge transform (dense, same conv, strided, upsampled, dense into
    spatial), every activation (softmax on a spatial node), nodes with 1 to 4 terms."""
    nodes = [sn.Node("x", (2, 4, 4)),
             sn.Node("h", (3, 4, 4), "leaky_relu"),
             sn.Node("s", (2, 2, 2), "sigmoid"),
             sn.Node("d", (3,), "tanh"),
             sn.Node("m", (2, 4, 4), "softmax"),
             sn.Node("e", (2, 4, 4), "elu"),
             sn.Node("o", (4,), "identity", tags=("prediction",))]
    edges = [sn.Edge("x", "h", 3), sn.Edge("h", "h", 3), sn.Edge("s", "h", 3), sn.Edge("d", "h", 1),
             sn.Edge("h", "s", 3), sn.Edge("x", "d", 1), sn.Edge("s", "d", 1), sn.Edge("d", "d", 1),
             sn.Edge("h", "m", 1), sn.Edge("m", "e", 3), sn.Edge("x", "e", 1),
             sn.Edge("e", "o", 1), sn.Edge("d", "o", 1), sn.Edge("m", "o", 1)]
    return sn.Network(nodes, edges, name="mixed")


def literal_transform(weight, src_node, tgt_node, x):
    """What an edge does, written out without the edge modules."""
    if not tgt_node.is_spatial:
        return x.reshape(x.shape[0], -1) @ weight.T  # channel-major flatten
    k = weight.shape[-1]
    if not src_node.is_spatial:  # a dense value copied to every pixel
        x = x.reshape(x.shape[0], -1, 1, 1).repeat(1, 1, *tgt_node.shape[1:])
    elif tgt_node.shape[1] > src_node.shape[1]:  # nearest upsampling: repeat each pixel
        f = tgt_node.shape[1] // src_node.shape[1]
        x = x.repeat_interleave(f, dim=2).repeat_interleave(f, dim=3)
    stride = max(1, src_node.shape[1] // tgt_node.shape[1]) if src_node.is_spatial else 1
    return F.conv2d(x, weight, stride=stride, padding=(k - 1) // 2)


def literal_window(model, rollout, frames):
    """Frame by frame: node v of frame i = act(bias_v + sum of the literal transforms of
    its non-empty sources at frame i - R(e)); empty if it has none; frame 0 holds inputs."""
    net = model.network
    within = nx.DiGraph([(e.source, e.target) for e in net.edges if not rollout[e.key]])
    within.add_nodes_from(net.nodes)
    order = list(nx.topological_sort(within))
    values = [{v: (frames[:, 0] if v in net.inputs else None) for v in net.nodes}]
    for t in range(1, frames.shape[1]):
        prev, cur = values[-1], {}
        for v in order:
            if v in net.inputs:
                cur[v] = frames[:, t]
                continue
            terms = []
            for e in net.edges:
                if e.target != v:
                    continue
                x = prev[e.source] if rollout[e.key] else cur[e.source]
                if x is not None:
                    w = model.edge_modules[f"{e.source}->{e.target}"].weight
                    terms.append(literal_transform(w, net.nodes[e.source], net.nodes[v], x))
            if not terms:
                cur[v] = None
                continue
            bias = model.node_modules[v].bias
            bias = bias.view(1, -1, 1, 1) if net.nodes[v].is_spatial else bias.view(1, -1)
            cur[v] = LITERAL_ACTIVATIONS[net.nodes[v].activation](bias + sum(terms))
        values.append(cur)
    return values


@pytest.mark.parametrize("pattern", ["streaming", "sequential", "hybrid"])
def test_window_equals_a_literal_loop_with_nonzero_biases(pattern):
    # Biases start at zero, so a bias dropped or counted once per incoming edge is
    # invisible to a fresh model; here every parameter is random and non-zero.
    net = mixed_network()
    if pattern == "hybrid":  # streaming only where the sequential pattern must be
        streaming = {("s", "h"), ("d", "h"), ("m", "o")}
        r = sn.Rollout.of(net, {e.key: int(e.source == e.target or e.key in streaming) for e in net.edges})
    else:
        r = sn.Rollout.named(net, pattern)
    torch.manual_seed(0)
    model = StreamNet(net).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.6, 0.6)
        frames = torch.rand(3, 6, 2, 4, 4, generator=torch.Generator().manual_seed(1)).double()
        out = model(frames, rollout=r, return_states=True)
        expected = literal_window(model, r, frames)
    for t, frame in enumerate(expected):
        for v, value in frame.items():
            got = out.states[t][v]
            assert (got is None) == (value is None), (pattern, t, v)
            if value is not None:
                torch.testing.assert_close(got, value, rtol=1e-9, atol=1e-9, msg=f"{pattern} {t} {v}")
        if frame["o"] is not None:
            torch.testing.assert_close(out.logits["o"][:, t], frame["o"], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("activation", sorted(LITERAL_ACTIVATIONS))
@pytest.mark.parametrize("shape", [(5,), (5, 3, 3)])
def test_each_activation_is_the_function_it_names(activation, shape):
    update = NodeUpdate(sn.Node("v", shape, activation)).double()
    x = torch.randn(4, *shape, generator=torch.Generator().manual_seed(2)).double() * 3
    value, logits = update(x.clone())
    torch.testing.assert_close(value, LITERAL_ACTIVATIONS[activation](x))
    torch.testing.assert_close(logits, x if activation == "softmax" else value)
    if activation == "softmax":  # a distribution over the channels of each pixel
        torch.testing.assert_close(value.sum(1), torch.ones(4, *shape[1:], dtype=torch.float64))


def test_dropout_drops_a_fraction_p_and_scales_the_rest():
    update = NodeUpdate(sn.Node("v", (200_000,), "identity", dropout=0.25)).train()
    torch.manual_seed(0)
    value, _ = update(torch.ones(1, 200_000))
    dropped = float((value == 0).float().mean())
    assert abs(dropped - 0.25) < 0.01, dropped
    kept = value[value != 0]
    torch.testing.assert_close(kept, torch.full_like(kept, 1 / 0.75))
    update.eval()
    assert torch.equal(update(torch.ones(1, 200_000))[0], torch.ones(1, 200_000))


def test_upsampling_edge_repeats_each_pixel():
    edge = ConvEdge(1, 1, kernel=1, upsample=2)
    with torch.no_grad():
        edge.weight.fill_(1.0)
    x = torch.arange(4.0).view(1, 1, 2, 2)
    expected = torch.tensor([[0., 0., 1., 1.], [0., 0., 1., 1.], [2., 2., 3., 3.], [2., 2., 3., 3.]])
    torch.testing.assert_close(edge(x)[0, 0], expected)


def test_dense_source_into_a_spatial_node_fills_every_pixel():
    edge = ConvEdge(2, 1, kernel=1, broadcast=(3, 3))
    with torch.no_grad():
        edge.weight.copy_(torch.tensor([1.0, 10.0]).view(1, 2, 1, 1))
    y = edge(torch.tensor([[1.0, 2.0]]))
    torch.testing.assert_close(y, torch.full((1, 1, 3, 3), 21.0))


def test_dense_edge_flattens_channel_major():
    edge = DenseEdge(2 * 3 * 3, 4)
    x = torch.randn(5, 2, 3, 3)
    torch.testing.assert_close(edge(x), x.reshape(5, 18) @ edge.weight.T)


@pytest.mark.parametrize("make, fan_in, fan_out", [
    (lambda: ConvEdge(16, 32, kernel=5), 16 * 25, 32 * 25),
    (lambda: DenseEdge(300, 200), 300, 200),
])
def test_weights_are_keras_glorot_uniform(make, fan_in, fan_out):
    torch.manual_seed(0)
    w = make().weight.detach()
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    assert float(w.abs().max()) <= bound
    assert float(w.abs().max()) > 0.98 * bound  # tens of thousands of draws reach the bound
    assert abs(float(w.std()) - bound / math.sqrt(3)) < 0.02 * bound


def test_an_input_that_is_also_an_output_responds_from_frame_1():
    nodes = [sn.Node("x", (2,), "identity", tags=("output",)),
             sn.Node("h", (3,), "relu", tags=("prediction",))]
    net = sn.Network(nodes, [sn.Edge("x", "h", 1), sn.Edge("h", "h", 1)], name="echo")
    model = StreamNet(net).eval()
    frames = torch.rand(2, 4, 2)
    out = model(frames)
    assert out.mask["x"].tolist() == [False, True, True, True]
    assert out.first_frame["x"] == out.mask["x"].tolist().index(True) == 1
    torch.testing.assert_close(out.responses("x"), frames[:, 1:])
    assert not out.logits["x"][:, 0].any()  # empty frames are zero, as step's None


def test_the_default_rollout_is_what_forward_and_step_run_without_one(mnist_sr):
    model = StreamNet(mnist_sr).eval()
    frames = torch.rand(2, 4, 1, 28, 28)
    streaming = model(frames).logits["prediction"]
    assert torch.equal(streaming, model(frames, rollout="streaming").logits["prediction"])
    mine = sn.Rollout.from_bits(mnist_sr, sn.Rollout.named(mnist_sr, "hybrid").bits, "mine")
    model.default_rollout = mine
    expected = model(frames, rollout=mine).logits["prediction"]
    assert not torch.equal(expected, streaming)
    assert torch.equal(model(frames).logits["prediction"], expected)
    assert torch.equal(model(frames, rollout="mine").logits["prediction"], expected)  # by its name too
    state = model.initial_state(2)
    for t in range(4):
        logits, state = model.step(frames[:, t], state)
    assert torch.allclose(logits["prediction"], expected[:, 3], atol=1e-6)
    assert torch.equal(model(frames, rollout="streaming").logits["prediction"], streaming)
    # before: the list of names to choose from left out the default's own
    with pytest.raises(SpecError, match=r"^rollout: unknown rollout 'mien' .* choose one of streaming, "
                                        r"sequential, hybrid, or 'mine' \(the model's default_rollout\)$"):
        model(frames, rollout="mien")


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.bool])
def test_frames_that_are_not_floating_point_are_refused_with_the_conversion(mnist_sr, dtype):
    # before: uint8 pixels 0..255 were cast to float as they were, 255 times the [0, 1] the
    # networks train on, and the model answered without a word
    from streamnets.parallel import ReferenceExecutor, SerialExecutor

    model = StreamNet(mnist_sr).eval()
    frames = torch.zeros(2, 3, 1, 28, 28, dtype=dtype)
    hint = rf"input 'image': frames of dtype {dtype}; pass floating values: x.float\(\) / 255"
    with pytest.raises(ShapeError, match=hint):
        model(frames)
    with pytest.raises(ShapeError, match=hint):
        model.step(frames[:, 0], model.initial_state(2))
    for executor in (ReferenceExecutor(model), SerialExecutor(model)):
        with pytest.raises(ShapeError, match=hint):
            executor.run(frames)


def test_weights_that_cannot_be_allocated_are_a_spec_error_naming_the_network():
    # before: the allocator's RuntimeError traceback (streamnets train of such a spec: status 1).
    # 3 PB of weights: more than a 47-bit address space, refused even where memory is overcommitted
    net = sn.spec.loads("nodes: {x: {shape: [1, 28, 28]}, h: {shape: [1099511627776]}, y: {shape: [10]}}\n"
                        "edges: [[x, h], [h, y]]", "big.yaml")
    with pytest.raises(SpecError, match=r"^big.yaml: the weights of network 'big' do not fit in memory \(.*"
                                        r"allocate.*\); make its nodes smaller"):
        StreamNet(net)
    # before: a size beyond int64 passed the spec check and ended in torch's TypeError
    for spec in ("nodes: {x: {shape: [1, 28, 28]}, h: {shape: [99999999999999999999999]}, y: {shape: [10]}}\n"
                 "edges: [[x, h], [h, y]]",
                 "nodes: {x: {shape: [1, 28, 28]}, h: {shape: [4, 7, 7]}, y: {shape: [10]}}\n"
                 "edges: [{source: x, target: h, rf: 99999999999999999999}, [h, y]]"):
        with pytest.raises(SpecError, match=r"^huge.yaml: the weights of network 'huge' do not fit in memory "
                                            r"\(.*Overflow.*\); make its nodes smaller .* or its receptive "
                                            r"fields \(rf\)$"):
            StreamNet(sn.spec.loads(spec, "huge.yaml"))


@pytest.mark.parametrize("name", ["training", "_parameters", "_modules", "_buffers", "_forward_hooks", "forward"])
def test_a_node_may_have_the_name_of_a_module_attribute(name):
    # before: a node named 'training' (or _parameters, ...) ended in KeyError: attribute
    # 'training' already exists; only class attributes such as 'forward' were escaped
    net = sn.spec.loads(f"nodes: {{x: {{shape: [1, 28, 28]}}, {name}: {{shape: [4, 7, 7]}}, y: {{shape: [10]}}}}\n"
                        f"edges: [[x, {name}], [{name}, y]]")
    model = StreamNet(net)
    assert model(torch.rand(1, 3, 1, 28, 28)).logits["y"].shape == (1, 3, 10)
    assert model.training and isinstance(model.node_modules.training, bool)
