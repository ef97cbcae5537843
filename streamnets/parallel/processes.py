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
process has the first share. The worker side is in :mod:`._worker`.
"""

from __future__ import annotations

import pickle
import signal
import statistics
import threading
import time
import weakref
from dataclasses import replace

import torch
import torch.multiprocessing as mp

from ..device import DeviceError, cpu_cores, intra_op_threads, keep_freed_memory
from ..errors import SettingError, StreamnetsError, positive_number, whole_number
from ..nn.model import state_error
from . import _worker as w
from ._worker import WorkerError
from .base import Executor
from .cost import BalancedShares, balanced_partition, check_costs, steady_values
from .reference import SerialExecutor

__all__ = ["ProcessExecutor", "WorkerError"]

#: Free slots a batch size keeps for reuse; the others are given back every
#: :data:`_TRIM_EVERY` steps (each slot holds shared memory and file descriptors).
_KEEP, _TRIM_EVERY = 3, 64


def _use_count(tensor):
    """How many tensors hold ``tensor``'s storage (torch's CUDA graph trees check
    storage liveness the same way): views, ``detach()``, ``.data`` and numpy
    arrays of it all count."""
    return torch._C._storage_Use_Count(tensor.untyped_storage()._cdata)


class _Slot:
    """One frame's node values for one batch size, in shared memory.

    ``present`` flags the non-empty values (a node is empty until a path from an
    input reaches it); ``logits`` holds what ``outputs`` report when a worker
    updates them. ``refs`` are weak references to the views of the values last
    handed out in a state (to recognise that state when it comes back).
    """

    def __init__(self, key, schedule, batch, dtype, outputs):
        self.key = key
        # Normal tensors also when made under torch.inference_mode(): the slot is
        # written in place by later steps, which may run outside it.
        with torch.inference_mode(False):
            self.values = [torch.empty(schedule.values_shape(v, batch), dtype=dtype).share_memory_()
                           for v in schedule.names]
            self.present = torch.zeros(len(schedule.names), dtype=torch.uint8).share_memory_()
            self.logits = {v: torch.empty(schedule.values_shape(v, batch), dtype=dtype).share_memory_()
                           for v in outputs}
        self.flags = self.present.numpy()
        self.refs = ()
        self.baseline = ()

    def shared(self):
        """What a worker needs of the slot (sent through a queue, storage shared)."""
        return self.key, self.values, self.present, self.logits

    def seal(self):
        """Count the slot's own holders of its storage, once it is set up."""
        self.baseline = [_use_count(x) for x in self.values]

    def in_use(self):
        """Whether anything outside the slot still holds one of its values: a state
        handed out, or any view, copy-free alias or numpy array of its values."""
        return any(_use_count(x) > n for x, n in zip(self.values, self.baseline))

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

    def arguments(self, logits=True):
        """``(values, flags, logits)`` for :func:`._worker.run_share`."""
        return self.values, self.flags, self.logits if logits else None


def start_context():
    """The multiprocessing context that worker processes and ranks start from:
    ``forkserver`` with this package preloaded (a new process forks from one that
    has imported torch, instead of importing it: tens of milliseconds instead of
    seconds), or ``spawn`` where there is no forkserver (Windows).

    Examples
    --------
    >>> start_context().get_start_method() in ("forkserver", "spawn")
    True
    """
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    # __main__ is the forkserver's default preload; the list has no effect once it runs.
    ctx.set_forkserver_preload(["__main__", __package__])
    return ctx


def _how_it_ended(exitcode):
    """What a worker's exit code says, for an error message.

    Examples
    --------
    >>> _how_it_ended(-9)
    'was killed by signal 9 (SIGKILL; out of memory?)'
    """
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name if -exitcode in signal.valid_signals() else "?"
        return f"was killed by signal {-exitcode} ({name}{'; out of memory?' if name == 'SIGKILL' else ''})"
    if exitcode == 0:
        return "exited without an error (code 0)"
    return f"exited with code {exitcode} (its error is printed above)"


