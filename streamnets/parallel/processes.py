"""CPU model parallelism over worker processes: no GIL between the workers.

Threads (:class:`~streamnets.parallel.ThreadExecutor`) take turns on the GIL
around every kernel and pay a thread wake-up per frame; on small frames (batch 1,
0.2-1 ms) that is a large part of the frame. Here every worker is a process of
its own:

- the model's parameters move to shared memory (``model.share_memory()``), so
  every worker computes with the caller's weights, also after in-place changes;
- a frame's node values live in shared-memory tensors: a worker reads what the
  others wrote in the frame before without a copy, and puts each new value there
  with one ``copy_``;
- the hand-offs are semaphores, polled for ``spin`` seconds before blocking, so
  while frames come in quickly nobody sleeps and nobody is woken up.

Each process updates a fixed share of every update step's nodes (balanced on
their costs, :func:`~streamnets.parallel.cost.balanced_partition`); the calling
process has the first share.
"""

from __future__ import annotations

import statistics
import time
import traceback
import weakref
from dataclasses import replace

import torch
import torch.multiprocessing as mp

from ..device import DeviceError, cpu_cores, intra_op_threads, keep_freed_memory
from ..errors import StreamnetsError
from .base import Executor
from .cost import balanced_partition, estimate_flops, measure_node_times
from .schedule import Schedule

__all__ = ["ProcessExecutor", "WorkerError"]

# Control words (one shared int64 tensor): what the workers do next, and each
# worker's status after it.
_OP, _GROUP, _PREVIOUS, _CURRENT, _REPEATS, _STATUS = 0, 1, 2, 3, 4, 5
_STEP, _SLOT, _SHARES, _REST, _LOOP, _STOP = 1, 2, 3, 4, 5, 6

#: Seconds between liveness checks while blocked on a semaphore.
_POLL = 0.1


class WorkerError(RuntimeError):
    """A worker process died, or did not start."""


def _acquire(sem, spin, alive, who):
    """Take ``sem``: poll it for ``spin`` seconds, then block, checking ``alive()``
    every :data:`_POLL` seconds (raises :class:`WorkerError` naming ``who`` when
    it is not)."""
    if sem.acquire(False):
        return
    deadline = time.perf_counter() + spin
    while time.perf_counter() < deadline:
        if sem.acquire(False):
            return
    while not sem.acquire(timeout=_POLL):
        if not alive():
            raise WorkerError(f"{who} is gone")


class _Slot:
    """One frame's node values for one batch size, in shared memory.

    ``present`` flags the non-empty values (a node is empty until a path from an
    input reaches it); ``logits`` holds what ``outputs`` report when a worker
    updates them.
    ``refs`` are weak references to the views of the values last handed out in a
    state: the slot is overwritten only once nobody holds them.
    """

    def __init__(self, key, schedule, batch, dtype, outputs):
        self.key = key
        self.values = [torch.empty(schedule.values_shape(v, batch), dtype=dtype).share_memory_()
                       for v in schedule.names]
        self.present = torch.zeros(len(schedule.names), dtype=torch.uint8).share_memory_()
        self.flags = self.present.numpy()
        self.logits = {v: torch.empty(schedule.values_shape(v, batch), dtype=dtype).share_memory_()
                       for v in outputs}
        self.refs = ()

    def shared(self):
        """What a worker needs of the slot (sent through a queue, storage shared)."""
        return self.key, self.values, self.present, self.logits

    def in_use(self):
        """Whether a state handed out still holds one of its values."""
        return any(r is not None and r() is not None for r in self.refs)

    def holds(self, values):
        """Whether ``values`` (a state's) are the views this slot handed out last."""
        if len(values) != len(self.refs):
            return False
        return all((x is None and r is None) or (r is not None and r() is x)
                   for x, r in zip(values, self.refs))

    def hand_out(self):
        """Fresh views of the present values (a state's values), remembered weakly."""
        views = tuple(x.detach() if f else None for x, f in zip(self.values, self.flags.tolist()))
        self.refs = tuple(None if x is None else weakref.ref(x) for x in views)
        return views


def _run_share(kernels, slot_prev, slot_cur, logits):
    """Update ``kernels`` from the previous slot's values into the current slot."""
    values_p, flags_p = slot_prev
    values_c, flags_c = slot_cur
    previous = [x if f else None for x, f in zip(values_p, flags_p.tolist())]
    current = [x if f else None for x, f in zip(values_c, flags_c.tolist())]
    outputs = {}
    for kernel in kernels:
        value, out = kernel(previous, current)
        if value is None:
            continue
        values_c[kernel.index].copy_(value)
        flags_c[kernel.index] = 1
        if kernel.is_output:
            if logits is None:
                outputs[kernel.name] = out
            else:
                logits[kernel.name].copy_(out)
    return outputs


