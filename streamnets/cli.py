"""The ``streamnets`` command line.

User errors (bad specs, invalid patterns, missing data) print one line
``streamnets: error: ...`` on stderr and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import warnings
from pathlib import Path

from .errors import SettingError, SpecError, StreamnetsError, counted, one_line, positive_number, whole_number

__all__ = ["main", "exit_status", "check_counts"]


#: Upper bounds of counts beyond any machine (torch's thread calls overflow, a bench
#: batch is allocated at once): refused with a message instead of a traceback.
MAX_THREADS = 1024
MAX_BENCH_BATCH = 65536


def check_counts(args, *options, lo=1, hi=None, why=None):
    """Each ``--option`` of ``args`` that was given a whole number in ``lo..hi``
    (SettingError naming it; ``why`` ends the message)."""
    for option in options:
        value = getattr(args, option[2:].replace("-", "_"))
        if value is not None:
            whole_number(option, value, lo, hi, why=why)


def _folder_name(*parts):
    """One path component from names that may hold '/' or other characters a folder name
    should not (a network named 'a/b' must not nest the run folder)."""
    return "__".join(re.sub(r"[^\w.-]+", "_", part) for part in parts)


def _check_positive(option, value, zero=False):
    """A float option, when given: a finite number > 0 (``zero``: >= 0)."""
    if value is not None:
        positive_number(option, value, zero)


def _resolve_rollout(net, args):
    from .rollout import Rollout

    if args.pattern is not None:
        bits = args.pattern.strip()
        if set(bits) - {"0", "1"} or len(bits) != len(net.edges):
            raise SpecError(f"give one 0/1 digit per edge ({counted(net.edges, 'edge')}, in "
                            f"the order {_edge_list(net)}), got {args.pattern!r}", field="--pattern")
        return Rollout.from_bits(net, [int(b) for b in bits], "custom")
    if args.stream is not None:
        return Rollout.from_streaming_edges(net, [_stream_edge(net, item) for item in args.stream],
                                            "custom")
    return _named_rollout(net, args.rollout or "streaming")


def _named_rollout(net, name):
    """``Rollout.named``, with its error naming the option it came from."""
    from .rollout import Rollout

    try:
        return Rollout.named(net, name)
    except SpecError as err:
        if err.field != "rollout":
            raise
        message = str(err).removeprefix("rollout: ")
        if set(name) <= {"0", "1"}:  # bits: the Python advice becomes the option's
            message = re.sub(r"use Rollout\.from_bits\(.*?\); ", f"use --pattern {name}; ", message)
        raise SpecError(message, field="--rollout") from None


def _stream_edge(net, item):
    """``SOURCE:TARGET`` as an edge; node names may contain ':' themselves, so the split
    is the one ':' that gives an edge of ``net``."""
    splits = [(item[:i], item[i + 1:]) for i, c in enumerate(item) if c == ":"]
    if not splits:
        raise SpecError(f"write a streaming edge as SOURCE:TARGET, got {item!r}", field="--stream")
    edges = [pair for pair in splits if pair in net.edge_index]
    if len(edges) > 1:
        both = " and ".join("->".join(e) for e in edges)
        raise SpecError(f"{item!r} can be read as the edges {both}; give the pattern with --pattern "
                        f"instead", field="--stream")
    if not edges:
        names = _edge_list(net).split()
        close = difflib.get_close_matches(item, names, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise SpecError(f"{item} is not an edge of network {net.name!r}; {hint}its edges: "
                        f"{' '.join(names)}", field="--stream")
    return edges[0]


def _edge_list(net):
    return " ".join(f"{u}:{v}" for u, v in net.edge_index)


#: The largest ``inspect --window``: the tableau has W + 1 columns per node.
MAX_WINDOW = 10_000


def inspect_report(net, rollout, window=None):
    """Everything the theory says about one network and pattern, as a JSON-ready dict."""
    from .theory import count_patterns

    rollout.validate()
    first = rollout.first_response()
    if window is None:
        window = max(3, *(f.frame for f in first.values()))
    try:
        counts = count_patterns(net)._asdict()
    except StreamnetsError as err:  # an SCC too large to enumerate
        counts = {"total": 2 ** len(net.edges), "valid": None, "model_parallel_classes": None,
                  "note": str(err)}
    return {
        "network": {"name": net.name, "nodes": list(net.nodes), "edges": [list(k) for k in net.edge_index],
                    "inputs": list(net.inputs), "outputs": list(net.outputs)},
        "rollout": {"name": rollout.name,
                    "pattern": [[u, v, r] for (u, v), r in rollout.pattern.items()]},
        "valid": True,
        "inference_factor": rollout.inference_factor,
        "window": window,
        "tableau": rollout.tableau(window),
        "first_response": {o: f._asdict() for o, f in first.items()},
        "patterns": counts,
    }


def _print_report(report, out):
    net, r = report["network"], report["rollout"]
    print(f"network   {net['name']}: {counted(net['nodes'], 'node')}, {counted(net['edges'], 'edge')}; "
          f"inputs {', '.join(net['inputs'])}; outputs {', '.join(net['outputs'])}", file=out)
    streaming = [f"{u}->{v}" for u, v, b in r["pattern"] if b]
    print(f"rollout   {r['name']}: streaming edges (R=1): {', '.join(streaming) or 'none'}", file=out)
    print(f"valid     yes; inference factor F = {report['inference_factor']}", file=out)
    for o, f in report["first_response"].items():
        print(f"response  {o}: first at frame {f['frame']}, update step {f['update_step']}", file=out)
    p = report["patterns"]
    if p["valid"] is None:
        print(f"patterns  {p['total']} in all; valid ones and model-parallel classes not counted: "
              f"{p['note']}", file=out)
    else:
        print(f"patterns  {p['total']} in all, {p['valid']} valid, {p['model_parallel_classes']} "
              f"model-parallel classes", file=out)
    width = max(5, *(len(v) for v in report["tableau"]))
    frames = range(report["window"] + 1)
    print("\ntableau T (update step at which node v of frame i is computed)", file=out)
    print(f"{'frame':<{width}}  " + " ".join(f"{i:>3}" for i in frames), file=out)
    for v in reversed(list(report["tableau"])):
        print(f"{v:<{width}}  " + " ".join(f"{t:>3}" for t in report["tableau"][v]), file=out)


def _cmd_inspect(args, out):
    from .spec import load

    if args.spec is None:
        given = [o for o, v in (("--rollout", args.rollout is not None), ("--pattern", args.pattern),
                                ("--stream", args.stream), ("--window", args.window is not None)) if v]
        if given:
            hint = " (SPEC first: --stream takes every name after it as an edge)" if args.stream else ""
            raise SettingError(f"{given[0]} needs a network: streamnets inspect SPEC {given[0]} ...{hint}")
        return _cmd_list(args, out)
    if args.window is not None:
        whole_number("--window", args.window, 0, MAX_WINDOW,
                     why=f"the tableau has W + 1 columns per node (frames 0..W); at most "
                         f"{MAX_WINDOW}, or leave the option out for a window that shows the first "
                         f"response")
    net = load(args.spec)
    report = inspect_report(net, _resolve_rollout(net, args), args.window)
    if args.json:
        json.dump(report, out)
        print(file=out)
    else:
        _print_report(report, out)
    return 0


def list_report():
    """The built-in networks' theory values beside the paper's, as JSON-ready dicts.

    ``paper`` is None for a network the paper gives no values for; ``matches`` is
    None then, else whether ours equal the paper's (where it states them).
    """
    from .paper import AUTHORS_VALUES
    from .rollout import Rollout
    from .spec import builtin_names, load

    rows = []
    for name in builtin_names():
        net = load(name)
        seq, stream = Rollout.sequential(net), Rollout.streaming(net)
        (s,), (q,) = stream.first_response().values(), seq.first_response().values()
        ours = (seq.inference_factor, (s.frame, s.update_step), (q.frame, q.update_step))
        paper = AUTHORS_VALUES.get(name)
        matches = None if paper is None else (ours[:2] == tuple(paper[:2])
                                              and paper[2] in (None, ours[2]))
        rows.append({"network": name, "nodes": len(net.nodes), "edges": len(net.edges),
                     "sequential_factor": ours[0], "streaming_first": list(ours[1]),
                     "sequential_first": list(ours[2]),
                     "paper": None if paper is None else [paper[0], list(paper[1]),
                                                          paper[2] and list(paper[2])],
                     "matches": matches})
    return rows


def _cmd_list(args, out):
    rows = list_report()
    if getattr(args, "json", False):
        json.dump(rows, out)
        print(file=out)
    else:
        print(f"{'network':<14}{'nodes':>6}{'edges':>6}  {'F(seq)':>7}  {'streaming 1st':>17}  "
              f"{'sequential 1st':>17}  paper", file=out)
        for row in rows:
            verdict = {None: "-", True: "matches"}.get(
                row["matches"], f"DIFFERS: paper {row['paper']}")
            firsts = ("frame %d, step %d" % tuple(row[key])
                      for key in ("streaming_first", "sequential_first"))
            print(f"{row['network']:<14}{row['nodes']:>6}{row['edges']:>6}  "
                  f"{row['sequential_factor']:>7}  {next(firsts):>17}  {next(firsts):>17}  {verdict}",
                  file=out)
    return 1 if any(row["matches"] is False for row in rows) else 0


_NOISE = {"mnist": 2.0, "fashion-mnist": 2.0, "digits": 2.0, "cifar10": 1.0, "shapes": 1.0,
          "gtsrb": 0.5, "signs": 0.5}


def _training_data(net, args):
    """(train, test, noise key, note): the ``--dataset``, else the data of the network's
    experiment (of its input shape for other networks), real if present, else offline."""
    from .data import FRAME_SHAPES, canonical_name, default_splits, load as load_data
    from .experiments import EXPERIMENTS

    node = net.nodes[net.inputs[0]]
    fitting = [name for name, shape in FRAME_SHAPES.items() if shape == node.shape]
    if not fitting:
        shapes = {}
        for name, shape in FRAME_SHAPES.items():
            shapes.setdefault("x".join(map(str, shape)), []).append(name)
        known = "; ".join(f"{shape}: {', '.join(names)}" for shape, names in shapes.items())
        raise SpecError(f"input node {node.name!r} has shape {list(node.spec_shape)}, which the frames "
                        f"of no built-in data set have ({known}); give the input node one of these "
                        f"shapes, or train it from Python on your own data (streamnets.train.train)",
                        net.source, f"nodes.{node.name}.shape")
    if args.dataset is not None:
        name = canonical_name(args.dataset)
        if name not in fitting:
            raise SettingError(f"--dataset {name}: its frames have shape {list(FRAME_SHAPES[name])}, "
                               f"but {net.name}'s input node {node.name!r} has shape "
                               f"{list(node.spec_shape)}; choose one of {', '.join(fitting)}")
        return (*(load_data(name, split, root=args.data_dir, download=args.download)
                  for split in ("train", "test")), name, None)
    experiment = next((e.name for e in EXPERIMENTS.values() if net.name in e.networks),
                      "mnist" if "mnist" in fitting else "cifar10")
    (train, test), note = default_splits(experiment, root=args.data_dir, download=args.download,
                                         strict=args.data_dir is not None or args.download)
    return train, test, experiment, note


def _cmd_train(args, out):
    from ._io import check_output_folder
    from .device import resolve_device
    from .experiments import subset
    from .spec import load
    from .rollout import pattern_label
    from .train import TrainConfig, check_lr, optimizer_class, train

    optimizer_class(args.optimizer, "--optimizer")
    check_counts(args, "--epochs", "--batch-size")
    check_counts(args, "--limit", why="leave the option out to use every sample")
    check_counts(args, "--seed", lo=0)
    whole_number("--seed", args.seed, 0, 2 ** 32 - 1)  # what torch's generator takes
    check_lr(args.lr, "--lr")
    _check_positive("--width", args.width)
    _check_positive("--noise-std", args.noise_std, zero=True)
    resolve_device(args.device)
    spec = load(args.spec)
    net = spec.scaled(args.width)
    rollout = _resolve_rollout(net, args).validate()  # an invalid pattern: before loading data
    label = pattern_label(rollout.name, rollout.bits)  # --pattern / --stream: custom-<bits>
    out_dir = args.out or f"runs/train/{_folder_name(net.name, label)}"
    if not args.resume and (Path(out_dir) / "checkpoint.pt").is_file():
        raise SettingError(f"{out_dir} holds a training run already (checkpoint.pt); add --resume to "
                           f"continue it, or give another --out (or delete the folder) to train afresh")
    check_output_folder(out_dir)  # before the data are loaded; the Trainer creates it
    _check_data_dir(args)
    train_images, test_images, data, note = _training_data(spec, args)
    if note is not None:
        print(note, file=out)
    train_images, test_images = subset(train_images, args.limit), subset(test_images, args.limit)
    noise = args.noise_std if args.noise_std is not None else _NOISE.get(data, 1.0)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         optimizer=args.optimizer, seed=args.seed, device=args.device,
                         progress=not args.quiet)
    print(f"training {net.name} under the {label} rollout on {train_images.name} "
          f"(noise std {noise:g}); writing to {out_dir}", file=out)
    trainer, ev = train(net, rollout, train_images, test_images, noise, config, out_dir, args.resume)
    print(_training_done(trainer, args.resume, out_dir), file=out)
    print(f"{'frame':>6} {'update step':>12} {'test accuracy':>14}", file=out)
    for f, s, a in zip(ev.frames, ev.update_steps, ev.accuracy):
        print(f"{f:>6} {s:>12} {a:>14.3f}", file=out)
    print(f"the trained model, for inference: streamnets.train.load_trained({str(out_dir)!r})", file=out)
    return 0


def _check_data_dir(args):
    """Refuse a ``--data-dir`` that is not a folder (unless ``--download`` will make it), and
    both options beside an offline ``--dataset``, which would ignore them."""
    from .data import canonical_name
    from .data.registry import EXPERIMENTS as DATA_PAIRS

    real = {standin: real for real, standin in DATA_PAIRS.values()}
    name = canonical_name(args.dataset) if args.dataset is not None else None
    given = " and ".join(option for option, used in (("--download", args.download),
                                                     ("--data-dir", args.data_dir is not None)) if used)
    if name in real and given:  # the user expects real data
        raise SettingError(f"{given}: --dataset {name} is an offline data set built into streamnets, "
                           f"read from no folder and never downloaded; leave out {given}, or give "
                           f"--dataset {real[name]} for the real data")
    if args.data_dir is not None and not args.download and not Path(args.data_dir).is_dir():
        raise SettingError(f"--data-dir {args.data_dir} is not a folder; give the folder that holds the "
                           f"data sets (e.g. {Path(args.data_dir) / 'mnist'} in it), or add --download "
                           f"to fetch them there")


def _training_done(trainer, resume, out_dir):
    """One line on what ``train`` did: trained, resumed, or found the run finished."""
    done, resumed = len(trainer.history), trainer.resumed_epochs
    if resumed is None:
        fresh = f" (--resume: no checkpoint in {out_dir}, so from the start)" if resume else ""
        return f"trained {done} epoch{'s' * (done != 1)}{fresh}"
    if resumed == done:
        return (f"nothing trained: the checkpoint in {out_dir} already holds the {done} "
                f"epoch{'s' * (done != 1)} asked for; the accuracies below are of that model")
    trained = f"epoch {done}" if done == resumed + 1 else f"epochs {resumed + 1}..{done}"
    return f"resumed after epoch {resumed} of {done}; trained {trained}"


def _cmd_reproduce(args, out):
    from .experiments import compare_to_reference, reference_results, reproduce
    from .experiments.report import profile_label

    def log(line):
        print(line, file=out, flush=True)

    check_counts(args, "--epochs", "--repetitions", why="leave the option out for the profile's value")
    _check_data_dir(args)  # a misspelt folder is refused unless --download was asked for by name
    results = reproduce(args.experiment, profile=args.profile, out=args.out, dataset=args.dataset,
                        data_dir=args.data_dir, download=args.download, device=args.device,
                        resume=args.resume, progress=not args.quiet, log=log,
                        epochs=args.epochs, repetitions=args.repetitions)
    failed = 0
    for name, res in results.items():
        changed = profile_label(res).partition(", ")[2]
        log(f"\n== {res['title']} ({res['profile']} profile{', ' * bool(changed)}{changed}) "
            f"-> {args.out}/{res['profile']}/{name}/")
        for claim in res["claims"]:
            failed += not claim["holds"]
            log(f"  [{'holds' if claim['holds'] else 'DOES NOT HOLD'}] {claim['id']}: {claim['evidence']}")
        reference = reference_results(name, res["profile"])
        if reference is None or args.epochs is not None or args.repetitions is not None:
            pass
        elif reference["dataset"] != res["dataset"]:
            log(f"  (the committed reference was trained on other data, {reference['dataset']}: "
                "not compared)")
        else:
            log("  difference to the committed reference results:")
            for line in compare_to_reference(res, reference):
                log(f"    {line}")
    log(f"\n{failed} claim(s) did not hold" if failed else "\nall claims hold")
    return 0


def _cmd_notebooks(args, out):
    from .device import resolve_device
    from .notebooks import run_notebooks

    # ci: the CPU, whose results the committed references hold; paper: the best device here
    device = args.device or ("auto" if args.profile == "paper" else "cpu")
    resolve_device(device)  # an unknown or missing device before any notebook starts
    results = run_notebooks(args.names or None, profile=args.profile, out_dir=args.out,
                            parameters={"device": device}, progress=not args.quiet)
    for r in results:
        print(f"executed {r.name} in {r.seconds:.1f} s -> {r.output}", file=out)
    return 0


def _cmd_bench_parallel(args, out):
    from .parallel.bench import EXECUTORS, bench_parallel

    check_counts(args, "--frames", "--repeats", "--frames-per-graph")
    check_counts(args, "--workers", "--threads-per-worker", hi=MAX_THREADS)
    check_counts(args, "--batch", hi=MAX_BENCH_BATCH)
    unknown = [e for e in args.executor or () if e not in EXECUTORS]
    if unknown:
        raise SpecError(f"unknown executor {unknown[0]!r}; choose from {', '.join(EXECUTORS)}",
                        field="--executor")
    result = bench_parallel(args.network, args.batch, executors=args.executor, frames=args.frames,
                            device=args.device, repeats=args.repeats, workers=args.workers,
                            threads_per_worker=args.threads_per_worker,
                            frames_per_graph=args.frames_per_graph)
    if args.json:
        json.dump(result, out)
        print(file=out)
        return 0
    print(f"{result['network']} on {result['device']}, batch {result['batch']}", file=out)
    names = {"sequential_ms_per_frame": "best node by node ms per frame",
             "streaming_ms_per_frame": "best streaming ms per frame"}
    rows = [(names.get(key, key.replace("_", " ")), f"{result[key]:9.3f}")
            for key in ("sequential_ms_per_frame", "streaming_ms_per_frame", "ideal_ms_per_frame",
                        "balanced_ms_per_frame", "concurrent_ms_per_frame", "handoff_ms",
                        "sequential_pipelined_ms_per_frame", "streaming_pipelined_ms_per_frame")
            if result.get(key) is not None]
    for name, e in result["executors"].items():
        if e.get("ms_per_frame") is not None:
            rows.append((f"executor {name} ms per frame", f"{e['ms_per_frame']:9.3f}"))
        if e.get("graph_ms") is not None:  # the device's time per frame alone
            rows.append((f"{name} graph alone ms", f"{e['graph_ms']:9.3f}"))
    node_by_node, streaming = result.get("sequential_executor"), result.get("streaming_executor")
    if node_by_node and streaming:
        rows.append((f"speed-up of {streaming} over {node_by_node}" if streaming != node_by_node
                     else f"speed-up: none, {node_by_node} was fastest", f"{result['speedup']:8.2f}x"))
    rows.append(("outputs match", f"{result['outputs_match']!s:>9}"))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}} {value}", file=out)
    return 0


def _add_data_args(p, download_by_profile=False):
    p.add_argument("--data-dir", help="folder with the data sets (default: $STREAMNETS_DATA, the "
                   "repository's data/, ~/.cache/streamnets, ...)")
    if download_by_profile:  # reproduce: the paper profile is meant for the real data
        p.add_argument("--download", action=argparse.BooleanOptionalAction,
                       help="download missing real data sets (default: under --profile paper only; "
                            "--no-download: the offline stand-ins instead)")
    else:
        p.add_argument("--download", action="store_true", help="download missing real data sets")
    p.add_argument("--device", default="auto",
                   help="auto (cuda > mps > cpu), cpu, cuda, cuda:1, mps (default: %(default)s)")
    p.add_argument("--resume", action="store_true", help="continue interrupted work in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--threads", type=int, help="torch threads per process (default: one per core; "
                   "1 is faster when other work shares the cores)")


def _set_threads(threads):
    if threads is None:
        return
    whole_number("--threads", threads, 1, MAX_THREADS)
    import torch

    torch.set_num_threads(threads)


class _Parser(argparse.ArgumentParser):
    """argparse with the one-line errors of every other user error (no usage block)."""

    def parse_known_args(self, args=None, namespace=None):
        self._given = list(sys.argv[1:] if args is None else args)  # for error's hint
        return super().parse_known_args(args, namespace)

    def error(self, message):
        given = getattr(self, "_given", ())
        if message.endswith("required: spec") and any(  # --stream or an abbreviation of it
                len(arg) > 2 and "--stream".startswith(arg) for arg in given):
            message += " (SPEC first: --stream takes every name after it as an edge)"
        options = [arg for arg in given if arg.startswith("-")]
        if message.endswith("required: command") and options:  # 'streamnets --foo'
            message = (f"unrecognized arguments: {options[0]}; give a command first (e.g. "
                       f"streamnets list), its options after it")
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def _add_rollout_args(p):
    """``--rollout NAME``, or a pattern of one's own: ``--pattern BITS`` or ``--stream EDGES``."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--rollout",  # None: streaming (and inspect can tell it was not given)
                       help="streaming, sequential, or a pattern named in the spec (default: streaming)")
    group.add_argument("--pattern", help="one 0/1 digit per edge, in the spec's edge order")
    group.add_argument("--stream", nargs="+", action="extend", metavar="SRC:TGT",
                       help="the streaming edges (R=1); all others get R=0")