class ProcessExecutor(BalancedShares, Executor):
    """A frame's node updates on worker processes (CPU).

    Parameters
    ----------
    model : StreamNet
        On the CPU. Its parameters and buffers move to shared memory.
    rollout : Rollout or str
        Any valid pattern (default: the model's ``default_rollout``,
        streaming unless set). Nodes of one update step run
        together, the steps in order, with a barrier between them.
    workers : int, optional
        Processes, the calling one included; default ``min(cores, widest step)``,
        and never more than the widest step (more would get no node).
    intra_op_threads : int, optional
        Intra-op threads of each process; default ``max(1, cores // workers)``.
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
        Seconds to wait for the workers to start (the first ones import torch).

    Notes
    -----
    The workers fork from multiprocessing's *forkserver*, which imports torch and
    ``streamnets.parallel`` once (``spawn`` where there is none, on Windows): the first
    executor of a process takes a second or two to start, later ones tens of
    milliseconds (measured: 2.3 s, then 0.04 s; with ``spawn`` 2.7 s every time).
    The forkserver is shared by the whole process: the first executor sets its
    preload list (``__main__``, its default, and ``streamnets.parallel``), unless it is
    already running; workers see the environment variables of the moment it
    started. As for any process started this way, in a script create the
    executor under ``if __name__ == "__main__":``.

    Each worker holds a copy of the model whose parameters and buffers share the
    caller's memory: changes in place (an optimiser step, ``load_state_dict``)
    reach it, and so do ``train()`` / ``eval()`` (sent with the next step).
    Parameters replaced out of place (``.to()``, ``.double()``, ``p.data = ...``)
    are an error at the next step; hooks, new modules or new Parameter objects
    added later are not seen by the workers: make a new executor then.

    A state's values are views of shared memory. The executor writes a frame into
    a set of buffers ("slot") that nothing outside it still holds (a state, or any
    view, ``detach()`` or numpy array of its values), so states and values stay
    valid as long as they are kept (holding many costs one slot each). Sent to
    another process they are not a snapshot: copy them first. Outputs are ordinary
    tensors.

    The outputs equal ``model.step``'s up to the intra-op thread count (the tests
    allow 1e-5): every node runs the same kernels as the engine.

    Steps from several threads at once take turns (for streams that should run
    side by side, make one executor per stream). The caller runs each step with the workers' intra-op thread count: with more, its own
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

    def __init__(self, model, rollout=None, workers=None, intra_op_threads=None, costs=None,
                 spin=2e-3, keep_memory=True, start_timeout=120.0):
        super().__init__(model, rollout)
        if self.device.type != "cpu":
            raise DeviceError(f"ProcessExecutor runs on the CPU but the model is on {self.device}; "
                              f"use CudaStreamExecutor for a GPU")
        cores, width = cpu_cores(), self.schedule.width
        self.workers = min(whole_number("workers", workers, default=True) or cores, width)
        self.intra_op_threads = (whole_number("intra_op_threads", intra_op_threads, default=True)
                                 or max(1, cores // self.workers))
        self.spin = float(positive_number("spin", spin, zero=True))
        start_timeout = positive_number("start_timeout", start_timeout)
        costs = check_costs(self.rollout.network, costs)  # before any worker starts
        if keep_memory:
            keep_freed_memory()
        self._kernels = self.schedule.kernels
        self._outputs_at = [(v, self.schedule.index[v]) for v in self.schedule.outputs
                            if v not in self.schedule.inputs]
        self._dropouts = [m for m in model.node_modules.values() if m.p]
        self._pools, self._keys, self._steps = {}, 0, 0
        self._procs, self._gos, self._dones, self._inboxes, self._errors = [], [], [], [], []
        self._finalizer = None
        self._lock = threading.RLock()  # orders from several threads take turns
        self._control = torch.zeros(w.STATUS + self.workers, dtype=torch.int64).share_memory_()
        self._words = self._control.numpy()
        self._seconds = torch.zeros(self.workers, dtype=torch.float64).share_memory_()
        if self.workers > 1:
            self._start(model, keep_memory, float(start_timeout))
        self._balance(costs)

    # -- workers ---------------------------------------------------------------------

    def _start(self, model, keep_memory, timeout):
        model.share_memory()
        self._params = [*model.parameters(), *model.buffers()]
        self._pointers = [p.data_ptr() for p in self._params]
        self._modes = tuple(m.training for m in self._dropouts)
        ctx = start_context()
        self._finalizer = weakref.finalize(self, w.shutdown, self._control, self._gos, self._procs)
        try:
            for k in range(1, self.workers):
                go, done = ctx.Semaphore(0), ctx.Semaphore(0)
                inbox, errors = ctx.SimpleQueue(), ctx.SimpleQueue()
                proc = ctx.Process(target=w.serve, name=f"streamnets-worker-{k}", daemon=True,
                                   args=(k, model, self.rollout, self.intra_op_threads, self.spin, go, done,
                                         self._control, self._seconds, inbox, errors, keep_memory))
                try:
                    proc.start()  # pickles the model into the new process
                except (pickle.PicklingError, TypeError, AttributeError) as exc:
                    raise SettingError(f"the model cannot be sent to the worker processes ({exc}): each gets "
                                       f"a pickled copy, so its hooks and attributes must be picklable "
                                       f"(module-level functions, not lambdas, local functions or locks); "
                                       f"remove them or use ThreadExecutor") from exc
                self._procs.append(proc)
                self._gos.append(go)
                self._dones.append(done)
                self._inboxes.append(inbox)
                self._errors.append(errors)
            deadline = time.monotonic() + timeout
            for k, (done, proc) in enumerate(zip(self._dones, self._procs), start=1):
                while not done.acquire(timeout=w.POLL):
                    if not proc.is_alive():
                        # the usual cause of an error exit (not of a signal: out of memory)
                        guard = ("; in a script, make the executor under if __name__ == '__main__':"
                                 if (proc.exitcode or 0) > 0 else "")
                        raise WorkerError(f"worker process {k} did not start: it "
                                          f"{_how_it_ended(proc.exitcode)}{guard}")
                    if time.monotonic() > deadline:
                        raise WorkerError(f"worker process {k} did not start within {timeout:.0f} s")
        except BaseException:
            self.close()
            raise

    def _order(self, op, payloads=None):
        """Give every worker the order ``op`` (with ``payloads[k]`` through worker
        k's inbox, k from 1), wait for all of them; raise the first error."""
        workers = range(1, 1 + len(self._procs))
        self._words[w.OP] = op
        for k in workers:
            if payloads is not None:
                self._inboxes[k - 1].put(payloads[k])
            self._gos[k - 1].release()
        error = self._collect(workers)
        if error is not None:
            raise error

    def _collect(self, workers):
        """Wait until ``workers`` (1-based) have reported; return the first error
        one of them raised (or None). A worker that died, or an interruption
        while waiting, closes the executor: the workers and the caller would no
        longer agree on whose turn it is."""
        error = None
        try:
            for k in workers:
                proc = self._procs[k - 1]
                try:
                    w.acquire(self._dones[k - 1], self.spin, proc.is_alive, f"worker process {k}")
                except WorkerError:
                    raise WorkerError(f"worker process {k} (pid {proc.pid}) "
                                      f"{_how_it_ended(proc.exitcode)}; the executor is closed, make "
                                      f"a new one") from None
                if self._words[w.STATUS + k]:
                    exc, text = self._errors[k - 1].get()
                    if error is None:
                        error = exc
                        if hasattr(exc, "add_note"):  # Python 3.11+
                            exc.add_note(f"in worker process {k}:\n{text}")
        except BaseException:
            self.close()
            raise
        return error

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
            with self._lock:
                self._order(w.REST)

    def close(self):
        """Stop the worker processes (the executor then runs everything in the caller).
        A step running in another thread finishes first."""
        with self._lock:
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
            with self._lock:
                self._order(w.SHARES, self._shares)

    @property
    def worker_pids(self):
        """The process ids of the worker processes (empty once closed)."""
        return [proc.pid for proc in self._procs]

    @property
    def shares(self):
        """Per process (the caller first), its nodes of every update step."""
        return [list(s) for s in self._shares]

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
        batch, frames = whole_number("batch", batch), whole_number("frames", frames)
        repeats = whole_number("repeats", repeats)
        _, current = steady_values(self.schedule, batch, seed)
        state = replace(self.initial_state(batch), frame=self.schedule.plan.steady + 1, values=tuple(current))
        mine = self._mine if self._procs else [[self._kernels[v] for g in self.schedule.groups for v in g]]
        with self._lock:
            return 1e3 * statistics.median(self._loop_once(mine, state, frames) for _ in range(repeats))

    def _loop_once(self, mine, state, frames):
        """One round of :meth:`concurrent_ms`: seconds per frame of the slowest process."""
        batch = state.batch_size
        with torch.no_grad():
            previous = self._slot_of(state, batch)
            current = self._free_slot(batch, previous)
            for x, y in zip(current.values, previous.values):  # real numbers, not uninitialised memory
                x.copy_(y)
            current.flags[:] = previous.flags
        words = self._words
        words[w.PREVIOUS], words[w.CURRENT], words[w.REPEATS] = previous.key, current.key, frames
        workers = range(1, 1 + len(self._procs))
        words[w.OP] = w.LOOP
        for k in workers:
            self._gos[k - 1].release()
        try:
            with intra_op_threads(self.intra_op_threads), torch.no_grad():
                mine = w.loop(mine, previous.arguments(), current.arguments(logits=False), frames)
        finally:
            error = self._collect(workers)
        if error is not None:
            raise error
        return max([mine, *self._seconds.tolist()[1:1 + len(workers)]]) / frames

    # -- slots -----------------------------------------------------------------------

    def _new_slot(self, batch):
        if batch not in self._pools:  # a new batch size: the other sizes' free slots go
            self._trim(lambda b: 0)
        self._keys += 1
        # Logits buffers for every output: calibrate() may give any of them to a worker.
        slot = _Slot(self._keys, self.schedule, batch, self._reference.dtype,
                     [v for v, _ in self._outputs_at])
        self._order(w.SLOT, [None] + [slot.shared()] * len(self._procs))
        slot.seal()
        self._pools.setdefault(batch, []).append(slot)
        return slot

    def _free_slot(self, batch, taken):
        for slot in self._pools.get(batch, ()):
            if slot is not taken and not slot.in_use():
                return slot
        return self._new_slot(batch)

    def _trim(self, keep):
        """Give back the free slots of every batch size beyond ``keep(batch)``."""
        freed = []
        for batch, pool in self._pools.items():
            free = [s for s in pool if not s.in_use()][keep(batch):]
            freed += [s.key for s in free]
            pool[:] = [s for s in pool if s not in free]
        self._pools = {b: p for b, p in self._pools.items() if p}
        if freed:
            self._order(w.FREE, [None] + [freed] * len(self._procs))

    def _slot_of(self, state, batch):
        """The slot holding ``state``'s values; a state from elsewhere is copied in."""
        for slot in self._pools.get(batch, ()):
            if slot.holds(state.values):
                return slot
        # model.step would fail on these: the copy below would convert silently or fail
        better = state_error(self.model, state, RuntimeError())
        if better:
            raise better
        slot = self._free_slot(batch, None)
        slot.refs = ()
        for i, x in enumerate(state.values):
            slot.flags[i] = x is not None
            if x is not None:
                slot.values[i].copy_(x)
        return slot

    # -- stepping --------------------------------------------------------------------

    def _check_model(self):
        """Send changed training modes; refuse parameters the workers cannot see."""
        if [p.data_ptr() for p in self._params] != self._pointers:
            raise StreamnetsError("the model's parameters or buffers were replaced (not changed in "
                                  "place: .to(), .double(), p.data = ...) after the ProcessExecutor "
                                  "started its workers, which still use the old ones; make a new executor")
        modes = tuple(m.training for m in self._dropouts)
        if modes != self._modes:
            self._order(w.MODES, [None] + [modes] * len(self._procs))
            self._modes = modes

    def step(self, frame, state):
        with self._lock:  # the slots and the control words are the workers' and ours
            if not self._procs:  # none started, or closed while this step waited for its turn
                return super().step(frame, state)
            if torch.is_autocast_enabled("cpu"):
                raise DeviceError("ProcessExecutor does not run under torch.autocast: its worker "
                                  "processes would compute in the model's dtype; use ThreadExecutor, "
                                  "or convert the model (model.bfloat16()) instead")
            return self._step_in_turn(frame, state)

    def _step_in_turn(self, frame, state):
        current, batch = self._frame_values(frame, state)
        self._check_model()
        self._steps += 1
        if self._steps % _TRIM_EVERY == 0:
            self._trim(lambda b: _KEEP)
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
        return outputs, replace(state, frame=state.frame + 1, values=slot.hand_out(), rollout=self.rollout)

    def _compute_slots(self, previous, slot, outputs):
        words = self._words
        words[w.PREVIOUS], words[w.CURRENT] = previous.key, slot.key
        for g, mine in enumerate(self._mine):
            busy = self._busy[g]
            if busy:
                words[w.OP], words[w.GROUP] = w.STEP, g
                for k in busy:
                    self._gos[k - 1].release()
            try:
                outputs.update(w.run_share(mine, previous.arguments(), slot.arguments(logits=False)))
            except BaseException as exc:  # wait for the workers (they use the slots); this error wins
                theirs = self._collect(busy)
                if theirs is not None and hasattr(exc, "add_note"):
                    exc.add_note(f"a worker failed in the same step: {theirs!r}")
                raise
            error = self._collect(busy)
            if error is not None:
                raise error
        flags = slot.flags
        for v, i in self._outputs_at:
            if outputs[v] is None and flags[i]:  # a worker's
                outputs[v] = slot.logits[v].clone()

    # Without workers every node runs in the caller, one after the other.
    _compute = SerialExecutor._compute

    def __repr__(self):
        return (f"ProcessExecutor({self.rollout.network.name!r}, rollout={self.rollout.name!r}, "
                f"workers={self.workers}, intra_op_threads={self.intra_op_threads})")
