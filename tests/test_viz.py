"""Drawings: rendered to PNG and checked through their artists.

Every drawn artist carries a gid: nodes ``node:...`` (circle markers),
edges ``edge:source->target[:frame]`` (arrows), tableau numbers and names
``label:...``. The tests compare those against the theory (``Rollout.window``,
``Rollout.tableau``, ``theory.count_patterns``).
"""

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib.colors import same_color  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

import streamnets as sn  # noqa: E402
from streamnets.viz import (draw_network, draw_patterns, draw_window,  # noqa: E402
                            layered_layout)
from streamnets.viz.layout import back_edges  # noqa: E402
from streamnets.viz.style import (FILLED_FACE, HYBRID, NODE_FACE, SEQUENTIAL,  # noqa: E402
                                  STREAMING, rollout_color)
from strategies import networks, patterns  # noqa: E402

FIG2_INVALID = {("u", "v"): 1, ("v", "w"): 0, ("v", "v"): 1, ("u", "w"): 1, ("w", "v"): 0}


@pytest.fixture(scope="module")
def fig2():
    return sn.load("fig2")


def arrows(fig):
    """{gid: arrow} of the drawn edges."""
    return {a.get_gid(): a for ax in fig.axes for a in ax.patches
            if isinstance(a, FancyArrowPatch) and (a.get_gid() or "").startswith("edge:")}


def node_markers(fig):
    return {m.get_gid(): m for ax in fig.axes for m in ax.lines
            if (m.get_gid() or "").startswith("node:")}


def labels(fig):
    return {t.get_gid(): t.get_text() for ax in fig.axes for t in ax.texts
            if (t.get_gid() or "").startswith("label:")}


def colour_counts(fig):
    counts = {"red": 0, "blue": 0}
    for a in arrows(fig).values():
        if same_color(a.get_edgecolor(), STREAMING):
            counts["red"] += 1
        elif same_color(a.get_edgecolor(), SEQUENTIAL):
            counts["blue"] += 1
    return counts


def save(fig, tmp_path, name):
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=50)
    assert path.stat().st_size > 1000
    return path


# -- layout ------------------------------------------------------------------------------

def test_layout_puts_inputs_at_the_bottom_and_layers_by_longest_path(fig2):
    lay = layered_layout(fig2)
    assert back_edges(fig2) == {("v", "v"), ("w", "v")}
    assert lay.layer == {"u": 0, "v": 1, "w": 2}
    assert lay.rows == ["u", "v", "w"]
    lay = layered_layout(sn.load("cifar10_dsr2"))
    assert lay.rows == ["image", "h1", "h11", "h2", "h21", "hd", "prediction"]
    mnist = layered_layout(sn.load("mnist_sr"))
    assert mnist.layer["prediction"] == 3  # longest path image-h1-h2-prediction, not the skip


# -- draw_network --------------------------------------------------------------------------

def test_draw_network_colours_every_edge_by_its_delay(fig2, tmp_path):
    for r in (sn.Rollout.streaming(fig2), sn.Rollout.sequential(fig2)):
        fig = draw_network(fig2, r)
        save(fig, tmp_path, f"net_{r.name}")
        drawn = arrows(fig)
        assert set(drawn) == {f"edge:{u}->{v}" for u, v in fig2.edge_index}
        for (u, v), delay in r.pattern.items():
            assert same_color(drawn[f"edge:{u}->{v}"].get_edgecolor(),
                              STREAMING if delay else SEQUENTIAL)
        assert colour_counts(fig) == {"red": sum(r.bits), "blue": len(r.bits) - sum(r.bits)}
        assert r.name in fig.axes[0].get_title()


