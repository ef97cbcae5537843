"""Plots of experiment results: accuracy over update steps (the paper's Fig. 9)
and the first-response comparison of the DSR networks (Fig. 10).

A *run* is a dict::

    {"network": "mnist_sr", "rollout": "streaming",
     "update_steps": [2, 3, 4, ...], "accuracy": [...],
     "accuracy_std": [...]}          # optional: drawn as a band

with one accuracy per output frame, at the update step of that output. A training
run's folder stands for the run it holds (:func:`training_run`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from ..errors import StreamnetsError
from ..rollout import pattern_label
from .style import SEQUENTIAL, STREAMING, new_figure, rollout_color, root_figure

__all__ = ["plot_accuracy_over_steps", "plot_first_response_comparison", "first_response_table",
           "ResultsError", "short_names", "training_run"]


class ResultsError(StreamnetsError, ValueError):
    """Runs or a results table that cannot be plotted (a field missing or inconsistent)."""


def _check_run(run, k):
    if not isinstance(run, Mapping):
        raise ResultsError(f"runs[{k}] is a {type(run).__name__}, not a run (a dict with network, "
                           f"rollout, update_steps and accuracy)")
    for key in ("network", "rollout", "update_steps", "accuracy"):
        if key not in run:
            raise ResultsError(f"runs[{k}] has no field {key!r}; a run needs network, rollout, "
                               f"update_steps and accuracy")
    if not len(run["update_steps"]):
        raise ResultsError(f"runs[{k}] ({run['network']}, {run['rollout']}): update_steps is "
                           f"empty; a run needs at least one output frame")
    if len(run["update_steps"]) != len(run["accuracy"]):
        raise ResultsError(f"runs[{k}] ({run['network']}, {run['rollout']}): "
                           f"{len(run['update_steps'])} update steps but "
                           f"{len(run['accuracy'])} accuracies; give one per output frame")
    std = run.get("accuracy_std")
    if std is not None and len(std) != len(run["accuracy"]):
        raise ResultsError(f"runs[{k}] ({run['network']}, {run['rollout']}): accuracy_std has "
                           f"{len(std)} values for {len(run['accuracy'])} accuracies")
    for key in ("update_steps", "accuracy", "accuracy_std"):
        try:
            np.asarray(run.get(key, ()), float)
        except (TypeError, ValueError):
            raise ResultsError(f"runs[{k}] ({run['network']}, {run['rollout']}): {key} must be "
                               f"numbers, got {run[key]!r}") from None


def training_run(folder):
    """The run a training folder holds: the test accuracy of its last evaluated epoch per
    output frame, read from its ``metrics.json``.

    ``folder``: the ``out_dir`` of :func:`streamnets.train.train`, ``streamnets train
    --out``, a ``runs/<network>__<rollout>__rep<k>`` folder of ``streamnets reproduce``,
    or the ``metrics.json`` itself.
    """
    path = Path(folder)
    path = path / "metrics.json" if path.is_dir() else path
    try:
        doc = json.loads(path.read_text())
        evaluated = [e for e in doc["epochs"] if e.get("test_accuracy") is not None]
        network, steps = doc["network"], doc["update_steps"]
        rollout = pattern_label(doc["rollout_name"], doc["rollout"])  # own patterns: custom-<bits>
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ResultsError(f"{path}: cannot read a training run's metrics ({type(err).__name__}: "
                           f"{err}); give a folder that streamnets train (or train(out_dir=...)) "
                           f"wrote") from None
    if not evaluated:
        raise ResultsError(f"{path}: no epoch was evaluated on test data; train with test data to "
                           f"plot the accuracy")
    return {"network": network, "rollout": rollout, "update_steps": steps,
            "accuracy": evaluated[-1]["test_accuracy"]}


def _runs(runs):
    """``runs`` as a list of runs; a single run, a string or a file name is refused."""
    if isinstance(runs, (Mapping, str, bytes, os.PathLike)) or not isinstance(runs, Iterable):
        raise ResultsError(f"runs must be a list of runs (dicts with network, rollout, update_steps "
                           f"and accuracy), got a {type(runs).__name__}; wrap a single run in a list")
    return list(runs)


def short_names(names):
    """Drop a common ``prefix_`` from network names: ``cifar10_dsr0`` -> ``DSR0``.

    Examples
    --------
    >>> short_names(["cifar10_dsr0", "cifar10_dsr1"])
    ['DSR0', 'DSR1']
    """
    names = [str(n) for n in names]
    cut = os.path.commonprefix(names).rfind("_") + 1 if len(names) > 1 else 0
    return [n[cut:].upper() if cut else n for n in names]


def _by_network(runs):
    groups = {}
    for k, run in enumerate(_runs(runs)):
        if isinstance(run, (str, os.PathLike)):
            if not Path(run).exists():
                raise ResultsError(f"runs[{k}] is a {type(run).__name__}, not a run: there is no folder "
                                   f"{run} (a run is a dict with network, rollout, update_steps and "
                                   f"accuracy, or the folder of a training run)")
            run = training_run(run)
        _check_run(run, k)
        groups.setdefault(run["network"], []).append(run)
    return groups


def plot_accuracy_over_steps(runs, ax=None):
    """Test accuracy over update steps, one curve per (network, rollout) run.

    Streaming runs are red, sequential blue, hybrid purple; a run with
    ``accuracy_std`` gets a band of +- one standard deviation. Runs of
    several networks go into one panel per network.

    Parameters
    ----------
    runs : list of dict or path
        See the module docstring; a training run's folder stands for its run
        (:func:`training_run`).
    ax : matplotlib Axes or sequence of Axes, optional
        One axes: every run goes into it. A sequence: one axes per network,
        in order of first appearance. By default a new figure with one panel
        per network.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from streamnets.viz import plot_accuracy_over_steps
    >>> fig = plot_accuracy_over_steps([
    ...     {"network": "mnist_sr", "rollout": "streaming", "update_steps": [2, 3, 4],
    ...      "accuracy": [0.45, 0.6, 0.7]},
    ...     {"network": "mnist_sr", "rollout": "sequential", "update_steps": [3, 6, 9],
    ...      "accuracy": [0.45, 0.65, 0.75], "accuracy_std": [0.02, 0.02, 0.01]}])
    """
    groups = _by_network(runs)
    if not groups:
        raise ResultsError("no runs to plot")
    if ax is None:
        from matplotlib.figure import Figure

        n = len(groups)
        ncols = min(n, 4)
        nrows = math.ceil(n / ncols)
        fig = Figure(figsize=(3.6 * ncols, 3.0 * nrows + 0.3), layout="constrained")
        axes = list(np.atleast_1d(fig.subplots(nrows, ncols, sharey=True, squeeze=False)).ravel())
        for extra in axes[n:]:
            extra.remove()
        axes = axes[:n]
    elif isinstance(ax, (list, tuple, np.ndarray)):
        axes = list(np.ravel(ax))
        if len(axes) < len(groups):
            raise ResultsError(f"{len(groups)} networks but {len(axes)} axes; give one per network")
        fig = root_figure(axes[0])
    else:
        fig, axes = root_figure(ax), [ax] * len(groups)
    combined = len(set(map(id, axes))) < len(groups)
    for (network, group), a in zip(groups.items(), axes):
        for k, run in enumerate(group):
            color = rollout_color(run["rollout"], k)
            steps = np.asarray(run["update_steps"], float)
            acc = np.asarray(run["accuracy"], float)
            label = f"{network}, {run['rollout']}" if combined else str(run["rollout"])
            a.plot(steps, acc, marker="o", markersize=3, color=color, label=label,
                   gid=f"run:{network}:{run['rollout']}")
            std = run.get("accuracy_std")
            if std is not None:
                std = np.asarray(std, float)
                a.fill_between(steps, acc - std, acc + std, color=color, alpha=0.2, linewidth=0,
                               gid=f"band:{network}:{run['rollout']}")
        if not combined:
            a.set_title(str(network), fontsize=10)
        a.set_xlabel("update steps")
        a.set_ylabel("test accuracy")
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    if len(groups) > 1 and ax is None:
        fig.suptitle("test accuracy over update steps", fontsize=11)
    return fig


def _row_from_runs(network, group):
    by_name = {str(r["rollout"]): r for r in group}
    missing = [n for n in ("streaming", "sequential") if n not in by_name]
    if missing:
        raise ResultsError(f"network {network!r} has no {missing[0]} run; the first-response "
                           f"comparison needs a streaming and a sequential run per network")
    stream, seq = by_name["streaming"], by_name["sequential"]
    first_seq = seq["update_steps"][0]
    before = [k for k, s in enumerate(stream["update_steps"]) if s <= first_seq]
    k = before[-1] if before else None
    row = {"network": network,
           "streaming_accuracy": float(stream["accuracy"][k]) if k is not None else math.nan,
           "sequential_accuracy": float(seq["accuracy"][0]),
           "delay": first_seq - stream["update_steps"][0]}
    if stream.get("accuracy_std") is not None and k is not None:
        row["streaming_std"] = float(stream["accuracy_std"][k])
    if seq.get("accuracy_std") is not None:
        row["sequential_std"] = float(seq["accuracy_std"][0])
    return row


def first_response_table(runs_or_table):
    """Rows ``{network, streaming_accuracy, sequential_accuracy, delay[, *_std]}``.

    From runs: for each network, the sequential run's accuracy at its first
    response (update step s), the streaming run's latest accuracy at an update
    step <= s, and the first-response delay s - (streaming first update step).
    A table (a list of such row dicts, or a dict of columns) passes through.

    Examples
    --------
    >>> first_response_table([
    ...     {"network": "dsr2", "rollout": "streaming", "update_steps": [4, 5, 6],
    ...      "accuracy": [0.39, 0.45, 0.5]},
    ...     {"network": "dsr2", "rollout": "sequential", "update_steps": [6, 12],
    ...      "accuracy": [0.42, 0.5]}])
    [{'network': 'dsr2', 'streaming_accuracy': 0.5, 'sequential_accuracy': 0.42, 'delay': 2}]
    """
    data = runs_or_table
    if isinstance(data, dict):
        columns = {k: list(v) for k, v in data.items()}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) != 1:
            raise ResultsError("the columns of the table have different lengths")
        data = [dict(zip(columns, values)) for values in zip(*columns.values())]
    data = _runs(data)
    if data and isinstance(data[0], Mapping) and "accuracy" in data[0]:
        return [_row_from_runs(n, g) for n, g in _by_network(data).items()]
    needed = ("network", "streaming_accuracy", "sequential_accuracy", "delay")
    for k, row in enumerate(data):
        if not isinstance(row, Mapping):
            raise ResultsError(f"table row {k} is a {type(row).__name__}, not a dict with "
                               f"{', '.join(needed)} (or pass runs)")
        for key in needed:
            if key not in row:
                raise ResultsError(f"table row {k} has no field {key!r}; a row needs "
                                   f"{', '.join(needed)} (or pass runs)")
    return data


def plot_first_response_comparison(runs_or_table, ax=None):
    """Accuracy at the sequential first response, streaming vs sequential, and
    the first-response delay, per network (the paper's Fig. 10 for DSR0..DSR6).

    The left axis shows, for each network, the accuracy the streaming (red)
    and the sequential (blue) rollout reach at the update step of the
    sequential first response; grey bars on the right axis show by how many
    update steps the streaming rollout responds earlier.

    Parameters
    ----------
    runs_or_table : list of dict or dict of lists
        Runs as for :func:`plot_accuracy_over_steps` (a streaming and a
        sequential run per network), or a table, see
        :func:`first_response_table`.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from streamnets.viz import plot_first_response_comparison
    >>> fig = plot_first_response_comparison({
    ...     "network": [f"cifar10_dsr{k}" for k in range(7)],
    ...     "streaming_accuracy": [.39, .42, .45, .48, .5, .53, .55],
    ...     "sequential_accuracy": [.4, .41, .41, .42, .41, .42, .42],
    ...     "delay": [0, 1, 2, 3, 4, 5, 6]})
    """
    rows = first_response_table(runs_or_table)
    if not rows:
        raise ResultsError("no networks to plot")
    fig, ax = new_figure(ax, figsize=(1.0 * len(rows) + 3.2, 3.6))
    x = np.arange(len(rows))
    bars = ax.twinx()
    # accuracy curves over the delay bars: the left axes is drawn last, without background
    ax.set_zorder(bars.get_zorder() + 1)
    ax.patch.set_visible(False)
    delays = [row["delay"] for row in rows]
    bars.bar(x, delays, width=0.55, color="#b0b0b0", alpha=0.6, gid="delay",
             label="first-response delay")
    bars.set_ylabel("first-response delay (update steps)")
    bars.set_ylim(0, max(max(delays), 1) * 1.25)
    for key, name, color in (("streaming", "streaming", STREAMING),
                             ("sequential", "sequential", SEQUENTIAL)):
        acc = [row[f"{key}_accuracy"] for row in rows]
        std = [row.get(f"{key}_std", np.nan) for row in rows]
        ax.plot(x, acc, color=color, marker="o", label=name, gid=f"accuracy:{key}")
        if not np.all(np.isnan(std)):
            ax.errorbar(x, acc, yerr=std, fmt="none", ecolor=color, capsize=3)
    ax.set_xticks(x, short_names(row["network"] for row in rows))
    ax.set_xlabel("network")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3, axis="y")
    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = bars.get_legend_handles_labels()
    ax.legend(handles + h2, labels + l2, fontsize=8, loc="upper left")
    ax.set_title("test accuracy at the sequential first response (points) and how many update "
                 "steps earlier the streaming rollout responds (bars)", fontsize=9)
    return fig
