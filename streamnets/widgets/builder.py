"""NetworkBuilder: write or click together a network and see what is wrong."""

from __future__ import annotations

import copy
from importlib import resources

import yaml

from ..errors import StreamnetsError, counted
from ..graph import ACTIVATIONS
from ..viz.network import draw_network
from ._common import WidgetApp, escape, png_bytes, require_ipywidgets

__all__ = ["NetworkBuilder"]

EMPTY = "name: my_network\nnodes: {}\nedges: []\n"


def builtin_text(name):
    """The YAML text (with its comments) of a built-in spec."""
    from ..spec import builtin_names

    if name not in builtin_names():
        from ..spec import load

        load(name)  # raises the SpecError that names the built-ins
    return (resources.files("streamnets") / "specs" / f"{name}.yaml").read_text(encoding="utf-8")


def _parse_shape(text):
    try:
        shape = [int(s) for s in str(text).replace("x", ",").replace("\u00d7", ",").split(",")
                 if s.strip()]
    except ValueError:
        raise StreamnetsError(f"shape {text!r}: give channels, or channels, height, width "
                              f"(e.g. 8 or 16, 7, 7)") from None
    return shape


class NetworkBuilder(WidgetApp):
    """Build a network from YAML text or a small form and validate it live.

    The YAML text is the single source of truth: the form buttons edit the
    text (comments are dropped on such an edit). Every change parses it with
    :func:`streamnets.spec.loads`; a problem is shown as the streamnets error
    message (which names the field and the fix), otherwise the network is
    drawn.

    Parameters
    ----------
    spec : str, optional
        A built-in network to start from (default ``"fig2"``); None for an
        empty network.

    Attributes
    ----------
    network : Network or None
        The network the text describes, or None while it has an error.
    error : str or None
        Why the text is not a valid network, or None. A form action that is
        refused (it returns False and says why in :attr:`message`) leaves the
        text, and so this, as it was.
    text : ipywidgets.Textarea
        The YAML spec.
    message : ipywidgets.HTML
        The validation message shown.
    figure : matplotlib.figure.Figure
        The drawing of the network (or of the error).
    widget : ipywidgets.VBox
        The whole app.

    Examples
    --------
    >>> from streamnets.widgets import NetworkBuilder
    >>> b = NetworkBuilder(spec=None)
    >>> b.add_node("x", "4") and b.add_node("y", "2") and b.add_edge("x", "y")
    True
    >>> b.network
    Network('my_network', 2 nodes, 1 edge, inputs=['x'], outputs=['y'])
    >>> explorer = b.open_explorer()
    """

    def __init__(self, spec="fig2"):
        w = require_ipywidgets()
        from matplotlib.figure import Figure

        from ..spec import builtin_names

        self.network = None
        self.error = None
        self.explorer = None
        self._doc = None
        self.text = w.Textarea(value=builtin_text(spec) if spec else EMPTY,
                               layout={"width": "420px", "height": "300px"},
                               continuous_update=False)
        self.builtin = w.Dropdown(options=["", *builtin_names()], value="",
                                  description="load built-in")
        self.node_name = w.Text(description="node", placeholder="name",
                                layout={"width": "200px"})
        self.node_shape = w.Text(description="shape", placeholder="8 or 16, 7, 7",
                                 layout={"width": "200px"})
        self.node_activation = w.Dropdown(options=ACTIVATIONS, value="relu",
                                          description="activation", layout={"width": "200px"})
        self.edge_source = w.Dropdown(description="edge from", layout={"width": "200px"})
        self.edge_target = w.Dropdown(description="to", layout={"width": "200px"})
        buttons = {}
        actions = {"add node": self._on_add_node, "remove node": self._on_remove_node,
                   "add edge": self._on_add_edge, "remove edge": self._on_remove_edge,
                   "open rollout explorer": self._on_open}
        for label, action in actions.items():
            buttons[label] = w.Button(description=label)
            buttons[label].on_click(action)
        self.buttons = buttons
        self.message = w.HTML()
        self.figure = Figure(figsize=(3.2, 3.6), layout="constrained")
        self.image = w.Image(format="png")
        self.explorer_area = w.VBox()
        form = w.VBox([self.builtin,
                       w.HBox([self.node_name, self.node_shape, self.node_activation]),
                       w.HBox([buttons["add node"], buttons["remove node"]]),
                       w.HBox([self.edge_source, self.edge_target]),
                       w.HBox([buttons["add edge"], buttons["remove edge"]])])
        self.widget = w.VBox([w.HTML("<b>Network builder</b> (YAML spec or form)"),
                              w.HBox([w.VBox([self.text, form]), self.image]),
                              self.message, buttons["open rollout explorer"],
                              self.explorer_area])
        self.text.observe(lambda _: self.update(), names="value")
        self.builtin.observe(self._on_builtin, names="value")
        self.update()

    # -- parsing ----------------------------------------------------------------------

    def update(self):
        """Parse the text, then refresh the message, the drawing and the form."""
        from ..spec import loads

        text = self.text.value
        try:
            doc = yaml.safe_load(text)
            self._doc = doc if isinstance(doc, dict) else None
        except yaml.YAMLError:
            self._doc = None
        try:
            self.network, self.error = loads(text), None
        except StreamnetsError as err:
            self.network, self.error = None, str(err)
        if getattr(self, "explorer", None) is not None and self.explorer.network != self.network:
            self.explorer = None  # it showed another network: open it again for this one
            self.explorer_area.children = []
        self._show()

    def _show(self):
        net = self.network
        doc = self._doc if isinstance(self._doc, dict) else {}
        # a fresh page: no nodes or edges yet, and no other field (a typo such as 'nodez' is an error)
        blank = not self.text.value.strip() or (doc and not doc.get("nodes") and not doc.get("edges")
                                                and set(doc) <= {"name", "description", "nodes", "edges"})
        if net is None and blank:  # a blank page, not a mistake
            self.message.value = "add nodes and edges (form or YAML text) to start"
        elif net is None:
            self.message.value = (f"<span style='color:#b00020'>\u2717 {escape(self.error)}"
                                  f"</span>")
        else:
            self.message.value = (
                f"<span style='color:#2a7a2a'>\u2713 {escape(net.name)}: {counted(net.nodes, 'node')}, "
                f"{counted(net.edges, 'edge')}; inputs {escape(', '.join(net.inputs))}; outputs "
                f"{escape(', '.join(net.outputs))}</span>")
        names = list((self._doc or {}).get("nodes") or {}) if isinstance(
            (self._doc or {}).get("nodes"), dict) else []
        for dropdown in (self.edge_source, self.edge_target):
            current = dropdown.value
            dropdown.options = [str(n) for n in names]
            if current in dropdown.options:
                dropdown.value = current
        fig = self.figure
        fig.clear()
        ax = fig.add_subplot()
        if net is not None:
            draw_network(net, ax=ax)
        else:
            ax.set_axis_off()
            ax.text(0.5, 0.5, "no valid network yet\n(see the message below)", ha="center",
                    va="center", color="#b00020", transform=ax.transAxes)
        self.image.value = png_bytes(fig)

    # -- form actions (edit the YAML document) -----------------------------------------

    def _edit(self, change):
        """Apply ``change(doc)`` to a copy of the parsed text and, if it succeeds, write
        the text back (a failed action leaves the document as it was)."""
        if self._doc is None:
            self.message.value = ("<span style='color:#b00020'>\u2717 fix the text first (the form "
                                  f"edits a YAML mapping of nodes and edges): {escape(self.error)}</span>")
            return False
        doc = copy.deepcopy(self._doc)
        if "neuron_pools" in doc or "synapse_pools" in doc:
            self.message.value = ("<span style='color:#b00020'>\u2717 the form edits YAML specs "
                                  "(nodes, edges); this is a statestream .st_graph: edit its text</span>")
            return False
        if not isinstance(doc.get("nodes"), dict):
            doc["nodes"] = {}
        if not isinstance(doc.get("edges"), list):
            doc["edges"] = []
        try:
            change(doc)
        except StreamnetsError as err:
            self.message.value = f"<span style='color:#b00020'>\u2717 {escape(err)}</span>"
            return False
        self.text.value = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)
        return True

    @staticmethod
    def _ends(item):
        if isinstance(item, dict):
            return (str(item.get("source")), str(item.get("target")))
        if isinstance(item, (list, tuple)) and len(item) == 2:
            return (str(item[0]), str(item[1]))
        return None

    @staticmethod
    def _key(doc, name):
        """The key of node ``name`` in the document (YAML may have read ``1`` as a number)."""
        return next((k for k in doc["nodes"] if str(k) == str(name)), None)

    def _drop_edges(self, doc, gone):
        """Remove the edges for which ``gone(ends)`` holds, also from the named rollouts."""
        doc["edges"] = [e for e in doc["edges"] if not gone(self._ends(e) or ())]
        rollouts = doc.get("rollouts")
        for name, pairs in (rollouts.items() if isinstance(rollouts, dict) else ()):
            if isinstance(pairs, list):
                doc["rollouts"][name] = [p for p in pairs if not gone(self._ends(p) or ())]

    def add_node(self, name, shape="8", activation="relu"):
        """Add node ``name`` with ``shape`` ("8" or "16, 7, 7"), or give an existing
        one this shape and activation (it keeps its place, tags and dropout).

        Like the other form actions it edits the text and returns True, or
        shows what is wrong in :attr:`message` and returns False.
        """
        def change(doc):
            if not str(name).strip():
                raise StreamnetsError("give the node a name")
            key = str(name).strip()
            old = self._key(doc, key)
            fields = doc["nodes"].get(old) if old is not None else None
            fields = dict(fields) if isinstance(fields, dict) else {}
            fields.update(shape=_parse_shape(shape), activation=activation)
            if old is None:
                doc["nodes"][key] = fields
            else:  # in place: the node order is the drawing's and the tableau's
                doc["nodes"] = {(key if k == old else k): (fields if k == old else v)
                                for k, v in doc["nodes"].items()}
        return self._edit(change)

    def remove_node(self, name):
        """Remove node ``name`` and every edge at it (from the named rollouts too)."""
        def change(doc):
            key = self._key(doc, name)
            if key is None:
                raise StreamnetsError(f"there is no node {name!r} to remove")
            del doc["nodes"][key]
            self._drop_edges(doc, lambda ends: str(name) in ends)
        return self._edit(change)

    def add_edge(self, source, target):
        """Add the edge ``source -> target``. An end that is not a node (yet) is
        written too: the text then shows the spec error that names it."""
        def change(doc):
            if source in (None, "") or target in (None, ""):
                raise StreamnetsError("choose both ends of the edge (add nodes first)")
            if (str(source), str(target)) in [self._ends(e) for e in doc["edges"]]:
                raise StreamnetsError(f"the edge {source} -> {target} exists already")
            doc["edges"].append([str(source), str(target)])
        return self._edit(change)

    def remove_edge(self, source, target):
        """Remove the edge ``source -> target`` (from the named rollouts too)."""
        def change(doc):
            if (str(source), str(target)) not in [self._ends(e) for e in doc["edges"]]:
                raise StreamnetsError(f"there is no edge {source} -> {target} to remove")
            self._drop_edges(doc, lambda ends: ends == (str(source), str(target)))
        return self._edit(change)

    def open_explorer(self):
        """A :class:`RolloutExplorer` on the current network, shown below the builder."""
        from .explorer import RolloutExplorer

        if self.network is None:
            raise StreamnetsError(f"no valid network to explore: {self.error}")
        self.explorer = RolloutExplorer(self.network)
        self.explorer_area.children = [self.explorer.widget]
        return self.explorer

    # -- button callbacks ---------------------------------------------------------------

    def _on_builtin(self, change):
        if change["new"]:
            self.text.value = builtin_text(change["new"])
            self.builtin.value = ""  # a menu: choosing the same network again reloads it

    def _on_add_node(self, _):
        self.add_node(self.node_name.value, self.node_shape.value or "8",
                      self.node_activation.value)

    def _on_remove_node(self, _):
        self.remove_node(self.node_name.value.strip())

    def _on_add_edge(self, _):
        self.add_edge(self.edge_source.value, self.edge_target.value)

    def _on_remove_edge(self, _):
        self.remove_edge(self.edge_source.value, self.edge_target.value)

    def _on_open(self, _):
        try:
            self.open_explorer()
        except StreamnetsError as err:
            self.message.value = f"<span style='color:#b00020'>\u2717 {escape(err)}</span>"