def test_draw_network_places_layers_and_curves_back_edges(fig2):
    fig = draw_network(fig2)
    ys = {gid[5:]: m.get_ydata()[0] for gid, m in node_markers(fig).items()}
    assert ys["u"] < ys["v"] < ys["w"]
    input_face = node_markers(fig)["node:u"].get_markerfacecolor()
    assert not same_color(input_face, node_markers(fig)["node:v"].get_markerfacecolor())
    drawn = arrows(fig)
    assert drawn["edge:v->v"].get_path() is not None and drawn["edge:v->v"]._posA_posB is None
    for gid in ("edge:w->v", "edge:u->w"):  # a back edge, and one that would cross v
        assert drawn[gid].get_connectionstyle().rad != 0
    assert drawn["edge:u->v"].get_connectionstyle().rad == 0
    assert labels(fig) == {"label:u": "u", "label:v": "v", "label:w": "w"}


def test_edges_of_a_wide_layer_stay_straight(tmp_path):
    # before: with 10 or more parallel branches the long, flat edges into the outer branches
    # counted the neighbouring branch nodes as in the way and were bent into arcs far off
    # the drawing, crossing other nodes
    k = 12
    nodes = [sn.Node("in", (1,)), *[sn.Node(f"b{i}", (2,)) for i in range(k)], sn.Node("out", (3,))]
    edges = [("in", f"b{i}") for i in range(k)] + [(f"b{i}", "out") for i in range(k)]
    fig = draw_network(sn.Network(nodes, edges, name="wide"))
    save(fig, tmp_path, "wide")
    assert {a.get_connectionstyle().rad for a in arrows(fig).values()} == {0}
    skip = draw_network(sn.Network([sn.Node(v, (2,)) for v in "abc"], [("a", "b"), ("b", "c"), ("a", "c")]))
    assert arrows(skip)["edge:a->c"].get_connectionstyle().rad != 0  # b is in its way


def test_draw_network_marks_the_zero_delay_cycle(fig2, tmp_path):
    r = sn.Rollout(fig2, FIG2_INVALID)
    fig = draw_network(fig2, r)
    save(fig, tmp_path, "net_invalid")
    dashed = {gid for gid, a in arrows(fig).items() if a.get_linestyle() == "--"}
    assert dashed == {"edge:v->w", "edge:w->v"}
    assert "not valid" in fig.axes[0].get_title()


@pytest.mark.parametrize("name", sn.builtin_names())
def test_every_builtin_network_draws(name):
    net = sn.load(name)
    r = sn.Rollout.sequential(net)
    fig = draw_network(net, r)
    assert len(arrows(fig)) == len(net.edges)
    assert len(node_markers(fig)) == len(net.nodes)
    fig = draw_window(r, 2, tableau=True)
    assert colour_counts(fig)["red"] + colour_counts(fig)["blue"] == r.window(2).number_of_edges()


# -- draw_window ---------------------------------------------------------------------------

def _window_counts(r, W):
    delays = [d for _, _, d in r.window(W).edges(data="delay")]
    return {"red": sum(delays), "blue": len(delays) - sum(delays)}


@pytest.mark.parametrize("W", [1, 3, 4])
def test_window_edges_match_the_rollout_window(fig2, W, tmp_path):
    from streamnets.theory import all_patterns

    for k, r in enumerate(all_patterns(fig2)):
        if k % 5:  # every fifth pattern keeps the test fast; valid and invalid ones alike
            continue
        fig = draw_window(r, W)
        assert colour_counts(fig) == _window_counts(r, W)
        expected = {f"edge:{a[1]}->{b[1]}:{a[0]}" for a, b in r.window(W).edges}
        assert set(arrows(fig)) == expected
        for a, b, d in r.window(W).edges(data="delay"):
            arrow = arrows(fig)[f"edge:{a[1]}->{b[1]}:{a[0]}"]
            if arrow._posA_posB is not None:  # straight or arc: frame i to frame i + R
                (x0, _), (x1, _) = arrow._posA_posB
                assert (x0, x1) == (a[0], b[0])
    save(fig, tmp_path, f"window_{W}")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_window_edges_match_on_random_networks(data):
    net = data.draw(networks())
    r = data.draw(patterns(net))
    fig = draw_window(r, 2, tableau=True)
    assert colour_counts(fig) == _window_counts(r, 2)
    assert len(node_markers(fig)) == 3 * len(net.nodes)


