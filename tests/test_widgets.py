"""Widgets, headless: change controls programmatically and check model and figure."""

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.colors import same_color  # noqa: E402

pytest.importorskip("ipywidgets")

import streamnets as sn  # noqa: E402
from streamnets.errors import SettingError  # noqa: E402
from streamnets.viz.style import FILLED_FACE  # noqa: E402
from streamnets.widgets import NetworkBuilder, RolloutExplorer  # noqa: E402

PNG = b"\x89PNG"


@pytest.fixture
def explorer():
    return RolloutExplorer(sn.load("fig2"))


def window_axes(app):
    return app.figure.axes[1]


def filled(app):
    return sum(1 for m in window_axes(app).lines if (m.get_gid() or "").startswith("node:")
               and same_color(m.get_markerfacecolor(), FILLED_FACE))


# -- RolloutExplorer -----------------------------------------------------------------------

def test_explorer_starts_on_the_sequential_pattern(explorer):
    assert explorer.rollout == sn.Rollout.sequential(explorer.network)
    assert explorer.preset.value == "sequential"
    assert "F(R) = 2" in explorer.status.value and "not valid" not in explorer.status.value
    assert explorer.step_slider.value == 2  # one frame's worth: F(R)
    assert "F(R) = 2" in window_axes(explorer).get_title()
    assert bytes(explorer.image.value[:4]) == PNG
    assert set(explorer.toggles) == set(explorer.network.edge_index)


def test_toggling_an_edge_breaks_and_restores_validity(explorer):
    explorer.toggles[("w", "v")].value = 0
    assert not explorer.rollout.is_valid
    assert "not valid" in explorer.status.value
    status = explorer.status.value
    assert "v \u2192 w \u2192 v" in status or "w \u2192 v \u2192 w" in status
    assert "not valid" in window_axes(explorer).get_title()
    assert "no tableau" in explorer.table.value
    assert explorer.preset.value == "custom"
    explorer.toggles[("w", "v")].value = 1
    assert explorer.rollout.is_valid and "F(R) = 2" in explorer.status.value


def test_presets_set_every_toggle_and_f_changes(explorer):
    explorer.preset.value = "streaming"
    assert all(t.value == 1 for t in explorer.toggles.values())
    assert explorer.rollout.name == "streaming"
    assert "F(R) = 1" in explorer.status.value
    assert "F(R) = 1" in window_axes(explorer).get_title()
    explorer.toggles[("u", "v")].value = 0  # an edge out of the input: still F = 1 (Theorem 1)
    assert "F(R) = 1" in explorer.status.value and "not equally" not in explorer.status.value
    explorer.toggles[("v", "w")].value = 0
    assert "F(R) = 2" in explorer.status.value and "not equally" in explorer.status.value


def test_tableau_table_and_numbers_follow_the_pattern(explorer):
    # R(u,v) = R(u,w) = R(w,v) = 0, R(v,w) = R(v,v) = 1: w 0 1 3 5, v 0 2 4 6 (paper)
    explorer.set_rollout(sn.Rollout.from_streaming_edges(explorer.network,
                                                         [("v", "w"), ("v", "v")]))
    texts = {t.get_gid(): t.get_text() for t in window_axes(explorer).texts}
    assert [texts[f"label:{i}:w"] for i in range(4)] == ["0", "1", "3", "5"]
    assert [texts[f"label:{i}:v"] for i in range(4)] == ["0", "2", "4", "6"]
    assert ">5</td>" in explorer.table.value and ">6</td>" in explorer.table.value


def test_sliders_change_the_window_and_the_state(explorer):
    T = explorer.rollout.tableau(3)
    for n in (0, 3, 6):
        explorer.step_slider.value = n
        assert filled(explorer) == sum(t <= n for row in T.values() for t in row)
        assert f"state after {n} update step" in window_axes(explorer).get_title()
    explorer.window_slider.value = 5
    assert list(window_axes(explorer).get_xticks()) == list(range(6))
    assert explorer.step_slider.max == max(max(r) for r in explorer.rollout.tableau(5).values())
    assert explorer.table.value.count("<tr>") == 1 + len(explorer.network.nodes)
    assert explorer.table.value.count("<th style='padding") == 6


