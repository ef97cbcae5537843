"""LiveInference, headless: set controls programmatically, check state and figure."""

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.colors import same_color  # noqa: E402

pytest.importorskip("ipywidgets")
torch = pytest.importorskip("torch")

import streamnets as sn  # noqa: E402
from streamnets.data import Digits  # noqa: E402
from streamnets.graph import Network, Node  # noqa: E402
from streamnets.train import make_sequences  # noqa: E402
from streamnets.viz.style import HYBRID, SEQUENTIAL, STREAMING  # noqa: E402
from streamnets.widgets import LiveInference, quick_trained_model  # noqa: E402

PNG = b"\x89PNG"
T = 8


@pytest.fixture(scope="module")
def digits():
    return Digits(train=False)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return sn.StreamNet(sn.load("mnist_sr")).eval()


@pytest.fixture
def app(model, digits):
    return LiveInference(model, data=digits, frames=T, noise_std=1.0)


def by_gid(app, gid):
    (ax,) = [a for a in app.figure.axes if a.get_gid() == gid]
    return ax


def reference_probabilities(model, digits, sample, rollout, noise, frames=T, seed=0):
    """Softmax of model.step over the sample's noisy frames, computed independently."""
    x, _ = make_sequences(digits, frames, noise, train=False, seed=seed).batch([sample])
    state, probs = model.initial_state(1), []
    with torch.no_grad():
        for t in range(frames):
            logits, state = model.step(x[:, t], state, rollout=rollout)
            out = logits["prediction"]
            probs.append(None if out is None else torch.softmax(out[0], -1))
    return probs


def test_frames_before_the_first_response_are_empty(app):
    for name in ("streaming", "sequential"):
        app.rollout_toggle.value = name
        first = app.rollout.first_response()["prediction"].frame
        empty = []
        for t in range(first + 2):
            app.frame_slider.value = t
            empty.append(app.probabilities is None)
            assert (app.update_step is None) == empty[-1]
        assert empty.index(False) == first
        assert all(empty[:first]) and not any(empty[first:])
    app.set(rollout="streaming", frame=0)  # frame 0: every non-input node is empty
    assert all(v is None for k, v in app.states.items() if k != "image")
    for v in ("h1", "h2", "prediction"):
        assert by_gid(app, f"node:{v}").get_title().endswith("empty")
        assert any(t.get_text() == "empty" for t in by_gid(app, f"node:{v}").texts)
    assert "empty" in by_gid(app, "probabilities").get_title()
    app.frame_slider.value = 1  # streaming: h1 holds frame 1, h2 and prediction still empty
    assert app.states["h1"] is not None and app.states["h2"] is None
    assert "empty" not in by_gid(app, "node:h1").get_title()
    assert by_gid(app, "node:h2").get_title().endswith("empty")


def test_switching_rollout_changes_the_update_step_axis(app):
    net = app.network
    app.set(rollout="streaming", frame=5)
    assert app.rollout == sn.Rollout.streaming(net)
    assert app.update_step == 5
    steps = {name: [s for s, _, _ in rows] for name, rows in app.history.items()}
    assert steps == {"streaming": [2, 3, 4, 5], "sequential": [3, 6, 9, 12, 15]}
    (dashed,) = [ln for ln in by_gid(app, "history").lines if ln.get_linestyle() == "--"]
    assert list(dashed.get_xdata()) == [5, 5] and same_color(dashed.get_color(), STREAMING)

    app.rollout_toggle.value = "sequential"
    assert app.rollout == sn.Rollout.sequential(net) and app.rollout.name == "sequential"
    assert app.update_step == 15  # frame 5: t + (5 - 1) * F = 3 + 12
    assert app.update_step == app.rollout.output_steps(T)["prediction"][5]
    (dashed,) = [ln for ln in by_gid(app, "history").lines if ln.get_linestyle() == "--"]
    assert list(dashed.get_xdata()) == [15, 15] and same_color(dashed.get_color(), SEQUENTIAL)
    assert "sequential rollout (F(R) = 3)" in app.figure._suptitle.get_text()
    assert by_gid(app, "history").get_xlabel() == "update step"
    assert "update step 15" in by_gid(app, "probabilities").get_xlabel()