def test_window_rows_put_inputs_at_the_bottom(fig2):
    fig = draw_window(sn.Rollout.streaming(fig2), 2)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["u", "v", "w"]
    assert list(ax.get_xticks()) == [0, 1, 2]
    assert ax.get_xlabel() == "frame"
    nodes = node_markers(fig)
    assert nodes["node:2:w"].get_xdata()[0] == 2
    assert nodes["node:0:u"].get_ydata()[0] < nodes["node:0:w"].get_ydata()[0]


@pytest.mark.parametrize("name", ["streaming", "sequential"])
def test_window_tableau_numbers_equal_the_tableau(fig2, name, tmp_path):
    r = sn.Rollout.named(fig2, name)
    W = 3
    fig = draw_window(r, W, tableau=True)
    save(fig, tmp_path, f"tableau_{name}")
    shown = labels(fig)
    T = r.tableau(W)
    assert shown == {f"label:{i}:{v}": str(T[v][i]) for v in fig2.nodes for i in range(W + 1)}
    assert f"F(R) = {r.inference_factor}" in fig.axes[0].get_title()


def test_window_hybrid_tableau_matches_the_paper(fig2):
    r = sn.Rollout.from_streaming_edges(fig2, [("v", "w"), ("v", "v")])  # R(w,v) = 0
    shown = labels(draw_window(r, 3, tableau=True))
    assert [shown[f"label:{i}:w"] for i in range(4)] == ["0", "1", "3", "5"]
    assert [shown[f"label:{i}:v"] for i in range(4)] == ["0", "2", "4", "6"]


def test_window_state_after_n_steps_fills_exactly_the_computed_nodes(fig2, tmp_path):
    r = sn.Rollout.sequential(fig2)
    W = 3
    T = r.tableau(W)
    for n in range(0, 7):
        fig = draw_window(r, W, tableau=True, state_after=n)
        nodes = node_markers(fig)
        for v in fig2.nodes:
            for i in range(W + 1):
                face = nodes[f"node:{i}:{v}"].get_markerfacecolor()
                assert same_color(face, FILLED_FACE if T[v][i] <= n else NODE_FACE), (n, i, v)
                assert (nodes[f"node:{i}:{v}"].get_markeredgewidth() > 2) == (T[v][i] == n > 0)
        assert f"state after {n} update step" in fig.axes[0].get_title()
    save(fig, tmp_path, "state_after")


def test_invalid_window_marks_the_cycle_in_every_frame(fig2, tmp_path):
    r = sn.Rollout(fig2, FIG2_INVALID)
    fig = draw_window(r, 3, tableau=True, state_after=2)
    save(fig, tmp_path, "window_invalid")
    dashed = {gid for gid, a in arrows(fig).items() if a.get_linestyle() == "--"}
    assert dashed == {f"edge:{e}:{i}" for e in ("v->w", "w->v") for i in range(4)}
    title = fig.axes[0].get_title()
    assert "not valid" in title and "\u2192" in title
    assert not [g for g in labels(fig)]  # no tableau for an invalid pattern
    assert colour_counts(fig) == _window_counts(r, 3)


@pytest.mark.parametrize("W, message", [
    (-1, "W=-1 is out of range 0..600"), (2.5, "W must be a whole number in 0..600, got 2.5"),
    ("3", "W must be a whole number"), (None, "W must be a whole number"), (True, "got True"),
    (10 ** 6, "W=1000000 is out of range 0..600: draw_window draws windows up to W = MAX_WINDOW"),
])
def test_window_size_out_of_range_is_a_setting_error(fig2, W, message):
    # before: 2.5, "3" and None a bare TypeError, True drawn as W = 1, 10**6 filled the memory
    with pytest.raises(sn.SettingError, match=message):
        draw_window(sn.Rollout.streaming(fig2), W)


