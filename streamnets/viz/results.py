"""Plots of experiment results: accuracy over update steps (the paper's Fig. 9)
and the first-response comparison of the DSR networks (Fig. 10).

A *run* is a dict::

    {"network": "mnist_sr", "rollout": "streaming",
     "update_steps": [2, 3, 4, ...], "accuracy": [...],
     "accuracy_std": [...]}          # optional: drawn as a band

with one accuracy per output frame, at the update step of that output (increasing;
masked output frames, which have none, are left out). A run of ``streamnets
reproduce`` with ``"repetitions": 1`` gets no band: its std is not measured. A
training run's folder stands for the run it holds (:func:`training_run`). An
optional ``"label"`` names the run in legends (default: its rollout).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from numbers import Real
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from ..errors import StreamnetsError
from ..rollout import pattern_label
from .style import SEQUENTIAL, STREAMING, checked_axes, new_figure, rollout_color, root_figure

_LINESTYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D", "v")

__all__ = ["plot_accuracy_over_steps", "plot_first_response_comparison", "first_response_table",
           "ResultsError", "short_names", "training_run"]


class ResultsError(StreamnetsError, ValueError):
    """Runs or a results table that cannot be plotted (a field missing or inconsistent)."""


def _numbers(run, k, key):
    """``run[key]`` as a 1-D float array of finite numbers, else a ResultsError."""
    where = f"runs[{k}] ({run['network']}, {run['rollout']}): {key}"
    value = run[key]
    try:
        values = np.asarray(value, float)
    except (TypeError, ValueError):
        raise ResultsError(f"{where} must be numbers, got {value!r}") from None
    if values.ndim != 1:
        hint = "; average repetitions first (their std goes into accuracy_std)" if values.ndim else ""
        raise ResultsError(f"{where} must be a list with one number per output frame, got "
                           f"{value!r}{hint}")
    if not np.all(np.isfinite(values)):
        raise ResultsError(f"{where} holds {value[int(np.argmin(np.isfinite(values)))]!r}: leave "
                           f"out the output frames that are masked (no update step, no accuracy)")
    return values


def _check_run(run, k):
    if not isinstance(run, Mapping):
        raise ResultsError(f"runs[{k}] is a {type(run).__name__}, not a run (a dict with network, "
                           f"rollout, update_steps and accuracy)")
    for key in ("network", "rollout", "update_steps", "accuracy"):
        if key not in run:
            raise ResultsError(f"runs[{k}] has no field {key!r}; a run needs network, rollout, "
                               f"update_steps and accuracy")
    where = f"runs[{k}] ({run['network']}, {run['rollout']})"
    keys = [key for key in ("update_steps", "accuracy", "accuracy_std") if run.get(key) is not None]
    steps, acc, *std = (_numbers(run, k, key) for key in keys)
    if not len(steps):
        raise ResultsError(f"{where}: update_steps is empty; a run needs at least one output frame")
    if len(steps) != len(acc):
        raise ResultsError(f"{where}: {len(steps)} update steps but {len(acc)} accuracies; give "
                           f"one per output frame")
    if std and len(std[0]) != len(acc):
        raise ResultsError(f"{where}: accuracy_std has {len(std[0])} values for {len(acc)} "
                           f"accuracies")
    if np.any(np.diff(steps) <= 0):
        raise ResultsError(f"{where}: update_steps {list(run['update_steps'])} do not increase; "
                           f"give the output frames in order")


def _std(run):
    """The run's ``accuracy_std``, or None where it has none or it is over one repetition
    (all zeros: no spread was measured)."""
    std = run.get("accuracy_std")
    return None if std is None or run.get("repetitions") == 1 else std


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
    """The runs grouped by network, each run with its legend label: its ``label``, else
    its rollout; a rollout that comes twice in a network adds the folder's name (or
    ``run <k>``, its place in ``runs``), so the curves can be told apart."""
    groups = {}
    for k, run in enumerate(_runs(runs)):
        source = f"run {k}"
        if isinstance(run, (str, os.PathLike)):
            if not Path(run).exists():
                raise ResultsError(f"runs[{k}] is a {type(run).__name__}, not a run: there is no folder "
                                   f"{run} (a run is a dict with network, rollout, update_steps and "
                                   f"accuracy, or the folder of a training run)")
            source = Path(run).name if Path(run).is_dir() else Path(run).parent.name
            run = training_run(run)
        _check_run(run, k)
        groups.setdefault(run["network"], []).append((run, source))
    labelled = {}
    for network, group in groups.items():
        rollouts = [str(run["rollout"]) for run, _ in group]
        labelled[network] = [(run, run.get("label") or (f"{rollout} ({source})" if rollouts.count(
            rollout) > 1 else rollout)) for (run, source), rollout in zip(group, rollouts)]
    return labelled


def plot_accuracy_over_steps(runs, ax=None):
    """Test accuracy over update steps, one curve per (network, rollout) run.

    Streaming runs are red, sequential blue, hybrid purple; a run with
    ``accuracy_std`` gets a band of +- one standard deviation. Runs of
    several networks go into one panel per network.

    Parameters
    ----------
    runs : list of dict or path
        See the module docstring; a training run's folder stands for its run
        (:func:`training_run`). Several runs of one rollout (say, two learning
        rates) get other markers, and in the legend their ``label``, else the
        folder's name, else ``run <k>`` (their place in ``runs``).
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
        axes = [checked_axes(a, f"ax[{k}]") for k, a in enumerate(np.ravel(ax))]
        if len(axes) < len(groups):
            raise ResultsError(f"{len(groups)} networks but {len(axes)} axes; give one per network")
        fig = root_figure(axes[0])
    else:
        fig, axes = root_figure(checked_axes(ax)), [ax] * len(groups)
    combined = len(set(map(id, axes))) < len(groups)
    for n, ((network, group), a) in enumerate(zip(groups.items(), axes)):
        # in a shared axes the networks differ by line style, the rollouts by colour
        style = _LINESTYLES[n % len(_LINESTYLES)] if combined else "-"
        seen = []
        for k, (run, label) in enumerate(group):
            color = rollout_color(run["rollout"], k)
            steps = np.asarray(run["update_steps"], float)
            acc = np.asarray(run["accuracy"], float)
            label = f"{network}, {label}" if combined else str(label)
            again = seen.count(str(run["rollout"]))  # a rollout's later runs: other markers
            seen.append(str(run["rollout"]))
            gid = f"{network}:{run['rollout']}" + (f":{again}" if again else "")
            a.plot(steps, acc, marker=_MARKERS[again % len(_MARKERS)], markersize=3, color=color,
                   label=label, linestyle=style, gid=f"run:{gid}")
            std = _std(run)
            if std is not None:
                std = np.asarray(std, float)
                a.fill_between(steps, acc - std, acc + std, color=color, alpha=0.2, linewidth=0,
                               gid=f"band:{gid}")
        if not combined:
            a.set_title(str(network), fontsize=10)
        a.set_xlabel("update steps")
        _whole_steps(a)
        a.set_ylabel("test accuracy")
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    if len(groups) > 1 and ax is None:
        fig.suptitle("test accuracy over update steps", fontsize=11)
    return fig


