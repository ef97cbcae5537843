"""The measured per-frame time of the executors of :func:`streamnets.parallel.bench_parallel`."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import numpy as np

from .results import ResultsError
from .style import SEQUENTIAL, STREAMING, new_figure, root_figure

__all__ = ["plot_executor_times"]


def _shades(color, n, start, stop):
    """``n`` shades of ``color``, mixed with white from ``start`` to ``stop`` (0: the colour)."""
    from matplotlib.colors import to_rgb

    rgb = np.array(to_rgb(color))
    return [tuple(rgb + (1 - rgb) * w) for w in np.linspace(start, stop, n)] if n > 1 else [
        tuple(rgb + (1 - rgb) * start)] * n


def _checked_bench(bench):
    """``bench`` as ``{network: result}``: one result of bench_parallel stands for itself;
    anything else that is not such a dict is a ResultsError."""
    if isinstance(bench, Mapping) and "executors" in bench:
        return {bench.get("network", "network"): bench}
    bad = (f"a {type(bench).__name__}" if not isinstance(bench, Mapping) else
           next((f"{k!r}: a {type(v).__name__}" for k, v in bench.items()
                 if not (isinstance(v, Mapping) and {"executors", "ideal_ms_per_frame"} <= set(v))), None))
    if bad:
        raise ResultsError(f"bench must be results of bench_parallel by network name "
                           f"({{name: bench_parallel(name, ...)}}), got {bad}")
    return bench


def plot_executor_times(bench, ax=None):
    """Per-frame time of every executor, network by network, beside the ideal streaming frame.

    Executors of the sequential rollout are blue, those of the streaming rollout red:
    the parallel ones in the full colour, node-by-node ones lighter. Executors that
    time a clip of several frames per CUDA graph (throughput, not per-frame latency)
    are left out. The time axis is logarithmic.

    Parameters
    ----------
    bench : dict of str to dict
        Results of :func:`~streamnets.parallel.bench_parallel` by network name, all
        with the same executors (or one result, standing for its network).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from streamnets.viz import plot_executor_times
    >>> run = {"device": "cpu", "batch": 1, "ideal_ms_per_frame": 1.6, "executors": {
    ...     "sequential": {"rollout": "sequential", "parallel": False, "ms_per_frame": 2.9,
    ...                    "frames_per_graph": 1},
    ...     "streaming-threads": {"rollout": "streaming", "parallel": True, "ms_per_frame": 1.9,
    ...                           "frames_per_graph": 1}}}
    >>> fig = plot_executor_times({"cifar10_dsr6": run})
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['sequential', 'streaming-threads', 'ideal streaming frame']
    """
    bench = _checked_bench(bench)
    names = list(bench)
    if not names:
        raise ResultsError("no benchmark results to plot")
    first = bench[names[0]]["executors"]
    executors = [e for e, r in first.items() if r["frames_per_graph"] == 1]
    for name in names[1:]:
        if [e for e, r in bench[name]["executors"].items() if r["frames_per_graph"] == 1] != executors:
            raise ResultsError(f"{name} was timed with other executors than {names[0]}; "
                               f"plot results of one bench_parallel setting")
        setting = {k: (bench[name].get(k), bench[names[0]].get(k)) for k in ("batch", "device")}
        for key, (here, there) in setting.items():
            if here != there:  # the title names one batch size and device for all
                raise ResultsError(f"{name} was timed with {key} {here}, {names[0]} with {there}; "
                                   f"plot results of one bench_parallel setting")
    for name in names:  # a log axis draws no bar for these, and says nothing
        times = {**{e: bench[name]["executors"][e]["ms_per_frame"] for e in executors},
                 "ideal_ms_per_frame": bench[name]["ideal_ms_per_frame"]}
        for what, ms in times.items():
            if not (isinstance(ms, numbers.Real) and math.isfinite(ms) and ms > 0):
                raise ResultsError(f"{name}: {what} has time {ms!r}; a time per frame must be a positive "
                                   f"number (results of bench_parallel have one for every executor)")
    colors = {}
    for rollout, base in (("sequential", SEQUENTIAL), ("streaming", STREAMING)):
        group = [e for e in executors if first[e]["rollout"] == rollout]
        parallel = [e for e in group if first[e]["parallel"]]
        serial = [e for e in group if not first[e]["parallel"]]
        colors.update(zip(parallel, _shades(base, len(parallel), 0.0, 0.3)))
        colors.update(zip(serial, _shades(base, len(serial), 0.45, 0.75) if parallel
                          else _shades(base, len(serial), 0.0, 0.6)))
    fig, ax = new_figure(ax, figsize=(10, 4))
    width = 0.8 / (len(executors) + 1)
    x = np.arange(len(names))
    for k, executor in enumerate(executors):
        ax.bar(x + (k - len(executors) / 2) * width,
               [bench[n]["executors"][executor]["ms_per_frame"] for n in names], width,
               color=colors.get(executor, "#999999"), label=executor)
    ax.bar(x + len(executors) / 2 * width, [bench[n]["ideal_ms_per_frame"] for n in names], width,
           color="#cccccc", hatch="//", edgecolor="#777777", label="ideal streaming frame")
    ax.set_xticks(x, names)
    ax.set_yscale("log")
    run = bench[names[0]]
    ax.set(xlabel="network", ylabel="time per frame (ms, median; log scale)",
           title=f"Per-frame latency of stateful inference, batch {run['batch']}, on {run['device']}")
    ax.legend(fontsize=8)
    return root_figure(ax)
