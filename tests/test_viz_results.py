"""Results plots: curves, bands, bars and labels checked through their artists."""

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import same_color  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from streamnets.viz import (ResultsError, first_response_table,  # noqa: E402
                            plot_accuracy_over_steps, plot_first_response_comparison)
from streamnets.viz.style import HYBRID, SEQUENTIAL, STREAMING  # noqa: E402


def run(network, rollout, first, every, n=6, start=0.45, std=False):
    steps = [first + every * k for k in range(n)]
    acc = [start + 0.4 * (1 - math.exp(-k / 2)) for k in range(n)]
    out = {"network": network, "rollout": rollout, "update_steps": steps, "accuracy": acc}
    if std:
        out["accuracy_std"] = [0.02] * n
    return out


def curves(fig):
    return {line.get_gid(): line for ax in fig.axes for line in ax.lines
            if (line.get_gid() or "").startswith("run:")}


def test_accuracy_over_steps_one_network(tmp_path):
    runs = [run("mnist_sr", "streaming", 2, 1, std=True), run("mnist_sr", "sequential", 3, 3),
            run("mnist_sr", "hybrid", 3, 2)]
    fig = plot_accuracy_over_steps(runs)
    fig.savefig(tmp_path / "acc.png", dpi=50)
    (ax,) = fig.axes
    lines = curves(fig)
    assert set(lines) == {f"run:mnist_sr:{r}" for r in ("streaming", "sequential", "hybrid")}
    for name, colour in (("streaming", STREAMING), ("sequential", SEQUENTIAL), ("hybrid", HYBRID)):
        line = lines[f"run:mnist_sr:{name}"]
        assert same_color(line.get_color(), colour)
        assert line.get_label() == name
        source = next(r for r in runs if r["rollout"] == name)
        assert list(line.get_xdata()) == source["update_steps"]
        assert np.allclose(line.get_ydata(), source["accuracy"])
    bands = [c for c in ax.collections if (c.get_gid() or "").startswith("band:")]
    assert [b.get_gid() for b in bands] == ["band:mnist_sr:streaming"]  # std given only there
    assert ax.get_xlabel() == "update steps" and ax.get_ylabel() == "test accuracy"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["streaming", "sequential",
                                                                    "hybrid"]
    assert ax.get_title() == "mnist_sr"


def test_accuracy_over_steps_one_panel_per_network():
    runs = [run(n, r, 2, 1) for n in ("mnist_ff", "mnist_s", "mnist_sr") for r in
            ("streaming", "sequential")]
    fig = plot_accuracy_over_steps(runs)
    assert [ax.get_title() for ax in fig.axes] == ["mnist_ff", "mnist_s", "mnist_sr"]
    assert all(len(ax.lines) == 2 for ax in fig.axes)
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_accuracy_over_steps(runs, ax=ax) is fig
    assert len(ax.lines) == 6 and "mnist_s, streaming" in [t.get_text() for t in
                                                           ax.get_legend().get_texts()]
    axes = Figure().subplots(1, 3)
    plot_accuracy_over_steps(runs, ax=axes)
    assert [a.get_title() for a in axes] == ["mnist_ff", "mnist_s", "mnist_sr"]


def test_accuracy_runs_are_checked():
    bad = run("mnist_sr", "streaming", 2, 1)
    bad["accuracy"] = bad["accuracy"][:-1]
    with pytest.raises(ResultsError, match="one per output frame"):
        plot_accuracy_over_steps([bad])
    with pytest.raises(ResultsError, match="no field 'accuracy'"):
        plot_accuracy_over_steps([{"network": "x", "rollout": "streaming", "update_steps": [1]}])
    # before: an IndexError from first_response_table
    empty = {"network": "x", "rollout": "streaming", "update_steps": [], "accuracy": []}
    with pytest.raises(ResultsError, match=r"runs\[0\] \(x, streaming\): update_steps is empty; a run "
                                           r"needs at least one output frame"):
        first_response_table([empty, {**empty, "rollout": "sequential", "update_steps": [3],
                                      "accuracy": [0.5]}])


