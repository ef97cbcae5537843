"""Model-parallel executors against StreamNet.step (eval mode): random networks and
patterns, built-in networks, thread settings, errors, the CUDA executor's absence,
and bench_parallel's report.

Tolerance: ``streamnets.parallel.base.TOLERANCE`` (rtol = atol = 1e-5). The CPU
executors run the engine's arithmetic term for term, so on this machine they
are in fact bitwise equal; the tolerance leaves room for intra-op thread counts
that split reductions differently.
"""

import dataclasses
import itertools
import threading
import time

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streamnets as sn
from streamnets.device import DeviceError, intra_op_threads
from streamnets.errors import SettingError, ShapeError, SpecError, StreamnetsError
from streamnets.nn import StreamNet
from streamnets.parallel import (CudaStreamExecutor, DistributedExecutor, ReferenceExecutor, Schedule,
                                 ProcessExecutor, SerialExecutor, ThreadExecutor, balanced_partition, bench_parallel,
                                 estimate_flops, makespan, measure_node_times)
from streamnets.parallel.base import GPU_TOLERANCE, TOLERANCE, compare_outputs, random_clip
from streamnets.parallel.cuda import cuda_unavailable_reason
from strategies import networks, patterns

CUDA = torch.cuda.is_available()


def frames_for(net, batch, count, seed=0):
    g = torch.Generator().manual_seed(seed)
    xs = {v: torch.rand(batch, count, *net.nodes[v].shape, generator=g) for v in net.inputs}
    return xs if len(xs) > 1 else xs[net.inputs[0]]


def model_of(net, seed=0):
    torch.manual_seed(seed)
    model = StreamNet(net).eval()
    with torch.no_grad():  # non-zero biases, so that a lost bias would show
        for m in model.node_modules.values():
            m.bias.uniform_(-0.5, 0.5)
    return model


def reference_run(model, rollout, frames):
    """model.step chained (autograd on, as a user would call it): outputs and states."""
    state = model.initial_state(next(iter(frames.values())).shape[0] if isinstance(frames, dict)
                                else frames.shape[0])
    outs, states = [], []
    length = next(iter(frames.values())).shape[1] if isinstance(frames, dict) else frames.shape[1]
    for t in range(length):
        x = {k: v[:, t] for k, v in frames.items()} if isinstance(frames, dict) else frames[:, t]
        out, state = model.step(x, state, rollout=rollout)
        outs.append(out)
        states.append(state)
    return outs, states


def assert_same_run(ex, model, rollout, frames, tolerance=TOLERANCE):
    expected, expected_states = reference_run(model, rollout, frames)
    batch = next(iter(frames.values())).shape[0] if isinstance(frames, dict) else frames.shape[0]
    state, got, states = ex.initial_state(batch), [], []
    for t in range(len(expected)):
        x = {k: v[:, t] for k, v in frames.items()} if isinstance(frames, dict) else frames[:, t]
        out, state = ex.step(x, state)
        got.append(out)
        states.append(state)
        assert_same_state(state, expected_states[t], tolerance)
    # Again at the end: a state or output that shares memory with a later frame's
    # work (a reused buffer) would have changed since.
    for state, ref in zip(states, expected_states):
        assert_same_state(state, ref, tolerance)
    match, diff = compare_outputs(got, expected, tolerance)
    assert match, f"{ex!r}: max |diff| {diff}"
    return got


def assert_same_state(state, ref, tolerance):
    assert state.frame == ref.frame
    for name, a, b in zip(state.names, state.values, ref.values):
        assert (a is None) == (b is None), (name, state.frame)
        if a is not None:
            torch.testing.assert_close(a, b.detach(), **tolerance)


def executors_for(model, rollout):
    return [SerialExecutor(model, rollout),
            ThreadExecutor(model, rollout, workers=2),
            ThreadExecutor(model, rollout, workers=2, caller_works=False),
            ThreadExecutor(model, rollout, workers=3, intra_op_threads=1, schedule="static")]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_executors_equal_step_on_random_networks_and_patterns(data):
    net = data.draw(networks(spatial=True, max_nodes=6))
    rollout = data.draw(st.sampled_from([
        sn.Rollout.streaming(net), sn.Rollout.sequential(net), data.draw(patterns(net, valid_only=True))]))
    model = model_of(net, seed=data.draw(st.integers(0, 100)))
    frames = frames_for(net, batch=data.draw(st.integers(1, 3)), count=6)
    for ex in executors_for(model, rollout):
        with ex:
            assert_same_run(ex, model, rollout, frames)


def softmax_net():
    """Two inputs (one dense), a softmax output read by another node, a hybrid-able
    cycle, several nodes per update step."""
    nodes = [sn.Node("img", (2, 8, 8), "identity"), sn.Node("aux", (3,), "identity"),
             sn.Node("a", (4, 4, 4), "relu"), sn.Node("b", (3, 8, 8), "tanh"),
             sn.Node("c", (5,), "softmax", tags=("prediction",)), sn.Node("d", (2, 4, 4), "elu"),
             sn.Node("e", (6,), "sigmoid", tags=("output",))]
    edges = [("img", "a"), ("img", "b"), ("aux", "b"), ("a", "c"), ("b", "c"), ("c", "d"),
             ("d", "a"), ("a", "a"), ("b", "e"), ("c", "e"), ("d", "e"), ("aux", "e")]
    return sn.Network(nodes, [sn.Edge(u, v, 3) for u, v in edges], name="softmaxnet")


def softmax_rollout(net, which):
    """The streaming or sequential rollout of :func:`softmax_net`, or a hybrid."""
    if which == "hybrid":
        return sn.Rollout.from_streaming_edges(net, [("d", "a"), ("a", "a"), ("c", "e")])
    return getattr(sn.Rollout, which)(net)


