"""Measuring model-parallel execution: per-frame latency, sequential vs streaming.

:func:`bench_parallel` times stateful inference (one :meth:`step` per frame, batch
``B``) of the executors it is given, side by side on the current device, with
their outputs checked against ``model.step``, plus every node's update alone. The
*ideal* streaming frame on this device is ``max(slowest node alone (the better
of 1 thread and every core), sum of single-threaded node times / cores in use)`` on the CPU (the cores in
use: workers x threads per worker, at most the cores); on a GPU
``max(slowest node alone, every node at once without waits)`` (perfect overlap
within the GPU's capacity). Node times measured alone, in a hot loop, leave out
what a node pays inside a frame (inputs just written by other nodes, on another
core; weights perhaps out of cache), so on the CPU the *in-frame ideal* takes the
single-threaded work from ``streaming-1-thread`` instead: the node kernels of a
frame one after the other in one thread. On CUDA it also times throughput on a clip
with ``frames_per_graph`` frames per CUDA graph (the ``*-pipelined`` executors:
a clip of several graphs per sample, synchronized at its end, divided by its
frames). :func:`bench_distributed` times the
:class:`~streamnets.parallel.DistributedExecutor` over 1, 2, 3 gloo ranks.
"""

from __future__ import annotations

import os
import queue
import statistics
import threading
import time

import torch

from ..device import cpu_cores, cpu_name, intra_op_threads, keep_freed_memory, resolve_device
from ..errors import SettingError, StreamnetsError, whole_number
from .base import GPU_TOLERANCE, TOLERANCE, compare_outputs, random_clip
from .cost import makespan, measure_node_times, sync
from .processes import ProcessExecutor
from .reference import ReferenceExecutor, SerialExecutor
from .schedule import Schedule
from .threads import ThreadExecutor

__all__ = ["bench_parallel", "bench_distributed", "EXECUTORS", "default_executors", "OtherLoad", "handoff_ms"]

#: Executor names: (rollout, parallel?, devices, description).
EXECUTORS = {
    "sequential": ("sequential", False, ("cpu", "cuda", "mps"),
                   "model.step, sequential rollout, all cores intra-op"),
    "sequential-1-thread": ("sequential", False, ("cpu",),
                            "model.step, sequential rollout, 1 intra-op thread"),
    "streaming-reference": ("streaming", False, ("cpu", "cuda", "mps"),
                            "model.step, streaming rollout, node by node, all cores intra-op"),
    "streaming-serial": ("streaming", False, ("cpu", "cuda", "mps"),
                         "the executors' node kernels one after the other, all cores intra-op"),
    "streaming-1-thread": ("streaming", False, ("cpu",),
                           "the executors' node kernels one after the other, 1 intra-op thread: a "
                           "frame's single-threaded work measured in place (for the in-frame ideal)"),
    "streaming-threads": ("streaming", True, ("cpu",),
                          "ThreadExecutor: workers = cores (the caller and pool threads), 1 intra-op "
                          "thread each, dynamic LPT"),
    "streaming-threads-pool": ("streaming", True, ("cpu",),
                               "ThreadExecutor, caller_works=False: the caller waits for cores pool threads"),
    "streaming-threads-static": ("streaming", True, ("cpu",),
                                 "ThreadExecutor, fixed shares per worker, balanced on the nodes' "
                                 "single-threaded times measured at this batch (calibrate)"),
    "streaming-processes": ("streaming", True, ("cpu",),
                            "ProcessExecutor: one process per core (the caller and its workers), 1 "
                            "intra-op thread each, fixed shares balanced on the nodes' single-threaded "
                            "times measured at this batch (calibrate), values in shared memory"),
    "streaming-threads-2x": ("streaming", True, ("cpu",),
                             "ThreadExecutor: workers = cores, cores intra-op threads each (oversubscribed)"),
    "sequential-cuda-graphs": ("sequential", False, ("cuda",),
                               "CudaStreamExecutor on the sequential rollout, CUDA graph per frame"),
    "streaming-cuda": ("streaming", True, ("cuda",), "CudaStreamExecutor: one stream per node"),
    "streaming-cuda-graphs": ("streaming", True, ("cuda",),
                              "CudaStreamExecutor: one stream per node, CUDA graph per frame"),
    "sequential-cuda-pipelined": ("sequential", False, ("cuda",),
                                  "CudaStreamExecutor on the sequential rollout, frames_per_graph frames "
                                  "per CUDA graph (throughput on a clip; frames overlap as the data allow)"),
    "streaming-cuda-pipelined": ("streaming", True, ("cuda",),
                                 "CudaStreamExecutor: one stream per node, frames_per_graph frames per "
                                 "CUDA graph, no frame barrier (throughput on a clip)"),
}


