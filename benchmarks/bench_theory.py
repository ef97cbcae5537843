"""Speed of the rollout theory (issue: foundation).

1. Tableau (W=16) + inference factor + first response for a random network of
   10,000 nodes and 30,000 edges, streaming and sequential, against a baseline in
   the same run: the obvious implementation on the explicit window graph (build
   R_W with networkx, topological sort, longest path per node).
2. Exact counting on cifar10_dsr6 (23 edges) by SCC factoring, against brute force
   over all 2^|E| patterns on a smaller network (cifar10_dsr2, 9 edges), scaled.

Run: .venv/bin/python benchmarks/bench_theory.py [--json]
"""

import argparse
import json
import statistics
import time

import networkx as nx

import streamnets as sn
from streamnets.generate import random_network
from streamnets.theory import all_patterns, count_patterns


def best_of(fn, repeat=5):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def window_baseline(rollout, size):
    """Tableau by longest paths on the explicit R_W graph (networkx)."""
    window = rollout.window(size)
    inputs = set(rollout.network.inputs)
    t = {}
    for node in nx.topological_sort(window):
        frame, v = node
        if frame == 0 or v in inputs:
            t[node] = 0
        else:
            t[node] = 1 + max(t[p] for p in window.predecessors(node))
    return t


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as one JSON list")
    args = parser.parse_args()
    results = []
    net = random_network(10_000, 30_000, n_inputs=10, seed=0)
    for make in (sn.Rollout.streaming, sn.Rollout.sequential):
        def ours():
            r = make(net)  # fresh object: nothing cached between repeats
            r.tableau(16), r.inference_factor, r.first_response()
        fast, _ = best_of(ours)
        slow, _ = best_of(lambda: window_baseline(make(net), 16), repeat=2)
        results.append({"task": f"tableau W=16 + F + first response, {make(net).name}, "
                                "10k nodes / 30k edges",
                        "seconds": fast, "baseline_seconds": slow, "goal_seconds": 1.0})
    dsr6 = sn.load("cifar10_dsr6")
    fast, _ = best_of(lambda: count_patterns(dsr6), repeat=20)
    dsr2 = sn.load("cifar10_dsr2")
    brute, _ = best_of(lambda: sum(r.is_valid for r in all_patterns(dsr2)), repeat=2)
    brute_dsr6 = brute * 2 ** (len(dsr6.edges) - len(dsr2.edges))
    results.append({"task": "exact counts, cifar10_dsr6 (23 edges)", "seconds": fast,
                    "baseline_seconds": brute_dsr6, "goal_seconds": 0.1,
                    "baseline_note": f"brute force measured on cifar10_dsr2 ({brute:.3f} s for 2^9 "
                                     "patterns), scaled to 2^23"})
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print(f"{'task':<80} {'ours':>9} {'baseline':>10} {'speed-up':>9} {'goal':>7}")
    for r in results:
        print(f"{r['task']:<80} {r['seconds'] * 1e3:>7.3f}ms {r['baseline_seconds']:>9.3f}s "
              f"{r['baseline_seconds'] / r['seconds']:>8.1f}x {'<' + str(r['goal_seconds']) + 's':>7}")


if __name__ == "__main__":
    main()