@pytest.fixture
def no_tf32(monkeypatch):
    """Plain float32 on the GPU, so that the tolerance measures the executor."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)


@pytest.mark.parametrize("which", ["streaming", "sequential", "hybrid"])
def test_executors_with_softmax_outputs_and_two_inputs(which):
    net = softmax_net()
    rollout = softmax_rollout(net, which)
    model = model_of(net, seed=3)
    frames = frames_for(net, batch=2, count=7, seed=1)
    for ex in executors_for(model, rollout):
        with ex:
            assert_same_run(ex, model, rollout, frames)


@pytest.mark.parametrize("name", ["cifar10_dsr2", "mnist_hybrid"])
def test_thread_executor_on_builtin_networks(name):
    net = sn.load(name)
    model = model_of(net)
    frames = frames_for(net, batch=1, count=7)
    for rollout in ["streaming", "sequential", sn.Rollout.named(net, "hybrid") if "hybrid" in name
                    else sn.Rollout.from_streaming_edges(net, [("h1", "h1"), ("h1", "h2"), ("h11", "h2")])]:
        with ThreadExecutor(model, rollout, workers=2) as ex:
            assert_same_run(ex, model, rollout, frames)


@settings(max_examples=30, deadline=None)
@given(net=networks(spatial=True, max_nodes=7), data=st.data())
def test_update_steps_are_the_inference_factor(net, data):
    rollout = data.draw(patterns(net, valid_only=True))
    s = Schedule(model_of(net), rollout)
    assert len(s.groups) == rollout.inference_factor
    assert sorted(v for g in s.groups for v in g) == sorted(set(net.nodes) - set(net.inputs))
    step = {v: k for k, g in enumerate(s.groups) for v in g}
    for e, b in zip(net.edges, rollout.bits):
        if not b and e.source not in net.inputs:  # a within-frame edge goes to a later step
            assert step[e.source] < step[e.target]


def test_streaming_is_one_step_and_sequential_a_chain():
    model = model_of(sn.load("cifar10_dsr6"))
    assert len(Schedule(model, "streaming").groups) == 1
    assert [len(g) for g in Schedule(model, "sequential").groups] == [1] * 10


def test_executors_run_the_models_default_rollout_when_given_none():
    # a model from load_trained runs its trained pattern; before, the executors ran streaming
    net = sn.load("mnist_sr")
    model = model_of(net)
    model.default_rollout = sn.Rollout.named(net, "hybrid")
    frames = torch.rand(2, 5, 1, 28, 28)
    expected = ReferenceExecutor(model, "hybrid").run(frames)
    for cls in (ReferenceExecutor, SerialExecutor, ThreadExecutor):
        with cls(model) as ex:
            assert ex.rollout.name == "hybrid"
            assert compare_outputs(ex.run(frames), expected)[0]
    model.default_rollout = None
    assert Schedule(model).rollout.name == "streaming"


def test_workers_get_their_own_intra_op_threads():
    before = torch.get_num_threads()
    model = model_of(sn.load("cifar10_dsr1"))
    for caller_works, pool in ((False, 2), (True, 1)):
        with ThreadExecutor(model, workers=2, intra_op_threads=1, caller_works=caller_works) as ex:
            seen = []
            for box in ex._inboxes:
                box.put((0, lambda: seen.append((threading.current_thread().name, torch.get_num_threads()))))
                assert ex._done.get() == (0, None)
            assert [n for _, n in seen] == [1] * pool
            assert torch.get_num_threads() == before
            ex.run(torch.rand(1, 3, 3, 32, 32))
            assert torch.get_num_threads() == before
        assert ex._threads == []


def test_worker_errors_reach_the_caller_and_the_pool_survives():
    model = model_of(sn.load("cifar10_dsr0"))
    x = torch.rand(1, 5, 3, 32, 32)
    with ThreadExecutor(model, workers=2) as ex:
        kernel = ex.schedule.kernels["h2"]

        class Broken:
            def run(self, previous, current, outputs):
                raise RuntimeError("boom in h2")

        ex.schedule.kernels["h2"] = Broken()
        with pytest.raises(RuntimeError, match="boom in h2"):
            ex.run(x)
        ex.schedule.kernels["h2"] = kernel
        assert compare_outputs(ex.run(x), ReferenceExecutor(model).run(x))[0]


@pytest.mark.parametrize("mode", ["static", "dynamic"])
def test_an_interrupted_step_leaves_the_pool_in_step(mode, monkeypatch):
    # Ctrl-C while the caller waited for the pool left that step's answer in the
    # queue: every later step took the answer of the step before and returned
    # before its workers were done (missing or wrong values, or a stale error).
    model = model_of(sn.load("cifar10_dsr0"))
    x = torch.rand(1, 4, 3, 32, 32)
    with ThreadExecutor(model, workers=2, schedule=mode) as ex:
        kernels, entered, release = dict(ex.schedule.kernels), threading.Event(), threading.Event()

        class Blocking:  # the pool thread holds a node until released, then fails
            def __init__(self, kernel):
                self.kernel = kernel

            def run(self, previous, current, outputs):
                if threading.current_thread() is threading.main_thread():
                    assert entered.wait(60)
                    return self.kernel.run(previous, current, outputs)
                entered.set()
                assert release.wait(60)
                raise RuntimeError("from the interrupted step")

        ex.schedule.kernels.update({v: Blocking(k) for v, k in kernels.items()})
        done = ex._done

        class Interrupted:
            def get(self):
                raise KeyboardInterrupt  # Ctrl-C while the caller waits

        monkeypatch.setattr(ex, "_done", Interrupted())
        _, state = ex.step(x[:, 0], ex.initial_state(1))
        with pytest.raises(KeyboardInterrupt):
            ex.step(x[:, 1], state)
        monkeypatch.setattr(ex, "_done", done)
        ex.schedule.kernels.update(kernels)
        release.set()
        assert_same_run(ex, model, "streaming", x)


def wrong_runs_from_two_threads(ex, model, seconds=60):
    """Two threads run their own clip through ``ex`` 10 times each; the threads
    whose outputs differed from ReferenceExecutor's (asserts that none hangs)."""
    clips = [torch.rand(1, 6, 3, 32, 32), torch.rand(1, 6, 3, 32, 32)]
    expected = [ReferenceExecutor(model).run(x) for x in clips]
    wrong = []

    def stream(k):
        for _ in range(10):
            if not compare_outputs(ex.run(clips[k]), expected[k])[0]:
                wrong.append(k)

    threads = [threading.Thread(target=stream, args=(k,), daemon=True) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds)
    assert not any(t.is_alive() for t in threads), "a stepping thread hangs"
    return wrong


@pytest.mark.parametrize("mode", ["static", "dynamic"])
def test_steps_from_two_threads_take_turns_on_the_pool(mode):
    # Two threads stepping one executor took each other's answers: most runs came
    # back before their workers were done (wrong outputs), and with the tickets
    # of ebf58ea alone one thread waited forever.
    model = model_of(sn.load("cifar10_dsr0"))
    with ThreadExecutor(model, workers=2, schedule=mode) as ex:
        assert wrong_runs_from_two_threads(ex, model) == []


@pytest.mark.parametrize("setting", [dict(workers=0), dict(workers=-1), dict(workers=1.5), dict(workers=True),
                                     dict(workers="2"), dict(intra_op_threads=0), dict(intra_op_threads=-2)])
def test_worker_counts_out_of_range_are_refused(setting):
    # workers=0 used to mean the default and intra_op_threads=-2 hung the pool
    model = model_of(sn.load("cifar10_dsr0"))
    name, value = next(iter(setting.items()))
    for executor in (ThreadExecutor, ProcessExecutor):
        with pytest.raises(SettingError, match=f"{name} must be a whole number >= 1 .*got {value!r}"):
            executor(model, **setting)


@pytest.mark.parametrize("costs, message", [
    ({"h1": 1.0}, "costs: no cost for node 'h2'; give a number >= 0 for every non-input node \\(h1, h2, hd, prediction\\)"),
    ({"h1": 1, "h2": 1, "hd": 1, "prediction": 1, "h3": 1}, "costs: network 'cifar10_dsr0' has no node 'h3'"),
    ({"h1": 1, "h2": -1, "hd": 1, "prediction": 1}, "costs: the cost of node 'h2' must be a finite number >= 0, got -1"),
    ({"h1": 1, "h2": "fast", "hd": 1, "prediction": 1}, "costs: the cost of node 'h2' .*got 'fast'"),
    ([1, 2, 3, 4], "costs must be a dict"),
])
def test_costs_that_miss_or_misname_a_node_are_refused(costs, message):
    # A node missing from costs was a bare KeyError (after ProcessExecutor had
    # started its workers), a misspelt one was silently ignored.
    model = model_of(sn.load("cifar10_dsr0"))
    for executor in (ThreadExecutor, ProcessExecutor):
        with pytest.raises(SettingError, match=message):
            executor(model, workers=2, costs=costs)


@pytest.mark.parametrize("executor", [ReferenceExecutor, SerialExecutor, ThreadExecutor, ProcessExecutor,
                                      CudaStreamExecutor, DistributedExecutor])
def test_a_model_that_is_not_a_stream_net_is_refused(executor):
    # A network, a spec name or a plain module ended in an AttributeError
    # ('Network' object has no attribute 'training').
    for model in (sn.load("cifar10_dsr0"), "cifar10_dsr0", torch.nn.Linear(2, 2)):
        with pytest.raises(SettingError, match=f"model must be a StreamNet, got {type(model).__name__}; "
                                               f"build one with streamnets.nn.StreamNet"):
            executor(model)


