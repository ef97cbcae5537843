"""ProcessExecutor (worker processes, values in shared memory) against StreamNet.step:
random networks and patterns, built-in networks, states kept or branched or brought
from elsewhere, weights changed in place, worker errors and deaths, the caller's
death, and the bench's use of it.

Tolerance: ``streamnets.parallel.base.TOLERANCE``, as for the other executors.
"""

import functools
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streamnets as sn
from streamnets.device import DeviceError
from streamnets.errors import SettingError, ShapeError, StreamnetsError
from streamnets.nn import StreamNet
from streamnets.parallel import (ProcessExecutor, ReferenceExecutor, Schedule, balanced_partition, bench_parallel,
                                 estimate_flops)
from streamnets.parallel import _worker as w
from streamnets.parallel import processes
from streamnets.parallel.base import compare_outputs
from streamnets.parallel.processes import WorkerError
from strategies import networks, patterns
from test_parallel import (assert_same_run, echo_net, frames_for, model_of, softmax_net, softmax_rollout,
                           wrong_runs_from_two_threads)

# Three processes on a 2-core machine: polling would keep cores from the one that works.
NO_SPIN = {"spin": 0.0}


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_process_executor_equals_step_on_random_networks_and_patterns(data):
    net = data.draw(networks(spatial=True, max_nodes=6))
    rollout = data.draw(st.sampled_from([
        sn.Rollout.streaming(net), sn.Rollout.sequential(net), data.draw(patterns(net, valid_only=True))]))
    model = model_of(net, seed=data.draw(st.integers(0, 100)))
    frames = frames_for(net, batch=data.draw(st.integers(1, 3)), count=6)
    workers = data.draw(st.sampled_from([2, 3]))
    with ProcessExecutor(model, rollout, workers=workers, **NO_SPIN) as ex:
        assert_same_run(ex, model, rollout, frames)


@pytest.mark.parametrize("which", ["streaming", "sequential", "hybrid"])
def test_process_executor_with_softmax_outputs_and_two_inputs(which):
    net = softmax_net()
    rollout = softmax_rollout(net, which)
    model = model_of(net, seed=3)
    with ProcessExecutor(model, rollout, workers=3, **NO_SPIN) as ex:
        assert len(ex._procs) == min(3, ex.schedule.width) - 1  # never more than can work
        assert_same_run(ex, model, rollout, frames_for(net, batch=2, count=7, seed=1))


def test_process_executor_on_a_builtin_network_and_an_input_as_output():
    net = sn.load("cifar10_dsr2")
    model = model_of(net)
    with ProcessExecutor(model, workers=2) as ex:
        owner = balanced_partition(ex.schedule.groups, estimate_flops(net), 2)
        assert ex.shares == [[tuple(v for v in g if owner[v] == k) for g in ex.schedule.groups] for k in (0, 1)]
        assert_same_run(ex, model, "streaming", frames_for(net, batch=1, count=7))
    net = echo_net()
    model = model_of(net, seed=1)
    with ProcessExecutor(model, workers=2) as ex:
        got = assert_same_run(ex, model, "streaming", frames_for(net, batch=2, count=4, seed=3))
        assert got[0]["x"] is None and got[1]["x"] is not None


def test_states_are_kept_branched_and_brought_in():
    net = sn.load("cifar10_dsr1")
    model = model_of(net)
    x = frames_for(net, batch=2, count=8, seed=5)
    with ProcessExecutor(model, workers=2) as ex:
        # A loop that drops each state reuses a few slots.
        state = ex.initial_state(2)
        for t in range(8):
            _, state = ex.step(x[:, t], state)
        assert len(ex._pools[2]) <= 3
        # Branching: the same state stepped twice gives the same frame, and
        # stepping on does not change what an earlier step returned.
        out_a, next_a = ex.step(x[:, 0], state)
        kept = [v.clone() for v in next_a.values]
        out_b, next_b = ex.step(x[:, 0], state)
        assert torch.equal(out_a["prediction"], out_b["prediction"])
        assert all(torch.equal(a, b) for a, b in zip(next_a.values, next_b.values))
        _ = ex.step(x[:, 1], next_b)
        assert all(torch.equal(a, b) for a, b in zip(next_a.values, kept))
        # A state of model.step (not this executor's) is copied in.
        ref = model.initial_state(2)
        for t in range(5):
            _, ref = model.step(x[:, t], ref)
        got, _ = ex.step(x[:, 5], ref)
        want, _ = model.step(x[:, 5], ref)
        assert compare_outputs([got], [want])[0]
        # Another batch size gets slots of its own.
        state = ex.initial_state(1)
        for t in range(3):
            _, state = ex.step(x[:1, t], state)
        assert 1 in ex._pools and 2 in ex._pools