def build_parser():
    from . import __version__

    parser = _Parser(
        prog="streamnets",
        description="The streaming rollout of deep networks: theory, training, reproduction.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("inspect", help="rollout theory of a network: validity, F, tableau, first response",
                       description="Inspect a network under a rollout pattern. Without SPEC: list the "
                                   "built-in networks with their values next to the paper's.")
    p.add_argument("spec", nargs="?", help="built-in network name or path to a .yaml / .st_graph file")
    _add_rollout_args(p)
    p.add_argument("--window", type=int, help="window size W (frames 0..W) for the tableau "
                   "(default: enough to show the first response, at least 3)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_cmd_inspect)

    p = sub.add_parser("list", help="the built-in networks with their theory values next to the paper's",
                       description="The built-in networks: nodes, edges, F of the sequential rollout "
                                   "and the first responses of both rollouts, next to the paper's "
                                   "values. Exit status 1 if any differs.")
    p.add_argument("--json", action="store_true", help="print one JSON list")
    p.set_defaults(run=_cmd_list)

    p = sub.add_parser("train", help="train one network under one rollout and report accuracy per frame",
                       description="Train one network under one rollout pattern on noisy frame sequences "
                                   "(the data of its experiment by default: real if present, else the "
                                   "offline stand-in), checkpointing every epoch into --out, and print the "
                                   "test accuracy per output frame with the update step it answers at.")
    p.add_argument("spec", help="built-in network name or path to a .yaml / .st_graph file")
    _add_rollout_args(p)
    p.add_argument("--dataset",
                   help="mnist, fashion-mnist, cifar10, gtsrb, or offline: digits, shapes, signs "
                        "(default: the data of the network's experiment, real if present, else "
                        "its offline stand-in)")
    p.add_argument("--epochs", type=int, default=10,
                   help="(default: %(default)s, a quick run; the paper trained 100)")
    p.add_argument("--batch-size", type=int, default=32, help="(default: %(default)s)")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (default: %(default)s)")
    p.add_argument("--optimizer", default="rmsprop",
                   help="a torch.optim class name, e.g. rmsprop, adam, sgd (default: %(default)s)")
    p.add_argument("--noise-std", type=float, help="default: the paper's value for the data set")
    p.add_argument("--width", type=float, default=1.0,
                   help="scale the hidden channels (default: %(default)s)")
    p.add_argument("--limit", type=int, help="use at most this many training and test samples")
    p.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    p.add_argument("--out", help="output folder (default runs/train/<network>__<rollout>)")
    _add_data_args(p)
    p.set_defaults(run=_cmd_train)

    p = sub.add_parser("reproduce", help="the paper's experiments, with figures and a claims report",
                       description="Run the paper's experiments (every network and rollout, the profile's "
                                   "repetitions) into OUT/<profile>/<experiment>/: results.json, figures, "
                                   "a report of the paper's claims, and a comparison with the committed "
                                   "reference of the ci profile.")
    p.add_argument("experiment", choices=["mnist", "cifar10", "gtsrb", "all"])
    p.add_argument("--profile", choices=["ci", "paper"], default="ci",
                   help="ci: small networks, a few epochs; paper: the paper's settings "
                        "(default: %(default)s)")
    p.add_argument("--dataset", help="override the data set (default: real if present, else offline)")
    p.add_argument("--out", default="runs/reproduce",
                   help="output folder; results go to OUT/<profile>/<experiment>/ (default runs/reproduce)")
    p.add_argument("--epochs", type=int, help="override the profile's epochs (smoke tests)")
    p.add_argument("--repetitions", type=int, help="override the profile's repetitions")
    _add_data_args(p, download_by_profile=True)
    p.set_defaults(run=_cmd_reproduce)

    p = sub.add_parser("bench", help="benchmarks (model-parallel execution)")
    bench = p.add_subparsers(dest="benchmark", required=True)
    p = bench.add_parser("parallel", help="per-frame latency of sequential vs model-parallel streaming",
                         description="Time stateful inference, one step per frame: the best node-by-node "
                                     "execution against the streaming rollout run model-parallel, beside "
                                     "the device's ideal; outputs are checked against model.step.")
    p.add_argument("--network", default="cifar10_dsr6",
                   help="built-in name or spec path (default: %(default)s)")
    p.add_argument("--batch", type=int, default=1, help="(default: %(default)s)")
    p.add_argument("--executor", nargs="+",
                   help="executors to time (default: the device's; an unknown name lists them all)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, ... (default: %(default)s)")
    p.add_argument("--frames", type=int, default=20,
                   help="frames timed per executor and round (default: %(default)s)")
    p.add_argument("--repeats", type=int, default=10,
                   help="timed rounds; rounds alternate the executors' order (default: %(default)s)")
    p.add_argument("--workers", type=int,
                   help="workers of the thread and process executors, the caller included "
                        "(default: the cores over --threads-per-worker)")
    p.add_argument("--threads-per-worker", type=int, default=1,
                   help="intra-op threads of each thread- or process-executor worker (default 1)")
    p.add_argument("--frames-per-graph", type=int, default=16,
                   help="frames per CUDA graph of the *-pipelined executors (default 16)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_cmd_bench_parallel)

    p = sub.add_parser("notebooks", help="execute the notebooks with papermill",
                       description="Execute the notebooks with papermill under a profile, writing the "
                                   "executed copies to --out.")
    p.add_argument("names", nargs="*", help="notebook names or stems (default: all)")
    p.add_argument("--profile", choices=["ci", "paper"], default="ci",
                   help="the profile the training notebooks use (default: %(default)s)")
    p.add_argument("--out", default="runs/notebooks",
                   help="folder for the executed copies (default: %(default)s)")
    p.add_argument("--device", help="the device the notebooks train and time on: auto, cpu, cuda, "
                                    "... (default: cpu under the ci profile, auto under paper)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(run=_cmd_notebooks)
    return parser


def exit_status(run, prog="streamnets"):
    """Call ``run()`` as a command and return its exit status: what ``run`` returns
    (None: 0); a :class:`~streamnets.errors.StreamnetsError` or an ``OSError`` (a
    path the system refuses) prints one line ``<prog>: error: ...`` on stderr and
    gives 2 (no traceback), Ctrl-C 130, output
    piped into a command that stopped reading (``head``) 0. The command line and
    the scripts in ``benchmarks/`` use it.

    Examples
    --------
    >>> from streamnets.errors import SettingError
    >>> def bad():
    ...     raise SettingError("--batch must be a whole number >= 1, got 0")
    >>> exit_status(bad, prog="bench.py")  # prints 'bench.py: error: --batch must be ...'
    2
    >>> exit_status(lambda: None)
    0
    """
    try:
        with warnings.catch_warnings():  # restores Python's own display afterwards
            warnings.showwarning = _one_line_warning(prog)
            status = run()
        return 0 if status is None else status
    except StreamnetsError as err:
        print(f"{prog}: error: {one_line(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # on a line of its own: a progress bar may hold the cursor
        print(f"\n{prog}: interrupted; finished epochs and runs are kept (train and reproduce go on "
              f"from them with --resume)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stderr.close()
        return 0
    except OSError as err:  # a path the system refuses (no permission, name too long, disk full)
        where = f"{err.filename}: " if err.filename else ""
        print(f"{prog}: error: {one_line(where + (err.strerror or str(err)))}; check the path and "
              f"its permissions", file=sys.stderr)
        return 2


def _one_line_warning(prog):
    """A ``warnings.showwarning`` that prints ``<prog>: warning: ...`` on one line (not
    Python's file, line number and source line, which are of no use on a command line)."""
    def show(message, category, filename, lineno, file=None, line=None):
        kind = "" if category is UserWarning else f"{category.__name__}: "
        print(f"{prog}: warning: {kind}{one_line(str(message))}", file=file or sys.stderr)
    return show


def _command_parser(parser, args):
    """The (sub)parser of the command ``args`` ran: ``streamnets train``, ``streamnets bench parallel``."""
    for dest in ("command", "benchmark"):
        name = getattr(args, dest, None)
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if name is None or not actions:
            break
        parser = actions[0].choices[name]
    return parser


def _unrecognized(parser, unknown):
    """argparse's message for ``unknown`` arguments, with the closest option of ``parser``."""
    options = [o for a in parser._actions for o in a.option_strings]
    first = unknown[0].split("=")[0]
    close = difflib.get_close_matches(first, options, n=1) if first.startswith("-") else []
    hint = f" (did you mean {close[0]}?)" if close else ""
    if first in options:  # given before the command, where the top-level parser has no such option
        hint = f" (give it after the command: {parser.prog} {unknown[0]} ...)"
    return f"unrecognized arguments: {' '.join(unknown)}{hint}"


def main(argv=None, out=None):
    """Run the command line; returns the exit status."""
    out = out or sys.stdout
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # reported by the subcommand that was given them, with its options
        command = _command_parser(parser, args)
        command.error(_unrecognized(command, unknown))

    def run():
        for option in ("--out", "--data-dir"):  # '' would silently mean the working folder
            if getattr(args, option[2:].replace("-", "_"), None) == "":
                raise SettingError(f"{option} is empty; give a folder, or leave the option out "
                                   f"for its default")
        _set_threads(getattr(args, "threads", None))
        return args.run(args, out)

    return exit_status(run)


if __name__ == "__main__":
    sys.exit(main())
