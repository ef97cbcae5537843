"""Model parallelism over processes: nodes partitioned over ``torch.distributed`` ranks.

Every rank holds the whole model (weights broadcast from rank 0) and updates the
nodes it owns; after each update step the ranks exchange the new values that
another rank reads, plus the outputs, with one ``all_gather`` (gloo on the CPU,
NCCL on GPUs). Under the streaming rollout a frame is one update step and every
edge reads the previous frame, so there is one exchange per frame.

Launch on one machine with ``torchrun`` (this module's :func:`main` times the
executor and checks it against ``model.step``)::

    torchrun --standalone --nproc-per-node 2 -m streamnets.parallel \\
        --network cifar10_dsr6 --batch 1 --frames 200

or, from Python (tests, benchmarks), with :func:`launch`, which starts the ranks
itself on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import queue
import socket
import time
import traceback
from collections.abc import Mapping

import torch
import torch.distributed as dist

from ..device import cpu_cores
from ..errors import SettingError, StreamnetsError, whole_number
from ..graph import _suggest
from .base import Executor, check_model, clip_frames, compare_outputs, random_clip
from .cost import balanced_partition, check_costs
from .processes import start_context

__all__ = ["DistributedExecutor", "launch", "free_port", "main"]

# Renamed in torch 2.13 (the old name warns); older versions only have the old one.
_all_gather = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor


def check_owners(network, nodes, owners, world):
    """``owners`` as a dict if it gives every node in ``nodes`` (those a frame
    updates) a rank in 0..world-1 and names no other node, else a
    :class:`~streamnets.errors.SettingError` naming the node.

    Examples
    --------
    >>> import streamnets as sn
    >>> net = sn.load("mnist_ff")
    >>> check_owners(net, ["h1", "h2", "prediction"], {"h1": 0, "h2": 1, "predicton": 0}, 2)
    Traceback (most recent call last):
    ...
    streamnets.errors.SettingError: owners: network 'mnist_ff' has no node 'predicton' (did you mean 'prediction'?); give every non-input node a rank in 0..1 (h1, h2, prediction)
    """
    hint = f"give every non-input node a rank in 0..{world - 1} ({', '.join(nodes)})"
    if not isinstance(owners, Mapping):
        raise SettingError(f"owners must be a dict {{node: rank}}, got {type(owners).__name__}; {hint}")
    unknown = [v for v in owners if v not in nodes]
    missing = [v for v in nodes if v not in owners]
    bad = [v for v, r in owners.items() if isinstance(r, bool) or not isinstance(r, int)
           or not 0 <= r < world]
    if unknown and unknown[0] in network.inputs:
        what = f"{unknown[0]!r} is an input node, which no rank updates"
    elif unknown:
        what = f"network {network.name!r} has no node {unknown[0]!r}{_suggest(unknown[0], nodes)}"
    elif missing:
        what = f"no rank for node {missing[0]!r}"
    elif bad:
        what = f"node {bad[0]!r} has rank {owners[bad[0]]!r}"
    else:
        return dict(owners)
    raise SettingError(f"owners: {what}; {hint}")


class DistributedExecutor(Executor):
    """A frame's node updates spread over the ranks of a process group.

    Parameters
    ----------
    model : StreamNet
        The same network on every rank; on NCCL, on this rank's GPU.
    rollout : Rollout or str
        Any valid pattern (default: the model's ``default_rollout``,
        streaming unless set); one exchange per update step.
    group : ProcessGroup, optional
        Default: the world.
    owners : dict of str to int, optional
        The rank (within ``group``) of every non-input node; default: a balanced
        partition of every update step by ``costs``.
    costs : dict of str to float, optional
        Default: estimated FLOPs (:func:`~streamnets.parallel.cost.estimate_flops`).
    sync_weights : bool
        Broadcast the parameters and buffers from the group's first rank (default).

    Notes
    -----
    Every rank returns every output. A rank's state holds the values of the nodes
    it owns and of those it reads; the others stay None there (they are never
    sent to it). Each rank computes its nodes with the same kernels as
    ``model.step``, so the outputs match it up to the intra-op thread count
    (the tests allow 1e-5).

    Examples
    --------
    >>> import torch, streamnets as sn
    >>> from streamnets.nn import StreamNet
    >>> def job(rank, world):
    ...     torch.manual_seed(0)
    ...     model = StreamNet(sn.load("cifar10_dsr0")).eval()
    ...     ex = DistributedExecutor(model)
    ...     return ex.run(torch.ones(1, 5, 3, 32, 32))[-1]["prediction"].shape
    >>> launch(job, 2)  # doctest: +SKIP
    [torch.Size([1, 10]), torch.Size([1, 10])]
    """

    name = "distributed"

    def __init__(self, model, rollout=None, group=None, owners=None, costs=None, sync_weights=True):
        check_model(model)
        if not (dist.is_available() and dist.is_initialized()):
            raise StreamnetsError("DistributedExecutor needs an initialised process group: start the "
                                  "ranks with torchrun (torchrun -m streamnets.parallel) or "
                                  "streamnets.parallel.launch")
        super().__init__(model, rollout)
        self.group = group
        self.rank = dist.get_rank(group)
        self.world = dist.get_world_size(group)
        device = next(model.parameters()).device
        if dist.get_backend(group) == "nccl" and device.type != "cuda":
            raise StreamnetsError(f"the NCCL backend exchanges CUDA tensors but the model is on {device}; "
                                  f"move it to this rank's GPU or use the gloo backend")
        if sync_weights and self.world > 1:
            src = dist.get_global_rank(group, 0) if group is not None else 0
            with torch.no_grad():
                for tensor in [*model.parameters(), *model.buffers()]:
                    dist.broadcast(tensor.data, src=src, group=group)
        groups = self.schedule.groups
        costs = check_costs(self.rollout.network, costs)
        self.owners = (check_owners(self.rollout.network, [v for g in groups for v in g],
                                    owners, self.world) if owners
                       else balanced_partition(groups, costs, self.world))
        self._mine = [tuple(v for v in g if self.owners[v] == self.rank) for g in groups]
        self._specs = {}
        net = self.rollout.network
        self._softmax = {v for v in net.outputs if net.nodes[v].activation == "softmax"}

    def nodes_of(self, rank):
        """The nodes updated by ``rank``, in computation order."""
        return [v for g in self.schedule.groups for v in g if self.owners[v] == rank]

    def _spec(self, g, frame, batch):
        """What each rank sends after update step ``g`` of ``frame``: per rank a list of
        ``(node, "value" or "logits", numel, shape)``, and the padded size."""
        steady = min(frame, self.schedule.plan.steady + 1)
        key = (g, steady, batch)
        spec = self._specs.get(key)
        if spec is not None:
            return spec
        s = self.schedule
        sends = [[] for _ in range(self.world)]
        for v in s.groups[g]:
            if not s.nonempty(v, frame):
                continue
            r = self.owners[v]
            shape = s.values_shape(v, batch)
            numel = math.prod(shape)
            read_elsewhere = any(self.owners.get(w, r) != r for w, _ in s.readers[v])
            softmax_out = v in self._softmax
            if read_elsewhere or (v in s.outputs and not softmax_out):
                sends[r].append((v, "value", numel, shape))
            if softmax_out:
                sends[r].append((v, "logits", numel, shape))
        size = max(sum(item[2] for item in items) for items in sends)
        spec = self._specs[key] = (sends, size)
        return spec

    def _compute(self, previous, current, outputs, frame, batch):
        s = self.schedule
        kernels = s.kernels
        device, dtype = self.device, next(self.model.parameters()).dtype
        for g, mine in enumerate(self._mine):
            produced = {}
            for v in mine:
                value, logits = kernels[v](previous, current)
                current[kernels[v].index] = value
                produced[v] = (value, logits)
                if kernels[v].is_output:
                    outputs[v] = logits
            if self.world == 1:
                continue
            sends, size = self._spec(g, frame, batch)
            if size == 0:
                continue
            items = sends[self.rank]
            parts = [(produced[v][0] if kind == "value" else produced[v][1]).reshape(-1)
                     for v, kind, _, _ in items]
            used = sum(n for _, _, n, _ in items)
            if used < size:
                parts.append(torch.zeros(size - used, device=device, dtype=dtype))
            send = torch.cat(parts) if len(parts) > 1 else parts[0].contiguous()
            received = torch.empty(self.world * size, device=device, dtype=dtype)
            _all_gather(received, send, group=self.group)
            for r, items in enumerate(sends):
                if r == self.rank:
                    continue
                offset = r * size
                for v, kind, numel, shape in items:
                    x = received[offset:offset + numel].view(shape)
                    offset += numel
                    if kind == "value":
                        current[s.index[v]] = x
                        if v in s.outputs and v not in self._softmax:
                            outputs[v] = x
                    else:
                        outputs[v] = x

    def __repr__(self):
        return (f"DistributedExecutor({self.rollout.network.name!r}, rollout={self.rollout.name!r}, "
                f"rank={self.rank}/{self.world}, nodes={self.nodes_of(self.rank)})")


# -- launching ranks from Python ---------------------------------------------------------


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _entry(fn, rank, world, port, backend, threads, args, results):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    try:
        if threads:
            torch.set_num_threads(threads)
        if backend == "nccl":
            torch.cuda.set_device(rank)  # launch checked that every rank has a GPU
        dist.init_process_group(backend, rank=rank, world_size=world, init_method="env://")
        try:
            value = fn(rank, world, *args)
            dist.barrier()  # gloo aborts a rank that leaves while others still talk to it
        finally:
            dist.destroy_process_group()
        buf = io.BytesIO()
        torch.save(value, buf)
        results.put((rank, True, buf.getvalue()))
    except BaseException:
        results.put((rank, False, traceback.format_exc()))


def _gpus():
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def check_backend(backend, local_ranks, name="backend"):
    """Raise :class:`~streamnets.errors.SettingError` unless ``backend`` is gloo, or
    nccl with a GPU for each of the ``local_ranks`` ranks on this machine.

    Examples
    --------
    >>> check_backend("gloo", 3)
    >>> check_backend("mpi", 2)
    Traceback (most recent call last):
    ...
    streamnets.errors.SettingError: backend must be gloo or nccl, got 'mpi'
    """
    if backend not in ("gloo", "nccl"):
        raise SettingError(f"{name} must be gloo or nccl, got {backend!r}")
    if backend == "nccl" and local_ranks > _gpus():
        raise SettingError(f"{name} nccl needs a GPU per rank: {local_ranks} ranks on this machine, "
                           f"{_gpus()} GPU(s) that torch sees; start fewer ranks or use gloo")


def launch(fn, world_size, args=(), backend="gloo", threads=None, timeout=300):
    """Run ``fn(rank, world_size, *args)`` on ``world_size`` new processes joined in a
    process group on 127.0.0.1; return the values by rank.

    Parameters
    ----------
    fn : callable
        A module-level function (it is pickled into the new processes); its
        return value must be picklable by ``torch.save``.
    world_size : int
    args : tuple
    backend : {"gloo", "nccl"}
        nccl: rank ``r`` on GPU ``r``, so it needs a GPU per rank.
    threads : int, optional
        Intra-op threads per rank; default ``max(1, cores // world_size)``.
    timeout : float
        Seconds before giving up on the ranks.

    Raises
    ------
    SettingError
        An unknown backend, or nccl with fewer GPUs than ranks.
    StreamnetsError
        When a rank fails (with its traceback) or the ranks time out.
    """
    world_size = whole_number("world_size", world_size)
    check_backend(backend, world_size)
    threads = threads or max(1, cpu_cores() // world_size)
    ctx = start_context()
    results = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=_entry, args=(fn, rank, world_size, port, backend, threads, args, results),
                         daemon=True) for rank in range(world_size)]
    for p in procs:
        p.start()
    values, deadline = {}, time.monotonic() + timeout
    try:
        while len(values) < world_size:
            try:
                rank, ok, payload = results.get(timeout=0.5)
            except queue.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise StreamnetsError(f"a rank exited with status {dead[0].exitcode} without a result") from None
                if time.monotonic() > deadline:
                    raise StreamnetsError(f"the {world_size} ranks did not finish within {timeout} s") from None
                continue
            if not ok:
                raise StreamnetsError(f"rank {rank} of {world_size} failed:\n{payload}")
            values[rank] = torch.load(io.BytesIO(payload), weights_only=False)
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
    return [values[r] for r in range(world_size)]


# -- torchrun entry point ------------------------------------------------------------------


def time_frames(ex, frames, warmup, device):
    """Per-frame seconds of ``ex.step`` over ``frames`` (batch, time, ...), or a
    dict of them per input, after ``warmup`` frames, and the outputs of every frame."""
    from .cost import sync

    length, batch, pick = clip_frames(frames)
    state = ex.initial_state(batch)
    times, outputs = [], []
    for t in range(length):
        sync(device)
        start = time.perf_counter()
        out, state = ex.step(pick(t), state)
        sync(device)
        if t >= warmup:
            times.append(time.perf_counter() - start)
        outputs.append(out)
    return times, outputs


def main(argv=None):
    """``torchrun ... -m streamnets.parallel``: time the executor on
    every rank, check rank 0's outputs against ``model.step``, print JSON on rank 0."""
    import statistics

    import streamnets as sn
    from ..nn import StreamNet
    from ..rollout import Rollout
    from ..seeding import seed_everything
    from .reference import ReferenceExecutor

    parser = argparse.ArgumentParser(
        prog="torchrun --standalone --nproc-per-node N -m streamnets.parallel",
        description="Time the DistributedExecutor on every rank (nodes partitioned over the ranks), "
                    "check rank 0's outputs against model.step, print JSON on rank 0.")
    parser.add_argument("--network", default="cifar10_dsr6",
                        help="a built-in network or a .yaml / .st_graph spec file; random frames "
                             "feed every input (default: cifar10_dsr6)")
    parser.add_argument("--rollout", default="streaming", help="a named rollout (default: streaming)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--frames", type=int, default=100, help="timed frames (default: 100)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed frames before them (default: 20)")
    parser.add_argument("--backend", default=None,
                        help="gloo (CPU) or nccl (a GPU per rank); default: nccl where every rank on "
                             "this machine has a GPU of its own, else gloo")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    # Checked before the ranks meet: a bad value fails every rank alike, with one line.
    network = sn.load(args.network)
    batch, count = whole_number("--batch", args.batch), whole_number("--frames", args.frames)
    warmup = whole_number("--warmup", args.warmup, lo=0)
    rollout = Rollout.named(network, args.rollout)
    if "WORLD_SIZE" not in os.environ:
        raise SettingError("no torch.distributed ranks to join: start this under torchrun, e.g. "
                           "torchrun --standalone --nproc-per-node 2 -m streamnets.parallel")
    local, local_ranks = int(os.environ.get("LOCAL_RANK", 0)), int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    backend = args.backend or ("nccl" if local_ranks <= _gpus() else "gloo")
    check_backend(backend, local_ranks, "--backend")
    device = torch.device("cuda", local) if backend == "nccl" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend)
    try:
        seed_everything(args.seed)
        model = StreamNet(network).to(device).eval()
        ex = DistributedExecutor(model, rollout)
        frames = random_clip(model, batch, count + warmup, device, args.seed)
        dist.barrier()
        times, outputs = time_frames(ex, frames, warmup, device)
        if ex.rank == 0:
            reference = ReferenceExecutor(model, rollout).run(frames)
            match, diff = compare_outputs(outputs, reference)
            print(json.dumps({
                "network": network.name, "rollout": rollout.name, "batch": batch,
                "backend": backend, "ranks": ex.world, "threads_per_rank": torch.get_num_threads(),
                "nodes_by_rank": [ex.nodes_of(r) for r in range(ex.world)],
                "ms_per_frame": 1e3 * statistics.median(times), "max_abs_diff": diff,
                "outputs_match": match}, indent=2))
        dist.barrier()  # gloo aborts a rank that leaves while others still talk to it
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