@pytest.mark.parametrize("n", [-1, 1.5, "2"])
def test_window_state_after_must_be_a_whole_number(fig2, n):
    # before: -1 drew "state after -1 update steps", 1.5 was drawn, "2" a bare TypeError
    with pytest.raises(sn.SettingError, match="state_after must be a whole number >= 0"):
        draw_window(sn.Rollout.streaming(fig2), 2, state_after=n)


def test_drawing_something_else_than_a_network_or_rollout_says_what_to_pass(fig2):
    # before: AttributeError ('str' object has no attribute 'nodes', ...) or, for a rollout of
    # another network, a KeyError of its first edge
    with pytest.raises(sn.SpecError, match=r"^net: draw_network takes a Network, got str 'fig2'; "
                                           r"load it first: sn.load\('fig2'\)"):
        draw_network("fig2")
    with pytest.raises(sn.SpecError, match=r"^net: draw_patterns takes a Network, got Rollout; "
                                           r"pass the rollout's .network"):
        draw_patterns(sn.Rollout.streaming(fig2))
    with pytest.raises(sn.SpecError, match=r"draw_window draws a Rollout, got Network; pass e.g. "
                                           r"sn.Rollout.streaming\(net\)"):
        draw_window(fig2, 3)
    with pytest.raises(sn.SpecError, match=r"rollout 'streaming' belongs to network 'fig2', not to "
                                           r"'mnist_sr'"):
        draw_network(sn.load("mnist_sr"), sn.Rollout.streaming(fig2))
    fig = draw_network(fig2, "sequential")  # a name is taken, as in Rollout.of
    assert "fig2: sequential rollout" in fig.axes[0].get_title()


@pytest.mark.parametrize("size", [0, -5, float("nan"), "12", True])
def test_draw_network_node_size_must_be_a_positive_number(fig2, size):
    # before: 0 silently meant the default size, -5 and nan drew invisible nodes
    with pytest.raises(sn.SettingError, match="node_size must be a diameter in points"):
        draw_network(fig2, node_size=size)