def _pipelined(name):
    """Whether executor ``name`` is timed per clip of frames (throughput), not per frame."""
    return name.endswith("-pipelined")


def default_executors(device):
    """The executors :func:`bench_parallel` runs by default on ``device``.

    Examples
    --------
    >>> default_executors("cpu")[3:]
    ('streaming-1-thread', 'streaming-threads', 'streaming-threads-static', 'streaming-processes')
    """
    if torch.device(device).type == "cuda":
        return ("sequential", "streaming-reference", "sequential-cuda-graphs", "streaming-cuda",
                "streaming-cuda-graphs", "sequential-cuda-pipelined", "streaming-cuda-pipelined")
    return ("sequential", "sequential-1-thread", "streaming-reference", "streaming-1-thread",
            "streaming-threads", "streaming-threads-static", "streaming-processes")


class _OneThread:
    """Mixin: every step with one intra-op thread."""

    def step(self, frame, state):
        with intra_op_threads(1):
            return super().step(frame, state)


class _SequentialOneThread(_OneThread, ReferenceExecutor):
    """``model.step`` with one intra-op thread (the best sequential setting when
    other processes load the machine)."""


class _SerialOneThread(_OneThread, SerialExecutor):
    """The node kernels one after the other with one intra-op thread."""


def _make(name, model, workers, batch, team=1, frames_per_graph=1):
    from .cuda import CudaStreamExecutor

    rollout = EXECUTORS[name][0]
    if name in ("sequential", "streaming-reference"):
        return ReferenceExecutor(model, rollout)
    if name == "sequential-1-thread":
        return _SequentialOneThread(model, rollout)
    if name == "streaming-1-thread":
        return _SerialOneThread(model, rollout)
    if name == "streaming-threads-pool":
        return ThreadExecutor(model, rollout, workers=workers, intra_op_threads=team, caller_works=False)
    if name == "streaming-serial":
        return SerialExecutor(model, rollout)
    if name == "streaming-threads":
        return ThreadExecutor(model, rollout, workers=workers, intra_op_threads=team)
    if name == "streaming-threads-static":
        ex = ThreadExecutor(model, rollout, workers=workers, intra_op_threads=team, schedule="static")
        ex.calibrate(batch)
        return ex
    if name == "streaming-processes":
        ex = ProcessExecutor(model, rollout, workers=workers, intra_op_threads=team)
        ex.calibrate(batch)
        return ex
    if name == "streaming-threads-2x":
        return ThreadExecutor(model, rollout, workers=workers, intra_op_threads=cpu_cores())
    if _pipelined(name):
        return CudaStreamExecutor(model, rollout, graphs=True, frames_per_graph=frames_per_graph)
    return CudaStreamExecutor(model, rollout, graphs=name.endswith("graphs"))


def _pick(frames, t):
    if isinstance(frames, dict):
        return {k: x[:, t % x.shape[1]] for k, x in frames.items()}
    return frames[:, t % frames.shape[1]]


def _clip(frames, length):
    """``length`` frames of ``frames`` (cycled) as one clip."""
    if isinstance(frames, dict):
        return {k: _clip(x, length) for k, x in frames.items()}
    return frames[:, torch.arange(length) % frames.shape[1]]