def dsr_runs():
    runs = []
    for k in range(7):  # F(seq) = 4 + k, streaming first response at update step 4
        runs.append(run(f"cifar10_dsr{k}", "streaming", 4, 1, n=12, start=0.39, std=True))
        runs.append(run(f"cifar10_dsr{k}", "sequential", 4 + k, 4 + k, start=0.41))
    return runs


def test_first_response_table_from_runs():
    table = first_response_table(dsr_runs())
    assert [row["delay"] for row in table] == list(range(7))
    assert all(row["sequential_accuracy"] == pytest.approx(0.41) for row in table)
    stream = dsr_runs()[2 * 3]  # DSR3: sequential first response at step 7 -> streaming index 3
    assert table[3]["streaming_accuracy"] == pytest.approx(stream["accuracy"][3])
    assert table[3]["streaming_std"] == pytest.approx(0.02)


def test_first_response_comparison_plot(tmp_path):
    fig = plot_first_response_comparison(dsr_runs())
    fig.savefig(tmp_path / "first_response.png", dpi=50)
    ax = next(a for a in fig.axes if a.get_ylabel() == "test accuracy")
    bars_ax = next(a for a in fig.axes if a is not ax)
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"DSR{k}" for k in range(7)]
    heights = [p.get_height() for p in bars_ax.patches]
    assert heights == list(range(7))
    assert "delay" in bars_ax.get_ylabel() and "update steps" in bars_ax.get_ylabel()
    table = first_response_table(dsr_runs())
    for key, colour in (("streaming", STREAMING), ("sequential", SEQUENTIAL)):
        (line,) = [ln for ln in ax.lines if ln.get_gid() == f"accuracy:{key}"]
        assert same_color(line.get_color(), colour)
        assert np.allclose(line.get_ydata(), [row[f"{key}_accuracy"] for row in table])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["streaming", "sequential", "first-response delay"]
    assert len(ax.containers) == 1  # error bars only where a std is given (streaming)


def test_first_response_comparison_from_a_table_of_columns():
    table = {"network": ["a", "b"], "streaming_accuracy": [0.5, 0.6],
             "sequential_accuracy": [0.4, 0.4], "delay": [1, 3]}
    fig = plot_first_response_comparison(table)
    bars_ax = next(a for a in fig.axes if a.get_ylabel().startswith("first-response"))
    assert [p.get_height() for p in bars_ax.patches] == [1, 3]
    with pytest.raises(ResultsError, match="no sequential run"):
        plot_first_response_comparison([run("x", "streaming", 1, 1)])
    with pytest.raises(ResultsError, match="no field 'delay'"):
        plot_first_response_comparison([{"network": "a", "streaming_accuracy": 1,
                                         "sequential_accuracy": 1}])


@pytest.mark.parametrize("call, message", [
    (lambda: plot_accuracy_over_steps(run("a", "streaming", 1, 1)),
     "runs must be a list of runs .*got a dict; wrap a single run in a list"),
    (lambda: plot_accuracy_over_steps("runs.json"), "runs must be a list of runs .*got a str"),
    (lambda: plot_accuracy_over_steps([run("a", "streaming", 1, 1), "b"]),
     r"runs\[1\] is a str, not a run"),
    (lambda: plot_accuracy_over_steps([{**run("a", "streaming", 1, 1, n=2), "accuracy": ["x", "y"]}]),
     r"runs\[0\] \(a, streaming\): accuracy must be numbers, got \['x', 'y'\]"),
    (lambda: first_response_table("x"), "runs must be a list of runs .*got a str"),
    (lambda: first_response_table([1, 2]), "table row 0 is a int, not a dict with network"),
])
def test_runs_of_the_wrong_kind_are_named(call, message):
    # before: a single run dict was read as runs named by its keys ("runs[0] has no field
    # 'rollout'"), a string likewise; accuracies that are not numbers a bare ValueError,
    # a table of numbers a TypeError
    with pytest.raises(ResultsError, match=message):
        call()