def _cut_off(fig):
    """The titles and legends of ``fig`` that reach past its left or right edge."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    renderer, width = fig.canvas.get_renderer(), fig.bbox.width
    items = [a for ax in fig.axes for a in (ax.title, ax.get_legend()) if a is not None]
    items = [fig._suptitle] if fig._suptitle is not None else items  # a grid: its title
    return [a for a in items if not -1 <= a.get_window_extent(renderer).x0
            <= a.get_window_extent(renderer).x1 <= width + 1]


def test_titles_and_legends_are_not_cut_off_at_the_figure_edge(fig2):
    # before: at W <= 1 the window's title ("..., F(R) = 1") and legend ran past the figure's
    # edges, as did a long network or node name
    long = sn.Network([sn.Node("input frame of the camera", (1,)),
                       sn.Node("a rather long hidden layer name", (4,), tags=("prediction",))],
                      [("input frame of the camera", "a rather long hidden layer name"),
                       ("a rather long hidden layer name", "a rather long hidden layer name")],
                      name="my_very_long_experimental_network_name_v2")
    for net in (fig2, sn.load("cifar10_dsr6"), long):
        invalid = sn.Rollout.from_bits(net, [0] * len(net.edges))
        for W in (0, 1, 2):
            for r in (sn.Rollout.streaming(net), invalid):
                assert not _cut_off(draw_window(r, W, state_after=1)), (net.name, W, r.name)
        assert not _cut_off(draw_network(net, invalid)), net.name
    assert not _cut_off(draw_patterns(sn.load("cifar10_dsr6"), max_patterns=8))
    fig = draw_window(sn.Rollout.streaming(long), 0)
    assert fig.axes[0].get_title().startswith("my_very_long_experimental_network_name_v2, streaming")


def test_pattern_panel_titles_fit_their_panels():
    # before: the 23 delays of cifar10_dsr6 on one line (138 px) ran into the next panel (127 px)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    for name in ("fig2", "gtsrb_dsr4", "cifar10_dsr6"):
        fig = draw_patterns(sn.load(name), max_patterns=8)
        FigureCanvasAgg(fig).draw()
        renderer = fig.canvas.get_renderer()
        panels = [ax for ax in fig.axes if (ax.get_gid() or "").startswith("pattern:")]
        assert len(panels) == 8
        for ax in panels:
            bits = ax.get_gid().split(":")[1]
            assert ax.get_title().replace("\n", "").startswith(bits)
            assert ax.title.get_window_extent(renderer).width <= ax.get_window_extent(renderer).width


def test_draws_into_a_given_axes(fig2):
    fig = Figure()
    ax1, ax2 = fig.subplots(1, 2)
    assert draw_window(sn.Rollout.streaming(fig2), 2, ax=ax2) is fig
    assert draw_network(fig2, ax=ax1) is fig
    assert arrows(fig) and len(node_markers(fig)) == 3 + 9
    sub = Figure().subfigures(1, 2)[1]
    assert draw_network(fig2, ax=sub.add_subplot()) is sub.figure


# -- draw_patterns -------------------------------------------------------------------------

def test_pattern_grid_of_fig2_marks_exactly_the_invalid_patterns(fig2, tmp_path):
    fig = draw_patterns(fig2)
    save(fig, tmp_path, "patterns_fig2")
    panels = [ax for ax in fig.axes if (ax.get_gid() or "").startswith("pattern:")]
    assert len(panels) == 32
    valid = 0
    for ax in panels:
        _, bits, status = ax.get_gid().split(":")
        r = sn.Rollout.from_bits(fig2, [int(b) for b in bits])
        assert (status == "valid") == r.is_valid
        crossed = [line for line in ax.lines if line.get_gid() == "invalid-cross"]
        assert len(crossed) == (0 if r.is_valid else 2)
        assert bits in ax.get_title()
        assert (f"F = {r.inference_factor}" if r.is_valid else "not valid") in ax.get_title()
        valid += r.is_valid
    assert valid == 12
    assert "32 patterns, 12 valid, 3 model-parallel classes" in fig._suptitle.get_text()


def test_pattern_grid_samples_large_networks_with_exact_counts(tmp_path):
    from streamnets.theory import count_patterns

    net = sn.load("cifar10_dsr2")
    fig = draw_patterns(net, max_patterns=6, ncols=3, seed=1)
    panels = [ax for ax in fig.axes if (ax.get_gid() or "").startswith("pattern:")]
    assert len(panels) == 6 and len({ax.get_gid() for ax in panels}) == 6
    counts = count_patterns(net)
    assert f"{counts.total} patterns, {counts.valid} valid" in fig._suptitle.get_text()
    assert "random 6" in fig._suptitle.get_text()
    again = draw_patterns(net, max_patterns=6, ncols=3, seed=1)
    assert [ax.get_gid() for ax in again.axes if ax.get_gid()] == [ax.get_gid() for ax in panels]


def test_pattern_grid_of_a_network_too_large_to_count_draws_a_sample_and_says_so():
    # before: the StreamnetsError of count_patterns, and no drawing
    nodes = [sn.Node(f"n{i}", (2,), tags=("prediction",) if i == 13 else ()) for i in range(14)]
    edges = [(f"n{i}", f"n{i + 1}") for i in range(13)] + [(f"n{i + 1}", f"n{i}") for i in range(1, 13)]
    net = sn.Network(nodes, edges, name="loop")
    fig = draw_patterns(net, max_patterns=4, seed=0)
    assert len([ax for ax in fig.axes if (ax.get_gid() or "").startswith("pattern:")]) == 4
    assert fig._suptitle.get_text().startswith("loop: 2^25 patterns (the valid ones not counted: a "
                                               "strongly connected part is too large to enumerate) "
                                               "(a random 4 shown)")


@pytest.mark.parametrize("kwargs, message", [
    ({"max_patterns": 0}, "max_patterns=0 is out of range 1..1024"),
    ({"max_patterns": 2.5}, "max_patterns must be a whole number in 1..1024, got 2.5"),
    # before: a million panels of a 23-edge network were drawn for hours
    ({"max_patterns": 10 ** 6}, "out of range 1..1024: draw_patterns draws up to MAX_PATTERNS"),
    ({"ncols": 0}, "ncols must be a whole number >= 1"),
])
def test_pattern_grid_settings_out_of_range_are_setting_errors(fig2, kwargs, message):
    # before: max_patterns 0 or -1 a ZeroDivisionError, ncols=0 silently the default
    with pytest.raises(sn.SettingError, match=message):
        draw_patterns(fig2, **kwargs)


def test_pattern_grid_takes_the_place_of_an_axes():
    fig = Figure()
    left, right = fig.subplots(1, 2)
    net = sn.Network([sn.Node("x", (1,)), sn.Node("y", (2,))], [("x", "y"), ("y", "y")])
    assert draw_patterns(net, ax=right) is fig
    assert right not in fig.axes and left in fig.axes
    assert sum(1 for ax in fig.axes if (ax.get_gid() or "").startswith("pattern:")) == 4
    assert fig.get_suptitle().startswith("network: 4 patterns")
    # a titled figure keeps its title; an axes outside a grid is refused with the way out
    fig = Figure()
    fig.suptitle("mine")
    draw_patterns(net, ax=fig.add_subplot())
    assert fig.get_suptitle() == "mine"
    with pytest.raises(sn.SettingError, match="ax must be a grid cell .* pass fig= instead"):
        draw_patterns(net, ax=Figure().add_axes((0, 0, 1, 1)))


# -- style and headless use ----------------------------------------------------------------

def test_palette():
    assert rollout_color("streaming") == STREAMING
    assert rollout_color("sequential") == SEQUENTIAL
    assert rollout_color("hybrid") == HYBRID
    assert rollout_color(sn.Rollout.streaming(sn.load("fig2"))) == STREAMING
    assert rollout_color("other", 0) not in (STREAMING, SEQUENTIAL, HYBRID)


def test_viz_touches_no_pyplot_and_needs_no_ipywidgets():
    code = ("import sys, streamnets as sn, streamnets.viz as v; "
            "v.draw_window(sn.Rollout.streaming(sn.load('fig2')), 2, tableau=True); "
            "assert 'ipywidgets' not in sys.modules, 'ipywidgets imported'; "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# -- review fixes ----------------------------------------------------------------------------

@pytest.mark.parametrize("n, shown", [
    (10, ["computed (T \u2264 10)"]), (0, ["computed (T \u2264 0)", "not yet computed"]),
    (2, ["computed (T \u2264 2)", "not yet computed", "computed in step 2"]),
])
def test_window_state_legend_lists_only_the_states_shown(fig2, n, shown):
    # before: after 10 steps of a W = 3 window every node is computed, yet the legend had
    # "not yet computed" and "computed in step 10" (no node has a thick outline)
    fig = draw_window(sn.Rollout.streaming(fig2), 3, state_after=n)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts[2:] == shown


def test_a_figure_for_ax_or_an_axes_for_fig_is_a_setting_error(fig2):
    # before: AttributeError: 'Figure' object has no attribute 'add_patch' / 'Axes' object has
    # no attribute 'add_gridspec'
    with pytest.raises(sn.SettingError, match=r"ax must be a matplotlib Axes, got Figure"):
        draw_window(sn.Rollout.streaming(fig2), 2, ax=Figure())
    with pytest.raises(sn.SettingError, match=r"ax must be a matplotlib Axes, got Figure"):
        draw_network(fig2, ax=Figure())
    with pytest.raises(sn.SettingError, match=r"fig must be a matplotlib Figure or SubFigure, got Axes"):
        draw_patterns(fig2, fig=Figure().add_subplot())


def test_pattern_grid_has_no_empty_columns(fig2):
    # before: ncols=10**5 made a figure 135,000 inches wide that savefig never finished
    fig = draw_patterns(fig2, ncols=10 ** 5)
    assert fig.get_size_inches()[0] == pytest.approx(1.35 * 32)