def test_explorer_accepts_names_and_starting_values():
    app = RolloutExplorer("mnist_sr", rollout="hybrid", window=2, step=1)
    assert app.preset.value == "hybrid" and app.rollout.name == "hybrid"
    assert app.step_slider.value == 1 and app.window_slider.value == 2
    assert "F(R) = 2" in app.status.value


# -- NetworkBuilder ------------------------------------------------------------------------

def test_builder_starts_with_a_valid_network():
    b = NetworkBuilder()
    assert b.network == sn.load("fig2")
    assert b.error is None and "\u2713" in b.message.value
    assert bytes(b.image.value[:4]) == PNG
    assert b.figure.axes[0].get_title() == "fig2"


def test_builder_reports_a_typo_and_recovers():
    b = NetworkBuilder()
    good = b.text.value
    b.text.value = good.replace("activation: relu", "activaton: relu", 1)
    assert b.network is None
    assert "unknown field 'activaton' (did you mean 'activation'?)" in b.message.value
    assert "nodes.v.activaton" in b.message.value
    b.text.value = good.replace("[v, w]", "[v, ww]")
    assert b.network is None and "unknown node 'ww'" in b.message.value
    b.text.value = "nodes: {u: {shape: [1]}\n"
    assert b.network is None and "YAML syntax error" in b.message.value
    b.text.value = good
    assert b.network is not None and b.network.name == "fig2"


def test_builder_form_builds_a_network_and_opens_the_explorer():
    b = NetworkBuilder(spec=None)
    assert b.network is None and b.message.value == "add nodes and edges (form or YAML text) to start"
    b.node_name.value, b.node_shape.value = "x", "4"
    b.buttons["add node"].click()
    b.add_node("y", "16, 7, 7")
    assert b.network is None and "at least one edge" in b.message.value
    assert b.edge_source.options == ("x", "y")
    b.edge_source.value, b.edge_target.value = "x", "y"
    b.buttons["add edge"].click()
    b.add_edge("y", "y")
    assert b.network is not None
    assert [e.key for e in b.network.edges] == [("x", "y"), ("y", "y")]
    assert b.network.nodes["y"].shape == (16, 7, 7)
    assert "[x, y]" in b.text.value
    app = b.open_explorer()
    assert app.network is b.network and b.explorer_area.children == (app.widget,)
    assert "F(R) = 1" in app.status.value
    b.remove_node("y")  # takes its edges along
    assert "y:" not in b.text.value and "[x, y]" not in b.text.value and b.network is None
    assert b.add_edge("x", "x") and b.network is None  # x is no input any more
    assert "no input node" in b.message.value


def test_builder_form_errors_are_messages():
    b = NetworkBuilder()
    assert not b.add_edge("u", "v")
    assert "exists already" in b.message.value
    # an edge to a node that is not there is written, and the text's error names the node
    assert b.add_edge("u", "zz") and b.network is None and "unknown node 'zz'" in b.error
    assert b.remove_edge("u", "zz") and b.error is None and b.network is not None
    assert not b.remove_edge("u", "u")
    assert not b.add_node("z", "8 by 8")
    assert "shape" in b.message.value
    b.text.value = "- just a list"
    assert not b.add_node("z", "8") and "fix the text first" in b.message.value
    with pytest.raises(sn.StreamnetsError, match="no valid network"):
        b.open_explorer()
    b.buttons["open rollout explorer"].click()  # the button reports instead of raising
    assert "no valid network" in b.message.value


