"""The interface every executor shares: ``initial_state``, ``step``, ``run``."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import replace

import torch

from ..errors import SettingError, ShapeError, SpecError
from ..nn import StreamNet, StreamState
from ..nn.model import check_stream_rollout, per_input, state_error
from .schedule import Schedule

__all__ = ["Executor", "TOLERANCE", "GPU_TOLERANCE", "compare_outputs", "clip_frames", "check_clip",
           "check_model"]


class Executor:
    """Stateful streaming inference of a :class:`~streamnets.nn.StreamNet`, one frame
    per :meth:`step`, with the same frames, states and outputs as ``model.step``.

    Subclasses implement :meth:`_compute` (how a frame's node updates are run);
    this class handles inputs, the state and the outputs. Executors run without
    autograd (inference); put the model in ``eval()`` mode: in training mode
    dropout would draw random numbers in an execution-dependent order.

    Forward hooks registered on the model's modules after an executor is made are
    not seen by the executors that run node kernels (all but
    :class:`ReferenceExecutor`): a kernel calls a module's ``forward`` directly
    unless the module had hooks when it was made, which saves the call overhead
    every frame. Register hooks first, or make a new executor. For the same
    reason these executors keep calling the edge and node modules they were made
    with: after replacing a module of ``model.edge_modules`` or
    ``model.node_modules``, make a new executor. Their parameters are read at
    every call, so weights changed in place or replaced
    (``load_state_dict(..., assign=True)``) are seen, except where an executor
    says otherwise (:class:`ProcessExecutor`, :class:`CudaStreamExecutor`).

    Parameters
    ----------
    model : StreamNet
    rollout : Rollout or str
        A valid pattern (default: the model's
        :attr:`~streamnets.nn.StreamNet.default_rollout`, streaming unless set).

    Examples
    --------
    >>> import torch, streamnets as sn
    >>> from streamnets.nn import StreamNet
    >>> from streamnets.parallel import ReferenceExecutor
    >>> ex = ReferenceExecutor(StreamNet(sn.load("mnist_sr")).eval())
    >>> outs = ex.run(torch.rand(2, 4, 1, 28, 28))          # (batch, time, C, H, W)
    >>> [o["prediction"] is None for o in outs]
    [True, True, False, False]
    """

    name = "executor"

    def __init__(self, model, rollout=None):
        check_model(model)
        if model.training and any(m.p for m in model.node_modules.values()):
            warnings.warn(f"{type(self).__name__}: the model is in training mode, so dropout makes its "
                          f"outputs random (and different from model.step's); call model.eval() first",
                          # the caller of the executor class, through a subclass's __init__ if it has one
                          stacklevel=2 if type(self).__init__ is Executor.__init__ else 3)
        self.model = model
        self.schedule = Schedule(model, rollout)
        self.rollout = self.schedule.rollout
        # Moves with the model (model.to keeps the Parameter objects).
        self._reference = next(model.parameters())

    @property
    def device(self):
        """The model's device."""
        return next(self.model.parameters()).device

    def initial_state(self, batch_size):
        """The empty state before frame 0 (as ``model.initial_state``)."""
        return self.model.initial_state(batch_size)

    def step(self, frame, state):
        """Consume one input frame; return ``(outputs, state)`` like ``model.step``.

        Parameters
        ----------
        frame : Tensor or dict of str to Tensor
            (batch, C, H, W) per input node.
        state : StreamState
            From :meth:`initial_state` or the previous step (not modified).

        Returns
        -------
        outputs : dict of str to Tensor or None
            Per output node its logits at this frame, None while empty. As with
            ``model.step``, they may share memory with ``state``: ``.clone()``
            them before changing them in place.
        state : StreamState
        """
        current, batch = self._frame_values(frame, state)
        outputs = dict.fromkeys(self.schedule.outputs)
        if state.frame >= 0:  # as model.step: the first frame is only loaded
            with torch.no_grad():
                try:
                    self._compute(state.values, current, outputs, state.frame + 1, batch)
                except RuntimeError as err:
                    better = state_error(self.model, state, err)
                    if better:
                        raise better from err
                    raise
            self._input_outputs(current, outputs)
        return outputs, replace(state, frame=state.frame + 1, values=tuple(current), rollout=self.rollout)

    def _frame_values(self, frame, state):
        """A frame's node values with only its inputs filled in, after checking that
        ``state`` belongs to this executor and has the frame's batch size."""
        if not isinstance(state, StreamState) or state.names != self.schedule.names:
            raise SpecError("state must come from this executor's initial_state() or step()",
                            field="state")
        check_stream_rollout(state, self.rollout)
        inputs, (batch,) = self.model._inputs(frame, ("batch",))
        if batch != state.batch_size:
            raise ShapeError(f"the frame has batch size {batch} but the state was made for "
                             f"{state.batch_size}; call initial_state({batch})")
        current = [None] * len(self.schedule.names)
        for i, x in inputs:
            current[i] = x
        return current, batch

    def _input_outputs(self, current, outputs):
        """Output nodes that are inputs put out the frame itself."""
        for o in self.schedule.outputs:
            if o in self.schedule.inputs:
                outputs[o] = current[self.schedule.index[o]]

    def _compute(self, previous, current, outputs, frame, batch):  # pragma: no cover - abstract
        """Fill ``current`` (node values of ``frame``) and ``outputs`` (logits) from
        ``previous`` (values of the frame before); inputs are already in ``current``."""
        raise NotImplementedError

    def run(self, frames, state=None):
        """Step through every frame of ``frames``; the outputs of each frame, in order.

        ``frames``: (batch, time, C, H, W), or a dict of them per input. Starts from
        ``state`` or the initial state.
        """
        return self.steps(frames, state)[0]

    def steps(self, frames, state=None):
        """Like :meth:`run`, and the state after the last frame too:
        ``(outputs per frame, state)``, to go on from where the clip ends."""
        length, batch, pick = clip_frames(frames, self.rollout.network)
        state = self.initial_state(batch) if state is None else state
        results = []
        for t in range(length):
            outputs, state = self.step(pick(t), state)
            results.append(outputs)
        return results, state

    def close(self):
        """Release workers, streams or process-group resources (idempotent)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return (f"{type(self).__name__}({self.rollout.network.name!r}, rollout={self.rollout.name!r}, "
                f"groups={[len(g) for g in self.schedule.groups]})")


def check_model(model):
    """Raise :class:`~streamnets.errors.SettingError` unless ``model`` is a
    :class:`~streamnets.nn.StreamNet` (or ``torch.compile`` of one)."""
    if not isinstance(getattr(model, "_orig_mod", model), StreamNet):
        raise SettingError(f"model must be a StreamNet, got {type(model).__name__}; build one with "
                           f"streamnets.nn.StreamNet(network) and load your weights into it")


def clip_frames(frames, network=None):
    """``(length, batch, pick)`` of a clip (batch, time, C, H, W) or a dict of
    clips per input; ``pick(t)`` is frame ``t`` (a tensor, or a dict per input).

    With ``network``, first checks that ``frames`` holds a clip of every input
    of it, all of one batch size and length (:func:`check_clip`).

    Examples
    --------
    >>> length, batch, pick = clip_frames(torch.zeros(2, 5, 1, 4, 4))
    >>> length, batch, tuple(pick(0).shape)
    (5, 2, (2, 1, 4, 4))
    """
    if network is not None:
        check_clip(frames, network)
    if isinstance(frames, Mapping):
        first = next(iter(frames.values()))
        return first.shape[1], first.shape[0], lambda t: {k: x[:, t] for k, x in frames.items()}
    return frames.shape[1], frames.shape[0], lambda t: frames[:, t]


def random_clip(model, batch, count, device, seed):
    """A clip of ``count`` uniform random frames of every input of ``model``'s
    network: a tensor (batch, count, ...) for one input, else a dict per input."""
    gen = torch.Generator().manual_seed(seed)
    net = model.network
    clip = {v: torch.rand(batch, count, *net.nodes[v].shape, generator=gen).to(device) for v in net.inputs}
    return clip if len(clip) > 1 else clip[net.inputs[0]]


def check_clip(frames, network):
    """Raise :class:`~streamnets.errors.ShapeError`, naming the input, unless
    ``frames`` is a clip (batch, time, C, H, W) of ``network``'s only input or a
    dict of them per input, all of the same batch size and length.

    Examples
    --------
    >>> import streamnets as sn
    >>> check_clip(torch.zeros(2, 1, 28, 28), sn.load("mnist_ff"))
    Traceback (most recent call last):
    ...
    streamnets.errors.ShapeError: input 'image' expects a clip of shape (batch, time, 1, 28, 28), got (2, 1, 28, 28): one frame? Add the time axis (frames.unsqueeze(1)) or call step()
    """
    layout = "(batch, time, C, H, W)"
    frames = per_input(network, frames, "clip", f"clip {layout}")
    sizes = None
    for v in network.inputs:
        x, spec = frames[v], network.nodes[v]
        if not isinstance(x, torch.Tensor):
            raise ShapeError(f"input {v!r}: expected a tensor {layout}, got {type(x).__name__}")

        def fits(shape):
            return shape == spec.shape or (not spec.is_spatial and shape == spec.shape[:1])

        if not fits(tuple(x.shape[2:])):
            hint = (": one frame? Add the time axis (frames.unsqueeze(1)) or call step()"
                    if fits(tuple(x.shape[1:])) else f"; clips are laid out as {layout}")
            raise ShapeError(f"input {v!r} expects a clip of shape (batch, time, "
                             f"{', '.join(map(str, spec.shape))}), got {tuple(x.shape)}{hint}")
        if sizes is None:
            sizes = tuple(x.shape[:2])
        elif tuple(x.shape[:2]) != sizes:
            raise ShapeError(f"input {v!r} has batch, time sizes {tuple(x.shape[:2])} but another input "
                             f"has {sizes}; all inputs must agree")


#: How close an executor's outputs must be to ``model.step``'s (``torch.allclose``).
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}

#: The same on a GPU, where cuDNN and cuBLAS may pick different kernels for the
#: same layer (per stream, under graph capture, by autotuning).
GPU_TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}


def compare_outputs(got, expected, tolerance=None):
    """``(match, max_abs_diff)`` of two runs' per-frame outputs (lists of dicts).

    They match when the same outputs are empty in the same frames and the others
    are close within ``tolerance`` (``torch.allclose`` keywords; default
    :data:`TOLERANCE`).

    Examples
    --------
    >>> compare_outputs([{"y": torch.ones(2)}], [{"y": torch.ones(2) + 1e-7}])[0]
    True
    >>> compare_outputs([{"y": None}], [{"y": torch.ones(2)}])
    (False, inf)
    """
    match, worst = len(got) == len(expected), 0.0
    for a_frame, b_frame in zip(got, expected):
        if a_frame.keys() != b_frame.keys():
            return False, float("inf")
        for k, a in a_frame.items():
            b = b_frame[k]
            if (a is None) != (b is None):
                return False, float("inf")
            if a is None:
                continue
            a, b = a.detach().cpu().double(), b.detach().cpu().double()
            if a.shape != b.shape:
                return False, float("inf")
            worst = max(worst, (a - b).abs().max().item())
            match = match and torch.allclose(a, b, **(tolerance or TOLERANCE))
    return match, worst