@pytest.mark.parametrize("executor, setting, message", [
    (ThreadExecutor, dict(schedule="Static"), "schedule must be 'dynamic' or 'static', got 'Static'"),
    (ProcessExecutor, dict(spin="fast"), "spin must be a finite number >= 0, got 'fast'"),
    (ProcessExecutor, dict(spin=-1.0), "spin must be a finite number >= 0, got -1.0"),
    (ProcessExecutor, dict(start_timeout=-5), "start_timeout must be a finite number > 0, got -5"),
])
def test_executor_settings_out_of_range_are_setting_errors(executor, setting, message):
    # The schedule was a plain ValueError, spin='fast' a float() ValueError and a
    # negative spin or start_timeout was taken.
    with pytest.raises(SettingError, match=message):
        executor(model_of(sn.load("cifar10_dsr0")), workers=2, **setting)


def test_step_errors_name_the_problem():
    model = model_of(sn.load("mnist_sr"))
    with ThreadExecutor(model, workers=2) as ex:
        with pytest.raises(ShapeError, match="image.*28, 28"):
            ex.step(torch.rand(2, 1, 27, 28), ex.initial_state(2))
        with pytest.raises(ShapeError, match="batch size 3.*initial_state\\(3\\)"):
            ex.step(torch.rand(3, 1, 28, 28), ex.initial_state(2))
        with pytest.raises(SpecError, match="state"):
            ex.step(torch.rand(2, 1, 28, 28), object())
    with pytest.raises(sn.InvalidRolloutError):
        ThreadExecutor(model, sn.Rollout.from_streaming_edges(model.network, []))


@pytest.mark.parametrize("kind", ["reference", "threads", "processes"])
def test_executors_keep_a_streams_rollout_and_name_a_foreign_state(kind):
    # before: a state of model.step under the sequential rollout ran on under a streaming
    # executor, and a state of a narrower mnist_sr failed inside conv2d
    model = model_of(sn.load("mnist_sr"))
    make = {"reference": ReferenceExecutor, "threads": lambda m: ThreadExecutor(m, workers=2),
            "processes": lambda m: ProcessExecutor(m, workers=1)}[kind]
    x = torch.rand(1, 1, 28, 28)
    sequential = model.step(x, model.step(x, model.initial_state(1), rollout="sequential")[1],
                            rollout="sequential")[1]
    streaming = model.step(x, model.step(x, model.initial_state(1))[1])[1]
    with make(model) as ex:
        with pytest.raises(SpecError, match="made under rollout 'sequential'.*this step runs 'streaming'"):
            ex.step(x, sequential)
        outputs, state = ex.step(x, streaming)  # model.step's state, same pattern: on it goes
        assert state.rollout.bits == ex.rollout.bits
        assert compare_outputs([outputs], [model.step(x, streaming)[0]])[0]
    narrow = model_of(sn.load("mnist_sr").scaled(0.5))
    with make(narrow) as ex, pytest.raises(ShapeError, match="the state holds 'h1' with shape "
                                                             r"\[16, 7, 7\], but this model's"):
        ex.step(x, streaming)


def test_run_checks_the_clip_before_stepping():
    # A single frame passed to run() was read as a clip along its channels and
    # refused with a shape the user never passed; inputs of different lengths
    # were cut to the first input's length or ended in an IndexError.
    model = model_of(sn.load("cifar10_dsr0"))
    net = softmax_net()
    two = model_of(net)
    short, long = torch.rand(2, 3, 2, 8, 8), torch.rand(2, 5, 3)
    for ex in (ReferenceExecutor(model), SerialExecutor(model), ThreadExecutor(model, workers=2)):
        with ex, pytest.raises(ShapeError, match=r"clip of shape \(batch, time, 3, 32, 32\), got \(2, 3, 32, 32\)"
                                                 r": one frame\? .*unsqueeze\(1\).*step\(\)"):
            ex.run(torch.rand(2, 3, 32, 32))
    for ex in (ReferenceExecutor(two), ThreadExecutor(two, workers=2)):
        with ex:
            with pytest.raises(ShapeError, match=r"input 'aux' has batch, time sizes \(2, 5\).*\(2, 3\)"):
                ex.run({"img": short, "aux": long})
            with pytest.raises(ShapeError, match="input 'img' expects a clip"):
                ex.run({"img": short[:, 0], "aux": long})
            with pytest.raises(ShapeError, match="no clip for input 'aux'"):
                ex.run({"img": short})
            with pytest.raises(ShapeError, match="pass a dict"):
                ex.run(short)


def test_distributed_needs_a_process_group():
    with pytest.raises(StreamnetsError, match="torchrun"):
        DistributedExecutor(model_of(sn.load("mnist_ff")))


def test_partition_and_costs():
    net = sn.load("cifar10_dsr6")
    costs = estimate_flops(net)
    assert costs["image"] == 0 and costs["h13"] > costs["h11"] > 0
    assert estimate_flops(net, batch=4)["h1"] == 4 * costs["h1"]
    groups = [tuple(v for v in net.nodes if v not in net.inputs)]
    for parts in (1, 2, 3):
        owner = balanced_partition(groups, costs, parts)
        assert set(owner) == set(groups[0]) and set(owner.values()) == set(range(parts))
        loads = [sum(costs[v] for v in owner if owner[v] == k) for k in range(parts)]
        assert max(loads) <= sum(loads) / parts + max(costs.values())  # list-scheduling bound
        assert makespan(groups[0], costs, parts) == max(loads)


def test_node_timings_run_a_model_of_any_dtype():
    # before: the steady-state inputs were float32 whatever the model, so calibrate,
    # concurrent_ms and measure_node_times failed for a float64 model that run() handles
    model = StreamNet(sn.load("mnist_sr")).double().eval()
    times = measure_node_times(Schedule(model, "streaming"), batch=1, threads=1, repeats=1, warmup=0)
    assert set(times) == {v for v in model.network.nodes if v not in model.network.inputs}
    with ThreadExecutor(model, workers=2, intra_op_threads=1, schedule="static") as ex:
        assert ex.calibrate(batch=1, repeats=1) == ex.costs
        assert ex.concurrent_ms(batch=1, frames=1, repeats=1) > 0


def test_calibrate_rebalances_the_shares_on_measured_times(monkeypatch):
    import streamnets.parallel.cost as cost

    model = model_of(sn.load("cifar10_dsr2"))
    nodes = [v for v in model.network.nodes if v not in model.network.inputs]
    # Measured times that invert the FLOP order: the cheapest node by FLOPs is the slowest.
    flops = estimate_flops(model.network)
    times = {v: 1.0 / (1 + flops[v]) for v in nodes}
    calls = []
    monkeypatch.setattr(cost, "measure_node_times",
                        lambda schedule, batch, threads, repeats: calls.append((batch, threads)) or times)
    with ThreadExecutor(model, workers=2, intra_op_threads=1, schedule="static") as ex:
        before = ex.shares
        assert ex.calibrate(batch=4) is times and calls == [(4, 1)] and ex.costs == times
        owner = balanced_partition([nodes], times, 2)
        assert ex.shares == [tuple(tuple(v for v in sorted(nodes, key=lambda v: -times[v]) if owner[v] == k)
                                   for k in range(2))]
        assert ex.shares != before
        assert_same_run(ex, model, "streaming", frames_for(model.network, batch=2, count=6))


