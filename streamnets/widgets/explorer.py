"""RolloutExplorer: flip the delay of each edge and watch the window, the
tableau and the inference factor change."""

from __future__ import annotations

from ..errors import SettingError, whole_number
from ..rollout import Rollout
from ..viz.network import draw_network
from ..viz.window import MAX_WINDOW as DRAWN_MAX_WINDOW, cycle_text, draw_window
from ._common import WidgetApp, escape, png_bytes, require_ipywidgets

__all__ = ["RolloutExplorer", "status_text", "tableau_html", "MAX_WINDOW"]

#: The largest window W the explorer shows. Every change redraws W + 1 columns:
#: at W = 100 that takes about 1.5 s for fig2 and 6 s for cifar10_dsr6 (11 nodes)
#: on one CPU core and gives a figure 110 inches wide. Rollout.tableau(W) and
#: Rollout.window(W) have no cap; streamnets.viz.draw_window draws up to
#: streamnets.viz.window.MAX_WINDOW (600: matplotlib's image size limit).
MAX_WINDOW = 100


def _checked_window(window):
    return whole_number("window", window, 1, MAX_WINDOW,
                        f"the explorer shows windows up to W = MAX_WINDOW = {MAX_WINDOW} (a "
                        f"larger one takes long to draw and cannot be read); give a window in "
                        f"that range, or use Rollout.tableau(W) or Rollout.window(W), which "
                        f"have no cap, or streamnets.viz.draw_window(rollout, W) (up to W = "
                        f"{DRAWN_MAX_WINDOW})")


def _checked_step(step, rollout, W):
    if not rollout.is_valid:
        raise SettingError(f"step={step!r}: the pattern is not valid, so it has no update steps; "
                           f"leave step out or give a valid pattern")
    top = _last_step(rollout, W)
    return whole_number("step", step, 0, top,
                        f"under the {rollout.name} rollout the window W = {W} is computed by "
                        f"update step {top}; give a step in that range or a larger window")


def _last_step(rollout, W):
    return max(max(row) for row in rollout.tableau(W).values())


def status_text(rollout):
    """One line on a pattern: validity (with the offending cycle), F(R), first
    responses and whether it is equally model-parallel to the streaming rollout.

    Examples
    --------
    >>> import streamnets as sn
    >>> for part in status_text(sn.Rollout.sequential(sn.load("fig2"))).split("; "):
    ...     print(part)
    valid
    F(R) = 2
    first response: w at frame 1, update step 2
    not equally model-parallel to the streaming rollout
    """
    if not rollout.is_valid:
        return (f"not valid: the cycle {cycle_text(rollout.zero_delay_cycle)} has no streaming "
                f"edge (R = 0 on all its edges); set R = 1 on one of them")
    first = "; ".join(f"{o} at frame {fr.frame}, update step {fr.update_step}"
                      for o, fr in rollout.first_response().items())
    equal = "" if rollout.is_streaming_equivalent else "not "
    return (f"valid; F(R) = {rollout.inference_factor}; first response: {first}; "
            f"{equal}equally model-parallel to the streaming rollout")


def tableau_html(rollout, W, state_after=None):
    """The tableau over frames 0..W as an HTML table (rows top-down as in the
    window drawing; cells with T <= state_after shaded).

    Examples
    --------
    >>> import re, streamnets as sn
    >>> net = sn.load("fig2")
    >>> html = tableau_html(sn.Rollout.sequential(net), 3, state_after=2)
    >>> re.findall("<td[^>]*>([0-9]+)</td>", html)[:4], html.count("background:#ddd")  # row w
    (['0', '2', '4', '6'], 8)
    >>> tableau_html(sn.Rollout.from_bits(net, [0] * 5), 3)
    '<i>no tableau: the pattern is not valid</i>'
    """
    from ..viz.layout import layered_layout

    if not rollout.is_valid:
        return "<i>no tableau: the pattern is not valid</i>"
    T = rollout.tableau(W)
    head = "".join(f"<th style='padding:0 6px'>{i}</th>" for i in range(W + 1))
    lines = [f"<tr><th style='text-align:left'>node \\ frame</th>{head}</tr>"]
    for v in reversed(layered_layout(rollout.network).rows):
        cells = []
        for t in T[v]:
            shade = state_after is not None and t <= state_after
            style = "padding:0 6px;text-align:center" + (";background:#ddd" if shade else "")
            cells.append(f"<td style='{style}'>{t}</td>")
        lines.append(f"<tr><th style='text-align:left'>{escape(v)}</th>{''.join(cells)}</tr>")
    return "<table>" + "".join(lines) + "</table>"