@pytest.mark.parametrize("keep", ["view", "slice", "detach", "data", "numpy"])
def test_a_value_kept_without_its_state_keeps_its_slot(keep):
    model = model_of(sn.load("cifar10_dsr0"))
    x = torch.rand(1, 6, 3, 32, 32)
    with ProcessExecutor(model, workers=2) as ex:
        state = ex.initial_state(1)
        for t in range(3):
            _, state = ex.step(x[:, t], state)
        h1 = state.values[ex.schedule.index["h1"]]
        kept = {"view": h1, "slice": h1[:, :2], "detach": h1.detach(), "data": h1.data,
                "numpy": h1.numpy()}[keep]
        copy = torch.as_tensor(kept).clone()
        del state, h1
        state = ex.initial_state(1)
        for t in range(6):
            _, state = ex.step(x[:, t], state)
        assert torch.equal(torch.as_tensor(kept), copy)


def test_weights_changed_in_place_reach_the_workers():
    net = sn.load("cifar10_dsr0")
    model = model_of(net)
    x = torch.rand(1, 6, 3, 32, 32)
    with ProcessExecutor(model, workers=2) as ex:
        ex.run(x)
        model.load_state_dict(model_of(net, seed=9).state_dict())
        assert compare_outputs(ex.run(x), ReferenceExecutor(model).run(x))[0]


def test_train_and_eval_after_the_start_reach_the_workers():
    net = sn.load("mnist_sr")  # dropout on its hidden nodes
    torch.manual_seed(0)
    model = StreamNet(net).train()
    x = torch.rand(2, 5, 1, 28, 28)
    with pytest.warns(UserWarning, match="training mode"):
        ex = ProcessExecutor(model, workers=2)
    with ex:
        assert any(m.p for m in model.node_modules.values())
        model.eval()
        assert compare_outputs(ex.run(x), ReferenceExecutor(model).run(x))[0]


def test_parameters_replaced_after_the_start_are_an_error():
    model = model_of(sn.load("cifar10_dsr0"))
    x = torch.rand(1, 3, 3, 32, 32)
    with ProcessExecutor(model, workers=2) as ex:
        ex.run(x)
        weight = next(model.parameters())
        weight.data = weight.data.clone()
        with pytest.raises(StreamnetsError, match="replaced.*make a new executor"):
            ex.run(x)


def test_free_slots_are_given_back():
    model = model_of(sn.load("cifar10_dsr0"))
    x = torch.rand(2, 3, 32, 32)
    with ProcessExecutor(model, workers=2) as ex:
        state, kept = ex.initial_state(2), []
        for _ in range(20):  # every state kept: a slot each
            _, state = ex.step(x, state)
            kept.append(state)
        assert len(ex._pools[2]) >= 20
        del kept
        for _ in range(processes._TRIM_EVERY):
            _, state = ex.step(x, state)
        assert len(ex._pools[2]) <= processes._KEEP + 1
        _, other = ex.step(x[:1], ex.initial_state(1))  # a new batch size: the other's free slots go
        assert len(ex._pools[2]) == 1 and len(ex._pools[1]) == 1
        assert compare_outputs([ex.step(x, state)[0]], [ReferenceExecutor(model).step(x, state)[0]])[0]