def test_keep_freed_memory_applies_once_and_is_harmless_without_glibc(monkeypatch):
    import ctypes

    import streamnets.device as device

    first = device.keep_freed_memory()
    assert device.keep_freed_memory() == first
    if first is not None:  # glibc
        assert first.startswith("glibc mallopt: mmap threshold 32 MiB")

    def no_libc(*args, **kwargs):
        raise OSError("not here")

    monkeypatch.setattr(ctypes, "CDLL", no_libc)
    assert device._mallopt(1 << 20, 1 << 20) is None


@pytest.mark.skipif(CUDA, reason="a CUDA GPU is present: the no-CUDA error cannot occur")
def test_cuda_executor_without_cuda_is_a_device_error():
    with pytest.raises(DeviceError, match="CudaStreamExecutor needs a CUDA GPU.*ThreadExecutor"):
        CudaStreamExecutor(model_of(sn.load("mnist_ff")))
    assert cuda_unavailable_reason()


@pytest.mark.skipif(not CUDA, reason="torch.cuda.is_available() is False: no CUDA GPU here, "
                                     "CudaStreamExecutor check skipped")
@pytest.mark.parametrize("graphs", [False, True])
@pytest.mark.parametrize("which", ["streaming", "sequential", "hybrid"])
def test_cuda_executor_equals_step(which, graphs, no_tf32):
    net = softmax_net()
    rollout = softmax_rollout(net, which)
    model = model_of(net).cuda()
    frames = {k: v.cuda() for k, v in frames_for(net, 2, 9).items()}
    ex = CudaStreamExecutor(model, rollout, graphs=graphs)
    assert_same_run(ex, model, rollout, frames, tolerance=GPU_TOLERANCE)
    assert list(ex._graphs) == ([(2, 1)] if graphs else [])
    ex.close()
    with pytest.raises(DeviceError, match="model.to\\('cuda'\\)"):
        CudaStreamExecutor(model_of(net))


@pytest.mark.skipif(not CUDA, reason="torch.cuda.is_available() is False: no CUDA GPU here")
def test_cuda_graph_follows_moved_parameters(no_tf32):
    net = softmax_net()
    model = model_of(net).cuda()
    frames = {k: v.cuda() for k, v in frames_for(net, 2, 9).items()}
    ex = CudaStreamExecutor(model, "streaming", graphs=True)
    ex.run(frames)
    with torch.no_grad():  # new storage, new values: a stale graph would read the old ones
        for p in model.parameters():
            p.data = p.data * 1.5
    assert_same_run(ex, model, "streaming", frames, tolerance=GPU_TOLERANCE)
    assert ex._graphs[(2, 1)].storage == ex._storage()


@pytest.mark.skipif(not CUDA, reason="torch.cuda.is_available() is False: no CUDA GPU here")
@pytest.mark.parametrize("which", ["streaming", "sequential", "hybrid"])
def test_cuda_frames_per_graph_equal_step(which, no_tf32):
    net = softmax_net()
    rollout = softmax_rollout(net, which)
    model = model_of(net).cuda()
    steady = Schedule(model, rollout).plan.steady + 1
    clip = frames_for(net, 2, steady + 2 * 4 + 1)
    frames = {k: v.cuda() for k, v in clip.items()}
    expected, states = reference_run(model, rollout, frames)
    # The clip on the GPU, and on the CPU in float64, transposed in memory: copied in and converted.
    on_cpu = {k: v.double().transpose(0, 1).contiguous().transpose(0, 1) for k, v in clip.items()}
    for clip_in in (frames, on_cpu):
        with CudaStreamExecutor(model, rollout, graphs=True, frames_per_graph=4) as ex:
            got, state = ex.steps(clip_in)
            match, diff = compare_outputs(got, expected, GPU_TOLERANCE)
            assert match, diff
            assert_same_state(state, states[-1], GPU_TOLERANCE)
            assert sorted(ex._graphs) == [(2, 1), (2, 4)]
            assert 0 < ex.replay_ms(2)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA GPUs: the model on the second")
def test_cuda_executor_on_the_second_gpu(no_tf32):
    net = softmax_net()
    model = model_of(net).to("cuda:1")
    frames = {k: v.to("cuda:1") for k, v in frames_for(net, 2, 9).items()}
    with CudaStreamExecutor(model, "streaming", graphs=True) as ex:
        assert_same_run(ex, model, "streaming", frames, tolerance=GPU_TOLERANCE)
        assert 0 < ex.replay_ms(2)
    with CudaStreamExecutor(model, "streaming", graphs=True, frames_per_graph=3) as ex:
        match, diff = compare_outputs(ex.run(frames), reference_run(model, "streaming", frames)[0], GPU_TOLERANCE)
        assert match, diff
        assert 0 < ex.replay_ms(2)


@pytest.mark.skipif(not CUDA, reason="torch.cuda.is_available() is False: no CUDA GPU here")
def test_bench_parallel_on_cuda():
    # node_repeats: a node's graph replayed once would be timed with its launch.
    r = bench_parallel("mnist_ff", batch=2, frames=2, warmup=0, repeats=1, device="cuda", node_repeats=50)
    assert r["outputs_match"] and r["device"].startswith("cuda")
    slowest = max(n["ms_graph"] for n in r["nodes"].values())
    assert r["ideal_ms_per_frame"] == pytest.approx(max(slowest, r["concurrent_ms_per_frame"]))
    assert 0 < r["concurrent_ms_per_frame"] < 1.5 * sum(n["ms_graph"] for n in r["nodes"].values())
    for name, e in r["executors"].items():
        assert (e["graph_ms"] is not None) == name.endswith(("graphs", "pipelined")), name
        assert e["frames_per_graph"] == (16 if name.endswith("pipelined") else 1)
    assert r["streaming_pipelined_ms_per_frame"] == r["executors"]["streaming-cuda-pipelined"]["ms_per_frame"]
    # No timing relation between executor and ideal is asserted: under other work on the GPU
    # (a training job, parallel tests) the ideal's replays took 2.7x the frame graph's.
    assert r["executors"]["streaming-cuda-graphs"]["graph_ms"] > 0
    # A synchronised step pays at least one graph's round trip on top of its frame.
    assert 0 < r["handoff_ms"] < r["executors"]["streaming-cuda-graphs"]["ms_per_frame"]


@pytest.mark.skipif(not CUDA, reason="torch.cuda.is_available() is False: no CUDA GPU here")
def test_node_times_as_cuda_graphs_leave_out_the_launch_cost():
    schedule = Schedule(model_of(sn.load("cifar10_dsr2")).cuda(), "streaming")
    eager = measure_node_times(schedule, batch=2, repeats=20)
    graphed = measure_node_times(schedule, batch=2, repeats=20, graphs=True)
    assert graphed.keys() == eager.keys() and min(graphed.values()) > 0
    assert sum(graphed.values()) < sum(eager.values())


def test_node_times_as_cuda_graphs_need_cuda():
    schedule = Schedule(model_of(sn.load("mnist_ff")), "streaming")
    with pytest.raises(DeviceError, match="graphs=True times CUDA graphs, but the model is on cpu"):
        measure_node_times(schedule, graphs=True)