def _whole_steps(ax):
    """Whole-number ticks on the update-step axis of ``ax`` (at least two: a run of one
    or two output frames would otherwise get ticks such as 2.2, 2.4)."""
    lo, hi = ax.dataLim.intervalx
    if hi - lo < 2:
        ax.set_xlim(lo - 1, hi + 1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _row_from_runs(network, group):
    by_name = {}
    for r in group:
        if str(r["rollout"]) in by_name:
            raise ResultsError(f"network {network!r} has several {r['rollout']} runs; the "
                               f"first-response comparison takes one per rollout: average the "
                               f"repetitions first (their std goes into accuracy_std)")
        by_name[str(r["rollout"])] = r
    missing = [n for n in ("streaming", "sequential") if n not in by_name]
    if missing:
        raise ResultsError(f"network {network!r} has no {missing[0]} run; the first-response "
                           f"comparison needs a streaming and a sequential run per network")
    stream, seq = by_name["streaming"], by_name["sequential"]
    first_seq = seq["update_steps"][0]
    before = [k for k, s in enumerate(stream["update_steps"]) if s <= first_seq]
    if not before:
        raise ResultsError(f"network {network!r}: the streaming run starts at update step "
                           f"{stream['update_steps'][0]}, after the sequential first response at "
                           f"step {first_seq}; the streaming rollout responds first, so these runs "
                           f"cannot be of one network (check their update_steps)")
    k = before[-1]
    row = {"network": network, "streaming_accuracy": float(stream["accuracy"][k]),
           "sequential_accuracy": float(seq["accuracy"][0]),
           "delay": first_seq - stream["update_steps"][0]}
    if _std(stream) is not None:
        row["streaming_std"] = float(_std(stream)[k])
    if _std(seq) is not None:
        row["sequential_std"] = float(_std(seq)[0])
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
        scalar = [k for k, v in data.items() if isinstance(v, (str, bytes)) or not isinstance(v, Iterable)]
        if scalar:
            raise ResultsError(f"column {scalar[0]!r} of the table is {data[scalar[0]]!r}, not a list "
                               f"with one value per network")
        columns = {k: list(v) for k, v in data.items()}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) != 1:
            raise ResultsError("the columns of the table have different lengths")
        data = [dict(zip(columns, values)) for values in zip(*columns.values())]
    data = _runs(data)
    if data and (isinstance(data[0], (str, os.PathLike))
                 or isinstance(data[0], Mapping) and "accuracy" in data[0]):
        return [_row_from_runs(n, [run for run, _ in g]) for n, g in _by_network(data).items()]
    needed = ("network", "streaming_accuracy", "sequential_accuracy", "delay")
    for k, row in enumerate(data):
        if not isinstance(row, Mapping):
            raise ResultsError(f"table row {k} is a {type(row).__name__}, not a dict with "
                               f"{', '.join(needed)} (or pass runs)")
        for key in needed:
            if key not in row:
                raise ResultsError(f"table row {k} has no field {key!r}; a row needs "
                                   f"{', '.join(needed)} (or pass runs)")
        _check_row(row, k)
    return data


def _check_row(row, k):
    """A ResultsError unless the numbers of table row ``k`` are finite (a std may be None)."""
    for key in ("streaming_accuracy", "sequential_accuracy", "delay", "streaming_std",
                "sequential_std"):
        value = row.get(key)
        if value is None and key.endswith("_std"):
            continue
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            raise ResultsError(f"table row {k} ({row['network']}): {key} must be a finite number, "
                               f"got {value!r}")


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
    bars.yaxis.set_major_locator(MaxNLocator(integer=True))  # update steps are whole
    for key, name, color in (("streaming", "streaming", STREAMING),
                             ("sequential", "sequential", SEQUENTIAL)):
        acc = [row[f"{key}_accuracy"] for row in rows]
        std = [np.nan if row.get(f"{key}_std") is None else row[f"{key}_std"] for row in rows]
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
    # two lines, wrapped further if need be: one line is wider than a figure of few networks
    ax.set_title("test accuracy at the sequential first response (points)\nand how many update "
                 "steps earlier the streaming rollout responds (bars)", fontsize=9, wrap=True)
    return fig
