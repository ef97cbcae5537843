"""The paper's claims, each checked from measured results with numbers beside the paper's.

"Within noise" compares two measured accuracies ``a`` and ``b`` by two standard
errors of their difference, ``2 * sqrt(a (1 - a) / N_a + b (1 - b) / N_b)`` with
``N = test samples * repetitions`` (binomial errors of independent test runs), and
at least 0.01: ``a >= b`` within noise means ``a >= b - tolerance``. This treats the
two runs as independent although both are scored on the same test images (and
repetitions re-use them): per-sample predictions are not stored, so a paired test
is not possible. A claim that does not hold is reported as such, with its numbers.
"""

from __future__ import annotations

import math

__all__ = ["check_claims", "tolerance", "difference_tolerance", "accuracy_at_step"]

#: What the paper reports for each claim, per experiment (its section 2; see streamnets.paper).
PAPER = {
    "mnist": {
        "first_response": "streaming first response at update step 3 (FF) / 2 (S, SR, hybrid) vs "
                          "step 3 for the sequential and hybrid rollouts",
        "skip_accuracy": "MNIST S: streaming ~0.6 vs sequential ~0.52 (poster)",
        "skip_alone": "FF flat ~0.5 for both rollouts; S streaming ~0.6 vs sequential ~0.52 (poster)",
        "recurrent_growth": "MNIST SR: streaming ~0.45 at step 2 -> ~0.85 by step 9, sequential "
                            "~0.45 at step 3 -> ~0.87 by step 24 (poster)",
    },
    "cifar10": {
        "first_response": "streaming first response at update step 4 vs 4 .. 10 sequential "
                          "(DSR0 .. DSR6)",
        "skip_accuracy": "at the sequential first response: streaming ~0.39 (DSR0) .. ~0.55 (DSR6), "
                         "sequential ~0.40-0.42 (poster)",
        "depth_delay": "F(seq) - first response(streaming) = 0, 1, ..., 6 for DSR0 .. DSR6",
        "recurrent_growth": "DSR2: streaming ~0.39 at step 4 -> ~0.55 by step 11, sequential ~0.45 "
                            "at step 6 -> ~0.56 by step 48 (poster)",
    },
    "gtsrb": {
        "first_response": "streaming first response at frame 4 (update step 4); F(seq) = 8",
        "skip_accuracy": "the paper states no accuracies for GTSRB",
    },
}


def tolerance(p, n, repetitions=1):
    """Two binomial standard errors of an accuracy ``p`` measured on ``n`` samples
    (at least 0.01).

    Examples
    --------
    >>> round(tolerance(0.5, 400), 3)
    0.05
    """
    return max(0.01, 2 * math.sqrt(_variance(p, n * repetitions)))


def difference_tolerance(a, n_a, b, n_b):
    """Two standard errors of the difference of accuracies ``a`` (on ``n_a``
    samples) and ``b`` (on ``n_b``), at least 0.01.

    Examples
    --------
    >>> round(difference_tolerance(0.5, 400, 0.5, 400), 4)
    0.0707
    """
    return max(0.01, 2 * math.sqrt(_variance(a, n_a) + _variance(b, n_b)))


def _variance(p, n):
    return max(p * (1 - p), 0) / max(n, 1)


def accuracy_at_step(run, step):
    """Accuracy of the latest answer of ``run`` available at update step ``step``
    (None if the run has not answered yet).

    Examples
    --------
    >>> run = {"update_steps": [2, 3, 4], "accuracy": [0.31, 0.46, 0.55]}
    >>> accuracy_at_step(run, 1), accuracy_at_step(run, 3), accuracy_at_step(run, 10)
    (None, 0.46, 0.55)
    """
    best = None
    for s, a in zip(run["update_steps"], run["accuracy"]):
        if s <= step:
            best = a
    return best


def _samples(run):
    return run["test_samples"] * run["repetitions"]


def _tol(run_a, a, run_b, b):
    """Noise tolerance of comparing accuracy ``a`` of ``run_a`` with ``b`` of ``run_b``."""
    return difference_tolerance(a, _samples(run_a), b, _samples(run_b))


def _claim(cid, text, checks):
    """``checks``: list of (holds, evidence text); of a claim with several checks, the
    evidence of each check that fails ends in "(does not hold)"."""
    mark = len(checks) > 1
    return {"id": cid, "text": text, "holds": bool(checks) and all(h for h, _ in checks),
            "evidence": "; ".join(e + ("" if h or not mark else " (does not hold)") for h, e in checks)}


