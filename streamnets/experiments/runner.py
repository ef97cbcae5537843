"""Run an experiment: train every (network, rollout, repetition), evaluate, write results.

Layout of ``OUT/<profile>/<experiment>/`` (so that the ci and the paper profile of one
experiment live side by side; the committed references use the same layout)::

    runs/<network>__<rollout>__rep<k>/   checkpoint.pt, metrics.json, metrics.csv, evaluation.json
    results.json                         all runs aggregated, plus the claims
    claims.md                            the claims report
    accuracy_over_steps.png / .svg       Fig. 9 style (and first_response.png / .svg for CIFAR-10)

A run whose ``evaluation.json`` exists is finished and is never redone with
``resume=True``; it records the settings it was trained with, and one of other
settings (profile, epochs, data, width) is refused rather than mixed in. One kept
from another float environment (device, torch build, CPU instruction set, thread
count) is kept with a warning and listed in ``results["kept_environments"]``. An
interrupted run continues from its last epoch checkpoint; one resumed in another float
environment records the mix (``{"mixed": [...]}``) and is listed there too.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from .._io import atomic_write_text, writable_folder
from ..data import default_splits, load as load_data
from ..data.base import ArrayDataset
from ..device import environment_text, float_environment, resolve_device
from ..errors import StreamnetsError
from ..rollout import Rollout
from ..seeding import derive_seed
from ..spec import load
from ..train import TrainConfig, _spec_digest, train
from .definitions import EXPERIMENTS, get_experiment, with_overrides
from .report import REPORT_FILES

__all__ = ["reproduce", "run_experiment", "subset"]


def subset(dataset, n, seed=0):
    """The first ``n`` samples of a seeded permutation of ``dataset`` (all if n is None)."""
    if n is None or n >= len(dataset):
        return dataset
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:n]
    return ArrayDataset(dataset.data[order], dataset.targets[order], dataset.classes,
                        f"{dataset.name}; subset of {n}")


def _datasets(experiment, dataset, data_dir, download):
    """(train, test, note): the named data set, or the experiment's default."""
    if dataset is None:
        (train, test), note = default_splits(experiment.name, ("train", "test"), root=data_dir,
                                             download=download, strict=data_dir is not None or download)
        return train, test, note
    train = load_data(dataset, "train", root=data_dir, download=download)
    test = load_data(dataset, "test", root=data_dir, download=download)
    return train, test, f"using {train.name}"


def _run_dir(out, network, rollout, rep):
    return out / "runs" / f"{network}__{rollout}__rep{rep}"


