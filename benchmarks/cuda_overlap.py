"""Where the streaming frame's GPU time goes: dependencies or contention (issue 7).

For a network under the streaming rollout, the device's milliseconds per frame of
a CUDA graph of ``--frames-per-graph`` frames
(:func:`~streamnets.parallel.cuda.streaming_graph_ms_per_frame`), next to the same
graph with every cross-node wait left out
(:func:`~streamnets.parallel.cuda.concurrent_ms_per_frame`), the slowest node
alone and the sum of all nodes (each as a CUDA graph):

- with waits ≈ without waits: the nodes slow each other down on the shared GPU
  (contention), not the waits between them;
- without waits ≈ slowest node: the waits cost the difference.

Usage::

    python benchmarks/cuda_overlap.py [--network cifar10_dsr6] [--batch 1 16] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import streamnets as sn  # noqa: E402
from streamnets.cli import exit_status  # noqa: E402
from streamnets.errors import DeviceError, whole_number  # noqa: E402
from streamnets.nn import StreamNet  # noqa: E402
from streamnets.parallel import Schedule, measure_node_times  # noqa: E402
from streamnets.parallel.cuda import (concurrent_ms_per_frame, cuda_unavailable_reason,  # noqa: E402
                                      streaming_graph_ms_per_frame)


def overlap(network, batch, frames_per_graph=16, seed=0):
    torch.manual_seed(seed)
    model = StreamNet(sn.load(network)).cuda().eval()
    nodes = measure_node_times(Schedule(model, "streaming"), batch, repeats=100, seed=seed, graphs=True)
    return {"network": network, "batch": batch, "frames_per_graph": frames_per_graph,
            "device_name": torch.cuda.get_device_name(),
            "with_waits_ms": streaming_graph_ms_per_frame(model, batch, frames_per_graph, seed),
            "without_waits_ms": concurrent_ms_per_frame(model, batch, frames_per_graph, seed),
            "slowest_node_ms": 1e3 * max(nodes.values()), "sum_of_nodes_ms": 1e3 * sum(nodes.values()),
            "nodes_ms": {v: 1e3 * t for v, t in nodes.items()}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", nargs="+", default=["cifar10_dsr6"])
    parser.add_argument("--batch", nargs="+", type=int, default=[1, 16])
    parser.add_argument("--frames-per-graph", type=int, default=16)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    for network in args.network:
        sn.load(network)
    for batch in args.batch:
        whole_number("--batch", batch)
    whole_number("--frames-per-graph", args.frames_per_graph)
    reason = cuda_unavailable_reason()
    if reason:
        raise DeviceError(f"this script needs a CUDA GPU: {reason}")
    rows = [overlap(n, b, args.frames_per_graph) for n in args.network for b in args.batch]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("| network | batch | with waits ms | without waits ms | slowest node ms | sum of nodes ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['network']} | {r['batch']} | {r['with_waits_ms']:.4f} | {r['without_waits_ms']:.4f} | "
              f"{r['slowest_node_ms']:.4f} | {r['sum_of_nodes_ms']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(exit_status(main, prog="cuda_overlap.py"))