def test_workers_fork_from_a_forkserver_that_has_imported_the_package(monkeypatch):
    # before: spawn, where every worker imported torch itself (2.7 s per executor here;
    # forked from the preloaded server, 0.04 s after the first)
    import multiprocessing.forkserver

    ctx = processes.start_context()
    assert ctx.get_start_method() == "forkserver"
    assert multiprocessing.forkserver._forkserver._preload_modules == ["__main__", "streamnets.parallel"]
    monkeypatch.setattr(processes.mp, "get_all_start_methods", lambda: ["spawn"])  # as on Windows
    assert processes.start_context().get_start_method() == "spawn"


def test_a_failed_start_leaves_no_worker_behind(monkeypatch):
    real = processes.start_context()
    started = []

    class FailsSecond:
        def __getattr__(self, name):
            return getattr(real, name)

        def Process(self, *args, **kwargs):  # noqa: N802 - the context's name
            if started:
                raise OSError(24, "Too many open files")
            proc = real.Process(*args, **kwargs)
            started.append(proc)
            return proc

    monkeypatch.setattr(processes, "start_context", FailsSecond)
    with pytest.raises(OSError, match="Too many open files"):
        ProcessExecutor(model_of(sn.load("cifar10_dsr2")), workers=3)
    assert started and not started[0].is_alive()