def check_claims(experiment, results):
    """The claims that apply to ``experiment``, checked on ``results['runs']``.

    Examples
    --------
    >>> from streamnets.experiments import get_experiment, reference_results
    >>> claims = check_claims(get_experiment("cifar10"), reference_results("cifar10"))
    >>> [c["id"] for c in claims]
    ['first_response', 'skip_accuracy', 'depth_delay', 'recurrent_growth']
    >>> claims[2]["holds"], claims[2]["evidence"]
    (True, 'delays [0, 1, 2, 3, 4, 5, 6]')
    """
    runs = {(r["network"], r["rollout"]): r for r in results["runs"]}
    networks = [n for n in experiment.networks if (n, "streaming") in runs and (n, "sequential") in runs]
    claims = []

    checks = []
    for n in networks:
        s = runs[n, "streaming"]["first_response"]["update_step"]
        others = [(r, runs[n, r]["first_response"]["update_step"]) for r in experiment.rollouts[n]
                  if r != "streaming" and (n, r) in runs]
        checks.append((all(s <= q for _, q in others),
                       f"{n}: streaming step {s} vs " + ", ".join(f"{r} step {q}" for r, q in others)))
    claims.append(_claim("first_response", "The streaming rollout responds no later (in update steps) "
                         "than any other rollout, for every network.", checks))

    checks = []
    for n in (n for n in experiment.skip_networks if n in networks):
        seq, stream = runs[n, "sequential"], runs[n, "streaming"]
        t, q = seq["update_steps"][0], seq["accuracy"][0]
        s = accuracy_at_step(stream, t)
        if s is None:
            checks.append((False, f"{n}: no streaming answer by step {t}"))
        else:
            checks.append((s >= q - _tol(stream, s, seq, q), f"{n} at step {t}: streaming {s:.3f} vs "
                                                  f"sequential {q:.3f}"))
    if checks:
        claims.append(_claim("skip_accuracy", "At the sequential rollout's first response, the "
                             "streaming rollout is at least as accurate (within noise) for networks "
                             "with skip connections.", checks))

    if experiment.depth_series and all(n in networks for n in experiment.depth_series):
        delays = [runs[n, "sequential"]["first_response"]["update_step"]
                  - runs[n, "streaming"]["first_response"]["update_step"] for n in experiment.depth_series]
        claims.append(_claim("depth_delay", "The first-response delay of the sequential rollout, "
                             "F(R_seq) - first response(streaming), grows 0 ... 6 over DSR0 ... DSR6.",
                             [(delays == list(range(len(delays))), f"delays {delays}")]))

    if "mnist_s" in networks and "mnist_ff" in networks:
        checks = []
        s_str, s_seq = runs["mnist_s", "streaming"], runs["mnist_s", "sequential"]
        worst = min(a - b + _tol(s_str, a, s_seq, b) for a, b in zip(s_str["accuracy"], s_seq["accuracy"]))
        checks.append((worst >= 0, "mnist_s frame by frame: streaming "
                       f"{_fmt(s_str['accuracy'])} vs sequential {_fmt(s_seq['accuracy'])}"))
        f_str, f_seq = runs["mnist_ff", "streaming"], runs["mnist_ff", "sequential"]
        gap = max(abs(a - b) - _tol(f_str, a, f_seq, b) for a, b in zip(f_str["accuracy"], f_seq["accuracy"]))
        checks.append((gap <= 0, "mnist_ff frame by frame: streaming "
                       f"{_fmt(f_str['accuracy'])} vs sequential {_fmt(f_seq['accuracy'])}"))
        claims.append(_claim("skip_alone", "Skip connections alone already help: for MNIST S the "
                             "streaming rollout is at least as accurate as the sequential one frame "
                             "for frame, while for FF (a single path) both rollouts match (within noise).",
                             checks))

    checks = []
    for n in (n for n in experiment.recurrent_networks if n in networks):
        seq, stream = runs[n, "sequential"], runs[n, "streaming"]
        for run in (stream, seq):
            first, last = run["accuracy"][0], run["accuracy"][-1]
            checks.append((last - first > _tol(run, last, run, first),
                           f"{n} {run['rollout']}: {first:.3f} -> {last:.3f} over frames"))
        goal = seq["accuracy"][-1]
        reached = next((s for s, a in zip(stream["update_steps"], stream["accuracy"])
                        if a >= goal - _tol(stream, a, seq, goal)), None)
        end = seq["update_steps"][-1]
        # the first step at which the sequential rollout itself is within noise of it
        own = next(s for s, a in zip(seq["update_steps"], seq["accuracy"])
                   if a >= goal - _tol(seq, a, seq, goal))
        checks.append((reached is not None and reached < own,
                       f"{n}: streaming reaches the sequential last-frame accuracy {goal:.3f} "
                       + (f"at step {reached}" if reached is not None else "not within its window")
                       + f", the sequential rollout from step {own} (its last frame: step {end})"))
    if checks:
        claims.append(_claim("recurrent_growth", "Accuracy grows over frames for recurrent networks, "
                             "and the streaming rollout reaches the sequential rollout's last-frame "
                             "accuracy (within noise) at a far earlier update step.", checks))
    paper = PAPER.get(experiment.name, {})
    return [{**c, "paper": paper.get(c["id"], "the paper states no value")} for c in claims]


def _fmt(values):
    return "[" + " ".join(f"{v:.2f}" for v in values) + "]"
