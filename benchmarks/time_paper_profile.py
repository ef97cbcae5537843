"""How long the paper profile of ``streamnets reproduce`` takes on this device, measured.

The paper profile trains full-width networks on the real data sets for 100 epochs;
that does not fit a benchmark run. This script times each run of it (every network
and rollout of an experiment, the profile's batch size, optimiser and window, the
Trainer with its autocast and data pipeline) for a few batches and projects the
whole profile from the times:

    run = epochs x (training batches per epoch x s per training batch
                    + test batches x s per test batch)

summed over the runs, times the repetitions. The batches hold random pixels of the
real data's shape (the time of a step does not depend on the pixels); the counts
are the real data sets' (``REAL_SIZES``). Each run is timed on the second of two
epochs of ``--batches`` batches (the first warms up cuDNN's algorithm choice and
the allocator), the test pass on its second evaluation. Not counted: loading the
data (once per experiment) and writing a checkpoint per epoch (seconds in all).
``--whole-epoch`` checks the projection: it times whole epochs of the real data's size
instead (pick runs with ``--network``).

Run: .venv/bin/python benchmarks/time_paper_profile.py [--experiment mnist cifar10 gtsrb]
[--network NAME ...] [--device auto] [--batches 20] [--eval-batches 5] [--whole-epoch] [--json]
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamnets as sn  # noqa: E402
from streamnets.cli import exit_status  # noqa: E402
from streamnets.data import ArrayDataset  # noqa: E402
from streamnets.data.registry import FRAME_SHAPES  # noqa: E402
from streamnets.device import resolve_device  # noqa: E402
from streamnets.errors import SettingError, whole_number  # noqa: E402
from streamnets.experiments import get_experiment  # noqa: E402
from streamnets.train import TrainConfig, make_sequences, train  # noqa: E402

#: Training and test samples of the real data sets, as the paper profile uses them:
#: MNIST's and CIFAR-10's splits; GTSRB's 1,307 training tracks split 80/10/10
#: by class (``split_tracks``), about 1,046 / 130 of them.
REAL_SIZES = {"mnist": (60_000, 10_000), "cifar10": (50_000, 10_000), "gtsrb": (1_046, 130)}

#: Frames per GTSRB track.
TRACK_LENGTH = 30


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", nargs="+", default=list(REAL_SIZES), choices=list(REAL_SIZES))
    parser.add_argument("--network", nargs="+", help="only these networks of the experiments (default all)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    parser.add_argument("--batches", type=int, default=20, help="training batches timed per run")
    parser.add_argument("--eval-batches", type=int, default=5, help="test batches timed per run")
    parser.add_argument("--whole-epoch", action="store_true",
                        help="time whole epochs of the real data's size (ignores --batches, --eval-batches)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    for option in ("--batches", "--eval-batches"):
        whole_number(option, getattr(args, option[2:].replace("-", "_")))
    networks = {name: _chosen_networks(name, args.network) for name in args.experiment}
    known = [n for e in args.experiment for n in get_experiment(e).networks]
    unknown = sorted(set(args.network or ()) - set(known))
    if unknown:
        raise SettingError(f"--network: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not "
                           f"a network of {', '.join(args.experiment)}; they have {', '.join(known)}")
    device = resolve_device(args.device)
    report = {"device": _device_name(device), "torch": torch.__version__, "whole_epoch": args.whole_epoch,
              "batches": None if args.whole_epoch else args.batches,
              "eval_batches": None if args.whole_epoch else args.eval_batches, "experiments": {}}
    for name, chosen in networks.items():
        if chosen:
            report["experiments"][name] = time_experiment(
                name, device, args.batches, args.eval_batches, networks=chosen,
                whole_epoch=args.whole_epoch, log=None if args.json else print)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"\n{report['device']}, torch {report['torch']}")
        for name, result in report["experiments"].items():
            subset = "" if args.network is None else f" ({', '.join(result['networks'])} only)"
            print(f"{name}{subset}: {result['runs_per_repetition']} runs x {result['repetitions']} "
                  f"repetition(s), projected {result['projected_hours']:.2f} h (the profile says "
                  f"{result['expected_time']!r})")
    return 0


def time_experiment(name, device, batches, eval_batches, networks=None, whole_epoch=False, log=None):
    """Time the runs of experiment ``name``'s paper profile (those of ``networks``,
    default all); the projection of the whole profile from them."""
    experiment = get_experiment(name)
    profile = experiment.profile("paper")
    n_train, n_test = REAL_SIZES[name]
    batch = profile.batch_size
    if whole_epoch:
        batches, eval_batches = math.ceil(n_train / batch), math.ceil(n_test / batch)
    train_images = _random_images(name, n_train if whole_epoch else batches * batch, seed=1)
    test_images = _random_images(name, n_test if whole_epoch else eval_batches * batch, seed=2)
    runs = []
    for network in networks or experiment.networks:
        net = sn.load(network).scaled(profile.width)
        for rollout in experiment.rollouts[network]:
            run = time_run(net, rollout, profile, experiment.noise_std, train_images, test_images,
                           device, batches)
            run["projected_seconds"] = profile.epochs * (math.ceil(n_train / batch) * run["s_per_batch"]
                                                         + math.ceil(n_test / batch) * run["s_per_test_batch"])
            runs.append(run)
            if log:
                log(f"{name} {network} {rollout}: {run['frames']} frames, "
                    f"{1e3 * run['s_per_batch']:.1f} ms per training batch, "
                    f"{1e3 * run['s_per_test_batch']:.1f} ms per test batch, "
                    f"projected {run['projected_seconds'] / 60:.1f} min")
    total = profile.repetitions * sum(run["projected_seconds"] for run in runs)
    return {"networks": list(networks or experiment.networks), "epochs": profile.epochs,
            "batch_size": batch, "repetitions": profile.repetitions, "train_samples": n_train,
            "test_samples": n_test, "runs_per_repetition": len(runs), "expected_time": profile.expected_time,
            "projected_hours": total / 3600, "runs": runs}


def time_run(net, rollout, profile, noise_std, train_images, test_images, device, batches):
    """One run: seconds per training batch (second epoch) and per test batch."""
    config = TrainConfig(epochs=2, batch_size=profile.batch_size, lr=profile.lr, decay=profile.decay,
                         optimizer=profile.optimizer, device=str(device), max_batches=batches,
                         progress=False)
    trainer, _ = train(net, rollout, train_images, None, noise_std=noise_std, config=config)
    epoch = trainer.history[-1]
    tests = make_sequences(test_images, trainer.frames, noise_std, train=False).to(trainer.device)
    trainer.evaluate(tests)  # warm-up: the evaluation's own shapes
    start = time.perf_counter()
    trainer.evaluate(tests)  # ends in .item(): the device is done
    test_seconds = time.perf_counter() - start
    return {"network": net.name, "rollout": rollout, "frames": trainer.frames,
            "s_per_batch": epoch["seconds"] / batches,
            "s_per_test_batch": test_seconds / math.ceil(len(test_images) / profile.batch_size)}


def _chosen_networks(experiment, names):
    """The networks of ``experiment`` among ``names`` (all of them when None)."""
    networks = get_experiment(experiment).networks
    return list(networks) if names is None else [n for n in networks if n in names]


def _random_images(name, count, seed):
    """``count`` random images (or tracks, for GTSRB) of the real data's shape."""
    gen = torch.Generator().manual_seed(seed)
    shape = FRAME_SHAPES[name] if name != "gtsrb" else (TRACK_LENGTH, *FRAME_SHAPES[name])
    classes = 43 if name == "gtsrb" else 10
    data = torch.randint(0, 256, (count, *shape), dtype=torch.uint8, generator=gen)
    targets = torch.randint(0, classes, (count,), generator=gen)
    return ArrayDataset(data, targets, [str(c) for c in range(classes)], f"random {name}-shaped pixels")


def _device_name(device):
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (cuda)"
    return f"{device.type}, {torch.get_num_threads()} threads"


if __name__ == "__main__":
    sys.exit(exit_status(main, prog="time_paper_profile.py"))
