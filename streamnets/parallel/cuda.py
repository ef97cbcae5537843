"""GPU model parallelism: one CUDA stream per node, events as the frame barrier.

Per frame, the caller's stream records a *start* event (the inputs and the previous
frame are ready); every node's stream waits on it and, for zero-delay edges, on the
*done* events of the nodes it reads in this frame; the caller's stream finally waits
on every node's done event. Under the streaming rollout all node streams run
concurrently. Python still issues the kernels one after the other, so the gain
needs kernels long enough to overlap; ``graphs=True`` records the steady-state
frame once as a CUDA graph and replays it, which removes the launch cost.
"""

from __future__ import annotations

import torch

from ..device import DeviceError
from .base import Executor

__all__ = ["CudaStreamExecutor", "cuda_unavailable_reason", "capture", "replay_seconds"]


def cuda_unavailable_reason():
    """Why CUDA cannot be used here, or None when it can.

    Examples
    --------
    >>> reason = cuda_unavailable_reason()
    >>> reason is None or isinstance(reason, str)
    True
    """
    if torch.version.cuda is None:
        return f"this PyTorch {torch.__version__} was built without CUDA"
    if not torch.cuda.is_available():
        return "no CUDA GPU is visible (check the driver and CUDA_VISIBLE_DEVICES)"
    return None


