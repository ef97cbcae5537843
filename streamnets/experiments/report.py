"""Figures and the claims report of an experiment's results."""

from __future__ import annotations

import json
from pathlib import Path

from .._io import atomic_writer, atomic_write_text
from ..device import environment_text

__all__ = ["write_report", "claims_markdown", "results_table", "compare_to_reference", "profile_label"]

#: What :func:`write_report` writes (the first-response figure for cifar10 only).
REPORT_FILES = ("claims.md", "claims.json", "accuracy_over_steps.png", "accuracy_over_steps.svg",
                "first_response.png", "first_response.svg")


def _save(fig, path):
    for suffix in (".png", ".svg"):
        target = Path(path).with_suffix(suffix)
        with atomic_writer(target) as tmp:
            fig.savefig(tmp, format=suffix[1:], dpi=120, bbox_inches="tight")


def results_table(results):
    """A markdown table: one row per run with F, first response and accuracies (with
    their standard deviation over repetitions, if there are several).

    Examples
    --------
    >>> from streamnets.experiments import reference_results
    >>> rows = results_table(reference_results("cifar10")).splitlines()
    >>> len(rows) - 2  # header and rule, then one row per run: 7 networks x 2 rollouts
    14
    >>> print(rows[-1])
    | cifar10_dsr6 | sequential | 10 | 1, 10 | 0.795 / 0.973 | 10 … 80 |
    """
    reps = max((r.get("repetitions", 1) for r in results["runs"]), default=1)
    spread = f" (mean ± std over {reps} repetitions)" if reps > 1 else ""
    lines = ["| network | rollout | F | first response (frame, step) | accuracy at first / last "
             f"output frame{spread} | update steps |", "| --- | --- | --- | --- | --- | --- |"]
    for r in results["runs"]:
        fr = r["first_response"]
        acc = " / ".join(_accuracy(r, i) for i in (0, -1))
        steps = f"{r['update_steps'][0]} … {r['update_steps'][-1]}"
        lines.append(f"| {r['network']} | {r['rollout']} | {r['inference_factor']} | "
                     f"{fr['frame']}, {fr['update_step']} | {acc} | {steps} |")
    return "\n".join(lines)


def profile_label(results):
    """``profile ci``, followed by the profile fields the run changed, if any.

    Examples
    --------
    >>> profile_label({"profile": "ci", "profile_changes": {"epochs": {"profile": 6, "used": 1}}})
    'profile ci, changed: epochs 1 (ci: 6)'
    """
    changes = results.get("profile_changes") or {}
    changed = ", ".join(f"{k} {c['used']} ({results['profile']}: {c['profile']})" for k, c in changes.items())
    return f"profile {results['profile']}" + (f", changed: {changed}" if changed else "")


def _accuracy(run, i):
    """Accuracy ``i`` of ``run``, with its std over repetitions if there are several."""
    std = run.get("accuracy_std")
    spread = f" ± {std[i]:.3f}" if std and run.get("repetitions", 1) > 1 else ""
    return f"{run['accuracy'][i]:.3f}{spread}"


def claims_markdown(results):
    """The claims report of one experiment as markdown."""
    out = [f"# {results['title']} — {profile_label(results)}", "",
           f"Data: {results['dataset']}; noise std {results['noise_std']}.", "",
           results_table(results), "", "## Claims", ""]
    for c in results["claims"]:
        verdict = "holds" if c["holds"] else "DOES NOT HOLD"
        out += [f"- **{c['id']}** — {verdict}. {c['text']}",
                f"  - measured: {c['evidence']}", f"  - paper: {c['paper']}"]
    return "\n".join(out) + "\n"


def write_report(results, out_dir):
    """Write ``claims.md``, ``claims.json`` and the figures into ``out_dir``."""
    from ..viz import plot_accuracy_over_steps, plot_first_response_comparison

    out_dir = Path(out_dir)
    atomic_write_text(out_dir / "claims.md", claims_markdown(results))
    atomic_write_text(out_dir / "claims.json", json.dumps(results["claims"], indent=1))
    fig = plot_accuracy_over_steps(results["runs"])
    fig.suptitle(f"{results['title']} ({results['profile']} profile)")
    _save(fig, out_dir / "accuracy_over_steps")
    if results["experiment"] == "cifar10":
        fig = plot_first_response_comparison(results["runs"])
        _save(fig, out_dir / "first_response")


def compare_to_reference(results, reference):
    """Lines describing how ``results`` differ from reference results (same experiment)."""
    ref = {(r["network"], r["rollout"]): r for r in reference["runs"]}
    lines = []
    here, there = results.get("environment"), reference.get("environment")
    if here != there:
        made = environment_text(there) if there else "an unrecorded torch build and CPU"
        on_gpu = "device" in (here or {}) or "device" in (there or {})
        lines.append(f"the reference was made with {made}, this run with "
                     f"{environment_text(here or {})}: float rounding differs, and training "
                     f"can amplify it, so single accuracies may move by several points; compare "
                     f"the claims' verdicts (runs repeat exactly only on the same torch build and "
                     f"{'device and precision' if on_gpu else 'CPU instruction set and thread count'})")
    kept = results.get("kept_environments") or ()
    if kept:  # runs kept (resume) from another environment than results["environment"]
        lines.append(f"some runs were kept from, or resumed after, an earlier call in another float "
                     f"environment ({'; '.join(map(environment_text, kept))}): their accuracies may "
                     f"differ from the reference for that reason too")
    for r in results["runs"]:
        old = ref.get((r["network"], r["rollout"]))
        if old is None:
            lines.append(f"{r['network']} {r['rollout']}: not in the reference")
            continue
        diffs = [a - b for a, b in zip(r["accuracy"], old["accuracy"])]
        lines.append(f"{r['network']} {r['rollout']}: accuracy minus reference per frame "
                     + " ".join(f"{d:+.3f}" for d in diffs))
    verdicts = {c["id"]: c["holds"] for c in reference["claims"]}
    for c in results["claims"]:
        if verdicts.get(c["id"]) not in (None, c["holds"]):
            lines.append(f"claim {c['id']}: now {'holds' if c['holds'] else 'does not hold'}, "
                         f"reference {'holds' if verdicts[c['id']] else 'does not hold'}")
    return lines