def test_an_interrupted_wait_closes_the_executor(monkeypatch):
    model = model_of(sn.load("cifar10_dsr0"))
    x = torch.rand(1, 3, 3, 32, 32)
    ex = ProcessExecutor(model, workers=2)
    _, state = ex.steps(x)
    proc = ex._procs[0]

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(w, "acquire", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ex.step(x[:, 0], state)
    monkeypatch.undo()
    assert ex._procs == [] and not proc.is_alive()
    got, _ = ex.step(x[:, 0], state)  # closed: on in the caller
    assert compare_outputs([got], [ReferenceExecutor(model).step(x[:, 0], state)[0]])[0]


def _cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().split(")")[-1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_rest_stops_the_workers_polling():
    model = model_of(sn.load("cifar10_dsr0"))
    with ProcessExecutor(model, workers=2, spin=30.0) as ex:
        pid = ex._procs[0].pid
        ex.run(torch.rand(1, 2, 3, 32, 32))  # the worker now polls for 30 s
        before = _cpu_seconds(pid)
        time.sleep(0.5)
        polling = _cpu_seconds(pid) - before
        ex.rest()
        before = _cpu_seconds(pid)
        time.sleep(0.5)
        resting = _cpu_seconds(pid) - before
    # Relative, not absolute: with 12 test processes on 16 cores (load 70) a polling
    # worker got 0.08 s of CPU in the 0.5 s, where an idle machine gives it about 0.5 s.
    assert polling > 0.04 and resting <= polling / 4, (polling, resting)


def test_worker_errors_reach_the_caller_and_the_workers_survive():
    model = model_of(sn.load("cifar10_dsr0"))
    x = torch.rand(1, 5, 3, 32, 32)
    with ProcessExecutor(model, workers=2) as ex:
        ex.run(x)
        ex._words[w.PREVIOUS] = 10**6  # a slot the worker never got
        with pytest.raises(KeyError) as info:
            ex._order(w.STEP)
        if sys.version_info >= (3, 11):
            assert "in worker process 1" in "".join(info.value.__notes__)
        assert compare_outputs(ex.run(x), ReferenceExecutor(model).run(x))[0]


class Boom(Exception):
    """Pickles, but cannot be unpickled (its __init__ wants two arguments)."""

    def __init__(self, node, code):
        super().__init__(f"boom in {node} ({code})")


def _explode_when(trigger, node, module, inputs):
    if trigger.item():
        raise Boom(node, 7)


def test_an_error_that_cannot_be_unpickled_still_reaches_the_caller_and_the_workers_stay_in_step():
    model = model_of(sn.load("cifar10_dsr2"))
    costs = estimate_flops(model.network)
    owner = balanced_partition(Schedule(model).groups, costs, 2)
    trigger = torch.zeros((), dtype=torch.int64).share_memory_()
    for key, module in model.edge_modules.items():  # the worker's nodes fail when triggered
        target = key.split("->")[1]
        if owner.get(target) == 1:
            module.register_forward_pre_hook(functools.partial(_explode_when, trigger, target))
    x = torch.rand(1, 6, 3, 32, 32)
    with ProcessExecutor(model, workers=2, costs=costs) as ex:
        assert any(ex.shares[1])
        expected = ReferenceExecutor(model).run(x)
        _, state = ex.steps(x[:, :3])
        trigger.fill_(1)
        with pytest.raises(RuntimeError, match=r"Boom: boom in \w+ \(7\)"):
            ex.step(x[:, 3], state)
        trigger.fill_(0)
        for _ in range(3):  # the same orders reach the same workers
            assert compare_outputs(ex.run(x), expected)[0]
        assert ex._procs


def test_a_dead_worker_closes_the_executor_with_a_clear_error():
    model = model_of(sn.load("cifar10_dsr0"))
    x = torch.rand(1, 5, 3, 32, 32)
    ex = ProcessExecutor(model, workers=2)
    outs, state = ex.steps(x)
    proc = ex._procs[0]
    proc.kill()
    proc.join(timeout=10)
    with pytest.raises(WorkerError, match=r"worker process 1 \(pid \d+\) was killed by signal 9 "
                                         r"\(SIGKILL; out of memory\?\); the executor is closed, make "
                                         r"a new one"):
        ex.step(x[:, 0], state)
    assert ex._procs == []
    # Closed: it goes on in the caller, from the states it handed out.
    got, _ = ex.step(x[:, 0], state)
    want, _ = ReferenceExecutor(model).step(x[:, 0], state)
    assert compare_outputs([got], [want])[0]
    ex.close()


def _fail_in_another_process(pid):
    if os.getpid() != pid:
        raise RuntimeError("cannot be unpickled in a worker")
    return Poison()


class Poison:
    """Pickles, but fails to unpickle in any other process (a worker that cannot start)."""

    def __reduce__(self):
        return _fail_in_another_process, (os.getpid(),)


def test_steps_from_two_threads_take_turns():
    # Two threads stepping one executor wrote each other's orders and slots:
    # 38 of 40 runs came back wrong in a check here.
    model = model_of(sn.load("cifar10_dsr0"))
    with ProcessExecutor(model, workers=2, **NO_SPIN) as ex:
        assert wrong_runs_from_two_threads(ex, model, seconds=120) == []


def test_a_model_that_cannot_be_pickled_is_a_setting_error():
    # A lambda hook (or any attribute pickle refuses) ended in "AttributeError:
    # Can't pickle local object" from deep inside multiprocessing.
    model = model_of(sn.load("cifar10_dsr0"))
    handle = model.node_modules["h2"].register_forward_hook(lambda module, args, out: None)
    with pytest.raises(SettingError, match="model cannot be sent to the worker processes .*lambda.*"
                                           "remove them or use ThreadExecutor"):
        ProcessExecutor(model, workers=2, **NO_SPIN)
    handle.remove()
    with ProcessExecutor(model, workers=2, **NO_SPIN) as ex:
        assert len(ex._procs) == 1


def test_a_worker_that_cannot_start_is_an_error_at_once():
    model = model_of(sn.load("cifar10_dsr0"))
    model.poison = Poison()
    start = time.monotonic()
    # A streamnets error (the command line prints it on one line), with the usual
    # cause: a script that makes the executor outside its main guard.
    with pytest.raises(StreamnetsError, match=r"worker process 1 did not start: it exited with code 1 "
                                              r"\(its error is printed above\); in a script, make the "
                                              r"executor under if __name__ == '__main__':") as caught:
        ProcessExecutor(model, workers=2)
    assert isinstance(caught.value, WorkerError)
    assert time.monotonic() - start < 60


def test_workers_exit_when_the_caller_dies(tmp_path):
    script = tmp_path / "caller.py"
    script.write_text(textwrap.dedent("""
        import sys, time, torch, streamnets as sn
        from streamnets.nn import StreamNet
        from streamnets.parallel import ProcessExecutor
        if __name__ == "__main__":
            ex = ProcessExecutor(StreamNet(sn.load("cifar10_dsr0")).eval(), workers=2)
            ex.run(torch.rand(1, 3, 3, 32, 32))
            print(*[p.pid for p in ex._procs], flush=True)
            time.sleep(60)
    """))
    caller = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in caller.stdout.readline().split()]
        assert pids
        caller.send_signal(signal.SIGKILL)
        caller.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.05)
        assert not any(_alive(p) for p in pids)
    finally:
        caller.kill()


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def test_errors_name_the_problem():
    model = model_of(sn.load("mnist_sr"))
    with ProcessExecutor(model, workers=2) as ex:
        with pytest.raises(ShapeError, match="image.*28, 28"):
            ex.step(torch.rand(2, 1, 27, 28), ex.initial_state(2))
        state = ex.initial_state(2)
        for _ in range(2):
            _, state = ex.step(torch.rand(2, 1, 28, 28), state)
        values = list(state.values)
        h1 = ex.schedule.index["h1"]
        values[h1] = values[h1][:, :3]
        with pytest.raises(StreamnetsError, match="'h1' has shape"):
            ex.step(torch.rand(2, 1, 28, 28), replace(state, values=tuple(values)))
    with pytest.raises(DeviceError, match="CudaStreamExecutor"):
        ProcessExecutor(StreamNet(sn.load("mnist_ff")).eval().to("meta"))
    with pytest.raises(sn.InvalidRolloutError):
        ProcessExecutor(model, sn.Rollout.from_streaming_edges(model.network, []))


