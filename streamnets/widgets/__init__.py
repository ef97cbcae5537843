"""Interactive apps (ipywidgets) on top of :mod:`streamnets.viz`.

* :class:`RolloutExplorer` - toggle the delay of every edge, see validity,
  the rollout window, the state after n update steps, the tableau and F(R).
* :class:`NetworkBuilder` - write a network as YAML or build it with a small
  form, see its drawing and what is wrong with it, open the explorer on it.
* :class:`LiveInference` - stream a noisy sequence through a trained StreamNet
  frame by frame: node states, prediction, confidence over update steps;
  :func:`quick_trained_model` gives a model to try it on in seconds.

Importing this package does not import ipywidgets; constructing an app does.

Examples
--------
>>> import streamnets as sn
>>> from streamnets.widgets import RolloutExplorer
>>> RolloutExplorer(sn.load("fig2"))   # doctest: +SKIP
"""

from .builder import NetworkBuilder
from .explorer import RolloutExplorer
from .live import LiveInference, quick_trained_model

__all__ = ["RolloutExplorer", "NetworkBuilder", "LiveInference", "quick_trained_model"]
