"""Execution plans: which node updates, and which of their terms, each frame runs.

Which node of which frame is empty follows from the rollout alone: node v is
non-empty at frame i >= 1 iff some incoming edge e = (u, v) reads a non-empty
source, i.e. ``i - R(e) >= first[u]``, where ``first`` is the first non-empty frame
(:attr:`Rollout.first_frames`: 0 for inputs). Non-emptiness is monotone in i, so after the frame
``max(first) + 1`` every frame runs the same plan. A :class:`RolloutPlan` is built
once per rollout pattern and reused for every batch.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["NodeStep", "RolloutPlan"]


class NodeStep(NamedTuple):
    """One node update of a frame: its index and its active terms.

    ``terms`` holds ``(edge index, source index, delay)`` for every incoming edge
    whose source is non-empty (indices in the network's node and edge order).
    """

    node: int
    terms: tuple


class RolloutPlan:
    """The static schedule of a valid rollout over the frames of a window.

    Parameters
    ----------
    rollout : streamnets.Rollout
        A valid pattern (validated here).

    Examples
    --------
    >>> import streamnets as sn
    >>> net = sn.load("mnist_sr")
    >>> plan = RolloutPlan(sn.Rollout.streaming(net))
    >>> plan.first_frame
    {'image': 0, 'h1': 1, 'h2': 2, 'prediction': 2}
    >>> [net.edges[e].key for step in plan.steps(1) for e, _, _ in step.terms]
    [('image', 'h1')]
    """

    def __init__(self, rollout):
        self.rollout = rollout.validate()
        net = rollout.network
        self.names = tuple(net.nodes)
        index = {v: i for i, v in enumerate(self.names)}
        self.inputs = tuple(index[v] for v in net.inputs)
        inputs = set(net.inputs)
        self.order = tuple(index[v] for v in rollout.frame_order if v not in inputs)
        # Incoming edges per node, in edge order: (edge index, source index, delay).
        self.in_terms = [[] for _ in self.names]
        for j, (e, d) in enumerate(zip(net.edges, rollout.bits)):
            self.in_terms[index[e.target]].append((j, index[e.source], d))
        self.first_frame = rollout.first_frames
        self.steady = max(self.first_frame.values()) + 1
        self._steps = [self._frame_steps(i) for i in range(self.steady + 1)]
        self._tensors = {}

    def _frame_steps(self, i):
        if i == 0:
            return ()
        first = [self.first_frame[v] for v in self.names]
        steps = []
        for v in self.order:
            terms = tuple(t for t in self.in_terms[v] if i - t[2] >= first[t[1]])
            if terms:
                steps.append(NodeStep(v, terms))
        return tuple(steps)

    def steps(self, frame):
        """The node updates of ``frame`` (>= 1) in computation order; () for frame 0."""
        return self._steps[min(frame, self.steady)]

    def output_tensors(self, frames, device):
        """``({output: mask}, {output: update_step})`` over frames 0..frames-1: fresh
        copies of cached tensors (a caller may change them in place).

        ``mask`` is True where the output is non-empty (never at frame 0) and
        ``update_step`` holds the update step at which that frame's output is
        available in stateful inference (:meth:`Rollout.output_steps`; 0 where
        masked).
        """
        key = (frames, str(device))
        if key not in self._tensors:
            if len(self._tensors) > 64:
                self._tensors.clear()
            masks, steps = {}, {}
            for o, row in self.rollout.output_steps(frames).items():
                masks[o] = torch.tensor([s is not None for s in row], dtype=torch.bool, device=device)
                steps[o] = torch.tensor([s or 0 for s in row], dtype=torch.long, device=device)
            self._tensors[key] = (masks, steps)
        masks, steps = self._tensors[key]
        return {o: m.clone() for o, m in masks.items()}, {o: s.clone() for o, s in steps.items()}