def test_calibrate_and_close():
    model = model_of(sn.load("cifar10_dsr1"))
    x = torch.rand(1, 4, 3, 32, 32)
    with ProcessExecutor(model, workers=2) as ex:
        times = ex.calibrate(batch=1, repeats=2)
        assert set(times) == set(ex.costs) and ex.costs == times
        assert sorted(v for share in ex.shares for step in share for v in step) == sorted(
            set(model.network.nodes) - set(model.network.inputs))
        assert compare_outputs(ex.run(x), ReferenceExecutor(model).run(x))[0]
        pids = [p.pid for p in ex._procs]
    assert ex._procs == [] and not any(_alive(p) for p in pids)
    ex.close()  # idempotent


def test_bench_parallel_times_the_process_executor():
    r = bench_parallel("mnist_ff", batch=1, frames=2, warmup=0, repeats=1, device="cpu", node_repeats=1,
                       executors=["sequential", "streaming-processes"])
    assert r["executors"]["streaming-processes"]["outputs_match"] is True
    assert r["executors"]["streaming-processes"]["samples"] == 2
    assert "ProcessExecutor" in r["executors"]["streaming-processes"]["executor"]


def test_concurrent_ms_is_the_slowest_process_running_its_share_without_waits():
    model = model_of(sn.load("cifar10_dsr0"))
    # The caller gets the cheap output node, the worker the three convolutions.
    costs = {"image": 0, "h1": 1, "h2": 1, "hd": 1, "prediction": 100}
    with ProcessExecutor(model, workers=2, costs=costs) as ex:
        assert ex.shares == [[("prediction",)], [("h1", "h2", "hd")]]
        ms = ex.concurrent_ms(batch=1, frames=3, repeats=1)
        assert ms == pytest.approx(1e3 * ex._seconds[1].item() / 3)
        assert ms > 0
    with ProcessExecutor(model, workers=1) as ex:  # no workers: the caller runs every node
        assert ex._procs == [] and ex.concurrent_ms(batch=1, frames=2, repeats=1) > 0


@pytest.mark.parametrize("exitcode, says", [
    (-9, "was killed by signal 9 (SIGKILL; out of memory?)"),
    (-15, "was killed by signal 15 (SIGTERM)"),
    (0, "exited without an error (code 0)"),
    (3, "exited with code 3 (its error is printed above)"),
])
def test_a_dead_worker_is_described_by_its_exit_code(exitcode, says):
    # before: every exit, a kill by a signal or a clean exit too, said "its error is printed above"
    from streamnets.parallel.processes import _how_it_ended

    assert _how_it_ended(exitcode) == says