def test_history_colours_and_legend_follow_the_style(model, digits):
    app = LiveInference(model, rollouts=("streaming", "sequential", "hybrid"), data=digits,
                        frames=T, frame=4)
    ax = by_gid(app, "history")
    legend = ax.get_legend()
    legend = {t.get_text(): h for t, h in zip(legend.texts, legend.legend_handles)}
    assert same_color(legend["streaming (F = 1)"].get_color(), STREAMING)
    assert same_color(legend["sequential (F = 3)"].get_color(), SEQUENTIAL)
    assert same_color(legend["hybrid (F = 2)"].get_color(), HYBRID)
    assert {"correct", "wrong", "chance (1/10)"} <= set(legend)
    assert [s for s, _, _ in app.history["hybrid"]] == \
        [s for s in sn.Rollout.named(model.network, "hybrid").output_steps(5)["prediction"]
         if s is not None]


def test_probabilities_equal_an_independent_step_loop(app, model, digits):
    app.set(sample=7, noise_std=1.5)
    label = int(digits.targets[7])
    for name in ("streaming", "sequential"):
        app.rollout_toggle.value = name
        ref = reference_probabilities(model, digits, 7, name, 1.5)
        first = app.rollout.first_response()["prediction"].frame
        for t in (first - 1, first, T - 1):
            app.frame_slider.value = t
            if ref[t] is None:
                assert t < first and app.probabilities is None
            else:
                torch.testing.assert_close(app.probabilities, ref[t])
        # at the last frame the history holds every answered frame
        steps = app.rollout.output_steps(T)["prediction"]
        expected = [(steps[t], float(p[label]), int(p.argmax()) == label)
                    for t, p in enumerate(ref) if p is not None]
        got = app.history[name]
        assert [(s, k) for s, _, k in got] == [(s, k) for s, _, k in expected]
        assert [c for _, c, _ in got] == pytest.approx([c for _, c, _ in expected])
        bars = by_gid(app, "probabilities").patches
        assert [b.get_height() for b in bars] == pytest.approx(ref[-1].tolist())


def test_the_figure_has_a_panel_per_node_plus_input_prediction_and_history(app):
    app.frame_slider.value = 3
    titles = {ax.get_gid(): ax.get_title() for ax in app.figure.axes}
    assert set(titles) == {"input", "node:h1", "node:h2", "node:prediction", "probabilities",
                           "history"}
    assert titles["input"].startswith("input image, frame 3")
    assert titles["node:h1"].startswith("h1 [16\u00d77\u00d77]")
    assert titles["node:h2"].startswith("h2 [128]")
    assert titles["node:prediction"].startswith("prediction [10] (logits)")
    assert titles["probabilities"].startswith("class probabilities: ")
    assert titles["history"].startswith("confidence in the true class")
    assert by_gid(app, "history").get_ylabel().startswith("p(true class")
    assert by_gid(app, "probabilities").get_ylabel() == "probability"
    assert bytes(app.image.value[:4]) == PNG


def test_changing_sample_changes_the_input_image(app, digits):
    app.frame_slider.value = 2
    before = by_gid(app, "input").images[0].get_array().copy()
    frame_before = app.input_frame.clone()
    app.sample_slider.value = 1
    assert app.label == int(digits.targets[1])
    assert not torch.equal(app.input_frame, frame_before)
    assert (by_gid(app, "input").images[0].get_array() != before).any()
    app.noise_slider.value = 0.0  # no noise: the frame is the clean image
    torch.testing.assert_close(app.input_frame, digits.data[1].float() / 255)


def test_scrubbing_and_play_reuse_the_cached_run(app, model, monkeypatch):
    calls = []
    step = model.step
    monkeypatch.setattr(model, "step", lambda *a, **k: calls.append(1) or step(*a, **k))
    app.set(sample=11, frame=0)
    ran = len(calls)
    assert ran == 2 * T  # both rollouts run once (the history shows both)
    for t in (1, 4, T - 1):
        app.play.value = t  # Play is linked to the frame slider
        assert app.frame == t
    app.rollout_toggle.value = "sequential"
    app.frame_slider.value = 2
    assert len(calls) == ran
    app.noise_slider.value = 0.5
    assert len(calls) == 2 * ran
    assert app.play.max == app.frame_slider.max == T - 1


def test_a_training_mode_model_is_run_in_eval_mode_and_left_as_it_was(digits):
    torch.manual_seed(0)
    model = sn.StreamNet(sn.load("mnist_sr")).train()
    app = LiveInference(model, data=digits, frames=4, frame=3, noise_std=1.0)
    assert model.training
    ref = reference_probabilities(model.eval(), digits, 0, "streaming", 1.0, frames=4)
    torch.testing.assert_close(app.probabilities, ref[3])


