"""Where a synchronised CUDA-graph step spends its host time (issue 7).

Profiles ``CudaStreamExecutor(graphs=True).step`` of the streaming rollout, one
synchronised step per frame, with cProfile, and prints the functions that take
the most time themselves, after the step's time without the profiler and the
frame graph's device time alone.

Usage::

    python benchmarks/profile_cuda_step.py [--network cifar10_dsr6] [--batch 1] [--steps 500]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import streamnets as sn  # noqa: E402
from streamnets.cli import exit_status  # noqa: E402
from streamnets.errors import DeviceError, whole_number  # noqa: E402
from streamnets.nn import StreamNet  # noqa: E402
from streamnets.parallel import CudaStreamExecutor  # noqa: E402
from streamnets.parallel.cuda import cuda_unavailable_reason  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="cifar10_dsr6")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=500, help="synchronised steps timed, then profiled")
    parser.add_argument("--top", type=int, default=25, help="functions listed")
    args = parser.parse_args(argv)
    network = sn.load(args.network)
    for option in ("--batch", "--steps", "--top"):
        whole_number(option, getattr(args, option[2:]))
    reason = cuda_unavailable_reason()
    if reason:
        raise DeviceError(f"this script needs a CUDA GPU: {reason}")
    model = StreamNet(network).cuda().eval()
    shape = model.network.nodes[model.network.inputs[0]].shape
    frames = torch.rand(args.batch, 8, *shape, device="cuda")

    def run(ex, steps, state):
        for t in range(steps):
            _, state = ex.step(frames[:, t % 8], state)
            torch.cuda.synchronize()
        return state

    with CudaStreamExecutor(model, "streaming", graphs=True) as ex:
        state = run(ex, 20, ex.initial_state(args.batch))
        start = time.perf_counter()
        state = run(ex, args.steps, state)
        step_ms = 1e3 * (time.perf_counter() - start) / args.steps
        profiler = cProfile.Profile()
        profiler.enable()
        run(ex, args.steps, state)
        profiler.disable()
        print(f"{args.network}, batch {args.batch}: {step_ms:.3f} ms per synchronised step, the frame graph "
              f"alone {ex.replay_ms(args.batch):.3f} ms on the device")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(exit_status(main, prog="profile_cuda_step.py"))
