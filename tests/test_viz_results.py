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


@pytest.mark.parametrize("ms, ideal, what", [(float("nan"), 1.0, "sequential has time nan"),
                                              (0.0, 1.0, "sequential has time 0.0"),
                                              (1.0, None, "ideal_ms_per_frame has time None")])
def test_executor_times_refuse_a_time_the_log_axis_would_leave_out(ms, ideal, what):
    # before: no bar (a NaN or zero on a log axis), or a TypeError for None
    from streamnets.viz import plot_executor_times

    with pytest.raises(ResultsError, match=f"^a: {what}; a time per frame must be a positive number"):
        plot_executor_times({"a": _bench({"sequential": ("sequential", False, ms, 1)}, ideal)})


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


# -- review fixes ----------------------------------------------------------------------------

def _cut_off(fig):
    """The titles, labels and legends of ``fig`` that reach past its left or right edge."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    renderer, width = fig.canvas.get_renderer(), fig.bbox.width
    items = [a for ax in fig.axes for a in (ax.title, ax.get_legend(), ax.xaxis.label) if a is not None]
    return [a for a in items if not -1 <= a.get_window_extent(renderer).x0
            <= a.get_window_extent(renderer).x1 <= width + 1]


@pytest.mark.parametrize("n", [1, 2, 4, 7])
def test_first_response_title_fits_few_networks(n):
    # before: the one-line title (830 px) ran off both sides of figures of up to 5 networks
    table = {"network": [f"dsr{k}" for k in range(n)], "streaming_accuracy": [0.5] * n,
             "sequential_accuracy": [0.4] * n, "delay": list(range(n))}
    assert not _cut_off(plot_first_response_comparison(table))


def test_first_response_comparison_takes_training_folders(tmp_path):
    # before: "table row 0 is a PosixPath, not a dict ... (or pass runs)", though the docstring
    # promises runs as for plot_accuracy_over_steps, which takes training folders
    import json

    folders = []
    for name, bits, steps, acc in (("streaming", [1] * 5, [2, 3, 4], [0.5, 0.6, 0.7]),
                                   ("sequential", [0, 0, 1, 0, 0], [3, 6, 9], [0.4, 0.5, 0.6])):
        folder = tmp_path / f"mnist_sr__{name}__rep0"
        folder.mkdir()
        (folder / "metrics.json").write_text(json.dumps({
            "network": "mnist_sr", "rollout_name": name, "rollout": bits, "update_steps": steps,
            "epochs": [{"test_accuracy": acc}]}))
        folders.append(folder)
    assert first_response_table(folders) == [{"network": "mnist_sr", "streaming_accuracy": 0.6,
                                              "sequential_accuracy": 0.4, "delay": 1}]
    assert plot_first_response_comparison([str(f) for f in folders]) is not None


@pytest.mark.parametrize("fields, message", [
    ({"update_steps": 3, "accuracy": 0.9}, r"update_steps must be a list with one number per output "
                                           r"frame, got 3$"),
    ({"update_steps": [None, 3, 6], "accuracy": [None, 0.5, 0.6]},
     "update_steps holds None: leave out the output frames that are masked"),
    ({"update_steps": [1, 2], "accuracy": [[0.5, 0.6], [0.6, 0.7]]},
     "accuracy must be a list with one number per output frame.*average repetitions first"),
    ({"update_steps": [6, 3], "accuracy": [0.5, 0.4]}, r"update_steps \[6, 3\] do not increase"),
])
def test_runs_that_are_not_one_number_per_output_frame_are_named(fields, message):
    # before: a TypeError (scalars; a masked first frame in first_response_table), two curves
    # with one label (accuracy per repetition), a first response read off the wrong frame
    # (unsorted update steps)
    runs = [{"network": "n", "rollout": "sequential", **fields},
            {"network": "n", "rollout": "streaming", "update_steps": [1, 2], "accuracy": [0.5, 0.6]}]
    for call in (plot_accuracy_over_steps, first_response_table):
        with pytest.raises(ResultsError, match=message):
            call(runs)


def test_first_response_table_refuses_repetitions_and_a_late_streaming_run():
    # before: the last of several streaming runs was taken silently; a streaming run that
    # started after the sequential first response gave accuracy nan and a hidden negative bar
    runs = [run("n", "streaming", 1, 1), run("n", "streaming", 1, 1, start=0.9), run("n", "sequential", 3, 3)]
    with pytest.raises(ResultsError, match="network 'n' has several streaming runs.*average the repetitions"):
        first_response_table(runs)
    with pytest.raises(ResultsError, match="streaming run starts at update step 5, after the sequential "
                                           "first response at step 3"):
        plot_first_response_comparison([run("n", "streaming", 5, 1), run("n", "sequential", 3, 3)])


@pytest.mark.parametrize("row, message", [
    ({"delay": float("nan")}, "delay must be a finite number, got nan"),
    ({"delay": "2"}, "delay must be a finite number, got '2'"),
    ({"streaming_accuracy": None}, "streaming_accuracy must be a finite number, got None"),
])
def test_table_rows_must_hold_finite_numbers(row, message):
    # before: a bare ValueError (Axis limits cannot be NaN), a TypeError, or a point left out
    table = [{"network": "a", "streaming_accuracy": 0.5, "sequential_accuracy": 0.4, "delay": 1, **row}]
    with pytest.raises(ResultsError, match=r"table row 0 \(a\): " + message):
        plot_first_response_comparison(table)
    with pytest.raises(ResultsError, match="column 'delay' of the table is 1, not a list"):
        first_response_table({"network": ["a"], "streaming_accuracy": [0.5],
                              "sequential_accuracy": [0.4], "delay": 1})


def test_a_std_over_one_repetition_is_not_drawn():
    # before: reproduce's runs of one repetition (accuracy_std all zeros) got zero-width bands
    # and error bars claiming no spread
    runs = [{**run("n", r, s, s), "accuracy_std": [0.0] * 6, "repetitions": 1}
            for r, s in (("streaming", 1), ("sequential", 3))]
    fig = plot_accuracy_over_steps(runs)
    assert not [c for c in fig.axes[0].collections if (c.get_gid() or "").startswith("band:")]
    assert "streaming_std" not in first_response_table(runs)[0]
    ax = next(a for a in plot_first_response_comparison(runs).axes if a.get_ylabel() == "test accuracy")
    assert not ax.containers
    runs[0]["repetitions"] = 3
    assert first_response_table(runs)[0]["streaming_std"] == 0.0


def test_networks_in_one_axes_differ_by_line_style():
    # before: "a, streaming" and "b, streaming" were the same red solid line
    fig = Figure()
    ax = fig.add_subplot()
    plot_accuracy_over_steps([run(n, r, 1, 1) for n in ("a", "b") for r in ("streaming", "sequential")],
                             ax=ax)
    styles = {(same_color(line.get_color(), STREAMING), line.get_linestyle()) for line in ax.lines}
    assert len(styles) == 4


@pytest.mark.parametrize("steps", [[3], [2, 3], [2, 3, 4]])
def test_update_step_ticks_are_whole_numbers(steps):
    # before: ticks 2.2, 2.4, ... on the update-step axis of a short run
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = plot_accuracy_over_steps([{"network": "n", "rollout": "streaming", "update_steps": steps,
                                     "accuracy": [0.5] * len(steps)}])
    FigureCanvasAgg(fig).draw()
    lo, hi = fig.axes[0].get_xlim()
    ticks = [t for t in fig.axes[0].get_xticks() if lo <= t <= hi]
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks)
    fig = plot_first_response_comparison({"network": ["a", "b"], "streaming_accuracy": [0.5, 0.6],
                                          "sequential_accuracy": [0.4, 0.4], "delay": [1, 2]})
    bars = next(a for a in fig.axes if a.get_ylabel().startswith("first-response"))
    assert all(float(t).is_integer() for t in bars.get_yticks())


def test_executor_times_of_one_result_and_of_the_wrong_kind():
    # before: a TypeError (string indices must be integers) for bench_parallel's own result
    from streamnets.viz import plot_executor_times

    one = {**_bench({"sequential": ("sequential", False, 1.0, 1)}), "network": "mnist_sr"}
    fig = plot_executor_times(one)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["mnist_sr"]
    with pytest.raises(ResultsError, match="bench must be results of bench_parallel by network name.*a list"):
        plot_executor_times([one])
    with pytest.raises(ResultsError, match="got 'a': a str"):
        plot_executor_times({"a": "x"})


def test_a_figure_for_ax_is_refused_with_the_way_out():
    # before: AttributeError: 'Figure' object has no attribute 'plot'
    import streamnets as sn

    with pytest.raises(sn.SettingError, match=r"ax must be a matplotlib Axes, got Figure \(a figure: pass "
                                              r"fig.add_subplot\(\)"):
        plot_accuracy_over_steps([run("n", "streaming", 1, 1)], ax=Figure())
    with pytest.raises(sn.SettingError, match="ax must be a matplotlib Axes, got Figure"):
        plot_first_response_comparison(dsr_runs(), ax=Figure())


def test_executor_times_of_other_batch_sizes_or_devices_are_refused():
    # before: the title said "batch 4, on cpu" for a network timed with batch 64 on cuda
    from streamnets.viz import plot_executor_times

    one = _bench({"sequential": ("sequential", False, 1.0, 1)})
    with pytest.raises(ResultsError, match="b was timed with batch 64, a with 4"):
        plot_executor_times({"a": one, "b": {**one, "batch": 64}})
    with pytest.raises(ResultsError, match="b was timed with device cuda, a with cpu"):
        plot_executor_times({"a": one, "b": {**one, "device": "cuda"}})


def test_runs_of_one_rollout_get_their_own_legend_entries(tmp_path):
    # before: two streaming runs of one network (say two learning rates) drew two red
    # curves with the same marker, both labelled "streaming"
    runs = [run("mnist_sr", "streaming", 2, 1), run("mnist_sr", "streaming", 2, 1, start=0.5),
            run("mnist_sr", "sequential", 3, 3),
            {**run("mnist_sr", "streaming", 2, 1, start=0.6), "label": "lr 0.01"}]
    fig = plot_accuracy_over_steps(runs)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "streaming (run 0)", "streaming (run 1)", "sequential", "lr 0.01"]
    lines = curves(fig)
    assert [lines[g].get_marker() for g in ("run:mnist_sr:streaming", "run:mnist_sr:streaming:1",
                                            "run:mnist_sr:streaming:2", "run:mnist_sr:sequential")] \
        == ["o", "s", "^", "o"]
    folders = []
    for name, start in (("lr-0.1", 0.45), ("lr-0.01", 0.5)):
        folder = tmp_path / name
        folder.mkdir()
        steps = [2, 3]
        (folder / "metrics.json").write_text(
            '{"network": "mnist_sr", "rollout_name": "streaming", "rollout": [1, 1, 1, 1, 1], '
            f'"update_steps": {steps}, "epochs": [{{"test_accuracy": [{start}, 0.7]}}]}}')
        folders.append(folder)
    fig = plot_accuracy_over_steps(folders + [run("mnist_ff", "streaming", 2, 1)], ax=Figure().subplots())
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "mnist_sr, streaming (lr-0.1)", "mnist_sr, streaming (lr-0.01)", "mnist_ff, streaming"]
