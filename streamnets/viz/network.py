"""Drawing a network, optionally with the delays of a rollout pattern."""

from __future__ import annotations

from matplotlib.lines import Line2D

from .artists import blocks_segment, draw_arrow, draw_node, draw_self_loop, loop_angle
from ..errors import SettingError
from ..rollout import Rollout, checked_network
from .layout import layered_layout
from .style import INPUT_FACE, NODE_FACE, NEUTRAL, SEQUENTIAL, STREAMING, edge_color, new_figure

__all__ = ["draw_network", "edge_legend_handles"]

CURVE = 0.3  # arc bulge as a fraction of the edge length


def edge_legend_handles(invalid=False):
    """Legend proxies for the edge colours (and the zero-delay cycle marking)."""
    handles = [Line2D([], [], color=STREAMING, lw=1.5, label="R = 1 (to the next frame)"),
               Line2D([], [], color=SEQUENTIAL, lw=1.5, label="R = 0 (within the frame)")]
    if invalid:
        handles.append(Line2D([], [], color=SEQUENTIAL, lw=2.8, ls="--",
                              label="zero-delay cycle"))
    return handles


def _in_the_way(net, pos, edge):
    """The positions of the nodes a straight ``edge`` could cross: those in a layer
    strictly between its ends, or in its layer for an edge within one layer. (Nodes in
    the end layers only come near an edge when it is long and flat, as the edges of a
    wide layer are; bending all of those sends them far off the drawing.)"""
    low, high = sorted((pos[edge.source][1], pos[edge.target][1]))
    return [pos[v] for v in net.nodes if v not in edge.key
            and (low < pos[v][1] < high or low == high == pos[v][1])]


def _routes(net, pos):
    """``{edge key: rad}`` for the non-self-loop edges: straight unless the edge
    would cross another node or runs opposite another edge."""
    keys = {e.key for e in net.edges}
    rads = {}
    for e in net.edges:
        if e.is_self_loop:
            continue
        blocked = blocks_segment(pos[e.source], pos[e.target], _in_the_way(net, pos, e))
        rads[e.key] = CURVE if blocked or (e.target, e.source) in keys else 0.0
    return rads


def draw_network(net, rollout=None, ax=None, title=None, legend=True, node_size=None):
    """Draw a network in layers, inputs at the bottom.

    Self-loops are drawn as loops; an edge that would cross a node, or that
    runs opposite another edge, bends around it (other back edges stay
    straight). With a ``rollout``, edges with R = 1 are red and edges with
    R = 0 blue; if the pattern is not valid its zero-delay cycle is drawn
    thick and dashed and the title says so.

    Parameters
    ----------
    net : Network
    rollout : Rollout, str or dict, optional
        Colours the edges by R(e): a Rollout of ``net`` (or of an equal network), a
        name (``"streaming"``, ``"sequential"``, a pattern of the spec) or
        ``{edge: 0/1}``, see :meth:`Rollout.of`.
    ax : matplotlib Axes, optional
        Draw into this axes; by default a new figure is made.
    title : str or False, optional
        The axes title; by default the network (and rollout) name, False for none.
    legend : bool
        Show the edge-colour legend (only when a rollout is given).
    node_size : float, optional
        Node diameter in points.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn into (the root figure of ``ax`` when given).

    Examples
    --------
    >>> import streamnets as sn
    >>> from streamnets.viz import draw_network
    >>> net = sn.load("fig2")
    >>> fig = draw_network(net, sn.Rollout.sequential(net))
    """
    net = checked_network(net, "draw_network", field="net")
    if node_size is not None and not (isinstance(node_size, (int, float))
                                      and not isinstance(node_size, bool) and 0 < node_size < 1e3):
        raise SettingError(f"node_size must be a diameter in points, a number in (0, 1000), got "
                           f"{node_size!r}; leave it out for the default")
    if rollout is not None:
        rollout = Rollout.of(net, rollout)
    lay = layered_layout(net)
    pos = lay.pos
    width = max(sum(1 for v in net.nodes if lay.layer[v] == k) for k in set(lay.layer.values()))
    height = max(lay.layer.values()) + 1
    if title is None:
        title = net.name if rollout is None else f"{net.name}: {rollout.name} rollout"
        if rollout is not None and not rollout.is_valid:
            title += " (not valid)"
    # the title wraps at spaces, so the figure must be as wide as its longest word
    longest = max(map(len, str(title).split()), default=0) if title is not False else 0
    fig, ax = new_figure(ax, figsize=(max(2.8, 1.2 * width + 1.6, 0.09 * longest + 0.4),
                                      max(2.6, 0.85 * height + 1.0)))
    inside = max(len(v) for v in net.nodes) <= 4
    size = node_size or (24 if inside else 14)
    scale = min(1.0, size / 20)  # thinner lines and smaller heads for small nodes

    cycle = set(rollout.zero_delay_cycle or ()) if rollout is not None else set()
    rads = _routes(net, pos)
    for e in net.edges:
        delay = rollout[e.key] if rollout is not None else None
        style = dict(color=edge_color(delay) if rollout is not None else NEUTRAL,
                     linestyle="--" if e.key in cycle else "-",
                     linewidth=(2.8 if e.key in cycle else 1.5) * scale, head=11 * scale)
        gid = f"edge:{e.source}->{e.target}"
        if e.is_self_loop:
            routes = [(pos[f.source], pos[f.target], rads[f.key]) for f in net.edges
                      if not f.is_self_loop]
            # with names outside the nodes, keep the label on the left free
            avoid = [] if inside else [(pos[e.source][0] - 0.5, pos[e.source][1])]
            angle = loop_angle(pos[e.source], routes, avoid)
            draw_self_loop(ax, pos[e.source], gid=gid, node_size=size, angle=angle, **style)
        else:
            draw_arrow(ax, pos[e.source], pos[e.target], gid=gid, node_size=size,
                       rad=rads[e.key], **style)

    inputs = set(net.inputs)
    for v in net.nodes:
        face = INPUT_FACE if v in inputs else NODE_FACE
        draw_node(ax, pos[v], f"node:{v}", size=size, face=face, label=v if inside else None,
                  fontsize=min(9.0, 0.42 * size), linewidth=1.2 * scale)
        if not inside:
            ax.annotate(v, pos[v], xytext=(-(size / 2 + 3), 0), textcoords="offset points",
                        ha="right", va="center", fontsize=min(8.0, 0.5 * size), zorder=4,
                        gid=f"label:{v}",
                        bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))

    xs = [p[0] for p in pos.values()]
    ax.set_xlim(min(xs) - (0.9 if inside else 1.5), max(xs) + 0.9)
    ax.set_ylim(-0.6, height - 0.4)
    ax.set_axis_off()
    if title is not False:
        ax.set_title(title, fontsize=10, wrap=True)
    if legend and rollout is not None:
        ax.legend(handles=edge_legend_handles(bool(cycle)), loc="upper center",
                  bbox_to_anchor=(0.5, 0.0), fontsize=7, frameon=False, ncol=1)
    return fig
