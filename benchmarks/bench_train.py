"""Training throughput of mnist_sr and the data pipeline's share of the step time.

One epoch of the Trainer (streaming rollout, window = first response + 8 frames,
batch 128) on the offline digits stand-in; the Trainer times each batch's data
(gather + fresh noise for every frame) apart from the step (forward, loss,
backward, optimiser); with prefetching (the default) the data time is what the step
waited for its batch. Three settings run in turn: torch's default threads without
prefetching (the baseline), the same with prefetching, and one intra-op thread
with prefetching (the data thread gets the other core).
Goal: data under 10% of the step time.

Run: .venv/bin/python benchmarks/bench_train.py [--device cuda] [--batch-size 128] [--json]
"""

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamnets as sn  # noqa: E402
from streamnets.cli import exit_status  # noqa: E402
from streamnets.data import Digits  # noqa: E402
from streamnets.device import resolve_device  # noqa: E402
from streamnets.errors import whole_number  # noqa: E402
from streamnets.train import TrainConfig, train  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto (default cpu)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--network", default="mnist_sr", help="a built-in network or a spec file")
    parser.add_argument("--rollout", default="streaming", help="streaming, sequential or a named pattern")
    parser.add_argument("--json", action="store_true", help="print one JSON list")
    args = parser.parse_args(argv)
    # Before the three trainings: a typo shows at once, as one line.
    whole_number("--batch-size", args.batch_size)
    sn.Rollout.named(sn.load(args.network), args.rollout)
    resolve_device(args.device)
    images = Digits(train=True)
    default = torch.get_num_threads()  # one per core unless OMP_NUM_THREADS says otherwise
    results = []
    for threads, prefetch in ((default, False), (default, True), (1, True)):
        torch.set_num_threads(threads)
        results.append(measure(args, images, prefetch))
    torch.set_num_threads(default)
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    for result in results:
        print()
        for key, value in result.items():
            print(f"{key:>20}: {value:.4g}" if isinstance(value, float) else f"{key:>20}: {value}")
    return 0


def measure(args, images, prefetch):
    """The second of two training epochs, timed by the Trainer."""
    config = TrainConfig(epochs=2, batch_size=args.batch_size, lr=1e-3, device=args.device,
                         prefetch=prefetch, progress=False)
    trainer, _ = train(args.network, args.rollout, images, None, noise_std=2.0, config=config)
    epoch = trainer.history[-1]  # the second epoch: warm caches and allocator
    batches = -(-epoch["samples"] // args.batch_size)
    return {"network": args.network, "rollout": args.rollout, "device": str(trainer.device),
            "prefetch": prefetch, "batch_size": args.batch_size, "frames": trainer.frames,
            "threads": torch.get_num_threads(),
            "samples_per_second": epoch["samples"] / epoch["seconds"],
            "data_ms_per_batch": 1e3 * epoch["data_seconds"] / batches,
            "step_ms_per_batch": 1e3 * epoch["step_seconds"] / batches,
            "data_share": epoch["data_seconds"] / (epoch["data_seconds"] + epoch["step_seconds"])}


if __name__ == "__main__":
    sys.exit(exit_status(main, prog="bench_train.py"))
