"""CPU model parallelism: a pool of worker threads updates a frame's nodes concurrently.

PyTorch releases the GIL inside its kernels, so threads overlap the convolutions of
different nodes; the Python around each kernel (a few µs per node) still takes
turns on the GIL.

Threads: inter-node and intra-op parallelism share the same cores. Each worker sets
its own intra-op thread count (``torch.set_num_threads`` in the worker; with the
OpenMP backend of the CPU builds this is the worker thread's OpenMP setting, so
the caller's count stays as it was), by default ``cores // workers``: on 2 cores,
2 workers of 1 thread each: the calling thread and one pool thread. Update steps
with a single node (every step of the sequential rollout) run in the calling
thread with its full intra-op threads.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import statistics
import threading
import time
import weakref
from collections import deque

import torch

from ..device import cpu_cores, intra_op_threads, keep_freed_memory
from ..errors import SettingError, whole_number
from .base import Executor
from .cost import BalancedShares, balanced_partition, check_costs, steady_values

__all__ = ["ThreadExecutor", "cpu_cores"]


def _worker(inbox, done, threads):
    # A thread takes the process-wide count lazily, at its first parallel op;
    # trigger that now so that the caller restoring its count later cannot
    # overwrite this worker's own.
    torch.get_num_threads()
    torch.set_num_threads(threads)
    done.put((0, None))  # ready (ticket 0: no step's)
    with torch.no_grad():  # grad mode is per thread
        while True:
            order = inbox.get()
            if order is None:
                return
            ticket, job = order
            try:
                job()
            except BaseException as exc:  # handed to the caller, re-raised there
                done.put((ticket, exc))
            else:
                done.put((ticket, None))
            del order, job  # do not keep the frame's tensors alive until the next one


def _shutdown(inboxes, threads):
    for box in inboxes:
        box.put(None)
    for t in threads:
        t.join(timeout=5)


class ThreadExecutor(BalancedShares, Executor):
    """A frame's node updates on a pool of worker threads.

    Parameters
    ----------
    model : StreamNet
    rollout : Rollout or str
        Any valid pattern (default: the model's ``default_rollout``,
        streaming unless set). Nodes of one update step run
        together, the steps in order, with a barrier between them.
    workers : int, optional
        Worker threads; default ``min(cores, widest step)``.
    intra_op_threads : int, optional
        Intra-op threads of each worker; default ``max(1, cores // workers)``.
    costs : dict of str to float, optional
        Per-node costs for the order in which a step's nodes are handed out and
        for the static shares (default: estimated FLOPs; :meth:`calibrate`
        replaces them by measured times).
    schedule : {"dynamic", "static"}
        ``"dynamic"``: workers take the next node from a shared queue, the most
        expensive first (adapts to timing noise). ``"static"``: every worker runs a
        fixed, cost-balanced share (:func:`~streamnets.parallel.cost.balanced_partition`).
    caller_works : bool
        The calling thread is one of the workers (default; one thread hand-off
        less per update step, measurably faster on small frames), switching its
        intra-op thread count to the workers' for the step; otherwise it waits
        for ``workers`` pool threads. ``torch.set_num_threads`` also sets the
        default of threads that have not run a parallel op yet and MKL's global
        count, so these see the workers' count during a parallel step.
    keep_memory : bool
        Call :func:`~streamnets.device.keep_freed_memory` (glibc: freed tensor
        memory stays in the heap; process-wide). Default True: without it every
        worker thread pays page faults for each new node value, at batch 16 about
        twice the node's compute.

    Notes
    -----
    Steps from several threads at once take turns on the pool (their update
    steps run one after the other, the results stay right); for streams that
    should run side by side, make one executor per stream.

    Keep ``workers * intra_op_threads <= cores``. Oversubscribing is slower, and
    with libgomp (the OpenMP of the CPU wheels) it is slower *for the whole
    process from then on*: as soon as more OpenMP threads exist than cores,
    libgomp stops spinning in its barriers, so every later multi-threaded op pays
    a thread wake-up. Measured here (2 cores, torch 2.13): ``model.step`` of
    cifar10_dsr6 at batch 1 with 2 intra-op threads went from 2.3 to 5.8 ms per
    frame after a ``ThreadExecutor(workers=2, intra_op_threads=2)`` had run, and
    stayed there after it was closed.

    With more cores than a frame has nodes, give the workers teams: on 16 cores
    (Intel Xeon) cifar10_dsr6 (10 nodes) ran 1.13 ms per frame at batch 1 and
    6.13 ms at batch 16 with ``workers=8, intra_op_threads=2``, against 1.24 and
    9.9 ms with 16 single-threaded workers and 2.19 / 7.62 ms for the best
    sequential setting. The default (10 workers, 1 thread each there) leaves
    cores idle whenever the widest step does not divide the cores. Teams exceed
    the cores in OpenMP threads (caller's pool included), so the slowdown above
    applies to the rest of the process.

    The outputs equal ``model.step``'s: every node runs the same kernels in the same
    order of terms; only the intra-op thread count may differ, which can change
    the last bits of a reduction (about 1e-7 relative; the tests allow 1e-5).

    Examples
    --------
    >>> import torch, streamnets as sn
    >>> from streamnets.nn import StreamNet
    >>> model = StreamNet(sn.load("cifar10_dsr1")).eval()
    >>> with ThreadExecutor(model, workers=2) as ex:
    ...     state = ex.initial_state(1)
    ...     for t in range(5):
    ...         outputs, state = ex.step(torch.rand(1, 3, 32, 32), state)
    >>> outputs["prediction"].shape
    torch.Size([1, 10])
    """

    name = "threads"

    def __init__(self, model, rollout=None, workers=None, intra_op_threads=None, costs=None,
                 schedule="dynamic", caller_works=True, keep_memory=True):
        super().__init__(model, rollout)
        if schedule not in ("dynamic", "static"):
            raise SettingError(f"schedule must be 'dynamic' or 'static', got {schedule!r}")
        cores = cpu_cores()
        self.workers = whole_number("workers", workers, default=True) or max(1, min(cores, self.schedule.width))
        self.intra_op_threads = (whole_number("intra_op_threads", intra_op_threads, default=True)
                                 or max(1, cores // self.workers))
        self.mode = schedule
        self.caller_works = bool(caller_works)
        if keep_memory:
            keep_freed_memory()
        self._balance(check_costs(self.rollout.network, costs))
        self._inboxes, self._threads = [], []
        self._done = queue.SimpleQueue()
        self._ticket = 0
        self._lock = threading.Lock()  # one update step at a time on the pool
        self._finalizer = None
        if self.workers > 1 and self.schedule.width > 1:
            self._start(self.workers - 1 if self.caller_works else self.workers)

    def _balance(self, costs):
        """Order every update step's nodes by ``costs`` and split them into shares."""
        self.costs = dict(costs)
        # Most expensive first: the longest-processing-time rule for the shared queue.
        self._groups = [tuple(sorted(g, key=lambda v: -costs[v])) for g in self.schedule.groups]
        owner = balanced_partition(self.schedule.groups, costs, self.workers)
        self._shares = [[tuple(v for v in g if owner[v] == k) for k in range(self.workers)]
                        for g in self._groups]

    @property
    def shares(self):
        """Per update step, the nodes of each worker under the static schedule (the
        dynamic one hands the same nodes out most expensive first)."""
        return [tuple(s) for s in self._shares]

    def _start(self, count):
        before = torch.get_num_threads()
        for k in range(count):
            inbox = queue.SimpleQueue()
            t = threading.Thread(target=_worker, args=(inbox, self._done, self.intra_op_threads),
                                 name=f"streamnets-worker-{k}", daemon=True)
            t.start()
            self._inboxes.append(inbox)
            self._threads.append(t)
        for _ in self._threads:
            self._done.get()
        # set_num_threads also changes the default of threads started later and
        # MKL's global count: put the caller's back (the workers keep their own).
        torch.set_num_threads(before)
        self._finalizer = weakref.finalize(self, _shutdown, self._inboxes, self._threads)

    def close(self):
        """Stop the worker threads (the executor then runs everything in the caller).
        A step running in another thread finishes its current update step on the
        pool first; the rest of its frame then runs in its own thread."""
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()
                self._finalizer = None
            self._inboxes, self._threads = [], []

    def _compute(self, previous, current, outputs, frame, batch):
        kernels = self.schedule.kernels
        device = self._reference.device.type
        # Autocast is per thread: the pool runs under the caller's, as model.step would.
        cast = (torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) and self._threads
                else None)

        def run(nodes):
            with torch.autocast(device, dtype=cast) if cast is not None else contextlib.nullcontext():
                for v in nodes:
                    kernels[v].run(previous, current, outputs)

        for g, group in enumerate(self._groups):
            if len(group) <= 1 or not self._threads:
                run(group)
                continue
            if self.mode == "static":
                jobs = [(lambda nodes=nodes: run(nodes)) for nodes in self._shares[g] if nodes]
            else:
                tasks = deque(group)

                def job():
                    while True:
                        try:
                            v = tasks.popleft()  # atomic: each node is taken once
                        except IndexError:
                            return
                        run((v,))

                jobs = [job] * min(self.workers, len(group))
            self._run_jobs(jobs)

    def _run_jobs(self, jobs):
        """Run ``jobs`` (callables) at once: the first in the caller when it works
        or there is no pool, the others on the pool; wait for all, then re-raise
        the first error. Callers in several threads take turns."""
        with self._lock:
            self._run_jobs_locked(list(jobs))

    def _run_jobs_locked(self, jobs):
        if not self._inboxes:  # no pool, or closed while this step waited for its turn
            with intra_op_threads(self.intra_op_threads):
                for job in jobs:
                    job()
            return
        mine = jobs.pop(0) if self.caller_works else None
        # Every hand-off carries a ticket: after an interrupted wait (Ctrl-C), the
        # answers of that step's jobs come late and must not count for this one.
        self._ticket += 1
        sent = 0
        for box, job in zip(self._inboxes, jobs):
            box.put((self._ticket, job))
            sent += 1
        error = None
        if mine is not None:
            try:
                with intra_op_threads(self.intra_op_threads):
                    mine()
            except BaseException as exc:  # wait for the workers before raising
                error = exc
        errors = self._answers(sent)
        error = error or next((e for e in errors if e is not None), None)
        if error is not None:
            raise error

    def _answers(self, count):
        """The errors (or None) of the ``count`` jobs of the current ticket, once
        all have run; answers to an earlier, interrupted step are dropped."""
        errors = []
        while len(errors) < count:
            ticket, error = self._done.get()
            if ticket == self._ticket:
                errors.append(error)
        return errors

    def concurrent_ms(self, batch=1, frames=20, repeats=5, seed=0):
        """Milliseconds per frame when every worker runs its static share of a
        frame's node updates ``frames`` times over without waiting for the others
        (the slowest worker, median of ``repeats``): the floor of these shares on
        this machine. Unlike the shares' times measured alone, it includes how
        much the busy cores slow each other down (shared caches and memory
        bandwidth, SMT siblings); what a frame costs above it is coordination.
        With several update steps (patterns other than streaming), a worker runs
        its shares of all steps one after the other.

        Examples
        --------
        >>> import streamnets as sn
        >>> from streamnets.nn import StreamNet
        >>> with ThreadExecutor(StreamNet(sn.load("cifar10_dsr1")).eval(), workers=2) as ex:
        ...     ex.concurrent_ms(batch=1, frames=2, repeats=1) > 0
        True
        """
        batch, frames = whole_number("batch", batch), whole_number("frames", frames)
        repeats = whole_number("repeats", repeats)
        previous, current = steady_values(self.schedule, batch, seed)
        kernels = self.schedule.kernels
        if self._threads:
            shares = [[v for step in self._shares for v in step[k]] for k in range(self.workers)]
            shares = [nodes for nodes in shares if nodes]
        else:  # everything in the caller
            shares = [[v for group in self._groups for v in group]]

        def loop(nodes, seconds):
            with torch.no_grad():  # the caller's grad mode is its own
                start = time.perf_counter()
                for _ in range(frames):
                    for v in nodes:
                        kernels[v](previous, current)
                seconds.append(time.perf_counter() - start)

        samples = []
        for _ in range(repeats):
            seconds = [[] for _ in shares]
            self._run_jobs([functools.partial(loop, nodes, out) for nodes, out in zip(shares, seconds)])
            samples.append(max(out[0] for out in seconds) / frames)
        return 1e3 * statistics.median(samples)

    def __repr__(self):
        return (f"ThreadExecutor({self.rollout.network.name!r}, rollout={self.rollout.name!r}, "
                f"workers={self.workers}, intra_op_threads={self.intra_op_threads}, "
                f"schedule={self.mode!r}, caller_works={self.caller_works})")
