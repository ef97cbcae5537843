"""Node costs (estimated from shapes or measured) and a balanced partition of nodes.

Examples
--------
>>> import streamnets as sn
>>> net = sn.load("cifar10_dsr0")
>>> costs = estimate_flops(net)
>>> max(costs, key=costs.get)
'h1'
>>> balanced_partition([tuple(costs)[1:]], costs, 2)
{'h1': 0, 'h2': 1, 'hd': 1, 'prediction': 1}
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping

import torch

from ..device import DeviceError, intra_op_threads
from ..errors import SettingError, positive_number, whole_number
from .cuda import capture, replay_seconds

__all__ = ["estimate_flops", "check_costs", "balanced_partition", "makespan", "measure_node_times", "steady_values",
           "intra_op_threads", "sync", "BalancedShares"]


def estimate_flops(network, batch=1):
    """Multiply-adds x 2 of every non-input node's update for one frame.

    A dense edge costs 2 * in * out per sample; a convolution 2 * C_in * rf^2 per
    output value (evaluated at the target's resolution); the bias, the sum of the
    terms and the activation one operation per output value and term.

    Returns ``{node: flops}`` (0 for inputs), in network order.

    Examples
    --------
    >>> import streamnets as sn
    >>> estimate_flops(sn.load("mnist_ff"))["prediction"]
    2570
    """
    flops = dict.fromkeys(network.nodes, 0)
    for e in network.edges:
        src, tgt = network.nodes[e.source], network.nodes[e.target]
        if tgt.is_spatial:
            flops[e.target] += 2 * src.shape[0] * e.rf * e.rf * tgt.size + tgt.size
        else:
            flops[e.target] += 2 * src.size * tgt.size + tgt.size
    return {v: f * batch for v, f in flops.items()}


def check_costs(network, costs=None):
    """``costs`` as ``{node: float}`` if it gives a finite number >= 0 for every
    non-input node of ``network`` (and names no other node), else a
    :class:`~streamnets.errors.SettingError` naming the node; None (or empty):
    :func:`estimate_flops`.

    Examples
    --------
    >>> import streamnets as sn
    >>> check_costs(sn.load("mnist_ff"), {"h2": 2.0})
    Traceback (most recent call last):
    ...
    streamnets.errors.SettingError: costs: no cost for node 'h1'; give a number >= 0 for every non-input node (h1, h2, prediction)
    """
    if not costs:
        return estimate_flops(network)
    if not isinstance(costs, Mapping):
        raise SettingError(f"costs must be a dict {{node: cost}}, got {type(costs).__name__}")
    nodes = [v for v in network.nodes if v not in network.inputs]
    unknown = [v for v in costs if v not in network.nodes]
    missing = [v for v in nodes if v not in costs]
    if unknown or missing:
        what = (f"network {network.name!r} has no node {unknown[0]!r}" if unknown
                else f"no cost for node {missing[0]!r}")
        raise SettingError(f"costs: {what}; give a number >= 0 for every non-input node ({', '.join(nodes)})")
    return {v: float(positive_number(f"costs: the cost of node {v!r}", c, zero=True))
            for v, c in costs.items()}


def balanced_partition(groups, costs, parts):
    """Assign the nodes of every group to ``parts`` workers, balancing each group.

    Longest processing time first: within a group (nodes that run together), the
    most expensive node goes to the least loaded worker of that group (ties: the
    least loaded overall, then the lowest index).

    Parameters
    ----------
    groups : sequence of sequence of str
        Nodes that run concurrently, e.g. :attr:`Schedule.groups`.
    costs : mapping of str to float
    parts : int

    Returns
    -------
    dict of str to int
        The worker (or rank) of every node in ``groups``.

    Examples
    --------
    >>> balanced_partition([["a", "b", "c"]], {"a": 3, "b": 2, "c": 2}, 2)
    {'a': 0, 'b': 1, 'c': 1}
    """
    owner, total = {}, [0.0] * parts
    for group in groups:
        load = [0.0] * parts
        for v in sorted(group, key=lambda v: -costs[v]):
            k = min(range(parts), key=lambda k: (load[k], total[k], k))
            owner[v] = k
            load[k] += costs[v]
            total[k] += costs[v]
    return owner


def makespan(nodes, costs, parts):
    """The longest worker's total when :func:`balanced_partition` splits ``nodes``
    (run together) over ``parts`` workers.

    Examples
    --------
    >>> makespan(["a", "b", "c"], {"a": 3, "b": 2, "c": 2}, 2)
    4
    """
    owner = balanced_partition([nodes], costs, parts)
    load = [0] * parts
    for v in nodes:
        load[owner[v]] += costs[v]
    return max(load, default=0)


class BalancedShares:
    """Mixin of the executors that split every update step's nodes into per-worker
    shares balanced on node costs (``_balance(costs)``), run with
    ``intra_op_threads`` threads each.

    Examples
    --------
    >>> import streamnets as sn
    >>> from streamnets.nn import StreamNet
    >>> from streamnets.parallel import ThreadExecutor
    >>> model = StreamNet(sn.load("cifar10_dsr1")).eval()
    >>> with ThreadExecutor(model, workers=2, schedule="static") as ex:  # shares by estimated FLOPs
    ...     print(isinstance(ex, BalancedShares), ex.shares)
    True [(('h1', 'hd', 'prediction'), ('h11', 'h2'))]
    """

    def calibrate(self, batch=1, repeats=20):
        """Time every node alone at this batch size with the workers' intra-op
        thread count (:func:`measure_node_times`), and rebalance the shares on
        those times instead of the estimated FLOPs. Returns ``{node: seconds}``,
        which also become ``costs`` (the costs in use).

        Examples
        --------
        >>> import streamnets as sn
        >>> from streamnets.nn import StreamNet
        >>> from streamnets.parallel import ThreadExecutor
        >>> with ThreadExecutor(StreamNet(sn.load("cifar10_dsr1")).eval(), workers=2) as ex:
        ...     sorted(ex.calibrate(batch=1, repeats=2)) == sorted(ex.costs)
        True
        """
        times = measure_node_times(self.schedule, batch, threads=self.intra_op_threads, repeats=repeats)
        self._balance(times)
        return times


def sync(device):
    """Wait for the device's queued work (CUDA); a no-op on the CPU."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def steady_values(schedule, batch=1, seed=0):
    """``(previous, current)``: the node values of two consecutive frames once every
    node is non-empty (random input frames run through the schedule), on the
    model's device: what a node update reads in the steady state.

    Examples
    --------
    >>> import streamnets as sn
    >>> from streamnets.nn import StreamNet
    >>> from streamnets.parallel import Schedule
    >>> previous, current = steady_values(Schedule(StreamNet(sn.load("mnist_ff")).eval(), "streaming"))
    >>> [tuple(x.shape) for x in current]
    [(1, 1, 28, 28), (1, 16, 7, 7), (1, 128), (1, 10)]
    >>> all(p is not c and p is not None for p, c in zip(previous, current))
    True
    """
    weight = next(schedule.model.parameters())
    gen = torch.Generator().manual_seed(seed)
    previous = current = None
    with torch.no_grad():
        # Up to the steady frame, and one frame further so that ``previous`` is
        # complete too.
        for frame in range(schedule.plan.steady + 2):
            previous, current = current, [None] * len(schedule.names)
            for v in schedule.inputs:
                shape = schedule.values_shape(v, batch)
                current[schedule.index[v]] = torch.rand(shape, generator=gen).to(weight)
            if frame:
                for group in schedule.groups:
                    for v in group:
                        current[schedule.index[v]] = schedule.kernels[v](previous, current)[0]
    return previous, current


def measure_node_times(schedule, batch=1, threads=None, repeats=20, warmup=3, seed=0, graphs=False):
    """Seconds per update of every node alone, on the model's device.

    Each node runs on steady-state values (random frames run through the
    schedule until every node is non-empty), ``repeats`` times; the median is
    reported (robust to other load on the machine).

    Parameters
    ----------
    schedule : Schedule
    batch : int
    threads : int, optional
        Intra-op threads (CPU) while measuring; default: unchanged.
    graphs : bool
        CUDA only: capture each node's update as a CUDA graph and time
        ``repeats`` replays back to back between CUDA events (the mean): the
        device's time for the node's kernels, without the host's launch cost.

    Returns
    -------
    dict of str to float
        In the schedule's computation order.

    Examples
    --------
    >>> import streamnets as sn
    >>> from streamnets.nn import StreamNet
    >>> from streamnets.parallel import Schedule
    >>> s = Schedule(StreamNet(sn.load("mnist_ff")).eval(), "streaming")
    >>> sorted(measure_node_times(s, repeats=2, warmup=1))
    ['h1', 'h2', 'prediction']
    """
    batch, repeats = whole_number("batch", batch), whole_number("repeats", repeats)
    warmup = whole_number("warmup", warmup, lo=0)
    model = schedule.model
    device = next(model.parameters()).device
    if graphs and device.type != "cuda":
        raise DeviceError(f"graphs=True times CUDA graphs, but the model is on {device}")
    with torch.no_grad(), intra_op_threads(threads):
        previous, current = steady_values(schedule, batch, seed)
        times = {}
        for group in schedule.groups:
            for v in group:
                kernel = schedule.kernels[v]
                if graphs:
                    graph = capture(lambda: kernel(previous, current), device)  # noqa: B023 - called at once
                    times[v] = replay_seconds(graph.replay, repeats, device)
                    continue
                samples = []
                for i in range(warmup + repeats):
                    sync(device)
                    start = time.perf_counter()
                    kernel(previous, current)
                    sync(device)
                    if i >= warmup:
                        samples.append(time.perf_counter() - start)
                times[v] = statistics.median(samples)
    return times