def test_the_workers_cpu_time_is_theirs_not_other_load():
    # before: bench_parallel's other_processes_cores counted the executor's own workers
    from streamnets.parallel.bench import OtherLoad

    assert abs(OtherLoad.cpu_seconds(os.getpid()) - time.process_time()) < 0.05
    assert OtherLoad.cpu_seconds(-1) == 0.0
    model = model_of(sn.load("mnist_sr"))
    with ProcessExecutor(model, workers=2, **NO_SPIN) as ex:
        [pid] = ex.worker_pids
        before = OtherLoad.cpu_seconds(pid)
        ex.run(frames_for(model.network, batch=64, count=40))
        assert OtherLoad.cpu_seconds(pid) > before  # the worker's share of the frames
        assert OtherLoad([pid]).pids == (pid,)
    assert ex.worker_pids == []


def test_closing_from_another_thread_lets_a_waiting_step_finish_in_the_caller():
    # close() did not wait for a step of another thread: one waiting for its turn
    # then ordered workers that were gone (IndexError), or the caller reported a
    # misleading "worker process 1 was killed by signal 15".
    import threading

    model = model_of(sn.load("cifar10_dsr1"))
    x = torch.rand(1, 4, 3, 32, 32)
    expected = ReferenceExecutor(model).run(x)[-1]
    ex = ProcessExecutor(model, workers=2, **NO_SPIN)
    _, state = ex.steps(x[:, :3])
    got = {}

    def step():
        try:
            got["outputs"] = ex.step(x[:, 3], state)[0]
        except Exception as exc:  # noqa: BLE001 - reported below
            got["error"] = exc

    with ex._lock:  # another thread's step in progress
        stepping = threading.Thread(target=step)
        stepping.start()
        time.sleep(0.2)
        closing = threading.Thread(target=ex.close)
        closing.start()
        time.sleep(0.2)
    stepping.join(30)
    closing.join(30)
    assert "error" not in got, got.get("error")
    assert compare_outputs([got["outputs"]], [expected])[0] and ex._procs == []


def test_autocast_and_a_state_of_another_dtype_are_device_errors():
    # Under autocast the workers computed in float32 while the caller computed in
    # bfloat16 (outputs off by 2e-3, states all float32); a float32 state given to
    # a float64 model was converted silently where model.step refuses it.
    model = model_of(sn.load("cifar10_dsr1"))
    x = torch.rand(1, 4, 3, 32, 32)
    with ProcessExecutor(model, workers=2, **NO_SPIN) as ex:
        with torch.autocast("cpu", dtype=torch.bfloat16), pytest.raises(DeviceError, match="torch.autocast"):
            ex.run(x)
        _, state = ReferenceExecutor(model_of(sn.load("cifar10_dsr1")).double()).steps(x.double())
        with pytest.raises(DeviceError, match="the state holds torch.float64 values"):
            ex.step(x[:, 0], state)
        assert compare_outputs(ex.run(x), ReferenceExecutor(model).run(x))[0]  # still in step


def test_steps_in_and_out_of_inference_mode():
    # Slots made under torch.inference_mode() were inference tensors: the next
    # step outside it failed ("Inplace update to inference tensor outside
    # InferenceMode is not allowed"), where model.step goes on.
    model = model_of(sn.load("cifar10_dsr1"))
    x = torch.rand(1, 6, 3, 32, 32)
    with ProcessExecutor(model, workers=2, **NO_SPIN) as ex:
        with torch.inference_mode():
            first, state = ex.steps(x[:, :3])
        rest, _ = ex.steps(x[:, 3:], state)
    assert compare_outputs(first + rest, ReferenceExecutor(model).run(x))[0]


def _killed_in_another_process(pid):
    if os.getpid() != pid:
        os.kill(os.getpid(), signal.SIGKILL)


class Killed:
    """Pickles, but its unpickling kills any other process (as the OOM killer would)."""

    def __reduce__(self):
        return _killed_in_another_process, (os.getpid(),)


def test_a_worker_killed_while_starting_gets_no_main_guard_hint():
    # the hint about the main guard fits an error exit, not a signal (out of memory?)
    model = model_of(sn.load("cifar10_dsr0"))
    model.poison = Killed()
    with pytest.raises(WorkerError, match=r"worker process 1 did not start: it was killed by signal 9 "
                                          r"\(SIGKILL; out of memory\?\)$"):
        ProcessExecutor(model, workers=2)
