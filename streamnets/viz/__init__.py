"""Drawings of networks, rollout windows, tableaus, pattern grids and results.

Every function draws with matplotlib (headless-safe: no pyplot state is
touched), takes an optional ``ax`` to draw into and returns the
:class:`matplotlib.figure.Figure` it drew on (the root figure of ``ax`` when
one is given). Colours follow the paper and live in
:mod:`streamnets.viz.style`: streaming red, sequential blue, hybrid purple.

Examples
--------
>>> import streamnets as sn
>>> from streamnets.viz import draw_window
>>> fig = draw_window(sn.Rollout.streaming(sn.load("fig2")), 3, tableau=True)
>>> fig.savefig("/tmp/window.png")  # doctest: +SKIP
"""

from .layout import layered_layout
from .network import draw_network
from .patterns import draw_patterns
from .results import (ResultsError, first_response_table, plot_accuracy_over_steps,
                      plot_first_response_comparison, training_run)
from .runtime import plot_executor_times
from .style import HYBRID, SEQUENTIAL, STREAMING, edge_color, rollout_color
from .window import draw_window

__all__ = [
    "draw_network", "draw_window", "draw_patterns", "layered_layout",
    "plot_accuracy_over_steps", "plot_first_response_comparison", "first_response_table",
    "training_run", "plot_executor_times", "ResultsError", "STREAMING", "SEQUENTIAL", "HYBRID", "edge_color", "rollout_color",
]