class CudaStreamExecutor(Executor):
    """A frame's node updates on one CUDA stream each.

    Parameters
    ----------
    model : StreamNet
        On a CUDA device (``model.to("cuda")``).
    rollout : Rollout or str
        Any valid pattern (default: streaming).
    graphs : bool
        Capture the steady-state frame (every node non-empty) as a CUDA graph per
        batch size and replay it; earlier frames run eagerly. Replays copy the
        frame and the previous state into the graph's buffers and copy its
        results out (the node values and the outputs in one buffer each), so
        states stay independent of each other as with ``model.step``.

    Raises
    ------
    DeviceError
        Without CUDA, or when the model is not on a CUDA device.

    Notes
    -----
    Outputs equal ``model.step``'s up to floating-point rounding: cuDNN and cuBLAS
    may pick different kernels for the same layer (autotuning, TF32, graph
    capture). The GPU tests turn TF32 off and allow ``GPU_TOLERANCE`` (1e-4
    absolute and relative).

    A captured graph reads the parameters' storage as it was at capture: when
    their data move (``model.half()``, ``param.data = ...``; ``load_state_dict``
    copies in place) the next frame captures anew. After replacing a
    ``Parameter`` object itself, make a new executor: the node kernels hold the
    biases they were built with. One graph is kept per batch size; :meth:`close`
    frees them.

    Examples
    --------
    >>> import streamnets as sn
    >>> from streamnets.nn import StreamNet
    >>> model = StreamNet(sn.load("cifar10_dsr6")).to("cuda").eval()  # doctest: +SKIP
    >>> ex = CudaStreamExecutor(model, "streaming", graphs=True)      # doctest: +SKIP
    >>> outputs = ex.run(torch.rand(16, 8, 3, 32, 32, device="cuda"))  # doctest: +SKIP
    """

    name = "cuda-streams"
    _device_type = "cuda"  # a seam for the tests' simulated CUDA

    def __init__(self, model, rollout="streaming", graphs=False):
        reason = cuda_unavailable_reason()
        if reason is not None:
            raise DeviceError(f"CudaStreamExecutor needs a CUDA GPU: {reason}; use ThreadExecutor "
                              f"on the CPU")
        device = next(model.parameters()).device
        if device.type != self._device_type:
            raise DeviceError(f"CudaStreamExecutor needs the model on a CUDA device, but it is on "
                              f"{device}; call model.to('cuda') first")
        super().__init__(model, rollout)
        self._device = device
        order = [v for g in self.schedule.groups for v in g]
        self._streams = {v: torch.cuda.Stream(device) for v in order}
        self._done = {v: torch.cuda.Event() for v in order}
        self._start = torch.cuda.Event()
        # Per node, the sources it reads within the frame (zero-delay edges from
        # non-input nodes): their done events must precede it.
        names, plan = self.schedule.names, self.schedule.plan
        self._waits = {}
        for v in order:
            sources = {names[u] for _, u, d in plan.in_terms[self.schedule.index[v]] if not d}
            self._waits[v] = tuple(sorted(sources & set(order)))
        self.graphs = bool(graphs)
        self._graphs = {}
        # Listed once: walking the modules costs more per frame than a replay.
        self._tensors = (*model.parameters(), *model.buffers())

    def _launch(self, previous, current, outputs, caller):
        kernels = self.schedule.kernels
        self._start.record(caller)
        for group in self.schedule.groups:
            for v in group:
                stream = self._streams[v]
                stream.wait_event(self._start)
                for u in self._waits[v]:
                    stream.wait_event(self._done[u])
                with torch.cuda.stream(stream):
                    value, logits = kernels[v](previous, current)
                self._done[v].record(stream)
                current[kernels[v].index] = value
                if kernels[v].is_output:
                    outputs[v] = logits
        for v in self._streams:
            caller.wait_event(self._done[v])

    def _compute(self, previous, current, outputs, frame, batch):
        # The model's GPU, also when it is not the current device.
        with torch.cuda.device(self._device):
            caller = torch.cuda.current_stream(self._device)
            # From frame steady + 1 on, the previous frame is complete too: every
            # later frame runs the same kernels on same-shaped tensors.
            if self.graphs and frame > self.schedule.plan.steady:
                self._replay(previous, current, outputs, batch, caller)
            else:
                self._eager(previous, current, outputs, caller)

    def close(self):
        """Free the captured CUDA graphs and their buffers (idempotent)."""
        self._drop()

    def _eager(self, previous, current, outputs, caller):
        self._launch(previous, current, outputs, caller)
        for v in self.schedule.outputs:
            # Produced on a node stream, consumed on the caller's: keep the memory
            # from being reused by the node stream before the caller is done with it.
            if outputs[v] is not None:
                outputs[v].record_stream(caller)
        for i, value in enumerate(current):
            if value is not None and self.schedule.names[i] not in self.schedule.inputs:
                value.record_stream(caller)

    # -- CUDA graphs ---------------------------------------------------------------

    def _capture(self, previous, current):
        """Record one steady-state frame as a :class:`_FrameGraph`."""
        names, index, inputs = self.schedule.names, self.schedule.index, self.schedule.inputs
        static_prev = [None if x is None else x.clone() for x in previous]
        static_in = [None] * len(names)
        for v in inputs:
            static_in[index[v]] = current[index[v]].clone()
        static_cur, static_outs = list(static_in), {}
        # The first (warm-up) call finds what a frame produces and lays out the
        # buffers that the graph packs it into.
        entry = _FrameGraph(static_prev, static_in)

        def frame():
            self._launch(static_prev, static_cur, static_outs, torch.cuda.current_stream(self._device))
            if entry.states is None:
                entry.state_nodes = [i for i, v in enumerate(names)
                                     if v not in inputs and static_cur[i] is not None]
                entry.output_nodes = [v for v in self.schedule.outputs
                                      if v not in inputs and static_outs.get(v) is not None]
                entry.states = _Packed([static_cur[i] for i in entry.state_nodes])
                entry.outputs = _Packed([static_outs[v] for v in entry.output_nodes])
            entry.states.pack([static_cur[i] for i in entry.state_nodes])
            entry.outputs.pack([static_outs[v] for v in entry.output_nodes])

        entry.graph = capture(frame, self._device)
        return entry

    def _storage(self):
        """Where the parameters and buffers live now: a graph replays these addresses."""
        return tuple(t.data_ptr() for t in self._tensors)

    def _replay(self, previous, current, outputs, batch, caller):
        storage = self._storage()
        entry = self._graphs.get(batch)
        if entry is None or entry.storage != storage:
            self._drop(batch)
            entry = self._graphs[batch] = self._capture(previous, current)
            entry.storage = storage
        dst = [d for d, s in zip(entry.previous, previous) if d is not None and s is not None]
        src = [s for d, s in zip(entry.previous, previous) if d is not None and s is not None]
        for i, x in enumerate(entry.inputs):
            if x is not None:
                dst.append(x)
                src.append(current[i])
        torch._foreach_copy_(dst, src)
        entry.graph.replay()
        for i, value in zip(entry.state_nodes, entry.states.unpack()):
            current[i] = value
        for v, value in zip(entry.output_nodes, entry.outputs.unpack()):
            outputs[v] = value

    def _drop(self, batch=None):
        """Forget the graph of ``batch`` (default: all), once the GPU is done with it."""
        keys = list(self._graphs) if batch is None else [k for k in (batch,) if k in self._graphs]
        if keys:
            torch.cuda.synchronize(self._device)  # replays and copies may still use it
        for key in keys:
            del self._graphs[key]

    def replay_ms(self, batch, replays=100):
        """GPU milliseconds per replay of the captured frame graph for ``batch``,
        replayed back to back between CUDA events: the frame's device time without
        the host's launches and copies (None before a graph was captured)."""
        entry = self._graphs.get(batch)
        if entry is None:
            return None
        return 1e3 * replay_seconds(entry.graph.replay, replays, self._device)