def _load():
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # pragma: no cover
        return None


class OtherLoad:
    """Average CPU cores used by *other* processes while a block runs (Linux).

    Busy time of the whole machine (``/proc/stat``) minus the CPU time of this
    process and of ``pids`` (e.g. an executor's worker processes), over the wall
    time: the interference a timing suffered, which the load average (a lagging
    one-minute mean that includes this process) does not show. ``value`` is None
    where ``/proc/stat`` is unavailable.

    Examples
    --------
    >>> with OtherLoad() as other:
    ...     _ = sum(range(1000))
    >>> other.value is None or isinstance(other.value, float)
    True
    """

    value = None

    def __init__(self, pids=()):
        self.pids = tuple(pids)

    @staticmethod
    def cpu_seconds(pid):
        """User and system CPU seconds of process ``pid`` so far (0.0 if unreadable)."""
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()  # after the command name
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return 0.0

    def _own(self):
        return time.process_time() + sum(self.cpu_seconds(pid) for pid in self.pids)

    @staticmethod
    def _busy():
        try:
            with open("/proc/stat") as f:
                fields = [int(x) for x in f.readline().split()[1:8]]
        except (OSError, ValueError):
            return None
        return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")

    def __enter__(self):
        self._start = (self._busy(), self._own(), time.perf_counter())
        return self

    def __exit__(self, *exc):
        busy, own, wall = self._busy(), self._own(), time.perf_counter()
        if busy is not None and self._start[0] is not None:
            elapsed = max(wall - self._start[2], 1e-9)
            # /proc/stat is sampled per clock tick: about +-0.2 cores of noise, so clamp at 0.
            self.value = max(0.0, round(((busy - self._start[0]) - (own - self._start[1])) / elapsed, 2))


#: Executors that leave OpenMP teams in worker threads (see :func:`bench_parallel`).
_POISONING = {"streaming-threads-2x"}


#: Graphs per timed sample of a pipelined executor: one ``steps`` call over
#: this many graphs' frames, synchronized at the end only, as a clip is run.
_GRAPHS_PER_SAMPLE = 4


def _time(runners, pool, batch, steady, frames, device, warmup, repeats):
    """Seconds per frame of each runner: every one steps its own stream of frames
    (first to the steady state), the rounds alternate the order (ABBA). A runner
    with ``frames_per_graph`` K > 1 is timed on a clip: one ``steps`` call over
    ``_GRAPHS_PER_SAMPLE`` K frames a round, divided by its frames."""
    states = {}
    for name, ex in runners.items():
        state = ex.initial_state(batch)
        for t in range(steady):
            _, state = ex.step(_pick(pool, t), state)
        states[name] = state
    samples = {name: [] for name in runners}
    names = list(runners)
    clips = {name: _clip(pool, _GRAPHS_PER_SAMPLE * ex.frames_per_graph) for name, ex in runners.items()
             if getattr(ex, "frames_per_graph", 1) > 1}
    for rnd in range(warmup + repeats):
        for name in (names if rnd % 2 else names[::-1]):
            ex, state = runners[name], states[name]
            for t in range(1 if name in clips else frames):
                sync(device)
                start = time.perf_counter()
                if name in clips:
                    _, state = ex.steps(clips[name], state)
                else:
                    _, state = ex.step(_pick(pool, t), state)
                sync(device)
                if rnd >= warmup:
                    count = _GRAPHS_PER_SAMPLE * ex.frames_per_graph if name in clips else 1
                    samples[name].append((time.perf_counter() - start) / count)
            states[name] = state
            if hasattr(ex, "rest"):  # its workers stop polling: the next runner gets the cores
                ex.rest()
    return samples


