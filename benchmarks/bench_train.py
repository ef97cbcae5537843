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

import torch

from streamnets.data import Digits
from streamnets.train import TrainConfig, train


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--network", default="mnist_sr")
    parser.add_argument("--rollout", default="streaming")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    images = Digits(train=True)
    default = torch.get_num_threads()  # one per core unless OMP_NUM_THREADS says otherwise
    results = []
    for threads, prefetch in ((default, False), (default, True), (1, True)):
        torch.set_num_threads(threads)
        results.append(measure(args, images, prefetch))
    torch.set_num_threads(default)
    if args.json:
        print(json.dumps(results, indent=1))
        return
    for result in results:
        print()
        for key, value in result.items():
            print(f"{key:>20}: {value:.4g}" if isinstance(value, float) else f"{key:>20}: {value}")


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
    main()
