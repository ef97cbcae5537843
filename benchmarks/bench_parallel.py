"""Model-parallel streaming inference against the best sequential execution (issue 7).

Per-frame latency of stateful inference (one ``step`` per frame) of the DSR
networks: ``model.step`` under the sequential rollout with every core intra-op
(the baseline), the streaming rollout node by node, and the streaming rollout on
the model-parallel executors (:mod:`streamnets.parallel`), next to the device's
ideal streaming frame; optionally the scaling of the torch.distributed executor
over 1, 2, 3 gloo ranks.

Usage::

    .venv/bin/python benchmarks/bench_parallel.py [--network cifar10_dsr0 cifar10_dsr6]
        [--batch 1 16] [--executor sequential streaming-threads ...] [--device cuda]
        [--ranks 1 2 3] [--wait-load 1.5] [--json]

``--device cuda`` runs the CUDA executors (streams per node, with and without CUDA
graphs) against the sequential rollout eager and as a CUDA graph, and both rollouts'
throughput on a clip with ``--frames-per-graph`` frames per CUDA graph.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamnets as sn  # noqa: E402
from streamnets.cli import check_counts, exit_status  # noqa: E402
from streamnets.errors import SettingError, positive_number, whole_number  # noqa: E402
from streamnets.parallel.bench import EXECUTORS, bench_distributed, bench_parallel, default_executors  # noqa: E402


def wait_for_load(limit, max_wait_s, poll_s=20):
    """Sleep until the 1-minute load average is below ``limit`` (or ``max_wait_s`` passed);
    return the load average seen last."""
    deadline = time.monotonic() + max_wait_s
    load = os.getloadavg()[0]
    while load >= limit and time.monotonic() < deadline:
        print(f"# load average {load:.2f} >= {limit}: waiting", file=sys.stderr, flush=True)
        time.sleep(poll_s)
        load = os.getloadavg()[0]
    return load


def _short(name):
    return name.replace("streaming-", "").replace("sequential-", "seq-")


def _row(r):
    node_by_node = r["executors"].get("streaming-reference", {}).get("ms_per_frame")
    team = r.get("threads_per_worker", 1)
    network = r["network"] + (f" ({r['workers']} workers × {team} threads)" if team > 1 else "")
    speedup = f"{r['speedup']:.2f}×" if r.get("speedup") else "?"
    return (f"| {network} | {r['batch']} | {_fmt(r['sequential_ms_per_frame'])} "
            f"({_short(r['sequential_executor'] or '-')}) | {_fmt(node_by_node)} | "
            f"{_fmt(r['streaming_ms_per_frame'])} ({_short(r['streaming_executor'] or '-')}) | "
            f"{r['ideal_ms_per_frame']:.2f} | {_fmt(r.get('balanced_ms_per_frame'))} | "
            f"{_fmt(r.get('concurrent_ms_per_frame'), 3)} | "
            f"{_fmt(r.get('handoff_ms'), 3)} | {speedup} | {_fmt(r['streaming_over_ideal'])} | "
            f"{_fmt(r.get('in_frame_ideal_ms_per_frame'))} | {_fmt(r.get('streaming_over_in_frame_ideal'))} | "
            f"{'✓' if r['outputs_match'] else '✗'} | {r['load_before']:.2f} / {_fmt(r.get('other_processes_cores'))} |")


def _fmt(x, digits=2):
    return "?" if x is None else f"{x:.{digits}f}"


def print_table(results):
    print("| network | batch | best sequential ms | streaming node by node ms | streaming parallel ms | "
          "ideal ms | node-granular ideal ms | concurrent ms | hand-off ms | speed-up | parallel / ideal | "
          "in-frame ideal ms | parallel / in-frame ideal | outputs match | load avg / other cores |")
    print("| --- " * 15 + "|")
    for r in results:
        print(_row(r))
    for r in results:
        print(f"\n{r['network']}, batch {r['batch']}, {r['device']} ({r['device_name']}), "
              f"load {r['load_before']} -> {r['load_after']}; ideal = {r['ideal_rule']}; "
              f"allocator: {r.get('allocator') or 'default'}")
        for name, e in r["executors"].items():
            graph = f", its graph alone {e['graph_ms']:.3f} ms" if e.get("graph_ms") else ""
            print(f"  {name:26s} {e['ms_per_frame']:8.3f} ms/frame (min {e['ms_min']:.3f}), "
                  f"{e['throughput_samples_per_s']:9.1f} samples/s, max |diff| {e['max_abs_diff']:.1e}{graph}")
        if any(n.get("ms_graph") for n in r["nodes"].values()):
            nodes = ", ".join(f"{v} {n['ms_all_cores']:.3f}/{n['ms_graph']:.3f}" for v, n in r["nodes"].items())
            print(f"  nodes ms (eager, synchronized / as a CUDA graph): {nodes}")
        else:
            nodes = ", ".join(f"{v} {n['ms_1_thread']:.2f}/{n['ms_all_cores']:.2f}" for v, n in r["nodes"].items())
            print(f"  nodes ms (1 thread / all cores): {nodes}")
        print(f"  sum 1-thread {r['node_sum_ms_1_thread']:.2f} ms, slowest alone {r['node_max_ms_alone']:.2f} ms")
        if r.get("streaming_pipelined_ms_per_frame"):
            print(f"  throughput on a clip, {r['executors']['streaming-cuda-pipelined']['frames_per_graph']} "
                  f"frames per graph: sequential {_fmt(r['sequential_pipelined_ms_per_frame'], 3)}, streaming "
                  f"{r['streaming_pipelined_ms_per_frame']:.3f} ms/frame = "
                  f"{r['streaming_pipelined_over_ideal']:.2f} × ideal")


def print_scaling(result):
    print(f"\n{result['network']}, batch {result['batch']}, gloo on {result['cores']} cores, "
          f"load {result['load_before']} -> {result['load_after']}")
    print("| ranks | threads per rank | ms per frame | nodes per rank | outputs match |")
    print("| --- | --- | --- | --- | --- |")
    for row in result["ranks"]:
        nodes = " / ".join(",".join(n) for n in row["nodes_by_rank"])
        print(f"| {row['ranks']} | {row['threads_per_rank']} | {row['ms_per_frame']:.2f} | {nodes} | "
              f"{'✓' if row['outputs_match'] else '✗'} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", nargs="+", default=["cifar10_dsr6"])
    parser.add_argument("--batch", nargs="+", type=int, default=[1])
    parser.add_argument("--executor", nargs="+", default=None, choices=list(EXECUTORS), metavar="NAME",
                        help=f"executors to time, of: {', '.join(EXECUTORS)}; default: the device's (CPU: "
                             f"{' '.join(default_executors('cpu'))}; CUDA: {' '.join(default_executors('cuda'))})")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--frames", type=int, default=20, help="frames per executor and round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds")
    parser.add_argument("--repeats", type=int, default=10, help="timed rounds")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads-per-worker", type=int, nargs="+", default=[1],
                        help="intra-op threads per thread- or process-executor worker (one run per value; a "
                             "value above 1 slows later runs of the process: one process per value)")
    parser.add_argument("--frames-per-graph", type=int, default=16,
                        help="frames per CUDA graph of the *-pipelined executors")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ranks", nargs="*", type=int, default=None,
                        help="also time the gloo DistributedExecutor over these rank counts")
    parser.add_argument("--rank-frames", type=int, default=200)
    parser.add_argument("--ranks-only", action="store_true", help="only the distributed scaling")
    parser.add_argument("--wait-load", type=float, default=None,
                        help="first wait (up to --max-wait s) until the 1-min load average is below this")
    parser.add_argument("--max-wait", type=float, default=900)
    parser.add_argument("--max-other", type=float, default=None,
                        help="repeat a measurement (up to --attempts times) while other processes "
                             "kept more than this many cores busy during it")
    parser.add_argument("--attempts", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    check_args(args)

    results, scaling = [], []
    for network in args.network:
        for batch in args.batch:
            for team in [] if args.ranks_only else args.threads_per_worker:
                for attempt in range(args.attempts):
                    if args.wait_load is not None:
                        wait_for_load(args.wait_load, args.max_wait)
                    r = bench_parallel(network, batch, executors=args.executor, frames=args.frames,
                                       device=args.device, warmup=args.warmup, repeats=args.repeats,
                                       workers=args.workers, seed=args.seed, threads_per_worker=team,
                                       frames_per_graph=args.frames_per_graph)
                    other = r.get("other_processes_cores")
                    if args.max_other is None or other is None or other <= args.max_other:
                        break
                    print(f"# {network} batch {batch}: other processes used {other} cores: again",
                          file=sys.stderr, flush=True)
                results.append(r)
            if args.ranks:
                if args.wait_load is not None:
                    wait_for_load(args.wait_load, args.max_wait)
                scaling.append(bench_distributed(network, batch, ranks=args.ranks, frames=args.rank_frames,
                                                 seed=args.seed))
    if args.json:
        print(json.dumps({"results": results, "distributed": scaling}, indent=2))
    else:
        if results:
            print_table(results)
        for s in scaling:
            print_scaling(s)
    return 0


def check_args(args):
    """Every option in range and every network known, before anything is timed (a
    SettingError or SpecError naming the option: one line, exit status 2)."""
    for network in args.network:
        sn.load(network)
    for option in ("--batch", "--threads-per-worker", "--ranks"):
        for value in getattr(args, option[2:].replace("-", "_")) or ():
            whole_number(option, value)
    check_counts(args, "--frames", "--repeats", "--frames-per-graph", "--rank-frames", "--attempts",
                 "--workers")
    check_counts(args, "--warmup", lo=0)
    if args.wait_load is not None:
        positive_number("--wait-load", args.wait_load)
    positive_number("--max-wait", args.max_wait, zero=True)
    if args.max_other is not None:
        positive_number("--max-other", args.max_other, zero=True)
    if args.ranks_only and not args.ranks:
        raise SettingError("--ranks-only times only the distributed executor: give the rank counts "
                           "with --ranks, e.g. --ranks 1 2 3")


if __name__ == "__main__":
    sys.exit(exit_status(main, prog="bench_parallel.py"))