def test_bench_parallel_reports_the_documented_keys():
    r = bench_parallel("mnist_ff", batch=1, frames=2, warmup=0, repeats=1, device="cpu", node_repeats=1)
    for key in ("network", "device", "batch", "sequential_ms_per_frame", "streaming_ms_per_frame",
                "ideal_ms_per_frame", "outputs_match", "executors", "nodes", "speedup",
                "streaming_over_ideal", "load_before", "balanced_ms_per_frame", "handoff_ms", "allocator"):
        assert key in r, key
    assert r["outputs_match"] is True
    assert r["network"] == "mnist_ff" and r["device"] == "cpu" and r["batch"] == 1
    assert set(r["executors"]) == {"sequential", "sequential-1-thread", "streaming-reference",
                                   "streaming-1-thread", "streaming-threads", "streaming-threads-static",
                                   "streaming-processes"}
    assert set(r["nodes"]) == {"h1", "h2", "prediction"}
    # node by node, any rollout: the same work per frame
    assert r["sequential_executor"] in ("sequential", "sequential-1-thread", "streaming-reference",
                                        "streaming-1-thread")
    assert r["streaming_executor"] in ("streaming-reference", "streaming-1-thread", "streaming-threads",
                                       "streaming-threads-static", "streaming-processes")
    # The in-frame ideal: the single-threaded frame, node kernels in place, over the cores in use.
    in_use = min(r["workers"] * r["threads_per_worker"], r["cores"])
    assert r["in_frame_ideal_ms_per_frame"] == max(
        r["node_max_ms_alone"], r["executors"]["streaming-1-thread"]["ms_per_frame"] / in_use)
    assert r["streaming_over_in_frame_ideal"] == pytest.approx(
        r["streaming_ms_per_frame"] / r["in_frame_ideal_ms_per_frame"])
    assert r["ideal_ms_per_frame"] > 0 and r["executors"]["streaming-threads"]["samples"] == 2
    # Node granularity can only lose against the perfectly divisible ideal.
    assert r["balanced_ms_per_frame"] >= r["node_sum_ms_1_thread"] / r["workers"] - 1e-9
    assert r["handoff_ms"] > 0
    # The calibrated static shares run at once: no faster than the slowest share alone.
    assert r["concurrent_ms_per_frame"] > 0.5 * r["balanced_ms_per_frame"]
    assert r["streaming_over_concurrent"] == pytest.approx(r["streaming_ms_per_frame"] / r["concurrent_ms_per_frame"])
    # The floor: the lower of the threads' and the processes' concurrent shares.
    assert r["concurrent_ms_per_frame"] == min(r["executors"][n]["concurrent_ms"] for n in (
        "streaming-threads-static", "streaming-processes"))
    assert r["executors"]["streaming-threads"]["concurrent_ms"] is None
    import json
    json.dumps(r)


def test_bench_parallel_threads_per_worker_sizes_the_thread_executors(monkeypatch):
    import streamnets.parallel.bench as bench

    monkeypatch.setattr(bench, "cpu_cores", lambda: 4)
    made = []
    real = bench._make

    def spy(name, model, workers, batch, team=1, **kwargs):
        ex = real(name, model, workers, batch, team)
        made.append((name, getattr(ex, "workers", None), getattr(ex, "intra_op_threads", None)))
        return ex

    monkeypatch.setattr(bench, "_make", spy)
    r = bench_parallel("mnist_ff", batch=1, frames=1, warmup=0, repeats=1, device="cpu", node_repeats=1,
                       executors=["sequential", "streaming-threads", "streaming-threads-static"],
                       threads_per_worker=2)
    assert (r["workers"], r["threads_per_worker"], r["cores"]) == (2, 2, 4)
    assert ("streaming-threads", 2, 2) in made and ("streaming-threads-static", 2, 2) in made
    # The ideal still spreads single-threaded work over all four cores.
    assert r["ideal_ms_per_frame"] == pytest.approx(max(r["node_max_ms_alone"], r["node_sum_ms_1_thread"] / 4))
    assert "/ 4 cores in use" in r["ideal_rule"]
    with pytest.raises(StreamnetsError, match="threads_per_worker must be a whole number >= 1 .*got 0"):
        bench_parallel("mnist_ff", device="cpu", threads_per_worker=0)


def test_bench_parallel_closes_the_executors_it_made_when_a_later_one_fails(monkeypatch):
    # before: the executors of a phase were made in one expression, so when one failed to
    # start, those made before it were left to the garbage collector (with their workers)
    import streamnets.parallel.bench as bench

    made, real = [], bench._make

    def make(name, *args, **kwargs):
        if made:
            raise StreamnetsError("worker did not start")
        made.append(real(name, *args, **kwargs))
        return made[-1]

    monkeypatch.setattr(bench, "_make", make)
    with pytest.raises(StreamnetsError, match="worker did not start"):
        bench_parallel("mnist_ff", batch=1, frames=1, warmup=0, repeats=1, device="cpu", node_repeats=1,
                       executors=["streaming-threads", "streaming-serial"])
    assert made[0]._threads == [] and made[0]._finalizer is None  # closed


def test_bench_parallel_rejects_unknown_or_misplaced_executors():
    with pytest.raises(StreamnetsError, match="unknown executor 'warp'"):
        bench_parallel("mnist_ff", executors=["warp"], device="cpu")
    with pytest.raises(StreamnetsError, match="does not run on cpu"):
        bench_parallel("mnist_ff", executors=["streaming-cuda"], device="cpu")


def test_bench_parallel_takes_one_executor_name_as_a_string():
    # A string was taken letter by letter: "unknown executor 's'".
    r = bench_parallel("mnist_ff", batch=1, executors="streaming-threads", frames=2, warmup=0, repeats=1,
                       device="cpu", node_repeats=1)
    assert sorted(r["executors"]) == ["streaming-threads"] and r["outputs_match"]


class _FakeStream:
    """Simulated CUDA for the executor's bookkeeping: work runs at once, in order.
    ``after``: the event records that precede the stream's next work (its own
    earlier records and those it waited for), as their tokens."""

    def __init__(self, *args, **kwargs):
        self.waits, self.after = [], set()

    def wait_event(self, event):
        self.waits.append(event)
        self.after |= event.after

    def wait_stream(self, stream):
        pass


class _FakeEvent:
    _records = itertools.count()  # a token per record, unique in the process

    def __init__(self, *args, **kwargs):
        self.recorded, self.after, self.token = 0, set(), None

    def record(self, stream=None):
        self.recorded += 1
        self.token = next(self._records)
        if stream is not None:
            stream.after.add(self.token)
            self.after = set(stream.after)


class _FakeGraph:
    launch = None

    def replay(self):
        self.launch()


@pytest.fixture
def simulated_cuda(monkeypatch):
    """CudaStreamExecutor's stream/event/graph logic on the CPU: streams run work
    immediately, a graph 'replays' by running its launch again."""
    import contextlib

    import streamnets.parallel.cuda as cuda_mod

    class OnCpu(CudaStreamExecutor):
        _device_type = "cpu"

    def capture(fn, device):
        graph = _FakeGraph()
        for _ in range(3):  # two warm-ups and the capture
            graph.launch = fn
            fn()
        return graph

    monkeypatch.setattr(cuda_mod, "cuda_unavailable_reason", lambda: None)
    monkeypatch.setattr(cuda_mod, "capture", capture)
    monkeypatch.setattr(torch.cuda, "Stream", _FakeStream)
    monkeypatch.setattr(torch.cuda, "Event", _FakeEvent)
    OnCpu.caller = caller = _FakeStream()  # the current stream, on every device
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: caller)
    monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "device", lambda d: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "current_device", lambda: None)  # the CPU's index
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    monkeypatch.setattr(torch.Tensor, "record_stream", lambda self, s: None, raising=False)
    return OnCpu