def run_experiment(name, profile="ci", out="runs/reproduce", dataset=None, data_dir=None,
                   download=None, device="auto", resume=False, progress=True, log=print,
                   **overrides):
    """Train and evaluate every run of one experiment; returns the results dict.

    ``download``: fetch the real data set if it is missing (None: only under the
    paper profile, which is meant for the real data; a failed download is then an
    error, not the offline stand-in).
    ``overrides`` replace profile fields (e.g. ``epochs=1`` for a smoke test).
    Everything is written to ``out/<profile>/<name>/``. ``results["kept_runs"]``
    counts the repetitions found finished there and kept (``resume=True``)
    rather than trained by this call.
    """
    from .claims import check_claims
    from .report import write_report

    experiment = get_experiment(name)
    base = experiment.profile(profile)
    download = profile == "paper" if download is None else download
    prof = with_overrides(base, **overrides)
    earlier = Path(out) / experiment.name  # the layout before the per-profile folders
    out = writable_folder(Path(out) / profile / experiment.name, "results and runs")
    environment = float_environment(device)  # also refuses an unavailable device before any work
    train_images, test_images, note = _datasets(experiment, dataset, data_dir, download)
    train_images = subset(train_images, prof.n_train, seed=1)
    test_images = subset(test_images, prof.n_test, seed=2)
    log(f"[{experiment.name}] {note}")
    as_profiled = prof == base  # the profile's estimate holds for its own settings only
    expected = f"; expected {prof.expected_time}" if prof.expected_time and as_profiled else ""
    log(f"[{experiment.name}] profile {profile}: {prof.epochs} epoch{'s' * (prof.epochs != 1)}, "
        f"batch {prof.batch_size}, {prof.optimizer} lr {prof.lr:g}, {prof.repetitions} "
        f"repetition(s), width x{prof.width:g}, {len(train_images)} training / {len(test_images)} "
        f"test samples{expected}")
    finished = sum((_run_dir(out, n, r, k) / "evaluation.json").exists() for n in experiment.networks
                   for r in experiment.rollouts[n] for k in range(prof.repetitions))
    if finished and not resume:
        log(f"[{experiment.name}] {out / 'runs'} holds {finished} finished run{'s' * (finished != 1)}; "
            f"without --resume (resume=True) they are trained again and replaced: stop now and add "
            f"--resume to keep them")
    if not finished and (earlier / "results.json").exists():
        log(f"[{experiment.name}] {earlier} holds runs of an earlier streamnets, which wrote every "
            f"profile there; to keep them, stop now and move that folder to {out}")
    plan = _plan(experiment, prof, out, device, progress, train_images, test_images, resume)
    runs, kept, elsewhere = [], 0, []
    for network, net, rollout, reps in plan:
        records = []
        for rep, (run_dir, config, settings) in enumerate(reps):
            kept += resume and (run_dir / "evaluation.json").exists()
            records.append(_one_run(net, rollout, rep, run_dir, config, settings, train_images,
                                    test_images, experiment, resume, log, environment))
            if records[-1]["environment"] not in (environment, *elsewhere):
                elsewhere.append(records[-1]["environment"])
        runs.append(_aggregate(network, rollout, records))
    results = {"experiment": experiment.name, "title": experiment.title, "profile": profile,
               "dataset": train_images.name, "noise_std": experiment.noise_std,
               "settings": {k: getattr(prof, k) for k in prof.__dataclass_fields__},
               # n_train / n_test in the settings are caps; these are the counts used
               "samples": {"train": len(train_images), "test": len(test_images)},
               "profile_changes": {k: {"profile": getattr(base, k), "used": getattr(prof, k)}
                                   for k in prof.__dataclass_fields__ if getattr(base, k) != getattr(prof, k)},
               "environment": environment, "runs": runs,
               # finished runs found in OUT and kept (resume) rather than trained by this call
               "kept_runs": kept}
    if elsewhere:  # kept runs trained in another float environment than ``environment``
        results["kept_environments"] = elsewhere
    results["claims"] = check_claims(experiment, results)
    for name in REPORT_FILES:  # missing, not of other results, if stopped now
        if (out / name).is_file():  # (anything else in their place: write_report says it cannot write there)
            (out / name).unlink()
    atomic_write_text(out / "results.json", json.dumps(results, indent=1))
    write_report(results, out)
    return results


def _plan(experiment, prof, out, device, progress, train_images, test_images, resume):
    """Every run of ``experiment``: ``(name, network, rollout, [(folder, config, settings)
    per repetition])``. With ``resume``, a finished run of other settings is refused here,
    before any run trains (not hours later, when the loop would reach it)."""
    plan = []
    for network in experiment.networks:
        net = load(network).scaled(prof.width)
        for rollout_name in experiment.rollouts[network]:
            rollout = Rollout.named(net, rollout_name)
            reps = []
            for rep in range(prof.repetitions):
                config = TrainConfig(epochs=prof.epochs, batch_size=prof.batch_size, lr=prof.lr,
                                     decay=prof.decay, optimizer=prof.optimizer,
                                     seed=derive_seed(0, experiment.name, net.name, rollout.name, rep),
                                     device=device, max_batches=prof.max_batches, progress=progress)
                settings = _settings(net, rollout, config, prof, train_images, test_images,
                                     experiment.noise_std)
                done = _run_dir(out, network, rollout_name, rep) / "evaluation.json"
                if resume and done.exists():
                    _check_same_settings(done, _read_finished(done), settings)
                reps.append((done.parent, config, settings))
            plan.append((network, net, rollout, reps))
    return plan


def _one_run(net, rollout, rep, run_dir, config, settings, train_images, test_images, experiment,
             resume, log, environment):
    done = run_dir / "evaluation.json"
    label = f"{experiment.name}: {net.name} {rollout.name} rep {rep}"
    if resume and done.exists():  # its settings were checked by _plan
        record = _read_finished(done)
        log(f"[{label}] finished earlier, kept")
        if not isinstance(record.get("environment"), dict):  # an earlier streamnets records none
            record["environment"] = _recorded_environment(record, environment, config.device)
        if record["environment"] != environment:
            log(f"[{label}] it was trained with {environment_text(record['environment'])}, this call "
                f"trains with {environment_text(environment)}: float rounding differs, so the results "
                f"mix the two (listed in results.json, kept_environments); to train it here, delete {run_dir}")
        return record
    started = time.perf_counter()
    trainer, ev = train(net, rollout, train_images, test_images, experiment.noise_std, config,
                        out_dir=run_dir, resume=resume)
    earlier = sum(h["seconds"] for h in trainer.history[:trainer.resumed_epochs or 0])
    record = {**ev.as_dict(), "seconds": time.perf_counter() - started + earlier,
              "device": str(trainer.device), "environment": trainer.environment, "settings": settings}
    atomic_write_text(done, json.dumps(record, indent=1))
    log(f"[{label}] accuracy per frame {' '.join(f'{a:.3f}' for a in ev.accuracy)} "
        f"at update steps {ev.update_steps} ({record['seconds']:.0f} s)")
    return record


