"""The colour conventions of every drawing, in one place.

As in the paper: streaming edges (R = 1) and the streaming rollout are red,
within-frame edges (R = 0) and the sequential rollout are blue, hybrid
rollouts purple.
"""

from __future__ import annotations

from ..errors import SettingError

__all__ = [
    "STREAMING", "SEQUENTIAL", "HYBRID", "NEUTRAL", "INVALID",
    "NODE_FACE", "INPUT_FACE", "FILLED_FACE", "NODE_EDGE", "INVALID_FACE",
    "edge_color", "rollout_color", "new_figure", "root_figure", "checked_axes",
]

STREAMING = "#d62728"   # red: R = 1, the streaming rollout
SEQUENTIAL = "#1f77b4"  # blue: R = 0, the sequential rollout
HYBRID = "#9467bd"      # purple: hybrid rollouts
NEUTRAL = "#444444"     # edges drawn without a rollout
INVALID = "#000000"     # the zero-delay cycle of an invalid pattern

NODE_FACE = "white"
INPUT_FACE = "#dddddd"
FILLED_FACE = "#4d4d4d"   # a node already computed (state S = 1)
NODE_EDGE = "black"
INVALID_FACE = "#d9d9d9"  # background of an invalid pattern in a grid

_OTHERS = ("#2ca02c", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def edge_color(delay):
    """The colour of an edge with R(e) = ``delay`` (None: no rollout given)."""
    if delay is None:
        return NEUTRAL
    return STREAMING if delay else SEQUENTIAL


def rollout_color(name, index=0):
    """The colour of a rollout by its name.

    ``"streaming"`` is red, ``"sequential"`` blue and names containing
    ``"hybrid"`` purple; any other name gets a colour from a fixed cycle by
    ``index``.

    Examples
    --------
    >>> rollout_color("streaming") == STREAMING
    True
    """
    name = str(getattr(name, "name", name)).lower()
    if name == "streaming":
        return STREAMING
    if name == "sequential":
        return SEQUENTIAL
    if "hybrid" in name:
        return HYBRID
    return _OTHERS[index % len(_OTHERS)]


def new_figure(ax=None, figsize=(5, 4)):
    """``(figure, axes)``: the figure of ``ax``, or a new one with one axes.

    New figures are plain :class:`matplotlib.figure.Figure` objects, not
    registered with pyplot: they work headless. A notebook shows one as an
    image when it is the value of a cell (or via ``display(fig)``) once
    ``%matplotlib inline`` has run, as in the project's notebooks; before
    that, it shows only ``<Figure size ... with 1 Axes>``.
    """
    if ax is not None:
        return root_figure(checked_axes(ax)), ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def checked_axes(ax, where="ax"):
    """``ax`` if it is a matplotlib Axes, else a SettingError saying what to pass."""
    from matplotlib.axes import Axes

    if isinstance(ax, Axes):
        return ax
    hint = " (a figure: pass fig.add_subplot() or one of fig.axes)" if hasattr(ax, "add_subplot") else ""
    raise SettingError(f"{where} must be a matplotlib Axes, got {type(ax).__name__}{hint}; leave it "
                       f"out for a new figure")


def root_figure(artist):
    """The top-level Figure of an Axes or SubFigure (the one to ``savefig``)."""
    fig = artist.figure
    while fig.figure is not fig:  # a SubFigure's .figure is its parent's figure
        fig = fig.figure
    return fig
