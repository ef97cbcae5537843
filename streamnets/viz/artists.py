"""Drawing primitives shared by the network and window drawings.

Nodes are circle markers of a fixed size in points, so that arrows can stop
at their rim (``shrinkA``/``shrinkB`` are in points too) whatever the scale of
the axes. Every artist gets a ``gid`` (``"node:..."``, ``"edge:..."``,
``"label:..."``) so that tests and SVG output can find it.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.patches import FancyArrowPatch
from matplotlib.path import Path
from matplotlib.transforms import ScaledTranslation

from .style import NODE_EDGE, root_figure

__all__ = ["draw_node", "draw_arrow", "draw_self_loop", "blocks_segment", "free_angle",
           "arc_points", "loop_angle"]

def draw_node(ax, xy, gid, size=20, face="white", label=None, text_color="black",
              fontsize=9, linewidth=1.2):
    """A circle marker of diameter ``size`` points at ``xy`` with an optional
    centred label; returns the marker (a Line2D)."""
    (marker,) = ax.plot([xy[0]], [xy[1]], marker="o", markersize=size, markerfacecolor=face,
                        markeredgecolor=NODE_EDGE, markeredgewidth=linewidth, linestyle="none",
                        zorder=3, gid=gid)
    if label is not None:
        ax.text(xy[0], xy[1], str(label), ha="center", va="center", fontsize=fontsize,
                color=text_color, zorder=4, gid=f"label:{gid.split(':', 1)[1]}")
    return marker


def draw_arrow(ax, p, q, color, gid, node_size=20, rad=0.0, linestyle="-", linewidth=1.5,
               head=11):
    """An arrow from node ``p`` to node ``q`` (data coordinates), straight or, for
    ``rad`` != 0, a circular-ish arc bulging ``rad`` times the distance."""
    shrink = node_size / 2 + 1
    arrow = FancyArrowPatch(p, q, connectionstyle=f"arc3,rad={rad}", color=color,
                            linestyle=linestyle, linewidth=linewidth, shrinkA=shrink,
                            shrinkB=shrink, zorder=2, gid=gid, arrowstyle="-|>",
                            mutation_scale=head)
    ax.add_patch(arrow)
    return arrow


def draw_self_loop(ax, xy, color, gid, node_size=20, angle=0.0, linestyle="-", linewidth=1.5,
                   head=11):
    """A loop from node ``xy`` back to itself, leaving in direction ``angle``
    (radians); drawn in inches around the node, its size in proportion to it."""
    r = (node_size / 2 + 1) / 72
    reach = 2.6 * r
    spread = math.radians(38)
    a0, a1 = angle + spread, angle - spread
    verts = [(r * math.cos(a0), r * math.sin(a0)),
             (reach * 1.25 * math.cos(a0 + 0.1), reach * 1.25 * math.sin(a0 + 0.1)),
             (reach * 1.25 * math.cos(a1 - 0.1), reach * 1.25 * math.sin(a1 - 0.1)),
             (r * math.cos(a1), r * math.sin(a1))]
    path = Path(verts, [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4])
    trans = root_figure(ax).dpi_scale_trans + ScaledTranslation(xy[0], xy[1], ax.transData)
    loop = FancyArrowPatch(path=path, transform=trans, color=color, linestyle=linestyle,
                           linewidth=linewidth, zorder=2, gid=gid, arrowstyle="-|>",
                           mutation_scale=head)
    ax.add_patch(loop)
    return loop


def blocks_segment(p, q, others, clearance=0.25):
    """True when a point of ``others`` lies within ``clearance`` of the segment p-q
    (a straight arrow would cross that node)."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    d = q - p
    length2 = float(d @ d)
    for o in others:
        o = np.asarray(o, float)
        t = 0.0 if length2 == 0 else float(np.clip((o - p) @ d / length2, 0, 1))
        if 0 < t < 1 and np.linalg.norm(p + t * d - o) < clearance:
            return True
    return False


def free_angle(xy, points):
    """The middle of the widest angular gap between the directions from ``xy``
    to ``points`` (where a self-loop collides with nothing); 0 if none."""
    angles = sorted({round(math.atan2(b - xy[1], a - xy[0]), 6) for a, b in points
                     if math.hypot(a - xy[0], b - xy[1]) > 1e-9})
    if not angles:
        return 0.0
    if len(angles) == 1:
        return angles[0] + math.pi
    gaps = [(angles[(i + 1) % len(angles)] - a) % (2 * math.pi) for i, a in enumerate(angles)]
    i = int(np.argmax(gaps))
    return angles[i] + gaps[i] / 2


def arc_points(p, q, rad, n=20):
    """Points along the arc3 curve of :func:`draw_arrow` (a quadratic Bezier)."""
    (x1, y1), (x2, y2) = p, q
    c = np.array([(x1 + x2) / 2 + rad * (y2 - y1), (y1 + y2) / 2 - rad * (x2 - x1)])
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * np.asarray(p, float) + 2 * t * (1 - t) * c + t ** 2 * np.asarray(q, float)


def loop_angle(xy, routes, avoid=(), reach=0.6):
    """The direction for a self-loop at ``xy`` that keeps clear of the arrows
    ``routes`` (``(p, q, rad)`` triples) and of the points ``avoid``."""
    v = np.asarray(xy, float)
    near = [pt for p, q, rad in routes if p != q
            for pt in arc_points(p, q, rad) if np.hypot(*(pt - v)) < reach]
    return free_angle(xy, near + [tuple(a) for a in avoid])
