"""The StreamNet module: a network's edges and nodes as PyTorch, run under a rollout."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import torch
from torch import nn
from torch.nn.modules import module as _module_mod

from ..errors import DeviceError, ShapeError, SpecError, whole_number
from ..rollout import Rollout, _edge_list
from ..spec import load
from .edges import edge_transform
from .node import NodeUpdate
from .plan import RolloutPlan

__all__ = ["StreamNet", "StreamOutput", "StreamState", "per_input", "check_floating"]


def per_input(network, value, what, layout):
    """``value`` as ``{input name: value}``: a dict naming exactly the inputs of
    ``network``, or one value when it has one input; else a
    :class:`~streamnets.errors.ShapeError` that says what to pass (``what``, e.g.
    "frames" or "clip", and ``layout``, its expected form, are for the message).

    Examples
    --------
    >>> import streamnets as sn
    >>> per_input(sn.load("mnist_ff"), {"img": 0}, "frames", "tensor (batch, C, H, W)")
    Traceback (most recent call last):
    ...
    streamnets.errors.ShapeError: unknown input 'img'; network 'mnist_ff' takes inputs image, each a tensor (batch, C, H, W)
    """
    if not isinstance(value, Mapping):
        if len(network.inputs) != 1:
            raise ShapeError(f"network {network.name!r} has inputs {', '.join(network.inputs)}; pass a "
                             f"dict {{input name: {layout}}}")
        return {network.inputs[0]: value}
    unknown = [k for k in value if k not in network.inputs]
    missing = [k for k in network.inputs if k not in value]
    if unknown or missing:
        problem = f"unknown input {unknown[0]!r}" if unknown else f"no {what} for input {missing[0]!r}"
        raise ShapeError(f"{problem}; network {network.name!r} takes inputs {', '.join(network.inputs)}, "
                         f"each a {layout}")
    return value


def check_floating(name, x):
    """Raise :class:`~streamnets.errors.ShapeError` unless the frames ``x`` of input
    ``name`` are floating point: a cast would take uint8 pixels 0..255 as they are,
    where the networks expect values in [0, 1].

    Examples
    --------
    >>> check_floating("image", torch.zeros(2, 1, 4, 4, dtype=torch.uint8))
    Traceback (most recent call last):
    ...
    streamnets.errors.ShapeError: input 'image': frames of dtype torch.uint8; pass floating values: x.float() / 255 for pixels 0..255 (the paper's frames are in [0, 1]), x.float() otherwise
    """
    if not x.is_floating_point():
        hint = "x.float() / 255 for pixels 0..255 (the paper's frames are in [0, 1]), x.float() otherwise"
        raise ShapeError(f"input {name!r}: frames of dtype {x.dtype}; pass floating values: {hint}")


_GLOBAL_HOOKS = ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                 "_global_backward_pre_hooks", "_global_forward_hooks_always_called")
_MAX_PLANS = 256  # distinct patterns cached per model (a sweep over all valid ones stays cached)


@dataclass
class StreamOutput:
    """What a windowed pass returns.

    Attributes
    ----------
    logits : dict of str to Tensor
        Per output node, (batch, time, C) for dense outputs and (batch, time, C, H, W)
        for spatial ones. Softmax outputs report the pre-activation (feed it to
        cross entropy); other outputs their value. Empty frames are zero.
    mask : dict of str to Tensor
        Per output, bool (time,): True where the frame carries a response (never
        frame 0). The first True is the rollout's first-response frame.
    update_step : dict of str to Tensor
        Per output, long (time,): the update step at which the output of frame i
        is available in stateful inference, :meth:`Rollout.output_steps` (the
        first response's T, then one frame every F(R) steps); 0 where masked.
    rollout : Rollout
        The pattern the pass ran under.
    first_frame : dict of str to int
        Per output, the first responding frame (the rollout's first response);
        every later frame responds too.
    states : list of dict, optional
        With ``return_states=True``: per frame, every node's value (None if empty).

    Examples
    --------
    >>> import torch, streamnets as sn
    >>> model = StreamNet(sn.load("fig2")).eval()
    >>> out = model(torch.rand(2, 4, 1), rollout="sequential")   # (batch, time, C)
    >>> out.first_frame, out.mask["w"].tolist(), out.update_step["w"].tolist()
    ({'w': 1}, [False, True, True, True], [0, 2, 4, 6])
    >>> out.responses().shape                                    # frames 1..3
    torch.Size([2, 3, 8])
    """

    logits: dict
    mask: dict
    update_step: dict
    rollout: Rollout
    first_frame: dict
    states: list | None = field(default=None, repr=False)

    def responses(self, output=None):
        """The logits of the responding frames only: (batch, n_responses, ...), a view.

        ``output`` defaults to the only output (an error if there are several).
        Responding frames are always the last ones (from ``first_frame`` on), so
        this is a slice, not a boolean index (no device synchronisation).
        """
        if output is None:
            if len(self.logits) != 1:
                raise SpecError(f"the network has outputs {', '.join(self.logits)}; name one",
                                field="output")
            output = next(iter(self.logits))
        return self.logits[output][:, self.first_frame[output]:]


@dataclass(frozen=True)
class StreamState:
    """The node values of one frame, carried from one :meth:`StreamNet.step` to the next.

    ``frame`` is the frame the values belong to (-1 before the first step);
    ``values`` holds one tensor per node in network order, None where empty.
    Index it by node name: ``state["h1"]``. ``rollout`` is the pattern the stream
    runs: what a node's value holds depends on it, so a step under another pattern
    is refused. It is None before the first step, and in a state made by hand
    (``StreamState(frame, values, names, batch_size, device)``), which any pattern
    takes.

    Examples
    --------
    >>> import torch, streamnets as sn
    >>> model = StreamNet(sn.load("fig2")).eval()
    >>> state = model.initial_state(2)
    >>> state.frame, state.as_dict()
    (-1, {'u': None, 'v': None, 'w': None})
    >>> for t in range(2):
    ...     logits, state = model.step(torch.rand(2, 1), state)
    >>> state.frame, state["v"].shape
    (1, torch.Size([2, 8]))
    """

    frame: int
    values: tuple
    names: tuple
    batch_size: int
    device: torch.device
    rollout: object = None

    def __getitem__(self, name):
        try:
            return self.values[self.names.index(name)]
        except ValueError:
            raise SpecError(f"no node {name!r}; nodes: {', '.join(self.names)}") from None

    def as_dict(self):
        """``{node: tensor or None}``."""
        return dict(zip(self.names, self.values))

    def detach(self):
        """The same state cut from the autograd graph (truncated backpropagation)."""
        values = tuple(None if v is None else v.detach() for v in self.values)
        return replace(self, values=values)


def check_stream_rollout(state, rollout):
    """Raise :class:`~streamnets.errors.SpecError` when ``state`` was made under another
    pattern than ``rollout``: its values would be read as if ``rollout`` had made them,
    and the stream would follow neither pattern."""
    made = state.rollout
    if made is not None and made.bits != rollout.bits:
        raise SpecError(f"the state was made under rollout {made.name!r} (streaming edges "
                        f"{_edge_list(made.streaming_edges)}), but this step runs {rollout.name!r} "
                        f"(streaming edges {_edge_list(rollout.streaming_edges)}); a stream keeps its "
                        f"rollout: start one under {rollout.name!r} with "
                        f"initial_state({state.batch_size})", field="rollout")


def foreign_state_error(network, state):
    """A :class:`~streamnets.errors.ShapeError` when a value of ``state`` does not have
    its node's shape in ``network`` (a state of another network with the same node
    names, e.g. another width), else None."""
    for name, value in zip(state.names, state.values):
        expected = network.nodes[name].spec_shape
        if value is not None and tuple(value.shape[1:]) != expected:
            return ShapeError(f"the state holds {name!r} with shape {list(value.shape[1:])}, but "
                              f"this model's {name!r} has shape {list(expected)}: the state comes "
                              f"from another network; start a stream with "
                              f"initial_state({state.batch_size})")
    return None


def state_error(model, state, err):
    """The error that says why ``err`` came from stepping ``model`` from ``state``: the
    model moved since (:func:`moved_model_error`) or the state is of another network
    (:func:`foreign_state_error`); None when it is neither (torch's error stands)."""
    return moved_model_error(model, state, err) or foreign_state_error(model.network, state)


def moved_model_error(model, state, err):
    """A :class:`DeviceError` for ``err`` (raised while stepping ``model`` from
    ``state``) if the state was made before the model moved to another device or
    dtype, else None (torch's error stands)."""
    held = next((x for x in state.values if x is not None), None)
    if held is None or isinstance(err, torch.OutOfMemoryError):
        return None
    weight = next(model.parameters())
    if held.device == weight.device and (  # under autocast the dtypes differ by design
            held.dtype == weight.dtype or torch.is_autocast_enabled(held.device.type)):
        return None
    return DeviceError(f"the state holds {held.dtype} values on {held.device}, but the model is "
                       f"now {weight.dtype} on {weight.device}; after moving a model start a new "
                       f"stream with initial_state({state.batch_size})")


def _fast_call(module):
    """``module.forward`` when no hook is registered on it or globally, else ``module``.

    Skips ``nn.Module.__call__``'s bookkeeping (a microsecond or two per call, and a
    window pass makes a few per node and frame); with hooks the full call runs them.
    """
    hooked = (module._forward_hooks or module._forward_pre_hooks or module._backward_hooks
              or module._backward_pre_hooks or any(
                  getattr(_module_mod, name, None) for name in _GLOBAL_HOOKS))
    return module.__call__ if hooked else module.forward


#: Names a ModuleDict has itself (methods, and attributes such as ``training``).
_TAKEN_KEYS = frozenset(dir(nn.ModuleDict()))


def _module_key(name):
    key = name.replace(".", "_")
    return key + "_" if key in _TAKEN_KEYS else key


def _shape_text(shape):
    return ", ".join(str(s) for s in shape)


def _check_unique_keys(net, items):
    """Parameter names (``(key, what)`` pairs) must differ, else a SpecError naming both."""
    seen = {}
    for key, what in items:
        if key in seen:
            raise SpecError(f"{seen[key]} and {what} would share the parameter name {key!r} (in "
                            f"parameter names '.' becomes '_' and an edge is 'source->target'); "
                            f"rename one of their nodes", net.source, "nodes")
        seen[key] = what


class StreamNet(nn.Module):
    """A network as a PyTorch module: one transform per edge, one bias per node.

    Parameters
    ----------
    network : Network or str
        The network, or a built-in name / spec path for :func:`streamnets.load`.

    Attributes
    ----------
    default_rollout : Rollout or None
        The pattern that :meth:`forward` and :meth:`step` run when given none
        (None: the streaming rollout). :func:`streamnets.train.load_trained` sets
        it to the pattern the model was trained with.

    Notes
    -----
    Frames are indexed as in the theory. Frame 0 is the initial state: inputs hold
    their first frame, every other node is empty. At frame i >= 1 node v becomes
    ``activation(dropout(bias_v + sum_e transform_e(value of (i - R(e), source))))``,
    summing the non-empty sources only; with no non-empty source it stays empty. So
    an output carries a response exactly from the rollout's first-response frame on.

    Edges (see :mod:`streamnets.nn.edges`): into a dense node a bias-free dense
    layer on the flattened source; into a spatial node a "same" convolution with
    kernel ``rf``, strided or upsampled by the integer size ratio. Weights start
    Glorot-uniform and biases at zero, like the Keras layers of the paper's scripts.

    Under the streaming rollout every update of a frame reads only the previous
    frame, so the nodes can be updated concurrently: :meth:`frame_sources` and
    :meth:`node_update` are the per-node pieces a model-parallel executor needs.
    For speed, ``torch.compile(model)`` and ``torch.autocast`` (see
    :func:`streamnets.device.autocast`) both work; neither is on by default.

    Examples
    --------
    >>> import torch, streamnets as sn
    >>> from streamnets.nn import StreamNet
    >>> model = StreamNet(sn.load("mnist_sr")).eval()
    >>> frames = torch.rand(2, 5, 1, 28, 28)               # (batch, time, C, H, W)
    >>> out = model(frames, rollout=sn.Rollout.streaming(model.network))
    >>> out.logits["prediction"].shape
    torch.Size([2, 5, 10])
    >>> out.mask["prediction"].tolist()
    [False, False, True, True, True]
    >>> state = model.initial_state(2)
    >>> for t in range(5):
    ...     logits, state = model.step(frames[:, t], state)
    >>> torch.allclose(logits["prediction"], out.logits["prediction"][:, 4], atol=1e-6)
    True
    """

    def __init__(self, network):
        super().__init__()
        net = load(network)
        self.network = net
        self._names = tuple(net.nodes)
        self._index = {v: i for i, v in enumerate(self._names)}
        self._edge_keys = [f"{_module_key(e.source)}->{_module_key(e.target)}" for e in net.edges]
        self._node_keys = [None if v in net.inputs else _module_key(v) for v in self._names]
        _check_unique_keys(net, [(k, f"node {v}") for k, v in zip(self._node_keys, self._names) if k])
        _check_unique_keys(net, [(k, f"edge {e.source} -> {e.target}")
                                 for k, e in zip(self._edge_keys, net.edges)])
        try:
            self.edge_modules = nn.ModuleDict({
                k: edge_transform(e, net.nodes[e.source], net.nodes[e.target])
                for k, e in zip(self._edge_keys, net.edges)})
            self.node_modules = nn.ModuleDict({
                k: NodeUpdate(net.nodes[v]) for k, v in zip(self._node_keys, self._names) if k})
        except (RuntimeError, TypeError) as err:
            # the allocator's refusal, or a size beyond int64: a spec problem, not a crash
            if "allocate" not in str(err) and "Overflow" not in str(err):
                raise
            raise SpecError(f"the weights of network {net.name!r} do not fit in memory "
                            f"({str(err).splitlines()[0]}); make its nodes smaller (shape, or "
                            f"network.scaled(width)) or its receptive fields (rf)", net.source) from None
        self._outputs = tuple(self._index[o] for o in net.outputs)
        self._in_edges = {v: [(j, e.source) for j, e in enumerate(net.edges) if e.target == v]
                          for v in self._names}
        self._plans = {}
        self._named_rollouts = {}
        self.default_rollout = None

    # -- helpers ----------------------------------------------------------------------

    @property
    def device(self):
        """The device of the parameters."""
        return self._reference().device

    @property
    def dtype(self):
        """The floating dtype of the parameters."""
        return self._reference().dtype

    def _reference(self):
        return self.edge_modules._modules[self._edge_keys[0]].weight

    def _by_index(self):
        """Edge callables and node (callable, bias) pairs by index, looked up per call
        (not cached) so that module replacement and replication work."""
        edges, nodes = self.edge_modules._modules, self.node_modules._modules
        return ([_fast_call(edges[k]) for k in self._edge_keys],
                [(_fast_call(nodes[k]), nodes[k].bias) if k else None for k in self._node_keys])

    @staticmethod
    def _combine(node, terms):
        """``node`` = (update, bias): ``update`` applied to bias + the sum of ``edge(x)``
        over ``terms``."""
        update, bias = node
        (edge, x), *rest = terms
        summed = edge(x, bias)  # the bias rides along in the first conv / matmul
        for edge, x in rest:
            summed = summed.add_(edge(x))
        return update(summed)

    def resolve_rollout(self, rollout=None):
        """``rollout`` as a :class:`Rollout` of this model's network.

        Accepts a :class:`Rollout` (of this network or an equal one), a name
        (``"streaming"``, ``"sequential"``, a pattern named in the spec or the name
        of :attr:`default_rollout`), a mapping ``{edge: 0/1}``, or None for
        :attr:`default_rollout` (streaming when that is None).
        """
        default = self.default_rollout
        if rollout is None:
            rollout = "streaming" if default is None else default
        if isinstance(rollout, str):
            if default is not None and rollout == default.name:
                return Rollout.of(self.network, default)
            named = self._named_rollouts.get(rollout)
            if named is None:
                try:
                    named = self._named_rollouts[rollout] = Rollout.named(self.network, rollout)
                except SpecError as err:
                    if default is None or err.field != "rollout":
                        raise
                    raise SpecError(f"{str(err).removeprefix('rollout: ')}, or {default.name!r} (the "
                                    f"model's default_rollout)", field="rollout") from None
            return named
        return Rollout.of(self.network, rollout)

    def plan(self, rollout=None):
        """The :class:`~streamnets.nn.plan.RolloutPlan` of ``rollout``, built once per
        pattern and cached (see :meth:`resolve_rollout` for what ``rollout`` may be).

        Raises :class:`~streamnets.errors.InvalidRolloutError` for an invalid pattern.
        """
        rollout = self.resolve_rollout(rollout)
        plan = self._plans.get(rollout.bits)
        if plan is None:
            plan = RolloutPlan(rollout)
            if len(self._plans) >= _MAX_PLANS:
                self._plans.clear()
            self._plans[rollout.bits] = plan
        return plan

    def _inputs(self, frames, lead):
        """Check ``frames`` against the input nodes; ``lead`` = ("batch", "time") or ("batch",).

        Returns ``[(node index, tensor)]`` (dense inputs as (*lead, C)) and the
        leading sizes.
        """
        net = self.network
        layout = f"({', '.join(lead)}, C, H, W)"
        frames = per_input(net, frames, "frames", f"tensor {layout}")
        reference = self._reference()
        device, dtype = reference.device, reference.dtype
        result, sizes = [], None
        for name in net.inputs:
            x = frames[name]
            node = net.nodes[name]
            if not isinstance(x, torch.Tensor):
                raise ShapeError(f"input {name!r}: expected a tensor {layout}, got {type(x).__name__}")
            k = len(lead)
            ok = tuple(x.shape[k:]) == node.shape or (
                not node.is_spatial and tuple(x.shape[k:]) == node.shape[:1])
            if not ok:
                raise ShapeError(f"input {name!r} expects frames of shape ({', '.join(lead)}, "
                                 f"{_shape_text(node.shape)}), got {tuple(x.shape)}; frames are laid "
                                 f"out as {layout}")
            if 0 in x.shape[:k]:
                raise ShapeError(f"input {name!r}: got {tuple(x.shape)}, an empty "
                                 f"{' or '.join(lead)}; pass at least one sample and frame")
            check_floating(name, x)
            if sizes is None:
                sizes = tuple(x.shape[:k])
            elif tuple(x.shape[:k]) != sizes:
                raise ShapeError(f"input {name!r} has {', '.join(lead)} sizes {tuple(x.shape[:k])} "
                                 f"but another input has {sizes}; all inputs must agree")
            if not node.is_spatial:
                x = x.reshape(*x.shape[:k], node.shape[0])
            result.append((self._index[name], x.to(device=device, dtype=dtype)))
        return result, sizes

    # -- windowed rollout (training) ---------------------------------------------------

    def forward(self, frames, rollout=None, return_states=False):
        """Run frames 0..T-1 of the rollout window.

        Parameters
        ----------
        frames : Tensor or dict of str to Tensor
            (batch, time, C, H, W) per input node (dense inputs may drop H, W); a
            single input may be passed as a plain tensor. Moved to the model's
            device and dtype.
        rollout : Rollout, str or None
            The pattern (default: :attr:`default_rollout`, streaming unless set).
        return_states : bool
            Also return every node's value at every frame (``out.states``).

        Returns
        -------
        StreamOutput
        """
        rollout = self.resolve_rollout(rollout)
        plan = self.plan(rollout)
        inputs, (batch, frames_n) = self._inputs(frames, ("batch", "time"))
        edges, nodes = self._by_index()
        out_pos = {v: k for k, v in enumerate(self._outputs)}
        logits = [[None] * frames_n for _ in self._outputs]
        current = [None] * len(self._names)
        for i, x in inputs:
            current[i] = x[:, 0]
        states = [self._as_dict(current)] if return_states else None
        for t in range(1, frames_n):
            previous, current = current, [None] * len(self._names)
            for i, x in inputs:
                current[i] = x[:, t]
            for v, terms in plan.steps(t):
                value, out = self._combine(
                    nodes[v], [(edges[e], previous[u] if d else current[u]) for e, u, d in terms])
                current[v] = value
                k = out_pos.get(v)
                if k is not None:
                    logits[k][t] = out
            if return_states:
                states.append(self._as_dict(current))
        for k, v in enumerate(self._outputs):
            if v in plan.inputs:  # an input that is also an output reports its frames from 1 on
                logits[k] = [None] + [x[:, t] for i, x in inputs if i == v for t in range(1, frames_n)]
        masks, steps = plan.output_tensors(frames_n, inputs[0][1].device)
        names = self.network.outputs
        return StreamOutput(
            logits={o: self._stack(lgs, batch, o) for o, lgs in zip(names, logits)},
            mask=masks, update_step=steps, rollout=rollout,
            first_frame={o: max(plan.first_frame[o], 1) for o in names}, states=states)

    def _stack(self, frames, batch, name):
        template = next((x for x in frames if x is not None), None)
        if template is None:
            shape = self.network.nodes[name].spec_shape
            template = torch.zeros((batch, *shape), device=self.device, dtype=self.dtype)
        zeros = template.new_zeros(()).expand_as(template)
        return torch.stack([zeros if x is None else x for x in frames], dim=1)

    def _as_dict(self, values):
        return dict(zip(self._names, values))

    # -- stateful streaming inference ----------------------------------------------------

    def initial_state(self, batch_size):
        """The empty state before frame 0 (nothing loaded yet), for :meth:`step`;
        ``batch_size`` is a whole number >= 1 (:class:`~streamnets.errors.SettingError`)."""
        batch_size = whole_number("batch_size", batch_size)
        return StreamState(-1, (None,) * len(self._names), self._names, batch_size, self.device)

    def step(self, frame, state, rollout=None):
        """Advance one frame: consume input frame t, return the outputs of frame t.

        Parameters
        ----------
        frame : Tensor or dict of str to Tensor
            (batch, C, H, W) per input node, the next input frame.
        state : StreamState
            From :meth:`initial_state` or the previous call (not modified).
        rollout : Rollout, str or None
            The pattern (default: :attr:`default_rollout`, streaming unless set).
            Zero-delay edges read the frame being computed, streaming edges the state.

        Returns
        -------
        logits : dict of str to Tensor or None
            Per output, its logits at this frame (see :class:`StreamOutput`), None
            while empty. The first call only loads frame 0 and returns all None.
            An output's logits may be the very tensor its node holds in ``state``
            (no copy per frame): change them in place only after ``.clone()``, or
            the next frames read the changed values.
        state : StreamState
            The values of this frame.
        """
        plan = self.plan(rollout)
        if not isinstance(state, StreamState) or state.names != self._names:
            raise SpecError("state must come from this model's initial_state() or step()",
                            field="state")
        check_stream_rollout(state, plan.rollout)
        inputs, (batch,) = self._inputs(frame, ("batch",))
        if batch != state.batch_size:
            raise ShapeError(f"the frame has batch size {batch} but the state was made for "
                             f"{state.batch_size}; call initial_state({batch})")
        current = [None] * len(self._names)
        for i, x in inputs:
            current[i] = x
        logits = dict.fromkeys(self.network.outputs)
        if state.frame >= 0:
            edges, nodes = self._by_index()
            previous = state.values
            try:
                for v in plan.order:
                    terms = [(edges[e], previous[u] if d else current[u])
                             for e, u, d in plan.in_terms[v]]
                    terms = [(edge, x) for edge, x in terms if x is not None]
                    if terms:
                        current[v], out = self._combine(nodes[v], terms)
                        if v in self._outputs:
                            logits[self._names[v]] = out
            except RuntimeError as err:
                better = state_error(self, state, err)
                if better:
                    raise better from err
                raise
            for v in self._outputs:
                if v in plan.inputs:
                    logits[self._names[v]] = current[v]
        return logits, replace(state, frame=state.frame + 1, values=tuple(current), rollout=plan.rollout)

    # -- per-node API (model-parallel executors) ----------------------------------------

    def frame_sources(self, node, previous, current, rollout=None):
        """What each incoming edge of ``node`` reads when computing a frame.

        ``previous``: the previous frame's values (a :class:`StreamState` or a dict
        ``{node: tensor or None}``); ``current``: the values of the frame being
        computed so far (a dict; under the streaming rollout it may be empty).
        Returns ``{source: tensor or None}``.
        """
        r = self.resolve_rollout(rollout).validate()
        prev = previous.as_dict() if isinstance(previous, StreamState) else previous
        return {u: (prev if r[(u, node)] else current).get(u) for _, u in self._in_edges_of(node)}

    def _in_edges_of(self, node):
        try:
            return self._in_edges[node]
        except KeyError:
            raise SpecError(f"no node {node!r} in network {self.network.name!r}; nodes: "
                            f"{', '.join(self._names)}") from None

    def node_update(self, node, sources, return_logits=False):
        """The new value of ``node`` from the values its incoming edges read.

        Parameters
        ----------
        node : str
            A non-input node.
        sources : dict of str to Tensor or None
            Per source node of an incoming edge, the value that edge reads (see
            :meth:`frame_sources`); missing or None sources are empty.
        return_logits : bool
            Also return what an output reports (the pre-activation of softmax nodes).

        Returns
        -------
        Tensor or None (or a pair of them with ``return_logits``)
            None when every source is empty.
        """
        in_edges = self._in_edges_of(node)
        if node in self.network.inputs:
            raise SpecError(f"{node!r} is an input node; its values come from the frames, not an update")
        known = {u for _, u in in_edges}
        unknown = [u for u in sources if u not in known]
        if unknown:
            raise SpecError(f"node {node!r} has no incoming edge from {unknown[0]!r}; its sources "
                            f"are {', '.join(sorted(known))}")
        edges, nodes = self._by_index()
        terms = [(edges[j], sources[u]) for j, u in in_edges if sources.get(u) is not None]
        value = out = None
        if terms:
            value, out = self._combine(nodes[self._index[node]], terms)
        return (value, out) if return_logits else value
