"""StreamNet training step against a hand-written PyTorch rollout of the same network.

Times one training step (forward over the rollout window + cross entropy over the
responding frames + backward) of ``mnist_sr`` under the streaming rollout, for
``streamnets.nn.StreamNet`` and for a plain module written out by hand (conv and
linear layers called frame by frame), with identical weights, data and loss.
Reports the median time per step, their ratio (and the median of the ratios of
steps run back to back, robust to load from other processes), and the peak memory
allocated during the window pass (forward) and during the whole step.

Memory: on CUDA ``torch.cuda.max_memory_allocated`` above the level before the
step; on the CPU the allocator events recorded by ``torch.profiler`` with
``profile_memory=True`` (running sum of allocations and frees, its maximum).

Usage::

    .venv/bin/python benchmarks/bench_streamnet.py [--device cuda] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamnets as sn  # noqa: E402
from streamnets.cli import exit_status  # noqa: E402
from streamnets.device import cpu_name, resolve_device  # noqa: E402
from streamnets.errors import whole_number  # noqa: E402
from streamnets.nn import StreamNet  # noqa: E402
from streamnets.parallel.cost import sync  # noqa: E402
from streamnets.seeding import seed_everything  # noqa: E402


class HandWrittenSR(nn.Module):
    """mnist_sr under the streaming rollout, written out by hand.

    image -> h1 (conv 7x7 stride 4), h1 -> h1 (conv 3x3), h1 -> h2 (dense),
    h2 -> prediction and h1 -> prediction (dense). Every edge reads the previous
    frame; a node whose sources are all still empty stays empty (None).
    """

    def __init__(self):
        super().__init__()
        self.image_h1 = nn.Conv2d(1, 16, 7, stride=4, padding=3)  # carries h1's bias
        self.h1_h1 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.h1_h2 = nn.Linear(16 * 7 * 7, 128)  # carries h2's bias
        self.h1_pred = nn.Linear(16 * 7 * 7, 10)  # carries prediction's bias
        self.h2_pred = nn.Linear(128, 10, bias=False)
        self.drop1 = nn.Dropout(0.25)
        self.drop2 = nn.Dropout(0.5)

    def forward(self, x):
        """``x``: (batch, time, 1, 28, 28); returns the logits of frames 2..T-1, stacked."""
        h1 = h2 = None
        logits = []
        for t in range(1, x.shape[1]):
            h1_in = self.image_h1(x[:, t - 1])
            if h1 is not None:
                h1_in = h1_in + self.h1_h1(h1)
            new_h1 = F.relu(self.drop1(h1_in))
            new_h2 = None
            if h1 is not None:
                flat = h1.flatten(1)
                new_h2 = F.relu(self.drop2(self.h1_h2(flat)))
                pred = self.h1_pred(flat)
                if h2 is not None:
                    pred = pred + self.h2_pred(h2)
                logits.append(pred)
            h1, h2 = new_h1, new_h2
        return torch.stack(logits, dim=1)

    @torch.no_grad()
    def copy_from(self, model):
        """Take the weights of a StreamNet of mnist_sr."""
        e, n = model.edge_modules, model.node_modules
        for mine, key in ((self.image_h1, "image->h1"), (self.h1_h1, "h1->h1"),
                          (self.h1_h2, "h1->h2"), (self.h1_pred, "h1->prediction"),
                          (self.h2_pred, "h2->prediction")):
            mine.weight.copy_(e[key].weight)
        self.image_h1.bias.copy_(n["h1"].bias)
        self.h1_h2.bias.copy_(n["h2"].bias)
        self.h1_pred.bias.copy_(n["prediction"].bias)
        return self


def streamnet_logits(model, rollout):
    def run(x):
        return model(x, rollout=rollout).responses("prediction")
    return run


def train_step(run, params, x, y):
    for p in params:
        p.grad = None
    logits = run(x)
    loss = F.cross_entropy(logits.flatten(0, 1), y.repeat_interleave(logits.shape[1]))
    loss.backward()
    return loss


def time_steps(runs, x, y, device, warmup, repeats):
    """Seconds per training step of each run: ``{name: [times]}``.

    The runs alternate step by step, in reversed order every other round (ABBA),
    so that drift and load from other processes hit both alike.
    """
    names = list(runs)
    times = {name: [] for name in names}
    for i in range(warmup + repeats):
        for name in (names if i % 2 else names[::-1]):
            run, params = runs[name]
            sync(device)
            start = time.perf_counter()
            train_step(run, params, x, y)
            sync(device)
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def cpu_peak(fn):
    """Peak bytes allocated (above the start) while ``fn`` runs, from profiler events."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                    key=lambda e: e.start_ns())
    current = peak = 0
    for e in events:
        current += e.nbytes()
        peak = max(peak, current)
    return peak