def test_unsupported_networks_and_inputs_raise_streamnets_errors(model, digits):
    two = Network([Node("x", (1, 28, 28)), Node("a", (4,)), Node("b", (3,))],
                  [("x", "a"), ("x", "b")], name="two")
    with pytest.raises(sn.SpecError, match="LiveInference takes networks with one output; 'two' has a, b"):
        LiveInference(sn.StreamNet(two), data=digits)
    maps = Network([Node("x", (1, 28, 28)), Node("y", (2, 28, 28), activation="identity")],
                   [("x", "y")], name="maps")
    with pytest.raises(sn.SpecError, match="output node 'y' has the spatial shape .* but LiveInference "
                                           "classifies with a dense output node"):
        LiveInference(sn.StreamNet(maps), data=digits)
    with pytest.raises(sn.SpecError, match="one output"):
        quick_trained_model(two)
    with pytest.raises(sn.StreamnetsError, match="needs a StreamNet"):
        LiveInference(sn.load("mnist_sr"))
    cifar = sn.StreamNet(sn.load("cifar10_dsr0").scaled(0.125))
    with pytest.raises(sn.ShapeError, match="no default data.*pass data="):
        LiveInference(cifar)
    with pytest.raises(sn.ShapeError, match=r"shape \(1, 28, 28\).*expects \(3, 32, 32\)"):
        LiveInference(cifar, data=digits)
    with pytest.raises(sn.ShapeError, match="frames=2 is too short.*frames >= 3"):
        LiveInference(model, data=digits, frames=2)
    with pytest.raises(sn.SpecError, match="unknown rollout"):
        LiveInference(model, rollouts=("streaming", "nonsense"), data=digits)


def test_quick_trained_model_learns_and_feeds_the_viewer(digits):
    model = quick_trained_model(epochs=2, seed=0)
    info = model.trained_with
    assert not model.training
    assert info["rollout"] == "streaming" and info["noise_std"] == 1.0
    assert info["update_steps"] == [2, 3, 4, 5]
    assert max(info["test_accuracy"]) > 0.3  # chance is 0.1
    app = LiveInference(model, data=digits, frames=6, frame=5)
    assert app.noise_std == 1.0  # the training noise by default
    assert "trained under the streaming rollout" in app.status.value
    assert any("trained under it" in t.get_text()
               for t in by_gid(app, "history").get_legend().texts)
    ref = reference_probabilities(model, digits, 0, "streaming", 1.0, frames=6)
    torch.testing.assert_close(app.probabilities, ref[5])
    assert LiveInference.quick_model is quick_trained_model
    model.trained_with["rollout"] = "sequential"  # the viewer starts at the training pattern
    assert LiveInference(model, data=digits, frames=4).rollout.name == "sequential"
    with pytest.raises(sn.SpecError, match="not on offer.*streaming, sequential"):
        app.set(rollout="hybrid")


def test_a_quick_model_runs_the_pattern_it_was_trained_with(digits):
    # before: trained under "sequential", model(x) and model.step ran streaming, and
    # trained_with had no "pattern" (load_trained set both)
    model = quick_trained_model(rollout="sequential", epochs=1, max_batches=2, seed=0)
    sequential = sn.Rollout.sequential(model.network)
    assert model.default_rollout == sequential and model.default_rollout.name == "sequential"
    assert model.trained_with["pattern"] == list(sequential.bits)
    x = torch.rand(1, 7, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model(x).logits["prediction"], model(x, rollout=sequential).logits["prediction"])


def test_a_softmax_output_shows_probabilities_not_logits(digits):
    net = Network([Node("x", (1, 28, 28)), Node("y", (10,), activation="softmax")], [("x", "y")],
                  name="soft")
    app = LiveInference(sn.StreamNet(net).eval(), data=digits, frames=3, frame=2)
    assert by_gid(app, "node:y").get_title().startswith("y [10] (softmax)")


