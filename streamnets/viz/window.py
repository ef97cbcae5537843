"""Drawing a rollout window R_W: frames as columns, nodes as rows.

The paper's Figs. 3-5: edges with R = 1 are red diagonals from frame i to
frame i + 1, edges with R = 0 blue verticals within a frame; the tableau
T((i, v)) can be written into the nodes, and the state after n update steps
(the nodes with T <= n) shown filled.
"""

from __future__ import annotations

from matplotlib.lines import Line2D

from ..errors import whole_number
from .artists import blocks_segment, draw_arrow, draw_node, draw_self_loop, loop_angle
from .layout import checked_rollout, layered_layout
from .network import edge_legend_handles
from .style import FILLED_FACE, INPUT_FACE, NODE_EDGE, NODE_FACE, edge_color, new_figure

__all__ = ["draw_window", "cycle_text", "MAX_WINDOW"]

#: The largest window W drawn: the figure is about 1.05 inches per frame, and past
#: W = 620 it exceeds matplotlib's image size limit (2^16 pixels at 100 dpi).
MAX_WINDOW = 600


def cycle_text(cycle):
    """A zero-delay cycle as ``"v -> w -> v"``."""
    return " \u2192 ".join([cycle[0][0]] + [v for _, v in cycle])


def _rad(span):
    """arc3 ``rad`` of an in-frame arc over ``span`` rows: the bulge (rad * span)
    grows with the span, so nested arcs separate, but stays within ~0.45 of a
    frame; arcs of odd and even span bend to opposite sides."""
    span = max(span, 1)
    bulge = min(0.12 + 0.09 * span, 0.45)
    return (bulge if span % 2 == 0 else -bulge) / span


def _state_handles(T, n):
    """Legend entries for the node states after ``n`` update steps that the window shows."""
    steps = [t for row in T.values() for t in row]
    marker = dict(marker="o", ls="none", markeredgecolor=NODE_EDGE, markersize=8)
    handles = [Line2D([], [], markerfacecolor=FILLED_FACE, label=f"computed (T \u2264 {n})",
                      **marker)]
    if max(steps) > n:
        handles.append(Line2D([], [], markerfacecolor=NODE_FACE, label="not yet computed", **marker))
    if n > 0 and n in steps:
        handles.append(Line2D([], [], markerfacecolor=FILLED_FACE, markeredgewidth=2.6,
                              label=f"computed in step {n}", **marker))
    return handles


def draw_window(rollout, W, ax=None, tableau=False, state_after=None, title=None, legend=True):
    """Draw the rollout window of size ``W`` (frames 0..W) of a rollout pattern.

    Parameters
    ----------
    rollout : Rollout
    W : int
        The window size, 0 to :data:`MAX_WINDOW`; frames 0..W are drawn as columns.
    ax : matplotlib Axes, optional
        Draw into this axes; by default a new figure is made.
    tableau : bool
        Write T((i, v)), the update step at which node v of frame i is
        computed, into each node (the paper's Fig. 5).
    state_after : int, optional
        Show the state S after this many (>= 0) update steps: nodes with
        T <= state_after filled, the others hollow (Figs. 3-4); nodes computed
        in exactly that step get a thick outline.
    title : str or False, optional
        The title; by default it names the network, the rollout, W and F(R).
    legend : bool
        Show the legend below the window.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    For a pattern that is not valid there is no tableau: the window is drawn
    with its zero-delay cycle thick and dashed in every frame, ``tableau`` and
    ``state_after`` are ignored, and the title says "not valid".

    Examples
    --------
    >>> import streamnets as sn
    >>> from streamnets.viz import draw_window
    >>> net = sn.load("fig2")
    >>> fig = draw_window(sn.Rollout.streaming(net), 3, tableau=True)
    >>> fig = draw_window(sn.Rollout.sequential(net), 3, state_after=2)
    """
    rollout = checked_rollout(rollout, "draw_window")
    W = whole_number("W", W, 0, MAX_WINDOW,
                     why=f"draw_window draws windows up to W = MAX_WINDOW = {MAX_WINDOW} (a wider "
                         f"figure exceeds matplotlib's image size); for larger ones use "
                         f"Rollout.tableau(W)")
    state_after = whole_number("state_after", state_after, 0, default=True)
    net = rollout.network
    rows = layered_layout(net).rows
    row = {v: k for k, v in enumerate(rows)}
    valid = rollout.is_valid
    cycle = set(rollout.zero_delay_cycle or ())
    T = rollout.tableau(W) if valid else None
    # the node names on the left, then the frames: at least 3.6 inches for the legend's two
    # columns and the title, which are centred over the frames
    names = 0.09 * max(len(v) for v in rows) + 0.4
    frames = max(1.05 * (W + 1) + 0.6, 3.6)
    fig, ax = new_figure(ax, figsize=(names + frames, 0.7 * len(rows) + 2.0))

    window = rollout.window(W)
    keys = {(a, b) for a, b, d in window.edges(data="delay") if d == 0}
    routes = []
    for a, b, d in window.edges(data="delay"):
        p, q = (a[0], row[a[1]]), (b[0], row[b[1]])
        if d or a == b:
            rad = 0.0
        else:
            others = [(a[0], k) for k in range(len(rows)) if k not in (p[1], q[1])]
            curved = blocks_segment(p, q, others) or (b, a) in keys
            rad = _rad(abs(q[1] - p[1])) if curved else 0.0
        routes.append((a, b, d, p, q, rad))

    size = 22 if tableau and valid else 18
    arcs = [(p, q, rad) for *_, p, q, rad in routes]
    for a, b, d, p, q, rad in routes:
        marked = (a[1], b[1]) in cycle
        style = dict(color=edge_color(d), linestyle="--" if marked else "-",
                     linewidth=2.8 if marked else 1.4,
                     gid=f"edge:{a[1]}->{b[1]}:{a[0]}")
        if a == b:
            draw_self_loop(ax, p, node_size=size, angle=loop_angle(p, arcs), **style)
        else:
            draw_arrow(ax, p, q, node_size=size, rad=rad, **style)

    inputs = set(net.inputs)
    show_state = valid and state_after is not None
    for v in rows:
        for i in range(W + 1):
            t = T[v][i] if valid else None
            if show_state:
                face = FILLED_FACE if t <= state_after else NODE_FACE
                width = 2.6 if t == state_after and state_after > 0 else 1.2
            else:
                face, width = (INPUT_FACE if v in inputs else NODE_FACE), 1.2
            label = t if tableau and valid else None
            draw_node(ax, (i, row[v]), f"node:{i}:{v}", size=size, face=face, label=label,
                      text_color="white" if face == FILLED_FACE else "black",
                      fontsize=8 if t is None or t < 100 else 6, linewidth=width)

    ax.set_xlim(-0.6, W + 0.6)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xticks(range(W + 1))
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("frame")
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title is not False:
        if title is None:
            title = f"{net.name}, {rollout.name} rollout, window W = {W}"
            if not valid:
                title += (f"\nnot valid: the cycle {cycle_text(rollout.zero_delay_cycle)} "
                          f"has no streaming edge")
            else:
                title += f", F(R) = {rollout.inference_factor}"
                if show_state:
                    title += f"\nstate after {state_after} update step{'s' * (state_after != 1)}"
        ax.set_title(title, fontsize=10, wrap=True)
    if legend:
        handles = edge_legend_handles(not valid)
        if show_state:
            handles += _state_handles(T, state_after)
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12),
                  fontsize=7, frameon=False, ncol=2)
    return fig