def handoff_ms(repeats=200, pause=2e-4):
    """Median milliseconds to hand a job to a sleeping worker thread and get its
    answer back (``queue.SimpleQueue`` both ways, as :class:`ThreadExecutor` does),
    with ``pause`` seconds of idleness before each: what every parallel update
    step pays on top of its nodes. On a virtual machine it is mostly the time an
    idle core takes to wake up.

    Examples
    --------
    >>> 0 < handoff_ms(repeats=5, pause=0) < 1000
    True
    """
    repeats = whole_number("repeats", repeats)  # 0: "no median for empty data"
    inbox, done = queue.SimpleQueue(), queue.SimpleQueue()

    def worker():
        while inbox.get():
            done.put(None)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    samples = []
    for _ in range(repeats):
        time.sleep(pause)
        start = time.perf_counter()
        inbox.put(True)
        done.get()
        samples.append(time.perf_counter() - start)
    inbox.put(False)
    thread.join()
    return 1e3 * statistics.median(samples)


def _node_times(schedule, batch, device, cores, in_use, repeats, seed, frames_per_graph=16):
    """Every node alone: single-threaded and with every core (CPU), as a CUDA graph
    (CUDA); the ideal frame, its rule, and on CUDA the frame with every node at
    once (:func:`~streamnets.parallel.cuda.concurrent_ms_per_frame` on a graph of
    ``frames_per_graph`` frames, seconds). ``in_use``: the cores the thread
    executors use."""
    if device.type == "cpu":
        alone_1 = measure_node_times(schedule, batch, threads=1, repeats=repeats, seed=seed)
        alone_all = measure_node_times(schedule, batch, threads=cores, repeats=repeats, seed=seed)
        # A node alone runs as fast as its better thread count allows.
        slowest = max(min(alone_1[v], alone_all[v]) for v in alone_1)
        ideal = max(slowest, sum(alone_1.values()) / in_use)
        rule = (f"max(slowest node alone (best of 1 and {cores} intra-op threads), sum of "
                f"single-threaded node times / {in_use} cores in use)")
        return alone_1, alone_all, None, ideal, rule, None
    alone_1 = alone_all = measure_node_times(schedule, batch, repeats=repeats, seed=seed)
    if device.type == "cuda":
        from .cuda import concurrent_ms_per_frame

        graphed = measure_node_times(schedule, batch, repeats=repeats, seed=seed, graphs=True)
        concurrent = concurrent_ms_per_frame(schedule.model, batch, frames_per_graph, seed) / 1e3
        return (alone_1, alone_all, graphed, max(max(graphed.values()), concurrent),
                f"max(slowest node's kernels alone, every node's kernels at once without waits, "
                f"{frames_per_graph} frames per graph), each replayed as a CUDA graph (perfect overlap "
                f"within the GPU's capacity, no launch cost)", concurrent)
    return (alone_1, alone_all, None, max(alone_all.values()),
            "slowest node alone (perfect overlap of the node streams)", None)


