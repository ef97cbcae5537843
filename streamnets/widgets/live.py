"""LiveInference: stream a noisy sequence through a trained StreamNet frame by frame.

Pick a sample, a rollout and the noise; scrub or play the frames. For the frame
shown, the viewer draws the noisy input, every non-input node's state (a few
channels of spatial nodes as small images, dense nodes as heat strips, empty
nodes as "empty" placeholders: before its first frame a node carries no input
information, as the theory says), the output's class probabilities, and, for
every rollout, the confidence in the true class over the update steps at which
the answers of the frames seen so far arrive (:meth:`Rollout.output_steps`).

:func:`quick_trained_model` trains a small model on the offline digits in
seconds, for the notebooks.

Nothing heavy is imported with this module: torch and ipywidgets load when a
viewer is built or a model trained.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from ..errors import SettingError, ShapeError, SpecError, StreamnetsError, whole_number
from ..viz.style import INPUT_FACE, rollout_color
from ._common import WidgetApp, escape, png_bytes, require_ipywidgets

__all__ = ["LiveInference", "quick_trained_model", "QUICK_NOISE_STD", "MAX_FRAMES"]

#: Noise std :func:`quick_trained_model` trains with by default. With its defaults
#: (mnist_sr, streaming, 3 epochs, Adam at 3e-3, seed 0) the test accuracy on the
#: offline digits is about 0.6 at the first response rising to about 0.7 four
#: frames later: the evidence accumulating over frames is visible. At the paper's
#: MNIST value, 2.0, three epochs on the 1,437 training digits stay near chance
#: (about 0.2); at 0.5 the model is about 0.85-0.9 from the start.
QUICK_NOISE_STD = 1.0

#: The most frames per sequence the viewer streams. A change of sample, rollout
#: or noise runs the whole sequence under every rollout on offer (about 2 s for
#: mnist_sr at 200 frames on one CPU core) and the run cache keeps every node's
#: state at every frame. ``model(frames, rollout)`` and ``model.step`` have no cap.
MAX_FRAMES = 200

_CHANNELS = 4       # channels shown per spatial node
_STRIP_COLUMNS = 16  # a dense node of C units is drawn as rows of this many cells
_CACHE_SIZE = 64    # inference runs kept (per sample, rollout and noise)
_MNIST_SHAPE = (1, 28, 28)


def _default_data(shape, train, what):
    """The offline digits for MNIST-shaped inputs; otherwise the caller must say."""
    if tuple(shape) == _MNIST_SHAPE:
        from ..data import Digits

        return Digits(train=train)
    raise ShapeError(f"{what}: no default data for input frames of shape "
                     f"{tuple(shape)} (the default, the offline digits, is 1x28x28); pass "
                     f"data=, e.g. streamnets.data.Shapes(train=False) for 3x32x32 inputs")


def _checked_noise(value):
    try:
        noise = float(value)
    except (TypeError, ValueError):
        noise = math.nan
    if isinstance(value, bool) or not (math.isfinite(noise) and noise >= 0):
        raise SettingError(f"noise_std must be a finite number >= 0 (the std of the Gaussian "
                           f"noise added to each frame), got {value!r}")
    return noise


def quick_trained_model(network="mnist_sr", rollout="streaming", epochs=3, seed=0,
                        noise_std=QUICK_NOISE_STD, data=None, output_frames=4, batch_size=64,
                        lr=3e-3, optimizer="adam", max_batches=None, device="cpu",
                        progress=False):
    """A StreamNet trained for a few epochs: a model for the viewer in seconds.

    Trains with :func:`streamnets.train.train` on the offline digits (1,437 8x8
    scikit-learn digits upsampled to 28x28) under ``rollout``. Not the paper's
    protocol (RMSprop at 1e-4 for 100 epochs on MNIST at noise std 2.0): Adam at
    3e-3, 4 output frames and noise std :data:`QUICK_NOISE_STD` (1.0), because
    at 2.0 three epochs stay near chance. About a second per epoch on an idle
    CPU core.

    Parameters
    ----------
    network : Network or str
    rollout : Rollout or str
        The pattern to train under (parameters trained under one pattern need not
        transfer to another; the viewer notes this when it shows others too).
    epochs, seed : int
    noise_std : float
    data : image data set, optional
        Training images (``.data``, ``.targets``); default the offline digits
        for MNIST-shaped networks.
    output_frames, batch_size, lr, optimizer, max_batches, device, progress
        See :class:`streamnets.train.TrainConfig`.

    Returns
    -------
    StreamNet
        In eval mode, running ``rollout`` when called without one
        (:attr:`~streamnets.nn.StreamNet.default_rollout`), with
        ``model.trained_with`` = ``{"rollout", "pattern", "noise_std", "epochs",
        "seed", "data", "test_accuracy", "update_steps"}`` as
        :func:`streamnets.train.load_trained` gives (test accuracy on the offline
        digits' test split per output frame, None when ``data`` was given).

    Examples
    --------
    >>> model = quick_trained_model(epochs=1)           # doctest: +SKIP
    >>> LiveInference(model)                             # doctest: +SKIP
    """
    from .. import Rollout
    from ..spec import load
    from ..train import TrainConfig, classifier_output, mark_trained, train

    net = load(network)
    what = "quick_trained_model"
    classifier_output(net, what)
    r = Rollout.named(net, rollout) if isinstance(rollout, str) else rollout  # a typo: before the data
    shape = net.nodes[net.inputs[0]].shape
    test = None
    if data is None:
        data = _default_data(shape, True, what)
        test = _default_data(shape, False, what)
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                         output_frames=output_frames, seed=seed, device=device,
                         max_batches=max_batches, progress=progress)
    trainer, ev = train(net, r, data, test, noise_std=noise_std, config=config)
    return mark_trained(trainer.model.eval(), trainer.rollout, noise_std=float(noise_std),
                        epochs=epochs, seed=seed, data=getattr(data, "name", type(data).__name__),
                        test_accuracy=None if ev is None else ev.accuracy,
                        update_steps=None if ev is None else ev.update_steps)


@dataclass
class _Run:
    """One inference run: a sample under a rollout at a noise level, all frames."""

    frames: object        # (T, C, H, W) noisy input, CPU
    label: int
    states: list          # per frame: {node: tensor (batch item 0, CPU) or None}
    probabilities: list   # per frame: tensor (classes,) or None
    steps: list           # per frame: update step of its output or None
    ranges: dict          # per node: (lo, hi) over all frames, for fixed colour scales


class LiveInference(WidgetApp):
    """Stateful streaming inference of a StreamNet, frame by frame.

    Each change of sample, rollout or noise re-runs ``model.step`` over the
    whole sequence (eval mode, no gradients; runs are cached per sample,
    rollout and noise, so scrubbing and playing the frames only redraws).

    Parameters
    ----------
    model : StreamNet
        A (trained) model with one input and one dense output; see
        :func:`quick_trained_model`.
    rollouts : sequence of Rollout or str
        The patterns to choose from (names as in :meth:`Rollout.named`). All of
        them appear in the confidence plot.
    data : image or track data set, optional
        ``.data``, ``.targets`` (and ``.classes``); default the offline digits'
        test split for MNIST-shaped inputs.
    noise_std : float, optional
        Starting noise std, >= 0 (default the model's training noise when it
        comes from :func:`quick_trained_model`, else :data:`QUICK_NOISE_STD`).
    frames : int
        Frames per sequence T (frame 0 is the initial state), at most
        :data:`MAX_FRAMES`.
    sample, frame : int
        Starting sample index (0..len(data) - 1) and frame (0..T - 1). The
        rollout starts at the model's training pattern when it is on offer
        (:func:`quick_trained_model` records it), else at the first of
        ``rollouts``.
    seed : int
        Seed of the noise (noise of sample i is fixed by (seed, i)).

    Attributes
    ----------
    model : StreamNet
    network : Network
    output : str
        The output node.
    rollout : Rollout
        The current pattern.
    frame : int
        The current frame (0..T-1).
    sample : int
    noise_std : float
    input_frame : Tensor
        The noisy input frame shown, (C, H, W).
    label : int
        The true class of the sample.
    states : dict
        Every node's value at the current frame (None where empty).
    probabilities : Tensor or None
        Softmax of the output at the current frame; None while empty.
    update_step : int or None
        The update step at which the current frame's output arrives.
    history : dict
        Per rollout name, ``[(update_step, confidence in the true class,
        correct)]`` for the frames answered so far (up to the current frame).
    figure : matplotlib.figure.Figure
    sample_slider, frame_slider, noise_slider : ipywidgets sliders
    rollout_toggle : ipywidgets.ToggleButtons
        Values are the rollout names.
    play : ipywidgets.Play
        Linked to the frame slider (play, pause, stop, repeat).
    status : ipywidgets.HTML
    image : ipywidgets.Image
    widget : ipywidgets.VBox

    Notes
    -----
    A value given in Python (to the constructor or :meth:`set`) is shown as
    given or refused: a sample or frame index out of range, a negative noise
    std or too many frames raise :class:`~streamnets.errors.SettingError` and
    change nothing; a noise std past the slider's end extends the slider. (The
    sliders clamp what is assigned to their ``value`` directly, as every
    ipywidgets slider does.)

    Examples
    --------
    >>> import streamnets as sn
    >>> from streamnets.widgets import LiveInference
    >>> app = LiveInference(sn.StreamNet(sn.load("mnist_sr")), frames=6)
    >>> app.frame_slider.value = 1
    >>> app.probabilities is None          # streaming: first response at frame 2
    True
    >>> app.rollout_toggle.value = "sequential"
    >>> [s for s, _, _ in app.history["sequential"]]
    [3]
    """

    quick_model = staticmethod(quick_trained_model)

    def __init__(self, model, rollouts=("streaming", "sequential"), data=None, noise_std=None,
                 frames=12, sample=0, frame=0, seed=0):
        w = require_ipywidgets()
        from matplotlib.figure import Figure

        from ..nn import StreamNet
        from ..train import classifier_output

        if not isinstance(model, StreamNet):
            raise StreamnetsError(f"LiveInference needs a StreamNet, got {type(model).__name__}; "
                                  f"build one with streamnets.StreamNet(network) or "
                                  f"quick_trained_model()")
        self.model = model
        self.network = net = model.network
        self.output = classifier_output(net, "LiveInference")
        self._input = net.inputs[0]
        in_node = net.nodes[self._input]
        if isinstance(rollouts, str):
            rollouts = (rollouts,)
        self._rollouts = OrderedDict()
        for r in rollouts:
            r = model.resolve_rollout(r).validate()
            name, k = r.name, 2
            while name in self._rollouts:
                name, k = f"{r.name} {k}", k + 1
            self._rollouts[name] = r
        if not self._rollouts:
            raise SpecError("give at least one rollout", field="rollouts")
        self.frames = whole_number(
            "frames", frames, 1, MAX_FRAMES,
            f"the viewer streams at most MAX_FRAMES = {MAX_FRAMES} frames (it runs the whole "
            f"sequence under every rollout on each change); for longer sequences run "
            f"model(frames, rollout) or model.step, which have no cap")
        late = {n: r.first_response()[self.output].frame for n, r in self._rollouts.items()}
        need = max(late.values()) + 1
        if self.frames < need:
            name = max(late, key=late.get)
            raise ShapeError(f"frames={frames} is too short: rollout {name!r} first responds at "
                             f"frame {late[name]}; use frames >= {need}")
        self.data = _default_data(in_node.shape, False, "LiveInference") if data is None else data
        self._check_data(in_node)
        trained = getattr(model, "trained_with", None) or {}
        if noise_std is None:
            noise_std = trained.get("noise_std", QUICK_NOISE_STD)
        noise_std = _checked_noise(noise_std)
        sample = self._checked_sample(sample)
        frame = self._checked_frame(frame)
        self._trained_rollout = trained.get("rollout")
        self.seed = int(seed)
        self._runs = OrderedDict()

        n = len(self.data.targets)
        self.sample_slider = w.IntSlider(value=sample, min=0, max=n - 1, description="sample",
                                         continuous_update=False)
        self.rollout_toggle = w.ToggleButtons(
            options=[(f"{name} (F={r.inference_factor})", name)
                     for name, r in self._rollouts.items()],
            value=(self._trained_rollout if self._trained_rollout in self._rollouts
                   else next(iter(self._rollouts))),
            description="rollout", style={"button_width": "auto"})
        self.noise_slider = w.FloatSlider(value=noise_std, min=0.0, max=max(3.0, noise_std),
                                          step=0.1, description="noise std",
                                          continuous_update=False, readout_format=".1f")
        last = self.frames - 1
        self.frame_slider = w.IntSlider(value=frame, min=0, max=last, description="frame")
        self.play = w.Play(value=self.frame_slider.value, min=0, max=last, step=1, interval=700,
                           description="play", show_repeat=True)
        self._link = w.link((self.play, "value"), (self.frame_slider, "value"))
        for control in (self.sample_slider, self.rollout_toggle, self.noise_slider,
                        self.frame_slider):
            control.observe(self._changed, names="value")
        self.status = w.HTML()
        self.figure = Figure(layout="constrained")
        self.image = w.Image(format="png")
        title = (f"<b>Live inference: {escape(net.name)}</b> &nbsp; input {escape(self._input)} "
                 f"&rarr; output {escape(self.output)}; data: {escape(self._data_name())}")
        self.widget = w.VBox([
            w.HTML(title),
            w.HBox([self.sample_slider, self.noise_slider]),
            self.rollout_toggle,
            w.HBox([self.play, self.frame_slider]),
            self.status, self.image])
        self.update()

    # -- data ---------------------------------------------------------------------------

    def _check_data(self, in_node):
        data = self.data
        if not (hasattr(data, "data") and hasattr(data, "targets")):
            raise StreamnetsError(f"data must be an image data set with .data and .targets "
                                  f"(e.g. streamnets.data.Digits(train=False)), got "
                                  f"{type(data).__name__}")
        shape = tuple(data.data.shape[-3:])
        if shape != tuple(in_node.shape):
            raise ShapeError(f"the data's frames have shape {shape} but input "
                             f"{self._input!r} of network {self.network.name!r} expects "
                             f"{tuple(in_node.shape)}; pass matching data")
        if len(data.targets) == 0:
            raise StreamnetsError("the data set is empty")
        units = self.network.nodes[self.output].shape[0]
        classes = getattr(data, "classes", None)
        if classes:
            n_classes = len(classes)
        else:
            import torch

            n_classes = int(torch.as_tensor(data.targets).max()) + 1
        if n_classes > units:
            raise ShapeError(f"the data has {n_classes} classes but output {self.output!r} has "
                             f"{units} units; pass data of this network's task")
        self.classes = [str(c) for c in classes] if classes else [str(i) for i in range(units)]
        self.classes += [str(i) for i in range(len(self.classes), units)]

    def _checked_sample(self, sample):
        n = len(self.data.targets)
        return whole_number("sample", sample, 0, n - 1,
                            f"the data set has {n} samples; give an index in that range")

    def _checked_frame(self, frame):
        return whole_number("frame", frame, 0, self.frames - 1,
                            f"the viewer streams frames={self.frames} frames; give a frame in "
                            f"that range, or build the viewer with more frames")

    def _data_name(self):
        return str(getattr(self.data, "name", type(self.data).__name__))

    def _sequence(self, sample, noise):
        """The noisy frames (T, C, H, W) and label of ``sample`` (noise fixed by seed)."""
        from ..train import make_sequences

        seqs = make_sequences(self.data, self.frames, noise, train=False, seed=self.seed)
        x, y = seqs.batch([sample])
        return x[0], int(y[0])

    # -- inference --------------------------------------------------------------------

    def _run(self, sample, name, noise):
        """The cached run of ``sample`` under rollout ``name`` at noise ``noise``."""
        rollout = self._rollouts[name]
        key = (sample, rollout.bits, round(float(noise), 6))
        run = self._runs.get(key)
        if run is not None:
            self._runs.move_to_end(key)
            return run
        run = self._infer(sample, rollout, noise)
        self._runs[key] = run
        while len(self._runs) > _CACHE_SIZE:
            self._runs.popitem(last=False)
        return run

    def _infer(self, sample, rollout, noise):
        import torch

        x, label = self._sequence(sample, noise)
        model = self.model
        was_training = model.training
        model.eval()
        states, probs = [], []
        try:
            with torch.no_grad():
                state = model.initial_state(1)
                for t in range(self.frames):
                    logits, state = model.step(x[t:t + 1], state, rollout=rollout)
                    states.append({v: None if s is None else s[0].detach().float().cpu()
                                   for v, s in state.as_dict().items()})
                    out = logits[self.output]
                    probs.append(None if out is None else
                                 torch.softmax(out[0].detach().float(), dim=-1).cpu())
        finally:
            model.train(was_training)
        steps = rollout.output_steps(self.frames)[self.output]
        ranges = {}
        for v in self.network.nodes:
            shown = [self._shown(s[v]) for s in states if s[v] is not None]
            if shown:
                lo = min(float(a.min()) for a in shown)
                hi = max(float(a.max()) for a in shown)
                ranges[v] = (lo, hi)
        return _Run(x, label, states, probs, steps, ranges)

    def _shown(self, value):
        """The part of a node value that is drawn (the first channels of spatial nodes)."""
        return value[:_CHANNELS] if value.dim() == 3 else value

    # -- state --------------------------------------------------------------------------

    @property
    def rollout(self):
        return self._rollouts[self.rollout_toggle.value]

    @property
    def rollouts(self):
        """``{name: Rollout}`` of the patterns on offer."""
        return dict(self._rollouts)

    @property
    def frame(self):
        return self.frame_slider.value

    @property
    def sample(self):
        return self.sample_slider.value

    @property
    def noise_std(self):
        return float(self.noise_slider.value)

    @property
    def current_run(self):
        return self._run(self.sample, self.rollout_toggle.value, self.noise_std)

    @property
    def input_frame(self):
        return self.current_run.frames[self.frame]

    @property
    def label(self):
        return self.current_run.label

    @property
    def states(self):
        return dict(self.current_run.states[self.frame])

    @property
    def probabilities(self):
        return self.current_run.probabilities[self.frame]

    @property
    def update_step(self):
        return self.current_run.steps[self.frame]

    @property
    def history(self):
        return {name: self._history(self._run(self.sample, name, self.noise_std))
                for name in self._rollouts}

    def _history(self, run):
        rows = []
        for t in range(self.frame + 1):
            p = run.probabilities[t]
            if p is not None:
                rows.append((run.steps[t], float(p[run.label]), int(p.argmax()) == run.label))
        return rows

    def set(self, sample=None, rollout=None, noise_std=None, frame=None):
        """Set several controls at once (one redraw).

        Parameters
        ----------
        sample : int, optional
            0..len(data) - 1.
        rollout : Rollout or str, optional
            One of :attr:`rollouts` (by name).
        noise_std : float, optional
            >= 0; past the slider's end it extends the slider.
        frame : int, optional
            0..T - 1.

        Raises
        ------
        SpecError, SettingError
            For a rollout not on offer, or a value out of range; every value is
            checked before any control moves.
        """
        name = None if rollout is None else getattr(rollout, "name", rollout)
        if name is not None and name not in self._rollouts:
            raise SpecError(f"rollout {name!r} is not on offer; choose one of "
                            f"{', '.join(self._rollouts)} (or pass it in rollouts=)", field="rollout")
        sample = None if sample is None else self._checked_sample(sample)
        noise_std = None if noise_std is None else _checked_noise(noise_std)
        frame = None if frame is None else self._checked_frame(frame)
        with self._hold():
            if sample is not None:
                self.sample_slider.value = sample
            if name is not None:
                self.rollout_toggle.value = name
            if noise_std is not None:
                self.noise_slider.max = max(self.noise_slider.max, noise_std)
                self.noise_slider.value = noise_std
            if frame is not None:
                self.frame_slider.value = frame

    # -- view ---------------------------------------------------------------------------

    def update(self):
        """Run (or fetch) the inference for the controls and redraw."""
        run = self.current_run
        self.status.value = self._status_html(run)
        self._draw(run)
        self.image.value = png_bytes(self.figure)

    def _first(self, rollout=None):
        return (rollout or self.rollout).first_response()[self.output]

    def _status_html(self, run):
        r, t = self.rollout, self.frame
        first = self._first()
        if run.probabilities[t] is None:
            what = (f"frame {t}: no output yet (the {escape(r.name)} rollout first responds at "
                    f"frame {first.frame}, update step {first.update_step})")
        else:
            p = run.probabilities[t]
            k = int(p.argmax())
            verdict = "correct" if k == run.label else "wrong"
            what = (f"frame {t}: output at update step {run.steps[t]}, predicts "
                    f"{escape(self.classes[k])} (p = {float(p[k]):.2f}, {verdict}); "
                    f"p(true class {escape(self.classes[run.label])}) = "
                    f"{float(p[run.label]):.2f}")
        note = ""
        if self._trained_rollout and any(n != self._trained_rollout for n in self._rollouts):
            note = (f"<br><i>trained under the {escape(self._trained_rollout)} rollout: parameters "
                    f"trained under one pattern need not transfer to another</i>")
        return f"<span>{what}</span>{note}"

    def _draw(self, run):
        names = [v for v in self._node_order() if v != self._input]
        panels = 2 + len(names)
        cols = min(panels, 5)
        rows = math.ceil(panels / cols)
        fig = self.figure
        fig.clear()
        fig.set_size_inches(2.5 * cols + 0.4, 2.35 * rows + 3.0)
        grid = fig.add_gridspec(rows + 1, cols, height_ratios=[1] * rows + [1.35])
        cells = [grid[i // cols, i % cols] for i in range(panels)]
        t = self.frame
        self._draw_input(fig.add_subplot(cells[0]), run)
        for cell, v in zip(cells[1:], names):
            self._draw_node(fig.add_subplot(cell), v, run.states[t][v], run.ranges.get(v))
        self._draw_probabilities(fig.add_subplot(cells[-1]), run)
        self._draw_history(fig.add_subplot(grid[rows, :]))
        r = self.rollout
        fig.suptitle(f"{self.network.name} under the {r.name} rollout (F(R) = "
                     f"{r.inference_factor}); sample {self.sample}, true class "
                     f"{self.classes[run.label]}, noise std {self.noise_std:.1f}; frame {t} of "
                     f"{self.frames - 1}", fontsize=10)

    def _node_order(self):
        from ..viz.layout import layered_layout

        return list(layered_layout(self.network).rows)

    def _draw_input(self, ax, run):
        x = run.frames[self.frame]
        ax.set_gid("input")
        if x.shape[0] == 3:
            ax.imshow(x.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
        else:
            ax.imshow(x[0].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"input {self._input}, frame {self.frame}", fontsize=9)
        ax.set_xlabel(f"noise std {self.noise_std:.1f}, clipped to [0, 1]", fontsize=8)

    def _tile(self, node, value=None):
        """The image drawn for a node: the first channels of a spatial node side by
        side (2 across, NaN gaps), a dense node in rows of 16 cells; all NaN (the
        same geometry) when ``value`` is None. Returns (array, caption)."""
        import numpy as np

        c, h, w = node.shape
        if node.is_spatial:
            k = min(c, _CHANNELS)
            across = 2 if k > 1 else 1
            down = math.ceil(k / across)
            tile = np.full((down * (h + 1) - 1, across * (w + 1) - 1), np.nan)
            if value is not None:
                shown = self._shown(value).numpy()
                for ch in range(k):
                    i, j = divmod(ch, across)
                    tile[i * (h + 1):i * (h + 1) + h, j * (w + 1):j * (w + 1) + w] = shown[ch]
            return tile, (f"channels 0\u2013{k - 1} of {c}" if k > 1 else "channel 0")
        across = min(c, _STRIP_COLUMNS)
        down = math.ceil(c / across)
        tile = np.full(down * across, np.nan)
        if value is not None:
            tile[:c] = value.reshape(-1).numpy()
        return tile.reshape(down, across), f"{c} units"

    def _draw_node(self, ax, name, value, limits):
        from matplotlib import colormaps

        node = self.network.nodes[name]
        shape = "\u00d7".join(str(s) for s in node.spec_shape)
        ax.set_gid(f"node:{name}")
        ax.set_xticks([])
        ax.set_yticks([])
        tile, what = self._tile(node, value)
        if value is None:
            ax.imshow(tile, cmap=colormaps["gray"].with_extremes(bad=INPUT_FACE), vmin=0, vmax=1)
            ax.text(0.5, 0.5, "empty", ha="center", va="center", transform=ax.transAxes,
                    fontsize=11, color="#555555", style="italic")
            first = self.rollout.first_frames[name]
            ax.set_title(f"{name} [{shape}]: empty", fontsize=9)
            ax.set_xlabel(f"no input information\nbefore frame {first}", fontsize=8)
            return
        lo, hi = limits
        if lo < 0:
            m = max(abs(lo), abs(hi), 1e-12)
            lo, hi, cmap = -m, m, "RdBu_r"
        else:
            lo, hi, cmap = 0.0, max(hi, 1e-12), "viridis"
        ax.imshow(tile, cmap=colormaps[cmap].with_extremes(bad="white"), vmin=lo, vmax=hi,
                  interpolation="nearest")
        # a node shows its value: an identity output's logits, a softmax output's probabilities
        label = "logits" if name == self.output and node.activation == "identity" else node.activation
        ax.set_title(f"{name} [{shape}] ({label})", fontsize=9)
        ax.set_xlabel(f"{what}\ncolour {lo:.2g} \u2026 {hi:.2g}", fontsize=8)

    def _draw_probabilities(self, ax, run):
        ax.set_gid("probabilities")
        t, r = self.frame, self.rollout
        p = run.probabilities[t]
        n = len(self.classes)
        ax.set_xlim(-0.6, n - 0.4)
        ax.set_ylim(0, 1.15)
        ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        named = n <= 12 and all(len(c) <= 2 for c in self.classes)
        every = 1 if n <= 12 else 5 if n <= 60 else 10
        ax.set_xticks(range(0, n, every))
        if named:
            ax.set_xticklabels(self.classes)
        ax.tick_params(labelsize=7)
        true = run.label
        axis = "class" if named else "class index"
        named_true = self.classes[true] if named else f"{true} = {self.classes[true]}"
        ax.set_ylabel("probability", fontsize=8)
        ax.axhline(1 / n, color="#999999", lw=0.8, ls=":")
        if p is None:
            first = self._first()
            ax.set_facecolor(INPUT_FACE)
            ax.text(0.5, 0.5, "empty", ha="center", va="center", transform=ax.transAxes,
                    fontsize=11, color="#666666", style="italic")
            ax.set_title("class probabilities: empty", fontsize=9)
            ax.set_xlabel(f"{axis} (true: {named_true})\nfirst response at frame "
                          f"{first.frame}", fontsize=8)
            return
        color = rollout_color(r.name, list(self._rollouts).index(self.rollout_toggle.value))
        bars = ax.bar(range(n), p.numpy(), color=color, alpha=0.45, width=0.8)
        bars[true].set_alpha(1.0)
        bars[true].set_edgecolor("black")
        bars[true].set_linewidth(1.2)
        ax.annotate("true", (true, float(p[true]) + 0.02), ha="center", va="bottom", fontsize=7)
        k = int(p.argmax())
        mark = "\u2713" if k == true else "\u2717"
        ax.set_title(f"class probabilities: {self.classes[k]} {mark} (p = {float(p[k]):.2f})",
                     fontsize=9)
        ax.set_xlabel(f"{axis} (true: {named_true}, outlined)\nanswer at update step "
                      f"{run.steps[t]}", fontsize=8)

    def _draw_history(self, ax):
        ax.set_gid("history")
        current = self.rollout_toggle.value
        last = 1
        for index, (name, r) in enumerate(self._rollouts.items()):
            run = self._run(self.sample, name, self.noise_std)
            last = max(last, max(s for s in run.steps if s is not None))
            rows = self._history(run)
            color = rollout_color(r.name, index)
            width = 2.2 if name == current else 1.2
            label = f"{name} (F = {r.inference_factor})"
            if name == self._trained_rollout:
                label += ", trained under it"
            if rows:
                steps, conf, ok = zip(*rows)
                ax.plot(steps, conf, color=color, lw=width, label=label, zorder=2)
                right = [(s, c) for s, c, k in rows if k]
                wrong = [(s, c) for s, c, k in rows if not k]
                if right:
                    ax.plot(*zip(*right), "o", color=color, ms=6, zorder=3)
                if wrong:
                    ax.plot(*zip(*wrong), "x", color=color, ms=7, mew=2, zorder=3)
            else:
                first = self._first(r)
                ax.plot([], [], color=color, lw=width,
                        label=f"{label}: first answer at step {first.update_step}")
        step = self.update_step
        if step is not None:
            ax.axvline(step, color=rollout_color(current, list(self._rollouts).index(current)),
                       ls="--", lw=0.9, zorder=1)
        n = len(self.classes)
        ax.axhline(1 / n, color="#999999", lw=0.8, ls=":", label=f"chance (1/{n})")
        ax.plot([], [], "o", color="#555555", label="correct")
        ax.plot([], [], "x", color="#555555", mew=2, label="wrong")
        ax.set_xlim(0, last + 1)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("update step", fontsize=9)
        ax.set_ylabel(f"p(true class {self.classes[self.label]})", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.set_title(f"confidence in the true class, frames 0\u2013{self.frame} "
                     f"(dashed: update step of frame {self.frame}'s answer, {current})"
                     if step is not None else
                     f"confidence in the true class, frames 0\u2013{self.frame}", fontsize=9)
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