@pytest.mark.parametrize("graphs", [False, True])
@pytest.mark.parametrize("which", ["streaming", "sequential", "hybrid"])
def test_cuda_executor_logic_on_simulated_cuda(simulated_cuda, which, graphs):
    net = softmax_net()
    rollout = softmax_rollout(net, which)
    model = model_of(net, seed=4)
    ex = simulated_cuda(model, rollout, graphs=graphs)
    outputs = assert_same_run(ex, model, rollout, frames_for(net, batch=2, count=9, seed=2))
    # Kept outputs hold the frame's outputs at most, not the frame's node values.
    for frame in outputs:
        kept = sum(o.numel() * o.element_size() for o in frame.values() if o is not None)
        for out in frame.values():
            if out is not None:
                assert out.untyped_storage().nbytes() <= kept
    # Within-frame edges become waits on the source's event; streaming has none.
    zero = {(u, v) for (u, v), b in rollout.pattern.items() if not b and u not in net.inputs}
    assert {(u, v) for v, us in ex._waits.items() for u in us} == zero
    if graphs:
        assert list(ex._graphs) == [(2, 1)]
        ex.close()
        assert ex._graphs == {}


def test_simulated_cuda_graph_is_recaptured_when_a_parameter_moves(simulated_cuda):
    net = softmax_net()
    model = model_of(net, seed=4)
    ex = simulated_cuda(model, "streaming", graphs=True)
    frames = frames_for(net, batch=2, count=9, seed=2)
    ex.run(frames)
    (first,) = ex._graphs.values()
    with torch.no_grad():  # new storage: the old graph would read freed memory
        node = next(iter(model.node_modules.values()))
        node.bias.data = node.bias.data + 1
    assert_same_run(ex, model, "streaming", frames)
    (second,) = ex._graphs.values()
    assert second is not first and second.storage == ex._storage()


@pytest.mark.parametrize("count", [1, 3])
def test_simulated_cuda_graphs_refuse_autocast(simulated_cuda, count):
    # before: a graph captured outside autocast replayed in float32 inside it (and the
    # reverse), where model.step computes in bfloat16
    from streamnets.device import DeviceError

    net = softmax_net()
    model = model_of(net, seed=4)
    frames = frames_for(net, batch=2, count=steady_frames(model, "streaming") + count + 1, seed=2)
    with simulated_cuda(model, "streaming", graphs=True, frames_per_graph=count) as ex:
        with torch.autocast("cpu", dtype=torch.bfloat16), pytest.raises(
                DeviceError, match=r"CUDA graphs do not run under torch.autocast; use graphs=False"):
            ex.steps(frames)
        ex.steps(frames)  # outside it, as before


def steady_frames(model, rollout):
    return Schedule(model, rollout).plan.steady + 1


@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize("which", ["streaming", "sequential", "hybrid"])
def test_simulated_cuda_frames_per_graph_equal_step(simulated_cuda, which, count):
    net = softmax_net()
    rollout = softmax_rollout(net, which)
    model = model_of(net, seed=4)
    length = steady_frames(model, rollout) + 2 * count + 1  # two graphs and a tail
    frames = frames_for(net, batch=2, count=length, seed=2)
    expected, states = reference_run(model, rollout, frames)
    ex = simulated_cuda(model, rollout, graphs=True, frames_per_graph=count)
    got, state = ex.steps(frames)
    assert compare_outputs(got, expected) == (True, 0.0)
    assert_same_state(state, states[-1], TOLERANCE)
    assert sorted(ex._graphs) == [(2, 1), (2, count)]
    # Going on from a state: the clip in two pieces gives the same frames.
    cut = steady_frames(model, rollout) + count + 1
    first, state = ex.steps({k: x[:, :cut] for k, x in frames.items()})
    second, state = ex.steps({k: x[:, cut:] for k, x in frames.items()}, state)
    assert compare_outputs(first + second, expected) == (True, 0.0)
    assert_same_state(state, states[-1], TOLERANCE)
    assert ex.run(frames)[-1].keys() == expected[-1].keys()


def assert_waits_follow_reads(ex, net, rollout, count):
    """The event waits of the last launch (``count`` frames) against the rollout's
    edges: every update follows the updates it reads (same frame over zero-delay
    edges, the frame before over delayed ones); under the streaming rollout
    nothing else of the frame before and nothing of its own frame (no barrier).
    The caller's stream goes on after every update of the last frame."""
    done = ex._done[:count]
    inner = [v for v in net.nodes if v not in net.inputs]
    assert all(done[-1][v].token in type(ex).caller.after for v in inner)
    for (u, v), delayed in rollout.pattern.items():
        if u in net.inputs:
            continue
        for t in range(count):
            if not delayed:
                assert done[t][u].token in done[t][v].after, (u, v, t)
            elif t > 0:
                assert done[t - 1][u].token in done[t][v].after, (u, v, t)
            else:
                assert ex._start.token in done[0][v].after, (v, t)
    if all(rollout.pattern.values()):  # streaming
        for v in inner:
            read = {u for (u, w), _ in rollout.pattern.items() if w == v and u not in net.inputs} | {v}
            for t in range(1, count):
                same = {u for u in inner if done[t][u].token in done[t][v].after}
                before = {u for u in inner if done[t - 1][u].token in done[t][v].after}
                assert (same, before) == ({v}, read), (v, t)


@pytest.mark.parametrize("which", ["streaming", "sequential", "hybrid"])
def test_simulated_cuda_frames_in_one_graph_wait_only_for_what_they_read(simulated_cuda, which):
    net = softmax_net()
    rollout = softmax_rollout(net, which)
    model = model_of(net, seed=4)
    ex = simulated_cuda(model, rollout, graphs=True, frames_per_graph=3)
    ex.run(frames_for(net, batch=2, count=steady_frames(model, rollout) + 3, seed=2))  # ends on the graph
    assert_waits_follow_reads(ex, net, rollout, 3)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_simulated_cuda_frames_per_graph_on_random_networks_and_patterns(simulated_cuda, data):
    net = data.draw(networks(spatial=True, max_nodes=6))
    rollout = data.draw(st.sampled_from([
        sn.Rollout.streaming(net), sn.Rollout.sequential(net), data.draw(patterns(net, valid_only=True))]))
    model = model_of(net, seed=data.draw(st.integers(0, 100)))
    count = data.draw(st.integers(2, 4))
    frames = frames_for(net, batch=data.draw(st.integers(1, 3)), count=steady_frames(model, rollout) + count)
    expected, states = reference_run(model, rollout, frames)
    ex = simulated_cuda(model, rollout, graphs=True, frames_per_graph=count)
    got, state = ex.steps(frames)  # the last frames as one graph
    match, diff = compare_outputs(got, expected)
    assert match, diff
    assert_same_state(state, states[-1], TOLERANCE)
    assert (state.batch_size, count) in ex._graphs
    assert_waits_follow_reads(ex, net, rollout, count)


def test_frames_per_graph_needs_graphs(simulated_cuda):
    model = model_of(softmax_net(), seed=4)
    for count, graphs in [(0, True), (1.5, True), ("2", True), (True, True)]:
        with pytest.raises(SettingError, match=f"frames_per_graph must be a whole number >= 1, got {count!r}"):
            simulated_cuda(model, "streaming", graphs=graphs, frames_per_graph=count)
    with pytest.raises(SettingError, match="frames_per_graph=2 puts 2 frames into one CUDA graph, so it "
                                           "needs graphs=True"):
        simulated_cuda(model, "streaming", graphs=False, frames_per_graph=2)


def test_frames_per_graph_is_checked_before_the_device():
    # a wrong setting is reported as such on any machine, not hidden behind "no GPU here"
    with pytest.raises(SettingError, match="frames_per_graph must be a whole number >= 1, got 0"):
        CudaStreamExecutor(model_of(softmax_net(), seed=4), "streaming", graphs=True, frames_per_graph=0)