def _loop(shares, previous, current, repeats):
    """Seconds to run every step's share ``repeats`` times over, on fixed values."""
    start = time.perf_counter()
    for _ in range(repeats):
        for share in shares:
            _run_share(share, previous[:2], current[:2], current[2])
    return time.perf_counter() - start


def _serve(index, model, rollout, threads, spin, go, done, control, seconds, inbox, errors, keep_memory):
    """A worker process: wait for an order, carry it out, report, until stopped."""
    torch.set_num_threads(threads)
    if keep_memory:
        keep_freed_memory()
    parent = mp.parent_process()
    words, seconds = control.numpy(), seconds.numpy()
    kernels, slots = Schedule(model, rollout).kernels, {}
    shares, poll = [], spin
    done.release()  # ready
    with torch.no_grad():
        while True:
            try:
                _acquire(go, poll, parent.is_alive, "the calling process")
            except WorkerError:  # the caller died without closing the executor
                return
            op, status, poll = int(words[_OP]), 0, spin
            if op == _STOP:
                return
            try:
                if op == _STEP:
                    previous, current = slots[int(words[_PREVIOUS])], slots[int(words[_CURRENT])]
                    _run_share(shares[int(words[_GROUP])], previous[:2], current[:2], current[2])
                elif op == _SLOT:
                    key, values, present, logits = inbox.get()
                    slots[key] = (values, present.numpy(), logits)
                elif op == _SHARES:
                    shares = [[kernels[v] for v in share] for share in inbox.get()]
                elif op == _REST:
                    poll = 0.0
                elif op == _LOOP:
                    previous, current = slots[int(words[_PREVIOUS])], slots[int(words[_CURRENT])]
                    seconds[index] = _loop(shares, previous, current, int(words[_REPEATS]))
            except BaseException as exc:  # reported to the caller, raised there
                status = 1
                text = traceback.format_exc()
                try:
                    errors.put((exc, text))
                except Exception:  # not picklable: its text will do
                    errors.put((RuntimeError(f"{type(exc).__name__}: {exc}"), text))
            words[_STATUS + index] = status
            done.release()


def _shutdown(control, gos, processes):
    words = control.numpy()
    words[_OP] = _STOP
    for go, proc in zip(gos, processes):
        if proc.is_alive():
            go.release()
    for proc in processes:
        proc.join(timeout=5)
        if proc.is_alive():  # pragma: no cover - a worker stuck in a kernel
            proc.terminate()
            proc.join(timeout=5)