def test_importing_the_widgets_package_imports_neither_torch_nor_ipywidgets():
    code = ("import sys, streamnets.widgets; "
            "from streamnets.widgets import LiveInference, quick_trained_model; "
            "assert 'ipywidgets' not in sys.modules, 'ipywidgets imported'; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_set_with_a_bad_rollout_changes_nothing(app):
    sample, frame = app.sample_slider.value, app.frame_slider.value
    with pytest.raises(sn.SpecError, match="rollout 'foo' is not on offer"):
        app.set(sample=sample + 1, rollout="foo", frame=0)
    assert (app.sample_slider.value, app.frame_slider.value) == (sample, frame)


def test_quick_trained_model_names_a_rollout_typo_before_loading_data(monkeypatch):
    import streamnets.widgets.live as live

    loaded = []
    monkeypatch.setattr(live, "_default_data", lambda *args: loaded.append(args))
    with pytest.raises(sn.SpecError, match="unknown rollout 'streeming'.*did you mean 'streaming'"):
        quick_trained_model(rollout="streeming")
    assert loaded == []


def live_state(app):
    return (app.sample, app.rollout_toggle.value, app.noise_std, app.frame, app.noise_slider.max,
            app.status.value, bytes(app.image.value))


def test_set_checks_every_value_before_moving_a_control(app, digits):
    from streamnets.errors import SettingError

    app.set(sample=3, frame=2)
    before = live_state(app)
    n = len(digits.targets)
    for kwargs, message in [
            (dict(sample=4, frame=T), rf"frame={T} is out of range 0\.\.{T - 1}: the viewer streams "
                                      rf"frames={T} frames; .*build the viewer with more frames"),
            (dict(frame=-1), rf"frame=-1 is out of range 0\.\.{T - 1}"),
            (dict(frame=2.5), rf"frame must be a whole number in 0\.\.{T - 1}, got 2\.5"),
            (dict(sample=n, frame=0), rf"sample={n} is out of range 0\.\.{n - 1}: the data set has "
                                      rf"{n} samples"),
            (dict(sample=-1), rf"sample=-1 is out of range 0\.\.{n - 1}"),
            (dict(sample=4, noise_std=-0.5), r"noise_std must be a finite number >= 0.*got -0\.5"),
            (dict(noise_std=float("nan")), r"noise_std must be a finite number >= 0")]:
        with pytest.raises(SettingError, match=message):
            app.set(rollout="sequential", **kwargs)
        assert live_state(app) == before
    app.set(noise_std=4.5, frame=T - 1)  # past the slider's end: the slider grows
    assert (app.noise_std, app.noise_slider.max, app.frame) == (4.5, 4.5, T - 1)
    assert "noise std 4.5" in app.figure._suptitle.get_text()


def test_out_of_range_starting_values_and_too_many_frames_are_refused_before_running(
        model, digits, monkeypatch):
    from streamnets.errors import SettingError
    from streamnets.widgets.live import MAX_FRAMES

    monkeypatch.setattr(LiveInference, "_infer", lambda *a: pytest.fail("ran the model"))
    for kwargs, message in [
            (dict(frame=99), rf"frame=99 is out of range 0\.\.{T - 1}"),
            (dict(sample=len(digits.targets)), "sample=.* is out of range"),
            (dict(noise_std=-1.0), "noise_std must be a finite number >= 0"),
            (dict(frames=MAX_FRAMES + 1), rf"frames={MAX_FRAMES + 1} is out of range "
                                          rf"1\.\.{MAX_FRAMES}: the viewer streams at most "
                                          r"MAX_FRAMES.*which have no cap"),
            (dict(frames=10**6), "at most MAX_FRAMES")]:
        with pytest.raises(SettingError, match=message):
            LiveInference(model, data=digits, **{"frames": T, **kwargs})


def test_a_model_loaded_from_a_training_run_feeds_the_viewer(digits, tmp_path):
    from streamnets.train import TrainConfig, load_trained, train

    cfg = TrainConfig(epochs=1, batch_size=32, output_frames=2, max_batches=2, progress=False,
                      device="cpu")
    trainer, _ = train("mnist_sr", "hybrid", digits, digits, noise_std=0.7, config=cfg, out_dir=tmp_path)
    model = load_trained(tmp_path)
    app = LiveInference(model, rollouts=("streaming", "hybrid"), data=digits, frames=6, frame=5)
    assert app.rollout.name == "hybrid" and app.noise_std == 0.7  # as it was trained
    assert "trained under the hybrid rollout" in app.status.value
    ref = reference_probabilities(trainer.model.eval(), digits, 0, "hybrid", 0.7, frames=6)
    torch.testing.assert_close(app.probabilities, ref[5])