def test_bench_times_a_pipelined_executor_per_clip(simulated_cuda):
    import streamnets.parallel.bench as bench

    model = model_of(sn.load("mnist_ff"))
    pool = random_clip(model, 2, 8, torch.device("cpu"), seed=0)
    clip = bench._clip(pool, 11)  # cycles through the pool
    assert clip.shape[1] == 11 and torch.equal(clip[:, 9], pool[:, 1])
    ex = simulated_cuda(model, "streaming", graphs=True, frames_per_graph=4)
    steady = steady_frames(model, "streaming")
    samples = bench._time({"piped": ex}, pool, 2, steady, frames=9, device=torch.device("cpu"),
                          warmup=1, repeats=2)
    assert len(samples["piped"]) == 2  # one clip of several graphs per round
    assert list(ex._graphs) == [(2, 4)]


def echo_net():
    """An input that is also an output."""
    nodes = [sn.Node("x", (2, 4, 4), "identity", tags=("output",)),
             sn.Node("h", (3, 4, 4), "relu", tags=("prediction",))]
    return sn.Network(nodes, [sn.Edge("x", "h", 3), sn.Edge("h", "h", 3)], name="echo")


def test_an_input_as_output_is_empty_in_the_first_frame_as_in_step():
    net = echo_net()
    model = model_of(net, seed=1)
    for ex in executors_for(model, "streaming"):
        with ex:
            got = assert_same_run(ex, model, "streaming", frames_for(net, batch=2, count=4, seed=3))
            assert got[0]["x"] is None and got[1]["x"] is not None


def test_simulated_cuda_frames_per_graph_with_an_input_as_output(simulated_cuda):
    net = echo_net()
    model = model_of(net, seed=1)
    frames = frames_for(net, batch=2, count=9, seed=3)
    expected, states = reference_run(model, "streaming", frames)
    ex = simulated_cuda(model, "streaming", graphs=True, frames_per_graph=3)
    got, state = ex.steps(frames.double())  # converted to the model's dtype, as by step
    assert compare_outputs(got, expected) == (True, 0.0)
    assert all(torch.equal(out["x"], frames[:, t]) for t, out in enumerate(got) if t)
    assert_same_state(state, states[-1], TOLERANCE)
    assert (2, 3) in ex._graphs


def test_simulated_concurrent_frame_queues_every_node_without_waits(simulated_cuda, monkeypatch):
    import streamnets.parallel.cuda as cuda_mod

    monkeypatch.setattr(CudaStreamExecutor, "_device_type", "cpu")
    monkeypatch.setattr(cuda_mod, "replay_seconds", lambda replay, replays, device: 2e-3)
    seen = []
    real = CudaStreamExecutor.replay_ms
    monkeypatch.setattr(CudaStreamExecutor, "replay_ms", lambda self, batch: seen.append(self) or real(self, batch))
    model = model_of(sn.load("cifar10_dsr2"))
    assert cuda_mod.concurrent_ms_per_frame(model, batch=1, frames_per_graph=4) == pytest.approx(2 / 4)
    (ex,) = seen
    assert list(ex._graphs) == []  # closed
    done = ex._done
    for v in ex._streams:
        for t in range(1, 4):
            assert {u for u in ex._streams if done[t - 1][u].token in done[t][v].after} == {v}
    assert all(done[3][v].token in simulated_cuda.caller.after for v in ex._streams)  # joined at the end
    # The same graph with its waits: each node also follows what it reads.
    seen.clear()
    assert cuda_mod.streaming_graph_ms_per_frame(model, batch=1, frames_per_graph=4) == pytest.approx(2 / 4)
    (ex,) = seen
    assert any(ex._reads.values())
    for v, reads in ex._reads.items():
        assert all(ex._done[0][u].token in ex._done[1][v].after for u in reads)


def test_concurrent_ms_runs_every_share_at_once_without_waits(monkeypatch):
    import streamnets.parallel.threads as threads_mod

    model = model_of(sn.load("cifar10_dsr2"))
    with ThreadExecutor(model, workers=2, schedule="static") as ex:
        calls, real = [], dict(ex.schedule.kernels)
        steady = threads_mod.steady_values
        # Count the timed updates only, not those that reach the steady state.
        monkeypatch.setattr(threads_mod, "steady_values", lambda *a, **k: (steady(*a, **k), calls.clear())[0])

        class Spy:
            def __init__(self, v):
                self.v = v

            def __call__(self, previous, current):
                calls.append((self.v, threading.current_thread().name))
                return real[self.v](previous, current)

        monkeypatch.setattr(ex.schedule, "kernels", {v: Spy(v) for v in real})
        assert ex.concurrent_ms(batch=1, frames=3, repeats=2) > 0
    # Every node 3 frames × 2 repeats, each on the thread of its share.
    owner = {v: k for k, nodes in enumerate(ex.shares[0]) for v in nodes}
    assert sorted({v for v, _ in calls}) == sorted(real)
    for v in real:
        threads = {name for u, name in calls if u == v}
        assert len([1 for u, _ in calls if u == v]) == 6 and len(threads) == 1
    by_share = {k: {name for v, name in calls if owner[v] == k} for k in set(owner.values())}
    assert len(set().union(*by_share.values())) == 2  # two threads, one per share


def test_concurrent_ms_without_a_pool_runs_in_the_caller():
    with ThreadExecutor(model_of(sn.load("mnist_ff")), workers=1, caller_works=False) as ex:
        assert ex.concurrent_ms(batch=1, frames=2, repeats=1) > 0


@pytest.mark.parametrize("count", [1, 2])
def test_simulated_cuda_graph_is_recaptured_for_a_state_with_other_empty_nodes(simulated_cuda, count):
    # A state the graph was not captured for: the streaming rollout's after 3
    # frames has a node that is still empty under it, not under the sequential one.
    net = softmax_net()
    model = model_of(net, seed=4)
    frames = frames_for(net, batch=2, count=9, seed=2)
    sequential = sn.Rollout.sequential(net)
    _, early = ReferenceExecutor(model, "streaming").steps({k: x[:, :3] for k, x in frames.items()})
    assert any(v is None for v in early.values) and early.frame >= Schedule(model, sequential).plan.steady
    early = dataclasses.replace(early, rollout=None)  # as a state made by hand: no pattern recorded
    rest = {k: x[:, 3:] for k, x in frames.items()}
    expected, reference_state = ReferenceExecutor(model, sequential).steps(rest, early)
    for first in ("complete", "early"):  # which state a graph is captured on first
        ex = simulated_cuda(model, sequential, graphs=True, frames_per_graph=count)
        if first == "complete":
            ex.run(frames)
        got, state = ex.steps(rest, early)
        assert compare_outputs(got, expected) == (True, 0.0), first
        assert_same_state(state, reference_state, TOLERANCE)
        assert compare_outputs(ex.run(frames), ReferenceExecutor(model, sequential).run(frames)) == (True, 0.0)