class RolloutExplorer(WidgetApp):
    """An interactive rollout pattern of a network.

    One toggle per edge sets R(e) in {0, 1}; a preset menu sets the streaming,
    sequential or a named pattern (and shows the preset the toggles equal, or
    "custom" when they equal none); sliders set the window size W and the
    number n of update steps. Every change redraws the window (state after
    n update steps filled, tableau numbers in the nodes), the tableau table
    and the status line (validity with the offending cycle, F(R), first
    response).

    Parameters
    ----------
    network : Network or str
        A network or the name of a built-in one.
    rollout : Rollout, str or dict, optional
        The starting pattern (default: sequential); see :meth:`Rollout.of`.
    window : int
        The starting window size W, 1 to :data:`MAX_WINDOW`.
    step : int, optional
        The starting number of update steps n, 0 up to the step that completes
        the window (default: F(R), one frame's worth).

    Attributes
    ----------
    rollout : Rollout
        The current pattern (read from the toggles).
    toggles : dict
        ``{(source, target): ToggleButtons}`` with values 0 and 1.
    preset, window_slider, step_slider : ipywidgets
    status : ipywidgets.HTML
        The status line; ``status.value`` holds its text.
    table : ipywidgets.HTML
        The tableau table.
    figure : matplotlib.figure.Figure
        The drawing of the network and the window, redrawn on every change.
    image : ipywidgets.Image
        The drawing as shown.
    widget : ipywidgets.VBox
        The whole app (the object displays as it in a notebook).

    Notes
    -----
    A value given in Python (to the constructor or :meth:`set`) is shown as
    given or refused: a window or step out of range raises
    :class:`~streamnets.errors.SettingError` and changes nothing. A step that a
    smaller window or another pattern puts past the last update step moves down
    to it, and the status line says so. (The sliders clamp what is assigned to
    their ``value`` directly, as every ipywidgets slider does.)

    Examples
    --------
    >>> import streamnets as sn
    >>> from streamnets.widgets import RolloutExplorer
    >>> app = RolloutExplorer(sn.load("fig2"))
    >>> app.toggles[("w", "v")].value = 0     # now v -> w -> v has no delay
    >>> app.rollout.is_valid
    False
    """

    def __init__(self, network, rollout=None, window=3, step=None):
        w = require_ipywidgets()
        from matplotlib.figure import Figure

        from ..spec import load

        self.network = net = load(network)
        rollout = Rollout.of(net, "sequential" if rollout is None else rollout)
        window = _checked_window(window)
        if step is not None:
            step = _checked_step(step, rollout, window)
        self.toggles = {}
        for e in net.edges:
            toggle = w.ToggleButtons(options=[("0", 0), ("1", 1)], value=rollout[e.key],
                                     description=f"{e.source}\u2192{e.target}",
                                     tooltips=["within the frame", "to the next frame"],
                                     style={"description_width": "110px", "button_width": "36px"})
            toggle.observe(self._changed, names="value")
            self.toggles[e.key] = toggle
        self._presets = {name: Rollout.named(net, name) for name in
                         ["streaming", "sequential", *sorted(set(net.rollouts) - {"sequential"})]}
        # The preset the menu shows; kept while the pattern equals it, since
        # presets may share a pattern (mnist_hybrid: hybrid = sequential).
        self._named = rollout.name if self._presets.get(rollout.name) == rollout else None
        self.preset = w.Dropdown(options=[*self._presets, "custom"], description="pattern",
                                 value=self._named or "custom")
        self.preset.observe(self._preset_chosen, names="value")
        self.window_slider = w.IntSlider(value=window, min=1, max=max(8, window),
                                         description="window W", continuous_update=False)
        self.step_slider = w.IntSlider(value=0, min=0, max=1, description="update step n",
                                       continuous_update=False)
        self.window_slider.observe(self._changed, names="value")
        self.step_slider.observe(self._changed, names="value")
        self.status = w.HTML()
        self.table = w.HTML()
        self.figure = Figure(layout="constrained")
        self.image = w.Image(format="png")
        controls = w.VBox([self.preset, *self.toggles.values(), self.window_slider,
                           self.step_slider])
        self.widget = w.VBox([w.HTML(f"<b>Rollout patterns of {escape(net.name)}</b>"),
                              w.HBox([controls, self.table]), self.status, self.image])
        # the step n to show at the next update, where the slider's range may change
        self._step = rollout.inference_factor if step is None and rollout.is_valid else step
        self.update()

    # -- state ------------------------------------------------------------------------

    @property
    def rollout(self):
        """The pattern the toggles describe, named after the preset it equals (the
        one the menu shows if several do), else "custom"."""
        bits = tuple(self.toggles[e.key].value for e in self.network.edges)
        equal = [name for name, r in self._presets.items() if r.bits == bits]
        name = self._named if self._named in equal else next(iter(equal), None)
        return Rollout.from_bits(self.network, bits, name)

    @property
    def window(self):
        return self.window_slider.value

    @property
    def step(self):
        return self.step_slider.value

    def set(self, rollout=None, window=None, step=None):
        """Set the pattern, the window W and the update step n at once (one redraw).

        Parameters
        ----------
        rollout : Rollout, str or dict, optional
            Sets every toggle (see :meth:`Rollout.of`).
        window : int, optional
            1 to :data:`MAX_WINDOW` (past the slider's end it extends the slider).
        step : int, optional
            0 up to the update step that completes the window (under the new
            pattern and window). Left out, the step stays, or moves down to that
            step if it is past it.

        Raises
        ------
        SpecError, SettingError
            For a pattern of another network, or a window or step out of range;
            every value is checked before any control moves.
        """
        r = self.rollout if rollout is None else Rollout.of(self.network, rollout)
        W = self.window if window is None else _checked_window(window)
        if step is not None:
            step = _checked_step(step, r, W)
        with self._hold():
            if rollout is not None:
                if self._presets.get(r.name) == r:
                    self._named = r.name
                for key, toggle in self.toggles.items():
                    toggle.value = r[key]
            self.window_slider.max = max(self.window_slider.max, W)
            self.window_slider.value = W
            self._step = step

    def set_rollout(self, rollout):
        """Set every toggle from ``rollout`` (a Rollout, a preset name or ``{edge: 0/1}``)."""
        self.set(rollout=rollout)

    def _preset_chosen(self, change):
        if self._holding:
            return
        if change["new"] == "custom":
            self.update()  # back to the preset the toggles still equal, if any
        else:
            self.set_rollout(change["new"])

    # -- view -------------------------------------------------------------------------

    def update(self):
        """Recompute everything shown from the controls."""
        r = self.rollout
        W = self.window
        note = ""
        self._holding = True
        try:
            self._named = r.name if r.name in self._presets else None
            self.preset.value = self._named or "custom"
            if r.is_valid:
                top = _last_step(r, W)
                asked = self.step if self._step is None else self._step
                self._step = None
                self.step_slider.max = max(top, 1)
                self.step_slider.value = min(asked, top)
                if asked > top:
                    note = (f"update step n moved down from {asked} to {top}: the window W = {W} "
                            f"is computed by then")
        finally:
            self._holding = False
        n = self.step
        text = status_text(r)
        color = "#2a7a2a" if r.is_valid else "#b00020"
        self.status.value = (f"<span style='color:{color}'>{escape(text)}</span>"
                             + (f"<br><i>{escape(note)}</i>" if note else ""))
        self.table.value = tableau_html(r, W, n)
        self._draw(r, W, n)

    def _draw(self, r, W, n):
        rows = len(self.network.nodes)
        fig = self.figure
        fig.clear()
        fig.set_size_inches(2.6 + 1.05 * (W + 1) + 1.8, 0.7 * rows + 2.4)
        left, right = fig.subplots(1, 2, width_ratios=[2.6, 1.05 * (W + 1) + 1.8])
        draw_network(self.network, r, ax=left, legend=False, title="network")
        draw_window(r, W, ax=right, tableau=True, state_after=n)
        self.image.value = png_bytes(fig)