def test_a_failed_form_action_leaves_the_document_as_it_was():
    # before: add_node('x', bad shape) deleted x from the parsed document although it failed,
    # and the next successful action wrote the text without x
    b = NetworkBuilder(spec=None)
    for name in "xyz":
        assert b.add_node(name, "4")
    assert b.add_edge("x", "y")
    assert not b.add_node("x", "16 7 7") and "shape" in b.message.value
    assert b.add_edge("y", "z")
    assert b.network is not None and list(b.network.nodes) == ["x", "y", "z"]
    # before: rollouts written as a list made remove_node raise AttributeError from the button
    b.text.value = b.text.value + "rollouts: [1]\n"
    assert b.add_edge("z", "x") and b.remove_node("z")
    assert "z" not in b.text.value and b.error == "rollouts: expected a mapping, got list"


def test_builder_loads_builtins():
    b = NetworkBuilder(spec=None)
    b.builtin.value = "mnist_sr"
    assert b.network == sn.load("mnist_sr")
    assert b.remove_edge("h1", "h1") and b.network != sn.load("mnist_sr")
    b.builtin.value = "mnist_sr"  # the same one again: the edits are gone
    assert b.network == sn.load("mnist_sr") and b.builtin.value == ""


def test_importing_the_widgets_package_does_not_import_ipywidgets():
    code = ("import sys, streamnets.widgets; "
            "assert 'ipywidgets' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_explorer_refuses_a_pattern_of_another_network_before_moving_a_toggle(explorer):
    before = [t.value for t in explorer.toggles.values()]
    with pytest.raises(sn.SpecError, match="belongs to network 'mnist_s', not to 'fig2'"):
        explorer.set_rollout(sn.Rollout.streaming(sn.load("mnist_s")))
    assert [t.value for t in explorer.toggles.values()] == before
    with pytest.raises(sn.SpecError, match="belongs to network 'mnist_s'"):
        RolloutExplorer("fig2", rollout=sn.Rollout.streaming(sn.load("mnist_s")))
    explorer.set_rollout({e.key: 1 for e in explorer.network.edges})  # a mapping works too
    assert explorer.rollout.name == "streaming"


def test_builder_form_keeps_named_rollouts_and_odd_names_consistent():
    b = NetworkBuilder()
    b.builtin.value = "mnist_sr"  # named rollout hybrid: [[h1, h1], [h1, h2], [h1, prediction]]
    assert b.remove_edge("h1", "h1") and b.network is not None, b.message.value
    assert ("h1", "h1") not in b.network.rollouts["hybrid"]
    assert b.remove_node("h2") and b.network is not None, b.message.value
    assert set(b.network.rollouts["hybrid"]) == {("h1", "prediction")}
    b.text.value = "nodes:\n  1: {shape: [4]}\n  2: {shape: [3], tags: [prediction]}\nedges:\n  - [1, 2]\n"
    assert b.network is not None and b.edge_source.options == ("1", "2")
    assert b.add_node("2", "5") and b.network.nodes["2"].shape == (5, 1, 1)  # replaced, not doubled
    assert b.remove_node("1") and "1:" not in b.text.value
    assert not b.add_edge(None, None) and "choose both ends" in b.message.value


def test_builder_refuses_form_edits_of_st_graph_text_and_drops_a_stale_explorer():
    b = NetworkBuilder()
    explorer = b.open_explorer()
    b.builtin.value = "mnist_sr"  # another network: the explorer of fig2 goes
    assert b.explorer is None and b.explorer_area.children == ()
    b.open_explorer()
    b.text.value = "neuron_pools:\n  a: {shape: [1, 4, 4]}\nsynapse_pools:\n  s: {source: [[a]], target: b}\n"
    assert not b.add_node("c", "3") and ".st_graph" in b.message.value
    assert explorer.network == sn.load("fig2")


# -- the preset menu names the pattern ----------------------------------------------------

def test_preset_menu_names_every_pattern_equal_to_a_preset_however_it_was_reached(monkeypatch):
    # Every toggle redraws the figure (the test took 25 s with drawing): the menu is what is tested.
    monkeypatch.setattr(RolloutExplorer, "_draw", lambda self, r, W, n: None)
    for name in ("fig2", "mnist_sr"):
        net = sn.load(name)
        app = RolloutExplorer(net)
        for preset in app.preset.options[:-1]:
            r = sn.Rollout.named(net, preset)
            for given in (r, r.pattern, sn.Rollout.from_bits(net, r.bits)):
                assert RolloutExplorer(net, rollout=given).preset.value == preset
            app.set_rollout({key: 1 - b for key, b in r.pattern.items()})  # away from it
            for key, toggle in app.toggles.items():  # and back by hand
                toggle.value = r[key]
            assert app.preset.value == preset and app.rollout.name == preset
        app.toggles[("v", "w") if name == "fig2" else ("h2", "prediction")].value = 1
        assert app.preset.value == "custom" and app.rollout.name == "custom"


def test_choosing_custom_in_the_menu_shows_the_preset_the_toggles_still_equal(explorer):
    explorer.preset.value = "custom"
    assert explorer.preset.value == "sequential" and explorer.rollout.name == "sequential"
    explorer.toggles[("v", "w")].value = 1  # no preset has this pattern
    explorer.preset.value = "custom"
    assert explorer.preset.value == "custom"


def test_preset_menu_keeps_the_chosen_one_of_presets_with_the_same_pattern(monkeypatch):
    net = sn.load("mnist_hybrid")  # its hybrid pattern is its sequential one
    assert sn.Rollout.named(net, "hybrid") == sn.Rollout.sequential(net)
    app = RolloutExplorer(net, rollout="hybrid")
    assert app.preset.value == "hybrid" and app.rollout.name == "hybrid"
    assert "hybrid rollout" in window_axes(app).get_title()
    draws = []
    monkeypatch.setattr(app, "_draw", lambda r, W, n: draws.append(r.name))
    for preset in ("streaming", "sequential", "hybrid", "custom"):
        app.preset.value = preset
        assert app.preset.value == app.rollout.name == ("hybrid" if preset == "custom" else preset)
    assert draws == ["streaming", "sequential", "hybrid", "hybrid"]  # one redraw per choice


# -- values out of range ------------------------------------------------------------------

def explorer_state(app):
    return ([t.value for t in app.toggles.values()], app.window, app.step,
            app.window_slider.max, app.status.value, bytes(app.image.value))


def test_explorer_refuses_out_of_range_starting_values():
    for kwargs, message in [
            (dict(window=0), r"window=0 is out of range 1\.\.100: .*give a window in that range"),
            (dict(window=-2), r"window=-2 is out of range 1\.\.100"),
            (dict(window=2.5), r"window must be a whole number in 1\.\.100, got 2\.5"),
            (dict(step=7), r"step=7 is out of range 0\.\.6: under the sequential rollout the "
                           r"window W = 3 is computed by update step 6"),
            (dict(window=1, step=3), r"step=3 is out of range 0\.\.2"),
            (dict(step=-1), r"step=-1 is out of range 0\.\.6"),
            (dict(rollout={("u", "v"): 0, ("u", "w"): 0, ("v", "w"): 0, ("w", "v"): 0,
                           ("v", "v"): 1}, step=1), r"step=1: the pattern is not valid")]:
        with pytest.raises(SettingError, match=message):
            RolloutExplorer("fig2", **kwargs)
    app = RolloutExplorer("fig2", window=12, step=24)  # in range: shown as given
    assert (app.window, app.step, app.window_slider.max) == (12, 24, 12)


def test_explorer_set_checks_every_value_before_moving_a_control(explorer):
    before = explorer_state(explorer)
    for kwargs in (dict(rollout="streaming", window=2, step=99), dict(window=0, step=1),
                   dict(rollout="streaming", step=4)):  # streaming, W = 3: steps 0..3
        with pytest.raises(SettingError):
            explorer.set(**kwargs)
        assert explorer_state(explorer) == before
    explorer.set(rollout="streaming", window=11, step=7)
    assert (explorer.rollout.name, explorer.window, explorer.step) == ("streaming", 11, 7)
    assert explorer.window_slider.max == 11 and explorer.step_slider.max == 11
    assert list(window_axes(explorer).get_xticks()) == list(range(12))
    assert "state after 7 update steps" in window_axes(explorer).get_title()


def test_a_step_past_a_smaller_window_moves_down_and_the_status_says_so():
    app = RolloutExplorer("fig2", window=5, step=10)  # sequential: W = 5 computed by step 10
    assert "moved down" not in app.status.value
    app.window_slider.value = 2
    assert app.step == 4 and "state after 4 update steps" in window_axes(app).get_title()
    assert "update step n moved down from 10 to 4: the window W = 2" in app.status.value
    app.step_slider.value = 3
    assert "moved down" not in app.status.value


def test_explorer_caps_the_window_before_computing_anything(explorer, monkeypatch):
    from streamnets.widgets.explorer import MAX_WINDOW

    monkeypatch.setattr(RolloutExplorer, "update", lambda self: pytest.fail("computed a window"))
    for window in (MAX_WINDOW + 1, 10**6):
        with pytest.raises(SettingError, match=rf"window={window} is out of range "
                           rf"1\.\.{MAX_WINDOW}: the explorer shows windows up to W = MAX_WINDOW"
                           r".*Rollout\.tableau\(W\).*which have no cap, or "
                           r"streamnets\.viz\.draw_window\(rollout, W\) \(up to W = 600\)"):
            RolloutExplorer("fig2", window=window)
        with pytest.raises(SettingError, match="MAX_WINDOW"):
            explorer.set(window=window)
    assert explorer.window == 3
    monkeypatch.undo()
    explorer.set(window=MAX_WINDOW)  # the cap itself is drawn
    assert explorer.window == MAX_WINDOW
    assert len(window_axes(explorer).get_xticks()) == MAX_WINDOW + 1


def test_builder_shows_the_error_of_a_misspelt_field_not_the_blank_page_hint():
    # before: a mapping without 'nodes' and 'edges' counted as a blank page, so a typo such as
    # 'nodez' (or an .st_graph without synapses) showed "add nodes and edges ... to start"
    b = NetworkBuilder(spec=None)
    b.text.value = "nodez: {x: {shape: [4]}, y: {shape: [2]}}\nedgez: [[x, y]]\n"
    assert b.network is None and "unknown field 'nodez' (did you mean 'nodes'?)" in b.message.value
    b.text.value = "name: mine\nnodes: {}\nedges: []\n"
    assert b.message.value == "add nodes and edges (form or YAML text) to start"


def test_builder_add_node_on_an_existing_node_keeps_its_tags_dropout_and_place():
    # before: the node was written anew at the end: fig2's w lost its 'prediction' tag (no
    # output any more) and mnist_sr's h1 its dropout 0.25
    b = NetworkBuilder()
    assert b.add_node("w", "16") and b.network is not None, b.message.value
    assert b.network.outputs == ("w",) and b.network.nodes["w"].shape == (16, 1, 1)
    assert list(b.network.nodes) == ["u", "v", "w"]
    b = NetworkBuilder("mnist_sr")
    assert b.add_node("h1", "16, 7, 7", "tanh") and b.network.nodes["h1"].dropout == 0.25
    assert b.network.nodes["h1"].activation == "tanh" and list(b.network.nodes)[1] == "h1"


@pytest.mark.parametrize("given, message", [({}, "gives no value for edge"),
                                            ("", "unknown rollout ''")])
def test_explorer_refuses_an_empty_pattern_instead_of_showing_the_sequential_one(given, message):
    # before: an empty dict or name was falsy and silently became the sequential rollout
    with pytest.raises(sn.SpecError, match=message):
        RolloutExplorer("fig2", rollout=given)
