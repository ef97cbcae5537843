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

__all__ = ["CudaStreamExecutor", "cuda_unavailable_reason"]


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
        frame and the previous state into the graph's buffers and clone its
        results, so states stay independent of each other as with ``model.step``.

    Raises
    ------
    DeviceError
        Without CUDA, or when the model is not on a CUDA device.

    Notes
    -----
    Outputs equal ``model.step``'s up to floating-point rounding: cuDNN and cuBLAS
    may pick different kernels for the same layer (autotuning, TF32, graph
    capture). The GPU tests turn TF32 off and allow ``GPU_TOLERANCE`` (1e-4 absolute and relative).

    A captured graph reads the parameters' storage as it was at capture: when
    a parameter is replaced (``load_state_dict`` keeps storage, ``model.half()``
    does not) the next frame captures anew. One graph is kept per batch size;
    :meth:`close` frees them.

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
        self._graphs.clear()

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

    def _capture(self, previous, current, batch):
        """Record one steady-state frame; returns (graph, static inputs, static outputs)."""
        names, index = self.schedule.names, self.schedule.index
        static_prev = [None if x is None else x.clone() for x in previous]
        static_in = [None] * len(names)
        for v in self.schedule.inputs:
            static_in[index[v]] = current[index[v]].clone()
        side = torch.cuda.Stream(self._device)
        side.wait_stream(torch.cuda.current_stream(self._device))
        with torch.cuda.stream(side):  # warm-up outside the capture (cuDNN / cuBLAS setup)
            for _ in range(2):
                cur, outs = list(static_in), {}
                self._launch(static_prev, cur, outs, side)
        torch.cuda.current_stream(self._device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        static_cur, static_outs = list(static_in), {}
        self._record(graph, lambda: self._launch(static_prev, static_cur, static_outs,
                                                 torch.cuda.current_stream(self._device)),
                     torch.cuda.Stream(self._device))
        return graph, static_prev, static_in, static_cur, static_outs

    @staticmethod
    def _record(graph, launch, stream):
        with torch.cuda.graph(graph, stream=stream):
            launch()

    def _storage(self):
        """Where the parameters and buffers live now: a graph replays these addresses."""
        model = self.model
        return tuple((t.data_ptr(), t.dtype) for t in (*model.parameters(), *model.buffers()))

    def _replay(self, previous, current, outputs, batch, caller):
        storage = self._storage()
        entry = self._graphs.get(batch)
        if entry is None or entry[0] != storage:
            self._graphs.pop(batch, None)  # free the stale graph's memory first
            entry = self._graphs[batch] = (storage, *self._capture(previous, current, batch))
        _, graph, static_prev, static_in, static_cur, static_outs = entry
        dst = [d for d, s in zip(static_prev, previous) if d is not None and s is not None]
        src = [s for d, s in zip(static_prev, previous) if d is not None and s is not None]
        for i, x in enumerate(static_in):
            if x is not None:
                dst.append(x)
                src.append(current[i])
        if hasattr(torch, "_foreach_copy_"):
            torch._foreach_copy_(dst, src)
        else:  # pragma: no cover - older torch
            for d, x in zip(dst, src):
                d.copy_(x)
        graph.replay()
        for i, v in enumerate(self.schedule.names):
            if v not in self.schedule.inputs and static_cur[i] is not None:
                current[i] = static_cur[i].clone()
        for v in self.schedule.outputs:
            if v in static_outs and static_outs[v] is not None:
                i = self.schedule.index[v]
                same = static_outs[v] is static_cur[i]
                outputs[v] = current[i] if same else static_outs[v].clone()
