"""GPU model parallelism: one CUDA stream per node, events as the frame barrier.

Per frame, the caller's stream records a *start* event (the inputs and the previous
frame are ready); every node's stream waits on it and, for zero-delay edges, on the
*done* events of the nodes it reads in this frame; the caller's stream finally waits
on every node's done event. Under the streaming rollout all node streams run
concurrently. Python still issues the kernels one after the other, so the gain
needs kernels long enough to overlap; ``graphs=True`` records the steady-state
frame once as a CUDA graph and replays it, which removes the launch cost.

``frames_per_graph=K`` goes further for clips (:meth:`~CudaStreamExecutor.run`,
:meth:`~CudaStreamExecutor.steps`): one graph holds K frames, and within it no
frame barrier is left: a node's update of frame t waits only for the updates it
reads (of frame t-1 under the streaming rollout), so consecutive frames overlap
as far as the data allow. That is throughput on a recorded clip; a live stream,
one frame at a time, has the per-frame latency of :meth:`~Executor.step`.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Mapping
from dataclasses import replace

import torch
from torch._utils import _unflatten_dense_tensors

from ..device import DeviceError
from ..errors import SettingError, whole_number
from .base import Executor, check_model, clip_frames

__all__ = ["CudaStreamExecutor", "cuda_unavailable_reason", "capture", "replay_seconds", "concurrent_ms_per_frame",
           "streaming_graph_ms_per_frame", "round_trip_ms"]


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
        Any valid pattern (default: the model's ``default_rollout``,
        streaming unless set).
    graphs : bool
        Capture the steady-state frame (every node non-empty) as a CUDA graph per
        batch size and replay it; earlier frames run eagerly. Replays copy the
        frame and the previous state into the graph's buffers and copy its
        results out (the node values and the outputs in one buffer each), so
        states stay independent of each other as with ``model.step``. Not under
        ``torch.autocast`` (a DeviceError): convert the model's dtype instead.
    frames_per_graph : int
        Frames per graph in :meth:`run` and :meth:`steps` (default 1; more needs
        ``graphs=True``): their steady frames go through the GPU K at a time,
        one replay each, without a barrier between frames; the rest (the first
        frames, a clip's tail shorter than K) one by one. The states of the
        frames inside a graph are not kept, only the last one's.
        :meth:`step` always takes one frame.

    Raises
    ------
    DeviceError
        Without CUDA, or when the model is not on a CUDA device.
    ValueError
        When ``frames_per_graph`` is below 1, or above 1 without ``graphs``.

    Notes
    -----
    Outputs equal ``model.step``'s up to floating-point rounding: cuDNN and cuBLAS
    may pick different kernels for the same layer (autotuning, TF32, graph
    capture). The GPU tests turn TF32 off and allow ``GPU_TOLERANCE`` (1e-4
    absolute and relative).

    A captured graph reads the parameters' storage as it was at capture: when
    their data move (``model.half()``, ``param.data = ...``; ``load_state_dict``
    copies in place) the next frame captures anew. After replacing a
    ``Parameter`` object itself, make a new executor: it lists the parameters
    once, when it is made, and a graph would replay the old ones. One graph is kept per batch size and frame
    count; :meth:`close` frees them.

    Examples
    --------
    >>> import streamnets as sn
    >>> from streamnets.nn import StreamNet
    >>> model = StreamNet(sn.load("cifar10_dsr6")).to("cuda").eval()  # doctest: +SKIP
    >>> ex = CudaStreamExecutor(model, "streaming", graphs=True)      # doctest: +SKIP
    >>> outputs = ex.run(torch.rand(16, 8, 3, 32, 32, device="cuda"))  # doctest: +SKIP
    >>> clip = CudaStreamExecutor(model, graphs=True, frames_per_graph=16)  # doctest: +SKIP
    >>> outputs, state = clip.steps(torch.rand(1, 100, 3, 32, 32, device="cuda"))  # doctest: +SKIP
    """

    name = "cuda-streams"
    _device_type = "cuda"  # a seam for the tests' simulated CUDA

    def __init__(self, model, rollout=None, graphs=False, frames_per_graph=1):
        check_model(model)  # the arguments before the device: a CPU reports them too
        count = whole_number("frames_per_graph", frames_per_graph)
        if count > 1 and not graphs:
            raise SettingError(f"frames_per_graph={count} puts {count} frames into one CUDA graph, "
                               f"so it needs graphs=True (or leave frames_per_graph at 1)")
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
        self._start = torch.cuda.Event()
        self._done = []  # per frame of a launch, per node: the event its update records
        # Per node, the sources it reads within the frame (zero-delay edges) and from
        # the frame before (delayed edges), inputs left out: the updates it waits for.
        names, plan = self.schedule.names, self.schedule.plan
        self._waits, self._reads = {}, {}
        for v in order:
            terms = plan.in_terms[self.schedule.index[v]]
            self._waits[v] = tuple(sorted({names[u] for _, u, d in terms if not d} & set(order)))
            self._reads[v] = tuple(sorted({names[u] for _, u, d in terms if d} & set(order) - {v}))
        self.graphs = bool(graphs)
        self.frames_per_graph = count
        self._graphs = {}  # (batch, frames) -> _FrameGraph
        # Listed once: walking the modules costs more per frame than a replay.
        self._tensors = (*model.parameters(), *model.buffers())

    def _events(self, frames):
        """The done events of ``frames`` consecutive frames, one per node each."""
        while len(self._done) < frames:
            self._done.append({v: torch.cuda.Event() for v in self._streams})
        return self._done[:frames]

    def _launch(self, previous, frames, outputs, caller):
        """Queue the updates of consecutive ``frames`` (node values, inputs filled
        in) after ``previous``; ``outputs``: one dict per frame."""
        kernels = self.schedule.kernels
        done = self._events(len(frames))
        self._start.record(caller)
        for t, current in enumerate(frames):
            before = previous if t == 0 else frames[t - 1]
            for group in self.schedule.groups:
                for v in group:
                    stream = self._streams[v]
                    # The stream's own order covers v's earlier frames; the start
                    # event covers everything written before the launch.
                    if t == 0:
                        stream.wait_event(self._start)
                    else:
                        for u in self._reads[v]:
                            stream.wait_event(done[t - 1][u])
                    for u in self._waits[v]:
                        stream.wait_event(done[t][u])
                    with torch.cuda.stream(stream):
                        value, logits = kernels[v](before, current)
                    done[t][v].record(stream)
                    current[kernels[v].index] = value
                    if kernels[v].is_output:
                        outputs[t][v] = logits
        for v in self._streams:
            caller.wait_event(done[-1][v])

    def _compute(self, previous, current, outputs, frame, batch):
        # The model's GPU, also when it is not the current device (switching costs
        # host time per frame, so only when needed).
        on_device = torch.cuda.current_device() == self._device.index
        with contextlib.nullcontext() if on_device else torch.cuda.device(self._device):
            # From frame steady + 1 on, the previous frame is complete too: every
            # later frame runs the same kernels on same-shaped tensors.
            if self.graphs and frame > self.schedule.plan.steady:
                inputs = {self.schedule.index[v]: current[self.schedule.index[v]].unsqueeze(0)
                          for v in self.schedule.inputs}
                self._replay(previous, inputs, current, [outputs], batch)
            else:
                self._eager(previous, current, outputs, torch.cuda.current_stream(self._device))

    def steps(self, frames, state=None):
        """Step through a clip: ``(outputs per frame, state after the last)``.

        With ``frames_per_graph`` K > 1, every K steady frames are one graph
        replay; the first frames and a tail shorter than K go one by one.
        """
        count = self.frames_per_graph
        if count == 1:
            return super().steps(frames, state)
        length, batch, pick = clip_frames(frames, self.rollout.network)
        state = self.initial_state(batch) if state is None else state
        if not length:
            return [], state
        self._frame_values(pick(0), state)  # the clip's shapes, once
        clip = self._clip_inputs(frames)
        results, t = [], 0
        while t < length:
            if state.frame >= self.schedule.plan.steady and length - t >= count:
                outputs, state = self._steps_in_graph(clip, pick, t, count, state)
                results += outputs
                t += count
            else:
                outputs, state = self.step(pick(t), state)
                results.append(outputs)
                t += 1
        return results, state

    def _clip_inputs(self, frames):
        """Per input node index its clip (batch, time, ...), dense inputs flattened."""
        net = self.rollout.network
        if not isinstance(frames, Mapping):
            frames = {net.inputs[0]: frames}
        clips = {}
        for v in net.inputs:
            x, spec = frames[v], net.nodes[v]
            clips[self.schedule.index[v]] = x if spec.is_spatial else x.reshape(*x.shape[:2], spec.shape[0])
        return clips

    def _steps_in_graph(self, clip, pick, t, count, state):
        """Frames ``t`` to ``t + count - 1`` of ``clip`` (all steady) as one replay."""
        last, batch = self._frame_values(pick(t + count - 1), state)
        reference = self._reference
        inputs = {i: x[:, t:t + count].to(device=reference.device, dtype=reference.dtype).transpose(0, 1)
                  for i, x in clip.items()}
        outputs = [dict.fromkeys(self.schedule.outputs) for _ in range(count)]
        with torch.no_grad(), torch.cuda.device(self._device):
            self._replay(state.values, inputs, last, outputs, batch)
        if any(o in self.schedule.inputs for o in self.schedule.outputs):
            for k, out in enumerate(outputs):
                self._input_outputs(self._frame_values(pick(t + k), state)[0], out)
        return outputs, replace(state, frame=state.frame + count, values=tuple(last), rollout=self.rollout)

    def close(self):
        """Free the captured CUDA graphs and their buffers (idempotent)."""
        self._drop()

    def _eager(self, previous, current, outputs, caller):
        self._launch(previous, [current], [outputs], caller)
        for v in self.schedule.outputs:
            # Produced on a node stream, consumed on the caller's: keep the memory
            # from being reused by the node stream before the caller is done with it.
            if outputs[v] is not None:
                outputs[v].record_stream(caller)
        for i, value in enumerate(current):
            if value is not None and self.schedule.names[i] not in self.schedule.inputs:
                value.record_stream(caller)

    # -- CUDA graphs ---------------------------------------------------------------

    def _capture(self, previous, inputs):
        """Record the updates of consecutive steady frames as a :class:`_FrameGraph`;
        ``inputs``: per input node index, its frames (frames, batch, ...)."""
        names, index, reference = self.schedule.names, self.schedule.index, self._reference
        static_prev = [None if x is None else x.clone() for x in previous]
        # Contiguous, whatever the layout of the clip: every frame's input a dense view.
        static_in = {i: torch.empty(x.shape, device=reference.device, dtype=reference.dtype).copy_(x)
                     for i, x in inputs.items()}
        count = len(next(iter(static_in.values())))
        # The first (warm-up) call finds what the frames produce and lays out the
        # buffers that the graph packs it into.
        entry = _FrameGraph(static_prev, static_in)

        def launch():
            # Every frame's values stay referenced until the launch is queued: the
            # node streams read them without telling the allocator.
            work = [[None] * len(names) for _ in range(count)]
            for i, frames in static_in.items():
                for t in range(count):
                    work[t][i] = frames[t]
            outs = [dict.fromkeys(self.schedule.outputs) for _ in range(count)]
            self._launch(static_prev, work, outs, torch.cuda.current_stream(self._device))
            if entry.states is None:
                entry.state_nodes = [index[v] for v in self.schedule.kernels
                                     if work[-1][index[v]] is not None]
                entry.output_keys = [(t, v) for t in range(count) for v in self.schedule.outputs
                                     if v not in self.schedule.inputs and outs[t][v] is not None]
                entry.states = _Packed([work[-1][i] for i in entry.state_nodes])
                entry.outputs = _Packed([outs[t][v] for t, v in entry.output_keys])
            entry.states.pack([work[-1][i] for i in entry.state_nodes])
            entry.outputs.pack([outs[t][v] for t, v in entry.output_keys])

        entry.graph = capture(launch, self._device)
        return entry

    def _storage(self):
        """Where the parameters and buffers live now: a graph replays these addresses."""
        return tuple(map(torch.Tensor.data_ptr, self._tensors))

    def _replay(self, previous, inputs, last, outputs, batch):
        """Run consecutive frames after ``previous`` as one replay of their graph,
        captured first where needed. ``inputs``: per input node index, its frames
        (frames, batch, ...); fills in ``last`` (the last frame's node values) and
        ``outputs`` (one dict per frame)."""
        if torch.is_autocast_enabled(self._device.type):
            # A graph replays the dtypes of its capture, and autocast's cached casts of the
            # weights, captured into it, are freed when the autocast region ends.
            raise DeviceError("CUDA graphs do not run under torch.autocast; use graphs=False, or "
                              "convert the model instead (model.bfloat16())")
        storage, key = self._storage(), (batch, len(outputs))
        entry = self._graphs.get(key)
        if entry is None or entry.storage != storage or not entry.reads(previous):
            self._drop(*key)
            # Normal tensors also under torch.inference_mode(): later replays,
            # maybe outside it, copy into the graph's buffers in place.
            with torch.inference_mode(False), torch.no_grad():
                entry = self._graphs[key] = self._capture(previous, inputs)
            entry.storage = storage
        pairs = [(d, s) for d, s in zip(entry.previous, previous) if d is not None and s is not None]
        pairs += [(entry.inputs[i], x) for i, x in inputs.items()]
        torch._foreach_copy_(*map(list, zip(*pairs)))
        entry.graph.replay()
        for i, value in zip(entry.state_nodes, entry.states.unpack()):
            last[i] = value
        for (t, v), value in zip(entry.output_keys, entry.outputs.unpack()):
            outputs[t][v] = value

    def _drop(self, batch=None, frames=None):
        """Forget the graphs of ``batch`` and ``frames`` (default: all), once the GPU
        is done with them."""
        keys = [k for k in self._graphs if batch in (None, k[0]) and frames in (None, k[1])]
        if keys:
            torch.cuda.synchronize(self._device)  # replays and copies may still use them
        for key in keys:
            del self._graphs[key]

    def replay_ms(self, batch, replays=100, *, frames=None):
        """GPU milliseconds per frame of the captured graph of ``frames`` frames
        (default ``frames_per_graph``) for ``batch``, replayed back to back between
        CUDA events (``replays`` frames' worth, at least 3 replays): the frames'
        device time without the host's launches and copies (None before such a
        graph was captured)."""
        frames = self.frames_per_graph if frames is None else frames
        entry = self._graphs.get((batch, frames))
        if entry is None:
            return None
        return 1e3 * replay_seconds(entry.graph.replay, max(3, replays // frames), self._device) / frames


class _FrameGraph:
    """Captured frames: the graph; the buffers it reads (the previous state; per
    input node index, its frames); the last frame's node values and every frame's outputs,
    which it packs into two buffers, so that an output kept by the caller does
    not keep the node values alive."""

    def __init__(self, previous, inputs):
        self.graph, self.previous, self.inputs = None, previous, inputs
        self.state_nodes, self.states = [], None
        self.output_keys, self.outputs = [], None  # (frame, node) per output
        self.storage = None

    def reads(self, previous):
        """Whether ``previous`` has values where the graph was captured with them
        (a state from elsewhere may have other nodes still empty)."""
        return all((a is None) == (b is None) for a, b in zip(self.previous, previous))


class _Packed:
    """Tensors that a captured graph writes into one buffer, so that a replay
    copies them out with one kernel rather than one per tensor."""

    def __init__(self, tensors):
        dtypes = {t.dtype for t in tensors}
        if len(dtypes) > 1:
            raise DeviceError(f"CUDA graphs need one dtype across the node values, got "
                              f"{', '.join(sorted(map(str, dtypes)))}; use graphs=False")
        self._templates = [torch.empty(t.shape, device="meta") for t in tensors]  # shapes only
        self.buffer = (torch.empty(sum(t.numel() for t in tensors), dtype=tensors[0].dtype,
                                   device=tensors[0].device) if tensors else None)

    def pack(self, tensors):
        if tensors:
            torch.cat([t.reshape(-1) for t in tensors], out=self.buffer)

    def unpack(self):
        """A copy of the buffer (it outlives the next replay), one view per tensor."""
        if self.buffer is None:
            return []
        # One call for all the views; a split and a view per tensor cost ~3 µs each.
        return list(_unflatten_dense_tensors(self.buffer.clone(), self._templates))


def streaming_graph_ms_per_frame(model, batch=1, frames_per_graph=16, seed=0, waits=True):
    """GPU milliseconds per frame of the streaming rollout's CUDA graph of
    ``frames_per_graph`` frames (:meth:`CudaStreamExecutor.replay_ms`), on random
    frames. ``waits=False`` leaves out every wait between nodes: see
    :func:`concurrent_ms_per_frame`.

    Examples
    --------
    >>> import streamnets as sn
    >>> from streamnets.nn import StreamNet
    >>> model = StreamNet(sn.load("cifar10_dsr6")).cuda().eval()  # doctest: +SKIP
    >>> streaming_graph_ms_per_frame(model, batch=1) > 0          # doctest: +SKIP
    True
    """
    net = model.network
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    with CudaStreamExecutor(model, "streaming", graphs=True, frames_per_graph=frames_per_graph) as ex:
        length = ex.schedule.plan.steady + 1 + frames_per_graph
        clip = {v: torch.rand(batch, length, *net.nodes[v].shape, generator=gen).to(device) for v in net.inputs}
        if not waits:  # the streaming rollout has no zero-delay edges: the delayed reads are all
            ex._reads = dict.fromkeys(ex._reads, ())
        ex.steps(clip)
        return ex.replay_ms(batch)


def concurrent_ms_per_frame(model, batch=1, frames_per_graph=16, seed=0):
    """GPU milliseconds per frame when every node update of the streaming rollout
    is queued at once, on its own stream, with no wait between nodes: the
    device's floor for a frame's kernels running side by side (perfect overlap
    as far as the GPU's capacity allows). Measured on a graph of
    ``frames_per_graph`` frames, like :meth:`CudaStreamExecutor.replay_ms`.

    The nodes read states that may not be written yet: the values computed are
    wrong on purpose, only the time counts. Set the model's mode first
    (``eval()``).

    Examples
    --------
    >>> import streamnets as sn
    >>> from streamnets.nn import StreamNet
    >>> model = StreamNet(sn.load("cifar10_dsr6")).cuda().eval()  # doctest: +SKIP
    >>> concurrent_ms_per_frame(model, batch=1) > 0               # doctest: +SKIP
    True
    """
    return streaming_graph_ms_per_frame(model, batch, frames_per_graph, seed, waits=False)


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


def round_trip_ms(device=None, repeats=200):
    """Median milliseconds for the host to replay a CUDA graph of one tiny kernel
    and wait for it (``synchronize``): what every synchronised step pays on top
    of its frame's device time, however fast the host's own code. The GPU's
    counterpart of :func:`~streamnets.parallel.bench.handoff_ms`.

    Examples
    --------
    >>> 0 < round_trip_ms("cuda", repeats=5) < 1000    # doctest: +SKIP
    True
    """
    repeats = whole_number("repeats", repeats)  # 0: "no median for empty data"
    with torch.cuda.device(device):
        x = torch.zeros(1, device="cuda")
        graph = capture(lambda: x.add_(1), torch.cuda.current_device())
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            graph.replay()
            torch.cuda.synchronize()
            samples.append(time.perf_counter() - start)
    return 1e3 * statistics.median(samples)


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