class ProcessExecutor(Executor):
    """A frame's node updates on worker processes (CPU).

    Parameters
    ----------
    model : StreamNet
        On the CPU. Its parameters and buffers move to shared memory.
    rollout : Rollout or str
        Any valid pattern (default: streaming). Nodes of one update step run
        together, the steps in order, with a barrier between them.
    workers : int, optional
        Processes, the calling one included; default ``min(cores, widest step)``.
    intra_op_threads : int, optional
        Intra-op threads of each worker; default ``max(1, cores // workers)``.
    costs : dict of str to float, optional
        Per-node costs for the shares (default: estimated FLOPs;
        :meth:`calibrate` replaces them by measured times).
    spin : float
        Seconds a process waiting for the next order (or for the workers'
        answers) polls before it sleeps (default 2 ms). Polling keeps a core busy,
        sleeping costs a wake-up (tens of µs) when the order comes.
    keep_memory : bool
        :func:`~streamnets.device.keep_freed_memory` in every process (default True).
    start_timeout : float
        Seconds to wait for the workers to start (they import torch).

    Notes
    -----
    The workers are started with ``spawn``: in a script, create the executor under
    ``if __name__ == "__main__":``, as for any spawned process. Starting takes a
    few seconds (each worker imports torch); make one executor and step it many
    times.

    A state's values are views of shared memory. The executor writes a frame into
    a set of buffers ("slot") that no state handed out still holds, so states
    stay valid as long as they are kept (holding many of them costs one slot
    each). Outputs are ordinary tensors.

    The outputs equal ``model.step``'s up to the intra-op thread count (the tests
    allow 1e-5): every node runs the same kernels as the engine.

    One ``step`` at a time (make one executor per stream of frames). The caller
    runs each step with the workers' intra-op thread count: with more, its own
    OpenMP threads would keep polling on the workers' cores after every
    multi-threaded op. Shared memory is ``/dev/shm`` on Linux; a container with
    a small one (64 MiB) runs out at large batches (``docker run --shm-size``).

    Examples
    --------
    >>> import torch, streamnets as sn
    >>> from streamnets.nn import StreamNet
    >>> model = StreamNet(sn.load("cifar10_dsr1")).eval()
    >>> with ProcessExecutor(model, workers=2) as ex:
    ...     outs = ex.run(torch.rand(1, 5, 3, 32, 32))
    >>> outs[-1]["prediction"].shape
    torch.Size([1, 10])
    """

    name = "processes"

    def __init__(self, model, rollout="streaming", workers=None, intra_op_threads=None, costs=None,
                 spin=2e-3, keep_memory=True, start_timeout=120.0):
        super().__init__(model, rollout)
        if self.device.type != "cpu":
            raise DeviceError(f"ProcessExecutor runs on the CPU but the model is on {self.device}; "
                              f"use CudaStreamExecutor for a GPU")
        cores = cpu_cores()
        self.workers = int(workers) if workers else max(1, min(cores, self.schedule.width))
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.intra_op_threads = int(intra_op_threads) if intra_op_threads else max(1, cores // self.workers)
        self.spin = float(spin)
        if keep_memory:
            keep_freed_memory()
        self._outputs_at = [(v, self.schedule.index[v]) for v in self.schedule.outputs
                            if v not in self.schedule.inputs]
        self._pools, self._keys = {}, 0
        self._procs, self._gos, self._dones, self._inboxes, self._errors = [], [], [], [], []
        self._finalizer = None
        self._shares = []
        self._control = torch.zeros(_STATUS + self.workers, dtype=torch.int64).share_memory_()
        self._words = self._control.numpy()
        self._seconds = torch.zeros(self.workers, dtype=torch.float64).share_memory_()
        self._kernels = self.schedule.kernels
        if self.workers > 1 and self.schedule.width > 1:
            self._start(model, keep_memory, float(start_timeout))
        self._balance(costs or estimate_flops(self.rollout.network))

    # -- workers ---------------------------------------------------------------------

    def _start(self, model, keep_memory, timeout):
        model.share_memory()
        ctx = mp.get_context("spawn")
        for k in range(1, self.workers):
            go, done = ctx.Semaphore(0), ctx.Semaphore(0)
            inbox, errors = ctx.SimpleQueue(), ctx.SimpleQueue()
            proc = ctx.Process(target=_serve, name=f"streamnets-worker-{k}", daemon=True,
                               args=(k, model, self.rollout, self.intra_op_threads, self.spin, go, done,
                                     self._control, self._seconds, inbox, errors, keep_memory))
            proc.start()
            self._procs.append(proc)
            self._gos.append(go)
            self._dones.append(done)
            self._inboxes.append(inbox)
            self._errors.append(errors)
        self._finalizer = weakref.finalize(self, _shutdown, self._control, self._gos, self._procs)
        deadline = time.monotonic() + timeout
        try:
            for k, (done, proc) in enumerate(zip(self._dones, self._procs), start=1):
                while not done.acquire(timeout=_POLL):
                    if not proc.is_alive():
                        raise WorkerError(f"worker process {k} exited with code {proc.exitcode} while "
                                          f"starting (its error is printed above)")
                    if time.monotonic() > deadline:
                        raise WorkerError(f"worker process {k} did not start within {timeout:.0f} s")
        except BaseException:
            self.close()
            raise

    def _order(self, op, workers, payloads=None):
        """Give ``workers`` (1-based) the order ``op`` (with a payload each through
        their inbox), wait for all of them; raise the first error one reported."""
        self._words[_OP] = op
        for k in workers:
            if payloads is not None:
                self._inboxes[k - 1].put(payloads[k])
            self._gos[k - 1].release()
        self._collect(workers)

    def _collect(self, workers):
        error = None
        for k in workers:
            proc = self._procs[k - 1]
            try:
                _acquire(self._dones[k - 1], self.spin, proc.is_alive, f"worker process {k}")
            except WorkerError:
                code = proc.exitcode
                self.close()
                raise WorkerError(f"worker process {k} (pid {proc.pid}) exited with code {code}; "
                                  f"the executor is closed, make a new one") from None
            if self._words[_STATUS + k] and error is None:
                exc, text = self._errors[k - 1].get()
                if hasattr(exc, "add_note"):  # Python 3.11+
                    exc.add_note(f"in worker process {k}:\n{text}")
                error = exc
            elif self._words[_STATUS + k]:
                self._errors[k - 1].get()
        if error is not None:
            raise error

    def rest(self):
        """Let the workers sleep until the next frame instead of polling for it
        (when no frame will come for a while and the cores are wanted elsewhere).

        Examples
        --------
        >>> import torch, streamnets as sn
        >>> from streamnets.nn import StreamNet
        >>> with ProcessExecutor(StreamNet(sn.load("cifar10_dsr1")).eval(), workers=2) as ex:
        ...     _, state = ex.step(torch.rand(1, 3, 32, 32), ex.initial_state(1))
        ...     ex.rest()
        ...     state.frame
        0
        """
        if self._procs:
            self._order(_REST, range(1, 1 + len(self._procs)))

    def close(self):
        """Stop the worker processes (the executor then runs everything in the caller)."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._procs, self._gos, self._dones, self._inboxes, self._errors = [], [], [], [], []
        self._pools = {}

    # -- shares ----------------------------------------------------------------------

    def _balance(self, costs):
        self.costs = dict(costs)
        parts = 1 + len(self._procs)
        owner = balanced_partition(self.schedule.groups, self.costs, parts)
        self._shares = [[tuple(v for v in g if owner[v] == k) for g in self.schedule.groups]
                        for k in range(parts)]
        self._mine = [[self._kernels[v] for v in share] for share in self._shares[0]]
        self._busy = [[k for k in range(1, parts) if self._shares[k][g]]
                      for g in range(len(self.schedule.groups))]
        if self._procs:
            self._order(_SHARES, range(1, parts), self._shares)

    @property
    def shares(self):
        """Per process (the caller first), its nodes of every update step."""
        return [list(s) for s in self._shares]

    def calibrate(self, batch=1, repeats=20):
        """Time every node alone at this batch size with the workers' intra-op
        thread count, and rebalance the shares on those times. Returns
        ``{node: seconds}``, which also become :attr:`costs`.

        Examples
        --------
        >>> import streamnets as sn
        >>> from streamnets.nn import StreamNet
        >>> with ProcessExecutor(StreamNet(sn.load("cifar10_dsr1")).eval(), workers=2) as ex:
        ...     sorted(ex.calibrate(batch=1, repeats=2)) == sorted(ex.costs)
        True
        """
        times = measure_node_times(self.schedule, batch, threads=self.intra_op_threads, repeats=repeats)
        self._balance(times)
        return times

    def concurrent_ms(self, batch=1, frames=20, repeats=5, seed=0):
        """Milliseconds per frame when every process runs its share of a frame's
        node updates ``frames`` times over without waiting for the others (the
        slowest process, median of ``repeats``): the floor of these shares on
        this machine, busy cores slowing each other down included; what a frame
        costs above it is coordination. As
        :meth:`ThreadExecutor.concurrent_ms <streamnets.parallel.ThreadExecutor.concurrent_ms>`,
        without the GIL between the shares.

        Examples
        --------
        >>> import streamnets as sn
        >>> from streamnets.nn import StreamNet
        >>> with ProcessExecutor(StreamNet(sn.load("cifar10_dsr1")).eval(), workers=2) as ex:
        ...     ex.concurrent_ms(batch=1, frames=2, repeats=1) > 0
        True
        """
        # Steady values: random frames stepped until every node holds one.
        gen = torch.Generator().manual_seed(seed)
        inputs = {v: torch.rand(self.schedule.values_shape(v, batch), generator=gen) for v in self.schedule.inputs}
        frame = inputs if len(inputs) > 1 else next(iter(inputs.values()))
        state = self.initial_state(batch)
        for _ in range(self.schedule.plan.steady + 2):
            _, state = self.step(frame, state)
        if not self._procs:
            shares = [[self._kernels[v] for g in self.schedule.groups for v in g]]
            return 1e3 * statistics.median(self._loop_once(shares, state, None, frames) for _ in range(repeats))
        samples = []
        for _ in range(repeats):
            samples.append(self._loop_once(self._mine, state, range(1, 1 + len(self._procs)), frames))
        return 1e3 * statistics.median(samples)

    def _loop_once(self, mine, state, workers, frames):
        """One round of :meth:`concurrent_ms`: seconds per frame of the slowest process."""
        batch = state.batch_size
        previous = self._slot_of(state, batch)
        current = self._free_slot(batch, previous)
        current.flags[:] = previous.flags
        words = self._words
        words[_PREVIOUS], words[_CURRENT], words[_REPEATS] = previous.key, current.key, frames
        if workers:
            words[_OP] = _LOOP
            for k in workers:
                self._gos[k - 1].release()
        try:
            with intra_op_threads(self.intra_op_threads), torch.no_grad():
                mine = _loop(mine, (previous.values, previous.flags), (current.values, current.flags, None), frames)
        finally:
            if workers:
                self._collect(workers)
        theirs = self._seconds.tolist()[1:] if workers else []
        return max([mine, *theirs]) / frames

    # -- slots -----------------------------------------------------------------------

    def _new_slot(self, batch):
        self._keys += 1
        # Logits buffers for every output: calibrate() may give any of them to a worker.
        slot = _Slot(self._keys, self.schedule, batch, self._reference.dtype, [v for v, _ in self._outputs_at])
        self._order(_SLOT, range(1, 1 + len(self._procs)), [None] + [slot.shared()] * len(self._procs))
        self._pools.setdefault(batch, []).append(slot)
        return slot

    def _free_slot(self, batch, taken):
        for slot in self._pools.get(batch, ()):
            if slot is not taken and not slot.in_use():
                return slot
        return self._new_slot(batch)

    def _slot_of(self, state, batch):
        """The slot holding ``state``'s values; a state from elsewhere is copied in."""
        pool = self._pools.get(batch, ())
        for slot in pool:
            if slot.holds(state.values):
                return slot
        slot = self._free_slot(batch, None)
        slot.refs = ()
        for i, x in enumerate(state.values):
            slot.flags[i] = x is not None
            if x is None:
                continue
            if x.shape != slot.values[i].shape:
                raise StreamnetsError(f"state value of node {self.schedule.names[i]!r} has shape "
                                      f"{tuple(x.shape)}, expected {tuple(slot.values[i].shape)}")
            slot.values[i].copy_(x)
        return slot

    # -- stepping --------------------------------------------------------------------

    def step(self, frame, state):
        if not self._procs:
            return super().step(frame, state)
        current, batch = self._frame_values(frame, state)
        # Every copy too: with more threads, the caller's own OpenMP threads would
        # wake up and keep polling on the workers' cores (dsr0 at batch 16: 8.0 ms
        # per frame instead of 2.4).
        with intra_op_threads(self.intra_op_threads), torch.no_grad():
            previous = self._slot_of(state, batch) if state.frame >= 0 else None
            slot = self._free_slot(batch, previous)
            slot.flags[:] = 0
            for i, x in enumerate(current):
                if x is not None:
                    slot.values[i].copy_(x)
                    slot.flags[i] = 1
            outputs = dict.fromkeys(self.schedule.outputs)
            if previous is not None:
                self._compute_slots(previous, slot, outputs)
                self._input_outputs(current, outputs)
        return outputs, replace(state, frame=state.frame + 1, values=slot.hand_out())

    def _compute_slots(self, previous, slot, outputs):
        words = self._words
        words[_PREVIOUS], words[_CURRENT] = previous.key, slot.key
        for g, mine in enumerate(self._mine):
            busy = self._busy[g]
            if busy:
                words[_OP], words[_GROUP] = _STEP, g
                for k in busy:
                    self._gos[k - 1].release()
            try:
                outputs.update(_run_share(mine, (previous.values, previous.flags),
                                          (slot.values, slot.flags), None))
            finally:  # the workers read these buffers: wait for them before raising
                self._collect(busy)
        flags = slot.flags
        for v, i in self._outputs_at:
            if outputs[v] is None and flags[i]:  # a worker's
                outputs[v] = slot.logits[v].clone()

    def _compute(self, previous, current, outputs, frame, batch):
        """Without workers: every node in the caller."""
        for group in self.schedule.groups:
            for v in group:
                kernel = self._kernels[v]
                value, logits = kernel(previous, current)
                current[kernel.index] = value
                if kernel.is_output:
                    outputs[v] = logits

    def __repr__(self):
        return (f"ProcessExecutor({self.rollout.network.name!r}, rollout={self.rollout.name!r}, "
                f"workers={self.workers}, intra_op_threads={self.intra_op_threads})")
