"""Training throughput of mnist_sr and the data pipeline's share of the step time.

One epoch of the Trainer (streaming rollout, window = first response + 8 frames,
batch 128) on the offline digits stand-in; the Trainer times each batch's data
(gather + fresh noise for every frame) apart from the step (forward, loss,
backward, optimiser). Goal: data under 10% of the step time.

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
    config = TrainConfig(epochs=2, batch_size=args.batch_size, lr=1e-3, device=args.device,
                         progress=False)
    trainer, _ = train(args.network, args.rollout, images, None, noise_std=2.0, config=config)
    epoch = trainer.history[-1]  # the second epoch: warm caches and allocator
    result = {"network": args.network, "rollout": args.rollout, "device": str(trainer.device),
              "batch_size": args.batch_size, "frames": trainer.frames,
              "threads": torch.get_num_threads(),
              "samples_per_second": epoch["samples"] / (epoch["data_seconds"] + epoch["step_seconds"]),
              "data_ms_per_batch": 1e3 * epoch["data_seconds"] / -(-epoch["samples"] // args.batch_size),
              "step_ms_per_batch": 1e3 * epoch["step_seconds"] / -(-epoch["samples"] // args.batch_size),
              "data_share": epoch["data_seconds"] / (epoch["data_seconds"] + epoch["step_seconds"])}
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for key, value in result.items():
            print(f"{key:>20}: {value:.4g}" if isinstance(value, float) else f"{key:>20}: {value}")


if __name__ == "__main__":
    main()