def _recorded_environment(record, environment, device):
    """The float environment of a finished run that does not record one (an earlier
    streamnets): ``environment`` if it was trained on the kind of device ``device``
    is, else its device alone."""
    trained_on = str(record.get("device", "cpu"))
    return environment if trained_on.split(":")[0] == resolve_device(device).type else {"device": trained_on}


def _settings(net, rollout, config, prof, train_images, test_images, noise_std):
    """What a finished run records of how it was trained (JSON types): resuming keeps
    it only if the run asked for has the same."""
    settings = {k: getattr(prof, k) for k in prof.__dataclass_fields__
                if k not in ("repetitions", "n_train", "n_test", "expected_time")}
    settings.update({"data": train_images.name.split(" (")[0], "training samples": len(train_images),
                     "test samples": len(test_images), "noise_std": noise_std,
                     "output_frames": config.output_frames, "seed": config.seed,
                     "network digest": _spec_digest(net), "rollout": list(rollout.bits)})
    return json.loads(json.dumps(settings))


def _check_same_settings(path, record, settings):
    """Refuse to keep a finished run trained with other settings than ``settings``."""
    saved = record.get("settings")
    if not isinstance(saved, dict):
        raise StreamnetsError(f"{path}: this finished run has no record of the settings it was "
                              f"trained with (an older streamnets wrote it); delete the file and run "
                              f"again with --resume: the run is evaluated again from its checkpoint, "
                              f"which records them")
    differ = [f"{k}={saved.get(k)!r} (now {v!r})" for k, v in settings.items() if saved.get(k) != v]
    if differ:
        raise StreamnetsError(f"{path}: this run was finished with other settings: {', '.join(differ)}; "
                              f"to keep it, ask for the same settings (--profile, --epochs, --dataset, or "
                              f"the same arguments in Python); to keep both, write to another folder "
                              f"(--out; out_dir in notebooks 04-06); to train it afresh, delete {path.parent}")


#: What a finished run's ``evaluation.json`` must hold.
_FINISHED_FIELDS = ("accuracy", "frames", "samples", "seconds", "update_steps")


def _read_finished(path):
    """The record in a finished run's ``evaluation.json``; a file that is not such a
    record is a :class:`StreamnetsError` that says to delete it."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        why = f"not JSON: {err}" if isinstance(err, ValueError) else (err.strerror or str(err))
    else:
        missing = [k for k in _FINISHED_FIELDS if k not in record] if isinstance(record, dict) else None
        if missing == []:
            return record
        why = (f"no {', '.join(missing)}" if missing else
               f"not a record of a finished run but a {type(record).__name__}")
    raise StreamnetsError(f"{path}: cannot read this finished run ({why}); delete the file and run "
                          f"again with --resume: the run is evaluated again from its checkpoint, or "
                          f"trained again if there is none")


def _aggregate(network, rollout, reps):
    acc = torch.tensor([r["accuracy"] for r in reps], dtype=torch.float64)
    first = next(iter(rollout.first_response().values()))
    return {"network": network, "rollout": rollout.name,
            "inference_factor": rollout.inference_factor,
            "first_response": {"frame": first.frame, "update_step": first.update_step},
            "frames": reps[0]["frames"], "update_steps": reps[0]["update_steps"],
            "accuracy": acc.mean(0).tolist(),
            "accuracy_std": (acc.std(0, unbiased=False) if len(reps) > 1 else torch.zeros(acc.shape[1])).tolist(),
            "repetitions": len(reps), "test_samples": reps[0]["samples"],
            "seconds": sum(r["seconds"] for r in reps)}


def reproduce(experiments="all", **kwargs):
    """Run several experiments (``"all"`` or a list of names); returns ``{name: results}``."""
    names = list(EXPERIMENTS) if experiments == "all" else (
        [experiments] if isinstance(experiments, str) else list(experiments))
    for name in names:
        get_experiment(name)  # fail on a typo before hours of training
    return {name: run_experiment(name, **kwargs) for name in names}