def bench_parallel(network="cifar10_dsr6", batch=1, executors=None, frames=20, device="auto",
                   warmup=2, repeats=10, workers=None, seed=0, node_repeats=20, threads_per_worker=1,
                   frames_per_graph=16):
    """Per-frame latency of sequential vs model-parallel streaming inference (and,
    on CUDA, throughput on a clip).

    Parameters
    ----------
    network : str or Network
        A built-in name, a spec path or a :class:`~streamnets.Network`.
    batch : int
    executors : str or sequence of str, optional
        A name or names from :data:`EXECUTORS`; default :func:`default_executors` of the
        device (on the CPU: ``sequential``, ``sequential-1-thread``,
        ``streaming-reference``, ``streaming-1-thread``, ``streaming-threads``,
        ``streaming-threads-static``, ``streaming-processes``: on 2 cores dynamically scheduled threads win at
        large batches, worker processes at batch 1).
    frames : int
        Frames timed per executor and round (each step is timed on its own).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ...
    warmup, repeats : int
        Untimed and timed rounds. Rounds alternate the executors' order, so that
        drift and other load hit all of them alike.
    workers : int, optional
        Workers of the thread and process executors, the caller included
        (default: the cores over ``threads_per_worker``; the process executor
        starts no more than the widest update step).
    threads_per_worker : int
        Intra-op threads of each worker of ``streaming-threads``,
        ``streaming-threads-static``, ``streaming-threads-pool`` and
        ``streaming-processes`` (default 1).
        More than one pays on machines with more cores than a frame has
        nodes, at batches large enough for intra-op threads to scale.
    seed : int
        Weights and frames.
    node_repeats : int
        Timings per node for the per-node table.
    frames_per_graph : int
        Frames per CUDA graph of the ``*-pipelined`` executors and of the
        concurrent frame in the GPU's ideal.

    Returns
    -------
    dict
        JSON-ready: ``network``, ``device``, ``batch``, ``sequential_ms_per_frame``
        (the best node-by-node executor), ``streaming_ms_per_frame`` (the best
        streaming executor), ``ideal_ms_per_frame``, ``speedup`` (sequential /
        streaming), ``streaming_over_ideal`` (these four: latency, one frame per
        step, the pipelined executors left out), ``outputs_match`` (every
        executor equals ``model.step`` of its rollout within ``tolerance``),
        ``executors`` (per executor: ``ms_per_frame`` median, ``ms_min``,
        ``ms_mean``, ``throughput_samples_per_s``, ``max_abs_diff``,
        ``frames_per_graph``, ...); ``concurrent_ms_per_frame`` (every node of a
        frame at once without waits: on CUDA
        :func:`~streamnets.parallel.cuda.concurrent_ms_per_frame`, part of the
        ideal; on the CPU the lower of ``streaming-threads-static``'s and
        ``streaming-processes``' shares run at once, :meth:`ThreadExecutor.concurrent_ms`
        and :meth:`ProcessExecutor.concurrent_ms`, each also in its executor's
        ``concurrent_ms``, beside the ideal; else None) and
        ``streaming_over_concurrent``; ``in_frame_ideal_ms_per_frame`` (with
        ``streaming-1-thread``, else None: max(slowest node alone, that
        executor's frame / cores in use), the ideal with the single-threaded
        work measured inside frames instead of node by node in a hot loop) and
        ``streaming_over_in_frame_ideal``; with pipelined executors
        ``sequential_pipelined_ms_per_frame``,
        ``streaming_pipelined_ms_per_frame`` and
        ``streaming_pipelined_over_ideal`` (else None); ``nodes`` (per node
        ``ms_1_thread`` and ``ms_all_cores``; on a GPU both are the node alone,
        and on CUDA ``ms_graph``, its kernels replayed as a CUDA graph),
        ``node_sum_ms_1_thread``, ``node_max_ms_alone``; on the CPU also
        ``balanced_ms_per_frame`` (the longest worker's single-threaded node
        times when whole nodes are shared out: the ideal at node granularity)
        and ``allocator`` (:func:`~streamnets.device.keep_freed_memory`'s
        setting); ``handoff_ms``, what every synchronised frame pays on top of
        its work (CPU: :func:`handoff_ms`, waking a worker thread; CUDA:
        :func:`~streamnets.parallel.cuda.round_trip_ms`, replaying a CUDA graph
        and waiting for it; else None);
        and the environment (threads, cores, load average before and after,
        ``other_processes_cores``: the cores other processes kept busy on
        average while the executors were timed, see :class:`OtherLoad`).

    Examples
    --------
    >>> r = bench_parallel("mnist_ff", batch=1, frames=2, warmup=0, repeats=1,
    ...                    device="cpu", node_repeats=1)
    >>> r["outputs_match"], sorted(r["executors"])[3:]
    (True, ['streaming-processes', 'streaming-reference', 'streaming-threads', 'streaming-threads-static'])
    """
    import streamnets as sn

    from ..nn import StreamNet
    from ..seeding import seed_everything

    device = resolve_device(device)
    if isinstance(executors, str):  # one name, not its letters
        executors = (executors,)
    executors = tuple(executors) if executors else default_executors(device)
    for name in executors:
        if name not in EXECUTORS:
            raise StreamnetsError(f"unknown executor {name!r}; choose from {', '.join(EXECUTORS)}")
        if device.type not in EXECUTORS[name][2]:
            raise StreamnetsError(f"executor {name!r} does not run on {device.type}; on {device.type} use "
                                  f"{', '.join(default_executors(device))}")
    batch = whole_number("batch", batch)
    frames, repeats = whole_number("frames", frames), whole_number("repeats", repeats)
    warmup = whole_number("warmup", warmup, lo=0)
    node_repeats = whole_number("node_repeats", node_repeats)
    frames_per_graph = whole_number("frames_per_graph", frames_per_graph)
    load_before = _load()
    # What the thread executors do anyway; applied first, so that every executor
    # and the per-node timings run with the same allocator.
    allocator = keep_freed_memory() if device.type == "cpu" else None
    seed_everything(seed)
    model = StreamNet(sn.load(network)).to(device).eval()
    cores = cpu_cores()
    team = whole_number("threads_per_worker", threads_per_worker, default=True)
    workers = whole_number("workers", workers, default=True) or max(1, cores // team)
    schedule = Schedule(model, "streaming")
    steady = max(Schedule(model, EXECUTORS[n][0]).plan.steady for n in executors) + 1
    pipelined = any(_pipelined(n) for n in executors)
    if pipelined and frames_per_graph < 2:
        raise SettingError(f"frames_per_graph must be at least 2 for the pipelined executors, got "
                           f"{frames_per_graph}")
    clip_length = frames_per_graph if pipelined else 0
    # Long enough for every executor to check one graph of frames_per_graph frames.
    clip = random_clip(model, batch, steady + 4 + clip_length, device, seed + 1)
    pool = random_clip(model, batch, 8, device, seed + 2)
    checks, samples, described, references, graph_ms, concurrent = {}, {}, {}, {}, {}, {}
    tolerance = TOLERANCE if device.type == "cpu" else GPU_TOLERANCE

    def phase(names):
        runners = {}
        try:
            for name in names:  # those made are closed below even if a later one fails
                runners[name] = _make(name, model, workers, batch, team, frames_per_graph=clip_length)
            for name, ex in runners.items():
                key = ex.rollout.bits
                if key not in references:
                    references[key] = ReferenceExecutor(model, ex.rollout).run(clip)
                checks[name] = compare_outputs(ex.run(clip), references[key], tolerance)
                described[name] = (repr(ex), ex.rollout.name)
                if getattr(ex, "graphs", False):
                    graph_ms[name] = ex.replay_ms(batch)
            pids = [pid for ex in runners.values() for pid in getattr(ex, "worker_pids", ())]
            with OtherLoad(pids) as other:
                samples.update(_time(runners, pool, batch, steady, frames, device, warmup, repeats))
            for name in ("streaming-threads-static", "streaming-processes"):  # calibrated shares
                if name in runners:
                    concurrent[name] = runners[name].concurrent_ms(batch, seed=seed) / 1e3
            return other.value
        finally:
            for ex in runners.values():
                ex.close()

    # Executors whose workers run OpenMP teams of their own go last, one by one:
    # once they ran, libgomp throttles its spinning process-wide (more OpenMP
    # threads than cores), which slows every later multi-threaded region.
    # Teams of intra-op threads in the workers do the same.
    poisoning = _POISONING | ({"streaming-threads", "streaming-threads-static", "streaming-threads-pool"}
                              if team > 1 else set())
    first = [n for n in executors if n not in poisoning]
    others = [phase(first)] if first else []
    # The ideal spreads single-threaded node times over the cores the workers use.
    in_use = min(workers * team, cores)
    alone_1, alone_all, graphed, ideal, ideal_rule, concurrent["cuda"] = _node_times(
        schedule, batch, device, cores, in_use, node_repeats, seed, clip_length or frames_per_graph)
    others += [phase([n]) for n in executors if n in poisoning]
    handoff = None  # what every synchronised frame pays on top of its work
    if device.type == "cpu":
        handoff = handoff_ms()
    elif device.type == "cuda":
        from .cuda import round_trip_ms

        handoff = round_trip_ms(device)
    others = [v for v in others if v is not None]
    other_cores = max(others) if others else None

    per = {}
    for name in executors:
        ts = samples[name]
        median = statistics.median(ts) if ts else float("nan")
        per[name] = {
            "description": EXECUTORS[name][3], "rollout": described[name][1], "parallel": EXECUTORS[name][1],
            "executor": described[name][0], "ms_per_frame": 1e3 * median,
            "ms_min": 1e3 * min(ts) if ts else None, "ms_mean": 1e3 * statistics.fmean(ts) if ts else None,
            "throughput_samples_per_s": batch / median if ts else None,
            "samples": len(ts), "outputs_match": checks[name][0], "max_abs_diff": checks[name][1],
            "graph_ms": graph_ms.get(name), "frames_per_graph": clip_length if _pipelined(name) else 1,
            "concurrent_ms": 1e3 * concurrent[name] if name in concurrent else None,
        }

    def best(names):
        names = [n for n in names if per[n]["samples"]]
        return min(names, key=lambda n: per[n]["ms_per_frame"]) if names else None

    latency = [n for n in per if not _pipelined(n)]
    seq_name = best([n for n in latency if not per[n]["parallel"]])
    str_name = best([n for n in latency if per[n]["rollout"] == "streaming"])
    seq_ms = per[seq_name]["ms_per_frame"] if seq_name else None
    str_ms = per[str_name]["ms_per_frame"] if str_name else None
    piped = {r: best([n for n in per if _pipelined(n) and per[n]["rollout"] == r])
             for r in ("sequential", "streaming")}
    piped_ms = {r: per[n]["ms_per_frame"] if n else None for r, n in piped.items()}
    # On the CPU the lower of the two: threads run the shares with the GIL between them.
    floor = concurrent.get("cuda") or min((concurrent[n] for n in concurrent if n != "cuda"), default=None)
    slowest_ms = 1e3 * max(min(alone_1[v], alone_all[v]) for v in alone_1)
    one_thread = per.get("streaming-1-thread", {}).get("ms_per_frame")
    in_frame = max(slowest_ms, one_thread / in_use) if one_thread else None
    return {
        "network": model.network.name, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
        "batch": batch, "frames_per_round": frames, "rounds": repeats, "warmup_rounds": warmup,
        "sequential_ms_per_frame": seq_ms, "sequential_executor": seq_name,
        "streaming_ms_per_frame": str_ms, "streaming_executor": str_name,
        "ideal_ms_per_frame": 1e3 * ideal, "ideal_rule": ideal_rule,
        "concurrent_ms_per_frame": 1e3 * floor if floor else None,
        "streaming_over_concurrent": str_ms / (1e3 * floor) if floor and str_ms else None,
        "speedup": seq_ms / str_ms if seq_ms and str_ms else None,
        "streaming_over_ideal": str_ms / (1e3 * ideal) if str_ms else None,
        "in_frame_ideal_ms_per_frame": in_frame,
        "streaming_over_in_frame_ideal": str_ms / in_frame if in_frame and str_ms else None,
        "sequential_pipelined_ms_per_frame": piped_ms["sequential"],
        "streaming_pipelined_ms_per_frame": piped_ms["streaming"],
        "streaming_pipelined_over_ideal": (piped_ms["streaming"] / (1e3 * ideal)
                                           if piped_ms["streaming"] else None),
        "outputs_match": all(c[0] for c in checks.values()), "tolerance": dict(tolerance),
        "executors": per,
        "nodes": {v: {"ms_1_thread": 1e3 * alone_1[v], "ms_all_cores": 1e3 * alone_all[v],
                      "ms_graph": 1e3 * graphed[v] if graphed else None} for v in alone_1},
        "node_sum_ms_1_thread": 1e3 * sum(alone_1.values()),
        "node_max_ms_alone": slowest_ms,
        "balanced_ms_per_frame": (1e3 * makespan(list(alone_1), alone_1, in_use)
                                  if device.type == "cpu" else None),
        "handoff_ms": handoff, "allocator": allocator,
        "workers": workers, "threads_per_worker": team, "cores": cores,
        "intra_op_threads": torch.get_num_threads(),
        "torch": torch.__version__, "load_before": load_before, "load_after": _load(),
        "other_processes_cores": other_cores,
    }


# -- distributed scaling ------------------------------------------------------------------


def _distributed_rank(rank, world, network, batch, frames, warmup, seed):
    """One rank of :func:`bench_distributed` (module level: the rank processes import it)."""
    import streamnets as sn

    from ..nn import StreamNet
    from ..seeding import seed_everything
    from .distributed import DistributedExecutor, time_frames

    seed_everything(seed)
    model = StreamNet(sn.load(network)).eval()
    ex = DistributedExecutor(model, "streaming")
    clip = random_clip(model, batch, frames + warmup, torch.device("cpu"), seed + 2)
    with torch.no_grad():
        torch.distributed.barrier()
        times, outputs = time_frames(ex, clip, warmup, "cpu")
    result = {"rank": rank, "nodes": ex.nodes_of(rank), "ms_per_frame": 1e3 * statistics.median(times),
              "ms_min": 1e3 * min(times), "threads": torch.get_num_threads()}
    if rank == 0:
        match, diff = compare_outputs(outputs, ReferenceExecutor(model, "streaming").run(clip))
        result.update(outputs_match=match, max_abs_diff=diff)
    return result


def bench_distributed(network="cifar10_dsr6", batch=1, ranks=(1, 2, 3), frames=100, warmup=20, seed=0):
    """Per-frame latency of :class:`~streamnets.parallel.DistributedExecutor` over gloo
    ranks on this machine (each rank ``max(1, cores // ranks)`` intra-op threads).

    Returns ``{"network", "batch", "cores", "load_before", "load_after", "ranks": [{"ranks",
    "ms_per_frame" (rank 0's median), "nodes_by_rank", "threads_per_rank", "outputs_match",
    "max_abs_diff"}, ...]}``.

    Examples
    --------
    >>> bench_distributed("cifar10_dsr0", ranks=(1, 0))
    Traceback (most recent call last):
    ...
    streamnets.errors.SettingError: ranks must be a whole number >= 1, got 0
    """
    import streamnets as sn

    from .distributed import launch

    # Checked here, before any rank is launched: a bad value would fail in every rank
    # (ranks=0: ZeroDivisionError, frames=0: an empty median) or after the first counts ran.
    sn.load(network)
    batch, frames = whole_number("batch", batch), whole_number("frames", frames)
    warmup = whole_number("warmup", warmup, lo=0)
    try:
        ranks = [whole_number("ranks", world) for world in ranks]
    except TypeError:
        raise SettingError(f"ranks must be a list of rank counts, e.g. (1, 2, 3), got {ranks!r}") from None
    load_before = _load()
    rows = []
    for world in ranks:
        results = launch(_distributed_rank, world, args=(network, batch, frames, warmup, seed))
        head = results[0]
        rows.append({"ranks": world, "ms_per_frame": head["ms_per_frame"], "ms_min": head["ms_min"],
                     "nodes_by_rank": [r["nodes"] for r in results], "threads_per_rank": head["threads"],
                     "outputs_match": head["outputs_match"], "max_abs_diff": head["max_abs_diff"]})
    return {"network": network if isinstance(network, str) else network.name, "batch": batch,
            "backend": "gloo", "cores": cpu_cores(), "frames": frames, "load_before": load_before,
            "load_after": _load(), "ranks": rows}
