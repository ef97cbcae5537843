"""The worker side of :class:`~streamnets.parallel.ProcessExecutor`: the orders, the
wait, and the loop a worker process runs.

The caller writes an order into shared control words and releases the worker's
``go`` semaphore; the worker carries it out, writes its status and releases
``done``. Payloads too large for a word (a new slot, the shares, the training
modes) come through the worker's inbox queue. Semaphores are full memory barriers,
so what one side wrote to shared memory before releasing one the other side sees
after taking it.
"""

from __future__ import annotations

import pickle
import signal
import time
import traceback

import torch
import torch.multiprocessing as mp

from ..device import keep_freed_memory
from ..errors import StreamnetsError
from .schedule import Schedule

# Control words (one shared int64 tensor): the order and its arguments, then each
# worker's status after it (0 done, 1 failed: its error is in its error queue).
OP, GROUP, PREVIOUS, CURRENT, REPEATS, STATUS = 0, 1, 2, 3, 4, 5
STEP, SLOT, FREE, SHARES, MODES, REST, LOOP, STOP = 1, 2, 3, 4, 5, 6, 7, 8

#: Seconds between liveness checks while blocked on a semaphore.
POLL = 0.1


class WorkerError(StreamnetsError, RuntimeError):
    """A worker process died, did not start, or an order to it was interrupted."""


def acquire(sem, spin, alive, who):
    """Take ``sem``: poll it for ``spin`` seconds, then block, checking ``alive()``
    every :data:`POLL` seconds (raises :class:`WorkerError` naming ``who`` when it
    is not)."""
    if sem.acquire(False):
        return
    deadline = time.perf_counter() + spin
    while time.perf_counter() < deadline:
        if sem.acquire(False):
            return
    while not sem.acquire(timeout=POLL):
        if not alive():
            raise WorkerError(f"{who} is gone")


def run_share(kernels, previous, current):
    """Update ``kernels`` from the ``previous`` slot's values into the ``current``
    one; ``(values, flags, logits)`` each (``flags``: a numpy view of the slot's
    present flags). Logits go to ``current``'s buffers, or, when it has none
    (``logits`` None: the caller), are returned as ``{node: logits}``."""
    values_p, flags_p, _ = previous
    values_c, flags_c, logits = current
    before = [x if f else None for x, f in zip(values_p, flags_p.tolist())]
    now = [x if f else None for x, f in zip(values_c, flags_c.tolist())]
    outputs = {}
    for kernel in kernels:
        value, out = kernel(before, now)
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


def loop(shares, previous, current, repeats):
    """Seconds to run every step's share ``repeats`` times over, on fixed values."""
    start = time.perf_counter()
    for _ in range(repeats):
        for share in shares:
            run_share(share, previous, current)
    return time.perf_counter() - start


def _portable(exc, text):
    """``(exc, text)`` if the exception survives pickling, else a RuntimeError with
    its text (the caller must be able to unpickle what it gets)."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc, text
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}"), text


def serve(index, model, rollout, threads, spin, go, done, control, seconds, inbox, errors, keep_memory):
    """A worker process: wait for an order, carry it out, report, until stopped."""
    # Ctrl-C reaches the whole process group; the caller decides what happens.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    if keep_memory:
        keep_freed_memory()
    parent = mp.parent_process()
    words, seconds = control.numpy(), seconds.numpy()
    kernels, slots, shares, poll = Schedule(model, rollout).kernels, {}, [], spin
    dropouts = [m for m in model.node_modules.values() if m.p]
    done.release()  # ready
    with torch.no_grad():
        while True:
            try:
                acquire(go, poll, parent.is_alive, "the calling process")
            except WorkerError:  # the caller died without closing the executor
                return
            op, status, poll = int(words[OP]), 0, spin
            if op == STOP:
                return
            try:
                if op == STEP:
                    group = shares[int(words[GROUP])]
                    run_share(group, slots[int(words[PREVIOUS])], slots[int(words[CURRENT])])
                elif op == SLOT:
                    key, values, present, logits = inbox.get()
                    slots[key] = (values, present.numpy(), logits)
                elif op == FREE:
                    for key in inbox.get():
                        del slots[key]
                elif op == SHARES:
                    shares = [[kernels[v] for v in share] for share in inbox.get()]
                elif op == MODES:
                    for module, training in zip(dropouts, inbox.get()):
                        module.train(training)
                elif op == REST:
                    poll = 0.0
                elif op == LOOP:
                    previous, current = slots[int(words[PREVIOUS])], slots[int(words[CURRENT])]
                    seconds[index] = loop(shares, previous, current, int(words[REPEATS]))
            except BaseException as exc:  # reported to the caller, raised there
                status = 1
                errors.put(_portable(exc, traceback.format_exc()))
            words[STATUS + index] = status
            done.release()


def shutdown(control, gos, processes):
    """Stop the workers (the executor's finalizer: also at interpreter exit)."""
    words = control.numpy()
    words[OP] = STOP
    for go, proc in zip(gos, processes):
        if proc.is_alive():
            go.release()
    for proc in processes:
        proc.join(timeout=5)
        if proc.is_alive():  # pragma: no cover - a worker stuck in a kernel
            proc.terminate()
            proc.join(timeout=5)