class _FrameGraph:
    """A captured frame: the graph; the buffers it reads (previous state, input
    frames); the node values and the outputs it packs, in two buffers, so that
    an output kept by the caller does not keep the whole frame alive."""

    def __init__(self, previous, inputs):
        self.graph, self.previous, self.inputs = None, previous, inputs
        self.state_nodes, self.states = [], None
        self.output_nodes, self.outputs = [], None
        self.storage = None


class _Packed:
    """Tensors that a captured graph writes into one buffer, so that a replay
    copies them out with one kernel rather than one per tensor."""

    def __init__(self, tensors):
        dtypes = {t.dtype for t in tensors}
        if len(dtypes) > 1:
            raise DeviceError(f"CUDA graphs need one dtype across the node values, got "
                              f"{', '.join(sorted(map(str, dtypes)))}; use graphs=False")
        self.shapes = [t.shape for t in tensors]
        self.buffer = (torch.empty(sum(t.numel() for t in tensors), dtype=tensors[0].dtype,
                                   device=tensors[0].device) if tensors else None)

    def pack(self, tensors):
        if tensors:
            torch.cat([t.reshape(-1) for t in tensors], out=self.buffer)

    def unpack(self):
        """A copy of the buffer (it outlives the next replay), one view per tensor."""
        if self.buffer is None:
            return []
        pieces = self.buffer.clone().split([s.numel() for s in self.shapes])
        return [piece.view(shape) for piece, shape in zip(pieces, self.shapes)]


def replay_seconds(replay, replays=100, device=None):
    """Seconds per call of ``replay`` (work queued on the current CUDA stream of
    ``device``, default the current device), called ``replays`` times back to back
    between two CUDA events, after one untimed call. The GPU first idles in a sleep
    kernel while the calls are queued behind it, so that the time is the device's,
    not the host's launch rate.

    Examples
    --------
    >>> g = torch.cuda.CUDAGraph()                      # doctest: +SKIP
    >>> replay_seconds(g.replay) > 0                    # doctest: +SKIP
    True
    """
    with torch.cuda.device(device):  # sleep, events and replays on one GPU
        replay()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda._sleep(_SLEEP_CYCLES_PER_CALL * replays)
        start.record()
        for _ in range(replays):
            replay()
        end.record()
        end.synchronize()
    return start.elapsed_time(end) / 1e3 / replays


#: GPU clock cycles to sleep per queued call in :func:`replay_seconds`: 40 µs at
#: 2 GHz, several times what the host needs to launch a graph.
_SLEEP_CYCLES_PER_CALL = 80_000


def capture(fn, device):
    """``fn`` (CUDA work) captured as a CUDA graph on ``device``, after two
    warm-up calls on a side stream (library handles, cuDNN's algorithm choice).

    Examples
    --------
    >>> graph = capture(lambda: x.mul_(2), "cuda")        # doctest: +SKIP
    >>> graph.replay()                                   # doctest: +SKIP
    """
    with torch.cuda.device(device):
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(2):
                fn()
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=torch.cuda.Stream(device)):
            fn()
        return graph