def cuda_peak(fn, device):
    sync(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    fn()
    sync(device)
    return torch.cuda.max_memory_allocated(device) - base


def peak_memory(run, params, x, y, device):
    """(window pass, training step) peak bytes."""
    measure = (lambda f: cuda_peak(f, device)) if device.type == "cuda" else cpu_peak

    def forward():
        logits = run(x)
        del logits

    for p in params:
        p.grad = None
    fwd = measure(forward)
    for p in params:
        p.grad = None
    step = measure(lambda: train_step(run, params, x, y))
    return fwd, step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--frames", type=int, default=9,
                        help="frames 0..FRAMES-1 per sample; the loss is over frames 2.. (default 9)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps of each model")
    parser.add_argument("--repeats", type=int, default=30, help="timed steps of each model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    whole_number("--batch", args.batch)
    whole_number("--frames", args.frames, lo=3, why="mnist_sr first responds in frame 2, and the loss "
                 "needs a responding frame")
    whole_number("--warmup", args.warmup, lo=0)
    whole_number("--repeats", args.repeats)
    if args.threads is not None:
        whole_number("--threads", args.threads)

    device = resolve_device(args.device)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    net = sn.load("mnist_sr")
    rollout = sn.Rollout.streaming(net)
    model = StreamNet(net).to(device)
    hand = HandWrittenSR().to(device).copy_from(model)
    x = torch.rand(args.batch, args.frames, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)

    model.eval(), hand.eval()
    with torch.no_grad():
        max_diff = (streamnet_logits(model, rollout)(x) - hand(x)).abs().max().item()
    model.train(), hand.train()

    runs = {"streamnet": (streamnet_logits(model, rollout), list(model.parameters())),
            "handwritten": (hand, list(hand.parameters()))}
    samples = time_steps(runs, x, y, device, args.warmup, args.repeats)
    times = {name: statistics.median(ts) for name, ts in samples.items()}
    paired = statistics.median(a / b for a, b in zip(samples["streamnet"], samples["handwritten"]))
    memory = {name: peak_memory(run, params, x, y, device) for name, (run, params) in runs.items()}

    result = {
        "network": "mnist_sr", "rollout": "streaming", "batch": args.batch, "frames": args.frames,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
        "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
        "repeats": args.repeats, "max_abs_logit_diff_eval": max_diff,
        "memory_method": "torch.cuda.max_memory_allocated" if device.type == "cuda"
        else "torch.profiler profile_memory allocator events",
        "time_s": times, "time_ratio": times["streamnet"] / times["handwritten"],
        "time_min_s": {name: min(ts) for name, ts in samples.items()},
        "time_paired_ratio": paired,
        "peak_forward_bytes": {k: v[0] for k, v in memory.items()},
        "peak_step_bytes": {k: v[1] for k, v in memory.items()},
    }
    result["peak_forward_ratio"] = memory["streamnet"][0] / memory["handwritten"][0]
    result["peak_step_ratio"] = memory["streamnet"][1] / memory["handwritten"][1]
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    mib = 2.0 ** 20
    print(f"mnist_sr, streaming, batch {args.batch}, {args.frames} frames, {device} "
          f"({result['threads']} threads), median of {args.repeats}")
    print(f"  eval logits StreamNet vs hand-written: max |diff| = {max_diff:.2e}")
    print(f"  {'':12s} {'step ms':>9s} {'fwd peak MiB':>13s} {'step peak MiB':>14s}")
    for name in runs:
        print(f"  {name:12s} {times[name] * 1e3:9.2f} {memory[name][0] / mib:13.2f} "
              f"{memory[name][1] / mib:14.2f}")
    print(f"  {'ratio':12s} {result['time_ratio']:9.3f} {result['peak_forward_ratio']:13.3f} "
          f"{result['peak_step_ratio']:14.3f}")
    print(f"  median of per-round time ratios: {paired:.3f}; fastest steps: " + ", ".join(
        f"{name} {t * 1e3:.2f} ms" for name, t in result["time_min_s"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(exit_status(main, prog="bench_streamnet.py"))