def test_an_executor_warns_about_a_model_in_training_mode():
    import warnings

    model = StreamNet(sn.load("mnist_sr")).train()  # dropout on its hidden nodes
    with pytest.warns(UserWarning, match="ReferenceExecutor: the model is in training mode.*model.eval"):
        ReferenceExecutor(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ReferenceExecutor(model.eval())
        ReferenceExecutor(StreamNet(sn.load("fig2")).train())  # no dropout: nothing random


def test_bench_streaming_1_thread_runs_the_node_kernels_with_one_thread(monkeypatch):
    import streamnets.parallel.bench as bench
    from streamnets.parallel import SerialExecutor

    seen = []
    real = SerialExecutor._compute

    def spy(self, *args):
        seen.append(torch.get_num_threads())
        return real(self, *args)

    monkeypatch.setattr(SerialExecutor, "_compute", spy)
    with torch.no_grad(), intra_op_threads(2):
        ex = bench._make("streaming-1-thread", model_of(sn.load("mnist_ff")), 2, 1)
        ex.run(torch.rand(1, 4, 1, 28, 28))
        assert torch.get_num_threads() == 2  # the caller's setting is back
    assert seen and set(seen) == {1}
    r = bench_parallel("mnist_ff", batch=1, frames=1, warmup=0, repeats=1, device="cpu", node_repeats=1,
                       executors=["sequential", "streaming-threads"])
    assert r["in_frame_ideal_ms_per_frame"] is None and r["streaming_over_in_frame_ideal"] is None


@pytest.mark.parametrize("kw, message", [
    (dict(batch=0), "batch must be a whole number >= 1, got 0"),
    (dict(frames=0), "frames must be a whole number >= 1, got 0"),
    (dict(repeats=-1), "repeats must be a whole number >= 1, got -1"),
    (dict(warmup=1.5), "warmup must be a whole number >= 0, got 1.5"),
    (dict(node_repeats=0), "node_repeats must be a whole number >= 1, got 0"),
])
def test_bench_parallel_refuses_counts_out_of_range(kw, message):
    # before: frames=0 or repeats=0 returned a result without any timing (0 samples, None)
    with pytest.raises(SettingError, match=message):
        bench_parallel("mnist_ff", device="cpu", **kw)


@pytest.mark.parametrize("make", [ReferenceExecutor, lambda m: ThreadExecutor(m, workers=2)])
def test_a_model_moved_in_mid_stream_asks_for_a_new_stream(make):
    # before: torch's "Input type (float) and bias type (double) should be the same" from a
    # worker (ProcessExecutor has its own message: its workers keep the old parameters)
    model = StreamNet(sn.load("mnist_sr")).eval()
    x = {"image": torch.zeros(2, 1, 28, 28)}
    with make(model) as ex:
        state = ex.initial_state(2)
        for _ in range(2):
            _, state = ex.step(x, state)
        model.double()
        with pytest.raises(DeviceError, match=r"the state holds torch.float32 values on cpu, but the "
                                              r"model is now torch.float64 on cpu; after moving a "
                                              r"model start a new stream with initial_state\(2\)"):
            ex.step(x, state)


@pytest.mark.parametrize("make", [lambda m: SerialExecutor(m), lambda m: ThreadExecutor(m, workers=2)])
def test_kernels_see_parameters_and_global_hooks_as_step_does(make):
    # The kernels kept the bias Parameter they were built with: after
    # load_state_dict(assign=True) they mixed new weights with old biases (max
    # |diff| 2e4); and a global forward hook, which model.step runs, was skipped.
    model, other = model_of(sn.load("cifar10_dsr1")), model_of(sn.load("cifar10_dsr1"), seed=1)
    x = torch.rand(1, 4, 3, 32, 32)
    with make(model) as ex:
        model.load_state_dict(other.state_dict(), assign=True)
        assert compare_outputs(ex.run(x), ReferenceExecutor(model).run(x))[0]
        calls = []
        handle = torch.nn.modules.module.register_module_forward_hook(lambda m, i, o: calls.append(m))
        try:
            ReferenceExecutor(model).run(x)
            expected, calls[:] = len(calls), []
            with make(model) as hooked:
                hooked.run(x)
        finally:
            handle.remove()
        assert len(calls) == expected > 0


def test_closing_from_another_thread_lets_a_waiting_step_finish_right():
    # close() did not wait for a step of another thread: one waiting for its turn
    # then found no pool and ran only the caller's static share (the other
    # worker's nodes came back empty), or put its jobs behind the workers' stop
    # order and waited forever.
    model = model_of(sn.load("cifar10_dsr1"))
    x = torch.rand(1, 4, 3, 32, 32)
    expected = ReferenceExecutor(model).steps(x)[1]
    ex = ThreadExecutor(model, workers=2, schedule="static")
    _, state = ex.steps(x[:, :3])
    got = {}
    with ex._lock:  # another thread's step in progress
        stepping = threading.Thread(target=lambda: got.update(state=ex.step(x[:, 3], state)[1]))
        stepping.start()
        time.sleep(0.2)  # past the check for a pool, waiting for its turn
        closing = threading.Thread(target=ex.close)
        closing.start()
        time.sleep(0.2)
    stepping.join(10)
    closing.join(10)
    assert not stepping.is_alive() and not closing.is_alive() and ex._threads == []
    assert_same_state(got["state"], expected, TOLERANCE)


def test_thread_executor_under_autocast_equals_step():
    # Autocast is per thread: the pool computed in float32 from the caller's
    # bfloat16 values and failed ("Input type (c10::BFloat16) and bias type (float)").
    model = model_of(sn.load("cifar10_dsr1"))
    x = torch.rand(2, 6, 3, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = ReferenceExecutor(model).run(x)
        for mode in ("dynamic", "static"):
            with ThreadExecutor(model, workers=2, schedule=mode) as ex:
                got = ex.run(x)
            assert got[-1]["prediction"].dtype == torch.bfloat16
            assert compare_outputs(got, expected)[0]


def test_timing_counts_out_of_range_are_setting_errors():
    # repeats=0 was a StatisticsError ("no median for empty data"), frames=0 a
    # ZeroDivisionError, batch=0 timed empty tensors.
    from streamnets.parallel import launch

    model = model_of(sn.load("cifar10_dsr0"))
    with ThreadExecutor(model, workers=2) as ex:
        for call, name in [(lambda: ex.calibrate(repeats=0), "repeats"), (lambda: ex.calibrate(batch=0), "batch"),
                           (lambda: ex.concurrent_ms(frames=0), "frames"),
                           (lambda: ex.concurrent_ms(repeats=0), "repeats"),
                           (lambda: measure_node_times(ex.schedule, repeats=0), "repeats")]:
            with pytest.raises(SettingError, match=f"{name} must be a whole number >= 1, got 0"):
                call()
    from streamnets.parallel.bench import handoff_ms
    from streamnets.parallel.cuda import round_trip_ms

    for call in (lambda: handoff_ms(repeats=0), lambda: round_trip_ms(repeats=0)):  # was StatisticsError
        with pytest.raises(SettingError, match="repeats must be a whole number >= 1, got 0"):
            call()
    for world in (0, -1):  # 0: ZeroDivisionError; -1: returned [] without running anything
        with pytest.raises(SettingError, match=f"world_size must be a whole number >= 1, got {world}"):
            launch(print, world)


def test_the_training_mode_warning_points_at_the_callers_line():
    # For executors without an __init__ of their own it named the caller's caller.
    model = StreamNet(sn.load("mnist_sr")).train()
    for executor in (ReferenceExecutor, SerialExecutor, ThreadExecutor):
        with pytest.warns(UserWarning, match="training mode") as record:
            executor(model)
        assert record[0].filename == __file__, executor


@pytest.mark.parametrize("count", [1, 3])
def test_simulated_cuda_graph_captured_in_inference_mode_replays_outside_it(simulated_cuda, count):
    # The graph's buffers made under torch.inference_mode() were inference
    # tensors: a replay outside it failed ("Inplace update to inference tensor
    # outside InferenceMode is not allowed"), where model.step goes on.
    model = model_of(sn.load("cifar10_dsr1"))
    steady = Schedule(model, "streaming").plan.steady
    x = torch.rand(1, steady + 1 + 3 * count, 3, 32, 32)
    ex = simulated_cuda(model, graphs=True, frames_per_graph=count)
    with torch.inference_mode():
        first, state = ex.steps(x[:, :steady + 1 + count])
    rest, _ = ex.steps(x[:, steady + 1 + count:], state)
    assert compare_outputs(first + rest, ReferenceExecutor(model).run(x))[0]
