"""Model-parallel execution of the streaming rollout.

Under the streaming rollout every node update of a frame reads only the previous
frame, so a frame costs the most expensive node update instead of the sum of all
of them, given hardware that runs the updates concurrently (paper, section 3).
The executors here run :class:`~streamnets.nn.StreamNet` inference frame by frame
with the same interface and the same outputs as ``model.step``:

- :class:`ReferenceExecutor`: ``model.step`` itself, node by node;
- :class:`ThreadExecutor`: a CPU worker pool (torch kernels release the GIL);
- :class:`ProcessExecutor`: CPU worker processes, node values in shared memory
  (no GIL between the workers: faster on small frames);
- :class:`CudaStreamExecutor`: one CUDA stream per node, events between steps;
- :class:`DistributedExecutor`: nodes partitioned over ``torch.distributed`` ranks.

Any valid pattern runs: the nodes of one update step (equal tableau value within
a frame) run together, the steps in order. The streaming rollout has one step.

Examples
--------
>>> import torch, streamnets as sn
>>> from streamnets.nn import StreamNet
>>> from streamnets.parallel import ThreadExecutor, ReferenceExecutor
>>> model = StreamNet(sn.load("cifar10_dsr2")).eval()
>>> frames = torch.rand(1, 6, 3, 32, 32)
>>> with ThreadExecutor(model, "streaming", workers=2) as ex:
...     fast = ex.run(frames)
>>> slow = ReferenceExecutor(model, "streaming").run(frames)
>>> torch.allclose(fast[-1]["prediction"], slow[-1]["prediction"], atol=1e-5)
True
"""

from .base import Executor
from .cost import balanced_partition, estimate_flops, makespan, measure_node_times
from .cuda import CudaStreamExecutor
from .distributed import DistributedExecutor, launch
from .processes import ProcessExecutor
from .reference import ReferenceExecutor, SerialExecutor
from .schedule import NodeKernel, Schedule
from .threads import ThreadExecutor

__all__ = [
    "Executor", "ReferenceExecutor", "SerialExecutor", "ThreadExecutor", "ProcessExecutor",
    "CudaStreamExecutor",
    "DistributedExecutor", "launch", "Schedule", "NodeKernel", "estimate_flops",
    "balanced_partition", "makespan", "measure_node_times", "bench_parallel", "bench_distributed",
]


def __getattr__(name):
    # The benchmark pulls in more (timing, JSON helpers); load it on first use.
    if name in ("bench_parallel", "bench_distributed"):
        from . import bench
        return getattr(bench, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
