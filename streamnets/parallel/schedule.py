"""What one frame computes, split into parallel groups and per-node kernels.

A frame's non-input nodes fall into *update steps*: the tableau value T((1, v)) in
the rollout window of size 1. Nodes of the same step never read each other within
the frame (a zero-delay edge u -> v gives T(v) > T(u)), so they can run together;
the steps run in order. Under the streaming rollout there is one step: every node
of a frame reads only the previous frame.

A :class:`NodeKernel` is one node's update bound to the model's modules once, so
that an executor pays no per-call lookup (``StreamNet.node_update`` looks up every
edge module on every call, about 40 µs, too much for a frame of 0.3 ms).
"""

from __future__ import annotations

from ..errors import SpecError
from ..nn.model import _fast_call

__all__ = ["NodeKernel", "Schedule"]


def _bound(module):
    """``module.forward`` unless hooks are registered on it or globally (then the
    full call), as ``StreamNet.step`` calls it."""
    return _fast_call(module)


class NodeKernel:
    """One node's update: bias + sum of its edge transforms, dropout, activation.

    The arithmetic is the engine's, term for term and in the same order (the bias
    rides in the first non-empty term, the others are added in place, in edge
    order), so the results are bitwise those of ``StreamNet.step`` for the same
    intra-op thread count.

    Parameters
    ----------
    model : StreamNet
    node : str
        A non-input node.
    terms : list of (int, int, int)
        ``(edge index, source index, delay)`` per incoming edge, as in
        :attr:`RolloutPlan.in_terms <streamnets.nn.RolloutPlan>`.

    Examples
    --------
    >>> import streamnets as sn
    >>> from streamnets.nn import StreamNet
    >>> model = StreamNet(sn.load("fig2")).eval()
    >>> kernel = Schedule(model, "streaming").kernels["w"]
    >>> kernel.name, kernel.index
    ('w', 2)
    """

    __slots__ = ("name", "index", "terms", "update", "_parameters", "is_output")

    def __init__(self, model, node, terms):
        edges = list(model.edge_modules.values())
        if len(edges) != len(model.network.edges):  # pragma: no cover - engine invariant
            raise SpecError("the model's edge modules do not match its network's edges")
        updates = {m.name: m for m in model.node_modules.values()}
        self.name = node
        self.index = list(model.network.nodes).index(node)
        self.terms = tuple((_bound(edges[e]), u, d) for e, u, d in terms)
        self.update = _bound(updates[node])
        # The bias is looked up per call, as by StreamNet.step: a Parameter replaced
        # later (load_state_dict(assign=True)) is seen, as the edges' weights are.
        self._parameters = updates[node]._parameters
        self.is_output = node in model.network.outputs

    @property
    def bias(self):
        """The node's bias (its update module's, looked up at every call)."""
        return self._parameters["bias"]

    def __call__(self, previous, current):
        """``(value, logits)`` of this node from the previous frame's values and the
        current frame's values so far (sequences indexed like the network's nodes);
        ``(None, None)`` when every source is empty."""
        summed, bias = None, self._parameters["bias"]
        for edge, u, d in self.terms:
            x = previous[u] if d else current[u]
            if x is None:
                continue
            summed = edge(x, bias) if summed is None else summed.add_(edge(x))
        if summed is None:
            return None, None
        return self.update(summed)

    def run(self, previous, current, outputs):
        """Update this node in place: its value into ``current``, its logits into
        ``outputs`` (a dict by node name) when it is an output node."""
        value, logits = self(previous, current)
        current[self.index] = value  # each node its own slot: threads need no lock
        if self.is_output:
            outputs[self.name] = logits


class Schedule:
    """The parallel structure of one frame under a rollout, with its node kernels.

    Parameters
    ----------
    model : StreamNet
    rollout : Rollout or str
        A valid pattern, or what ``model.resolve_rollout`` takes (None: the
        model's default rollout).

    Attributes
    ----------
    rollout : Rollout
    plan : RolloutPlan
        The engine's plan (first non-empty frame per node).
    groups : tuple of tuple of str
        The non-input nodes by update step (tableau value of frame 1, window of
        size 1), steps in order, nodes in the engine's computation order.
    kernels : dict of str to NodeKernel
    readers : dict of str to tuple of (str, int)
        Per node, the ``(target, delay)`` of its outgoing edges.

    Examples
    --------
    >>> import streamnets as sn
    >>> from streamnets.nn import StreamNet
    >>> model = StreamNet(sn.load("cifar10_dsr0"))
    >>> Schedule(model, "streaming").groups
    (('h1', 'h2', 'hd', 'prediction'),)
    >>> Schedule(model, "sequential").groups
    (('h1',), ('h2',), ('hd',), ('prediction',))
    """

    def __init__(self, model, rollout=None):
        self.model = model
        self.rollout = model.resolve_rollout(rollout)
        self.plan = model.plan(self.rollout)
        net = self.rollout.network
        self.names = tuple(net.nodes)
        self.index = {v: i for i, v in enumerate(self.names)}
        steps = self.rollout.tableau(1)
        order = [self.names[i] for i in self.plan.order]
        by_step = {}
        for v in order:
            by_step.setdefault(steps[v][1], []).append(v)
        self.groups = tuple(tuple(by_step[s]) for s in sorted(by_step))
        self.kernels = {v: NodeKernel(model, v, self.plan.in_terms[self.index[v]]) for v in order}
        self.readers = {v: tuple((e.target, b) for e, b in zip(net.edges, self.rollout.bits)
                                 if e.source == v) for v in self.names}
        self.outputs = tuple(net.outputs)
        self.inputs = tuple(net.inputs)

    @property
    def width(self):
        """The largest number of nodes in one update step (the useful workers)."""
        return max((len(g) for g in self.groups), default=1)

    def nonempty(self, node, frame):
        """Whether ``node`` holds a value at ``frame`` (0 = the first frame loaded).

        Inputs always do; another node from its first non-empty frame on (the
        first frame a path from an input reaches it), never at frame 0.

        Examples
        --------
        >>> import streamnets as sn
        >>> from streamnets.nn import StreamNet
        >>> s = Schedule(StreamNet(sn.load("mnist_ff")), "streaming")
        >>> [s.nonempty("prediction", t) for t in range(4)]
        [False, False, False, True]
        """
        if node in self.inputs:
            return frame >= 0
        return frame >= max(self.plan.first_frame[node], 1)

    def values_shape(self, node, batch):
        """The shape of ``node``'s value for a batch: (B, C, H, W), or (B, C) if dense."""
        spec = self.rollout.network.nodes[node]
        return (batch, *spec.shape) if spec.is_spatial else (batch, spec.shape[0])
