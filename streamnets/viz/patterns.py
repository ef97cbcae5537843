"""A grid of all rollout patterns of a network (or a random sample of them)."""

from __future__ import annotations

import math
import random
import textwrap

from matplotlib.figure import FigureBase
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from ..errors import SettingError, StreamnetsError, whole_number
from ..rollout import checked_network
from .network import draw_network
from .style import INVALID_FACE, STREAMING, checked_axes, root_figure

__all__ = ["draw_patterns", "pattern_sample", "MAX_PATTERNS"]

#: The most panels draw_patterns draws: about 40 a second, so 1024 take half a minute.
MAX_PATTERNS = 1024


def pattern_sample(net, max_patterns=64, seed=0):
    """``(patterns, sampled)``: all 2^|E| patterns of ``net`` in enumeration order
    if there are at most ``max_patterns``, else ``max_patterns`` distinct ones
    drawn at random with ``seed`` (sorted in enumeration order).

    Examples
    --------
    >>> import streamnets as sn
    >>> patterns, sampled = pattern_sample(sn.load("fig2"))
    >>> len(patterns), sampled, sum(r.is_valid for r in patterns)
    (32, False, 12)
    >>> patterns, sampled = pattern_sample(sn.load("cifar10_dsr6"), max_patterns=16)
    >>> len(set(patterns)), sampled
    (16, True)
    """
    from ..rollout import Rollout
    from ..theory import all_patterns

    n = len(net.edges)
    if 2 ** n <= max_patterns:
        return list(all_patterns(net)), False
    rng = random.Random(seed)
    codes = set()
    while len(codes) < max_patterns:
        codes.add(rng.getrandbits(n))
    # bit j (from the left) is edge j, as in itertools.product enumeration order
    return [Rollout.from_bits(net, [int(c) for c in format(code, f"0{n}b")])
            for code in sorted(codes)], True


def _counts_text(net):
    """"N patterns, V valid, C model-parallel classes", or why V and C are not known."""
    from ..theory import count_patterns

    try:
        counts = count_patterns(net)
    except StreamnetsError:  # a strongly connected part too large to enumerate
        return (f"2^{len(net.edges)} patterns (the valid ones not counted: a strongly connected "
                f"part is too large to enumerate)")
    return (f"{counts.total} patterns, {counts.valid} valid, {counts.model_parallel_classes} "
            f"model-parallel classes")


def _bits(r):
    return "".join(map(str, r.bits))


def draw_patterns(net, max_patterns=64, fig=None, ax=None, ncols=None, seed=0):
    """Draw every rollout pattern of ``net`` as a small network in a grid.

    Edges with R = 1 are red, R = 0 blue; panels of patterns that are not
    valid have a grey background and a cross (their zero-delay cycle dashed).
    Each panel is titled with its delays in edge order and, when valid, F(R);
    patterns equally model-parallel to the streaming rollout (F = 1) have a red
    panel title. The figure title gives the exact counts.

    Parameters
    ----------
    net : Network
    max_patterns : int
        Draw all 2^|E| patterns if there are at most this many (1 to
        :data:`MAX_PATTERNS`), else a
        random sample of this many (counts in the title stay exact; where a
        strongly connected part is too large to enumerate, the title says so).
    fig : matplotlib Figure or SubFigure, optional
        Draw the grid into this figure.
    ax : matplotlib Axes, optional
        Replace this axes, a grid cell, by the grid (it takes the axes' place in its
        figure). The figure's title is set only if it has none.
    ncols : int, optional
        Panels per row (default: up to 8; never more than there are panels).
    seed : int
        Seed of the random sample.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import streamnets as sn
    >>> from streamnets.viz import draw_patterns
    >>> fig = draw_patterns(sn.load("fig2"))   # 32 patterns, 12 valid
    """
    net = checked_network(net, "draw_patterns", field="net")
    max_patterns = whole_number("max_patterns", max_patterns, 1, MAX_PATTERNS,
                                why=f"draw_patterns draws up to MAX_PATTERNS = {MAX_PATTERNS} panels "
                                    f"(each is a network drawing); for counts use "
                                    f"streamnets.theory.count_patterns")
    ncols = whole_number("ncols", ncols, 1, default=True)
    patterns, sampled = pattern_sample(net, max_patterns, seed)
    ncols = min(ncols or 8, len(patterns))  # no empty columns
    nrows = math.ceil(len(patterns) / ncols)
    if ax is not None:
        fig = checked_axes(ax).figure  # the (sub)figure the axes lives in
        spec = ax.get_subplotspec()
        if spec is None:
            raise SettingError("draw_patterns: ax must be a grid cell (from add_subplot or "
                               "subplots) to split into one panel per pattern; an axes placed "
                               "by add_axes has none: pass fig= instead")
        grid = spec.subgridspec(nrows, ncols)
        ax.remove()
    else:
        if fig is not None and not isinstance(fig, FigureBase):
            raise SettingError(f"fig must be a matplotlib Figure or SubFigure, got "
                               f"{type(fig).__name__}; pass an axes as ax= to draw in its place")
        if fig is None:
            from matplotlib.figure import Figure

            fig = Figure(figsize=(1.35 * ncols, 1.7 * nrows + 0.8), layout="constrained")
        grid = fig.add_gridspec(nrows, ncols)
    for k, r in enumerate(patterns):
        sub = fig.add_subplot(grid[k // ncols, k % ncols])
        valid = r.is_valid
        # at most 16 delays per line: a longer row runs into the next panel
        label = "\n".join(textwrap.wrap(_bits(r), 16)) + "\n" + (
            f"F = {r.inference_factor}" if valid else "not valid")
        draw_network(net, r, ax=sub, title=False, legend=False, node_size=12)
        sub.set_title(label, fontsize=7,
                      color=STREAMING if valid and r.inference_factor == 1 else "black")
        sub.set_gid(f"pattern:{_bits(r)}:{'valid' if valid else 'invalid'}")
        sub.add_patch(Rectangle((0, 0), 1, 1, transform=sub.transAxes, zorder=0,
                                facecolor="white" if valid else INVALID_FACE, edgecolor="#bbbbbb",
                                linewidth=0.6, clip_on=False, gid="panel-background"))
        if not valid:
            for xs in ((0.05, 0.95), (0.95, 0.05)):
                sub.add_line(Line2D(xs, (0.05, 0.95), transform=sub.transAxes, color="#888888",
                                    linewidth=1.0, zorder=1, gid="invalid-cross"))
    order = ", ".join(f"{e.source}\u2192{e.target}" for e in net.edges)
    shown = f" (a random {len(patterns)} shown)" if sampled else ""
    if ax is None or not fig.get_suptitle():  # a figure the caller titled keeps its title
        fig.suptitle(f"{net.name}: {_counts_text(net)}{shown}\n"
                     f"delays R in edge order {order}; grey and crossed: not valid; "
                     f"red title: F = 1", fontsize=9, wrap=True)
    return root_figure(fig)