def _bench(executors, ideal=1.0):
    return {"device": "cpu", "batch": 4, "ideal_ms_per_frame": ideal, "executors": {
        name: {"rollout": rollout, "parallel": parallel, "ms_per_frame": ms, "frames_per_graph": clip}
        for name, (rollout, parallel, ms, clip) in executors.items()}}


def test_executor_times_one_bar_per_executor_and_network_beside_the_ideal():
    from streamnets.viz import plot_executor_times

    executors = {"sequential": ("sequential", False, 3.0, 1), "streaming-reference": ("streaming", False, 3.2, 1),
                 "streaming-threads": ("streaming", True, 2.0, 1),
                 "streaming-cuda-pipelined": ("streaming", True, 0.5, 16)}  # a clip: left out
    fig = plot_executor_times({"a": _bench(executors, 1.5), "b": _bench(executors, 4.0)})
    ax = fig.axes[0]
    bars = {c.get_label(): c for c in ax.containers}
    assert list(bars) == ["sequential", "streaming-reference", "streaming-threads", "ideal streaming frame"]
    assert [p.get_height() for p in bars["streaming-threads"]] == [2.0, 2.0]
    assert [p.get_height() for p in bars["ideal streaming frame"]] == [1.5, 4.0]
    assert same_color(bars["sequential"][0].get_facecolor(), SEQUENTIAL)
    assert same_color(bars["streaming-threads"][0].get_facecolor(), STREAMING)  # parallel: full colour
    lighter = bars["streaming-reference"][0].get_facecolor()
    assert not same_color(lighter, STREAMING) and min(lighter[:3]) > min(matplotlib.colors.to_rgb(STREAMING))
    assert ax.get_yscale() == "log" and [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]


def test_executor_times_refuse_nothing_and_mixed_settings():
    from streamnets.viz import plot_executor_times

    with pytest.raises(ResultsError, match="no benchmark results"):
        plot_executor_times({})
    one = _bench({"sequential": ("sequential", False, 1.0, 1)})
    two = _bench({"sequential": ("sequential", False, 1.0, 1), "streaming-threads": ("streaming", True, 1.0, 1)})
    with pytest.raises(ResultsError, match="b was timed with other executors than a"):
        plot_executor_times({"a": one, "b": two})


def test_a_training_folder_stands_for_its_run(tmp_path):
    # before: "runs[0] is a str, not a run": a run of one's own needed a dict built by hand
    import streamnets as sn
    from streamnets.data import Digits
    from streamnets.train import TrainConfig, train
    from streamnets.viz import training_run

    cfg = TrainConfig(epochs=1, batch_size=32, max_batches=1, output_frames=2, progress=False, device="cpu")
    _, ev = train("mnist_sr", "sequential", Digits(train=False), Digits(train=False), config=cfg,
                  out_dir=tmp_path / "run")
    assert training_run(tmp_path / "run") == {"network": "mnist_sr", "rollout": "sequential",
                                               "update_steps": [3, 6], "accuracy": ev.accuracy}
    fig = plot_accuracy_over_steps([tmp_path / "run", str(tmp_path / "run" / "metrics.json")])
    assert len(fig.axes[0].lines) == 2
    with pytest.raises(ResultsError, match=r"runs\[0\] is a \w*Path, not a run: there is no folder .*nowhere"):
        plot_accuracy_over_steps([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResultsError, match=r"empty/metrics.json: cannot read a training run's metrics "
                                           r"\(FileNotFoundError"):
        plot_accuracy_over_steps([tmp_path / "empty"])
    train("mnist_sr", {e.key: 1 for e in sn.load("mnist_sr").edges}, Digits(train=False), Digits(train=False),
          config=cfg, out_dir=tmp_path / "own")
    assert training_run(tmp_path / "own")["rollout"] == "custom-11111"  # patterns of one's own differ
    train("mnist_sr", "streaming", Digits(train=False), None, config=cfg, out_dir=tmp_path / "untested")
    with pytest.raises(ResultsError, match="no epoch was evaluated on test data"):
        training_run(tmp_path / "untested")
