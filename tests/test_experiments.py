"""Experiment definitions, claims logic, and a tiny end-to-end reproduce run."""

import json
import shutil

import pytest
import torch

import streamnets as sn
from streamnets.cli import main
from streamnets.errors import SettingError
from streamnets.experiments import EXPERIMENTS, check_claims, get_experiment, run_experiment
from streamnets.experiments.claims import accuracy_at_step, difference_tolerance, tolerance
from streamnets.paper import AUTHORS_VALUES
from test_nn_device import needs_cuda


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_networks_have_the_authors_values(name):
    exp = EXPERIMENTS[name]
    for network in exp.networks:
        paper = AUTHORS_VALUES[network]
        for width in (1.0, exp.profile("ci").width):
            net = sn.load(network).scaled(width)
            seq = sn.Rollout.sequential(net)
            assert seq.inference_factor == paper.sequential_factor
            assert tuple(sn.Rollout.streaming(net).first_response()["prediction"]) == paper.streaming_first


def test_hybrid_of_mnist_sr_is_the_authors_hybrid_network():
    hybrid = sn.Rollout.named(sn.load("mnist_sr"), "hybrid")
    paper = AUTHORS_VALUES["mnist_hybrid"]
    assert hybrid.inference_factor == paper.sequential_factor
    assert tuple(hybrid.first_response()["prediction"]) == paper.sequential_first


def _run(network, rollout, steps, acc, n=1000, reps=1):
    r = sn.Rollout.named(sn.load(network), rollout)
    first = r.first_response()["prediction"]
    return {"network": network, "rollout": rollout, "inference_factor": r.inference_factor,
            "first_response": {"frame": first.frame, "update_step": first.update_step},
            "update_steps": steps, "accuracy": acc, "test_samples": n, "repetitions": reps}


def _claims(runs, experiment="mnist"):
    return {c["id"]: c for c in check_claims(get_experiment(experiment), {"runs": runs})}


MNIST_GOOD = [
    _run("mnist_ff", "streaming", [3, 4, 5], [0.50, 0.50, 0.51]),
    _run("mnist_ff", "sequential", [3, 6, 9], [0.50, 0.51, 0.50]),
    _run("mnist_s", "streaming", [2, 3, 4], [0.55, 0.60, 0.60]),
    _run("mnist_s", "sequential", [3, 6, 9], [0.52, 0.52, 0.52]),
    _run("mnist_sr", "streaming", [2, 3, 4], [0.45, 0.80, 0.86]),
    _run("mnist_sr", "sequential", [3, 6, 9], [0.45, 0.70, 0.87]),
    _run("mnist_sr", "hybrid", [3, 5, 7], [0.45, 0.75, 0.86]),
]


def test_claims_hold_on_paper_like_numbers():
    claims = _claims(MNIST_GOOD)
    assert set(claims) == {"first_response", "skip_accuracy", "skip_alone", "recurrent_growth"}
    assert all(c["holds"] for c in claims.values()), claims
    assert "mnist_sr: streaming reaches the sequential last-frame accuracy 0.870 at step 4, " \
           "the sequential rollout from step 9 (its last frame: step 9)" in claims["recurrent_growth"]["evidence"]


def test_claims_that_fail_are_reported_with_numbers():
    runs = [dict(r) for r in MNIST_GOOD]
    runs[2]["accuracy"] = [0.30, 0.31, 0.30]  # S streaming far worse than sequential
    runs[4]["accuracy"] = [0.45, 0.45, 0.45]  # SR streaming does not grow
    claims = _claims(runs)
    assert not claims["skip_accuracy"]["holds"]
    assert "mnist_s at step 3: streaming 0.310 vs sequential 0.520" in claims["skip_accuracy"]["evidence"]
    assert not claims["skip_alone"]["holds"]
    assert not claims["recurrent_growth"]["holds"]
    assert claims["first_response"]["holds"]


def test_depth_delay_claim_for_cifar():
    runs = []
    for k in range(7):
        net = f"cifar10_dsr{k}"
        runs.append(_run(net, "streaming", [4, 5, 6, 7, 8, 9, 10, 11], [0.4 + 0.02 * k] * 8))
        runs.append(_run(net, "sequential", [4 + k + j * (4 + k) for j in range(8)], [0.41] * 8))
    claims = _claims(runs, "cifar10")
    assert claims["depth_delay"]["holds"] and "delays [0, 1, 2, 3, 4, 5, 6]" in claims["depth_delay"]["evidence"]
    assert not claims["recurrent_growth"]["holds"]  # flat curves


def test_accuracy_at_step_and_tolerance():
    run = {"update_steps": [2, 3, 4], "accuracy": [0.1, 0.2, 0.3]}
    assert accuracy_at_step(run, 1) is None
    assert accuracy_at_step(run, 3) == 0.2 and accuracy_at_step(run, 10) == 0.3
    assert tolerance(0.5, 10000) == pytest.approx(0.01)
    assert tolerance(0.5, 100) == pytest.approx(0.1)
    assert difference_tolerance(0.5, 100, 0.5, 100) == pytest.approx(0.1 * 2 ** 0.5)
    assert difference_tolerance(0.5, 100, 0.5, 100) > tolerance(0.5, 100)


@pytest.mark.parametrize("streaming_first, holds", [(0.46, True), (0.44, False)])
def test_within_noise_is_two_standard_errors_of_the_difference(streaming_first, holds):
    # 400 samples each at ~0.5: the difference has a standard error of 0.0354, so
    # streaming 0.06 below sequential is within noise (< 0.0707) and 0.08 is not.
    runs = [dict(r, test_samples=400) for r in MNIST_GOOD]
    runs[3]["accuracy"] = [0.52, 0.52, 0.52]
    runs[2]["accuracy"] = [0.50, streaming_first, 0.60]
    tol = difference_tolerance(streaming_first, 400, 0.52, 400)
    assert (0.52 - streaming_first <= tol) is holds
    assert _claims(runs)["skip_accuracy"]["holds"] is holds


def test_tiny_reproduce_end_to_end_and_resume(tmp_path, capsys):
    kw = dict(profile="ci", out=tmp_path, progress=False, epochs=1, repetitions=1, n_train=64,
              n_test=48, max_batches=2, log=print)
    results = run_experiment("mnist", **kw)
    out = tmp_path / "ci" / "mnist"
    saved = json.loads((out / "results.json").read_text())
    assert saved == json.loads(json.dumps(results))
    assert {"experiment", "profile", "dataset", "runs", "claims"} <= set(saved)
    assert saved["dataset"].startswith(("digits (train split", "MNIST")), saved["dataset"]
    assert saved["samples"] == {"train": 64, "test": 48}  # the counts used, beside the caps
    assert [(r["network"], r["rollout"]) for r in saved["runs"]] == [
        ("mnist_ff", "streaming"), ("mnist_ff", "sequential"), ("mnist_s", "streaming"),
        ("mnist_s", "sequential"), ("mnist_sr", "streaming"), ("mnist_sr", "sequential"),
        ("mnist_sr", "hybrid")]
    seq_sr = saved["runs"][5]
    assert seq_sr["inference_factor"] == 3 and seq_sr["first_response"] == {"frame": 1, "update_step": 3}
    assert seq_sr["update_steps"] == [3, 6, 9, 12, 15, 18, 21, 24]
    assert len(seq_sr["accuracy"]) == len(seq_sr["accuracy_std"]) == 8
    for claim in saved["claims"]:
        assert {"id", "text", "holds", "evidence", "paper"} <= set(claim)
    for name in ("claims.md", "claims.json", "accuracy_over_steps.png", "accuracy_over_steps.svg"):
        assert (out / name).stat().st_size > 0
    assert "## Claims" in (out / "claims.md").read_text()
    assert saved["kept_runs"] == 0
    capsys.readouterr()
    again = run_experiment("mnist", resume=True, **kw)
    assert capsys.readouterr().out.count("finished earlier, kept") == 7
    assert again["kept_runs"] == 7 and again["runs"] == results["runs"]


def test_reproduce_cli_rejects_unknown_experiment(capsys):
    with pytest.raises(SystemExit) as err:
        main(["reproduce", "imagenet"])
    assert err.value.code == 2


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_committed_ci_reference_matches_the_current_definitions(name):
    from streamnets.experiments import reference_results

    ref = reference_results(name, "ci")
    assert ref is not None, f"no committed ci reference for {name}: run `streamnets reproduce {name}`"
    exp = get_experiment(name)
    profile = exp.profile("ci")
    # a changed ci profile needs a regenerated reference (the time estimate is only a note)
    fields = [k for k in profile.__dataclass_fields__ if k != "expected_time"]
    assert {k: ref["settings"][k] for k in fields} == {k: getattr(profile, k) for k in fields}
    assert [(r["network"], r["rollout"]) for r in ref["runs"]] == [
        (n, r) for n in exp.networks for r in exp.rollouts[n]]
    for run in ref["runs"]:
        rollout = sn.Rollout.named(sn.load(run["network"]).scaled(profile.width), run["rollout"])
        first = rollout.first_response()["prediction"]
        assert run["first_response"] == {"frame": first.frame, "update_step": first.update_step}
        assert run["update_steps"] == rollout.output_steps(first.frame + 8)["prediction"][first.frame:]
        assert len(run["accuracy"]) == 8 and all(0 <= a <= 1 for a in run["accuracy"])
    assert ref["claims"] == check_claims(exp, ref)  # the stored verdicts follow from its numbers


@pytest.mark.parametrize("dataset, expected", [
    (None, "difference to the committed reference results"),
    ("Fashion-MNIST (train split, IDX files in /data)", "trained on other data"),
])
def test_reproduce_compares_with_the_reference_only_on_the_same_data(monkeypatch, capsys, dataset, expected):
    import streamnets.experiments as experiments
    from streamnets.experiments import reference_results

    result = json.loads(json.dumps(reference_results("mnist", "ci")))
    if dataset is not None:
        result["dataset"] = dataset
    monkeypatch.setattr(experiments, "reproduce", lambda *a, **k: {"mnist": result})
    assert main(["reproduce", "mnist", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert expected in out
    assert ("accuracy minus reference" in out) is (dataset is None)


@pytest.mark.parametrize("overrides, message", [
    # before: epochs=0 checked the paper's claims on untrained networks, repetitions=0 an IndexError
    (dict(epochs=0), "epochs must be a whole number >= 1, got 0"),
    (dict(repetitions=0), "repetitions must be a whole number >= 1, got 0"),
    (dict(lr=float("nan")), "lr must be a finite number > 0, got nan"),
    (dict(n_train=2.5), "n_train must be a whole number >= 1 .*got 2.5"),
    (dict(epoch=1), "unknown profile field 'epoch' \\(did you mean 'epochs'\\?\\)"),
])
def test_reproduce_from_python_checks_the_overrides_before_any_work(tmp_path, monkeypatch, overrides, message):
    import streamnets.experiments.runner as runner

    monkeypatch.setattr(runner, "_datasets", lambda *a: pytest.fail("loaded data"))
    with pytest.raises(SettingError, match=message):
        runner.reproduce("mnist", out=tmp_path, **overrides)


TINY = dict(profile="ci", progress=False, epochs=1, repetitions=1, n_train=64, n_test=48, max_batches=2,
            log=lambda line: None)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A finished tiny mnist reproduce run; tests work on copies of it."""
    out = tmp_path_factory.mktemp("tiny")
    run_experiment("mnist", out=out, **TINY)
    return out


def _copy(tiny_run, tmp_path):
    import shutil

    return shutil.copytree(tiny_run, tmp_path / "out")


@pytest.mark.parametrize("text, why", [
    ('{"frames": [1, 2], "update_', "not JSON"),          # a truncated file
    ("{}", "no accuracy, frames, samples, seconds, update_steps"),
    ("[1, 2]", "not a record of a finished run"),
])
def test_resume_refuses_an_unreadable_finished_run(tiny_run, tmp_path, text, why):
    # before: a JSONDecodeError / KeyError traceback (exit 1 from the command line)
    out = _copy(tiny_run, tmp_path)
    path = out / "ci" / "mnist" / "runs" / "mnist_s__streaming__rep0" / "evaluation.json"
    path.write_text(text)
    with pytest.raises(sn.StreamnetsError, match=rf"mnist_s__streaming__rep0.evaluation.json: cannot "
                                                 rf"read this finished run \({why}.*\); delete the file"):
        run_experiment("mnist", out=out, resume=True, **TINY)
    assert path.read_text() == text


@pytest.mark.parametrize("changes, differ", [
    (dict(epochs=2), r"epochs=1 \(now 2\)"),
    (dict(lr=3e-3, n_train=32), r"lr=0.001 \(now 0.003\), training samples=64 \(now 32\)"),
    (dict(width=0.5), r"width=1.0 \(now 0.5\), seed=\d+ \(now \d+\), network digest='[0-9a-f]+' \(now '[0-9a-f]+'\)"),
])
def test_resume_refuses_a_finished_run_of_other_settings(tiny_run, tmp_path, changes, differ):
    # before: every finished run was kept whatever it was trained with, so a resumed run
    # with more epochs (or another profile) reported 1-epoch results under the new settings
    out = _copy(tiny_run, tmp_path)
    with pytest.raises(sn.StreamnetsError, match=r"mnist_ff__streaming__rep0.evaluation.json: this run "
                                                 rf"was finished with other settings: {differ}; to keep it"
                                                 r".*; to keep both, write to another folder \(--out; out_dir"):
        run_experiment("mnist", out=out, resume=True, **{**TINY, **changes})
    assert json.loads((out / "ci" / "mnist" / "results.json").read_text())["settings"]["epochs"] == 1


def test_a_finished_run_of_other_settings_is_refused_before_any_run_trains(tiny_run, tmp_path, monkeypatch):
    # before: only when the loop reached it, after training the runs before it (hours under
    # the paper profile); here the first run is missing and the last one of other settings
    import streamnets.experiments.runner as runner

    out = _copy(tiny_run, tmp_path)
    mnist, runs = EXPERIMENTS["mnist"], out / "ci" / "mnist" / "runs"
    first, last = mnist.networks[0], mnist.networks[-1]
    first = runs / f"{first}__{mnist.rollouts[first][0]}__rep0"
    last = runs / f"{last}__{mnist.rollouts[last][-1]}__rep0"
    shutil.rmtree(first)
    path = last / "evaluation.json"
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "settings": {**record["settings"], "epochs": 5}}))
    monkeypatch.setattr(runner, "train", lambda *a, **k: pytest.fail(f"trained {a[0].name} first"))
    with pytest.raises(sn.StreamnetsError, match=rf"{last.name}.evaluation.json: this run was finished "
                                                 r"with other settings: epochs=5 \(now 1\)"):
        run_experiment("mnist", out=out, resume=True, **TINY)


def test_a_report_stopped_halfway_leaves_no_claims_of_earlier_results(tiny_run, tmp_path, monkeypatch):
    # before: stopped after results.json and before the report, the folder kept the claims of
    # the previous call beside the new results (and, until later, its figures)
    import streamnets.experiments.report as report

    out = _copy(tiny_run, tmp_path)
    folder = out / "ci" / "mnist"
    assert (folder / "claims.md").exists()
    monkeypatch.setattr(report, "write_report", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    (folder / "results.json").unlink()
    with pytest.raises(KeyboardInterrupt):
        run_experiment("mnist", out=out, resume=True, **TINY)
    assert (folder / "results.json").exists()
    assert not [name for name in report.REPORT_FILES if (folder / name).exists()]
    monkeypatch.undo()
    run_experiment("mnist", out=out, resume=True, **TINY)  # a later call writes the report again
    assert (folder / "claims.md").exists()


def test_the_profiles_of_one_experiment_live_side_by_side(tiny_run, tmp_path):
    # before: one folder per experiment, so the paper profile after the ci one (make reproduce,
    # then make reproduce PROFILE=paper) was refused as a finished run of other settings
    out = _copy(tiny_run, tmp_path)
    paper = run_experiment("mnist", out=out, resume=True, download=False, **{**TINY, "profile": "paper"})
    assert paper["kept_runs"] == 0 and paper["settings"]["lr"] == 1e-4
    assert json.loads((out / "paper" / "mnist" / "results.json").read_text())["profile"] == "paper"
    again = run_experiment("mnist", out=out, resume=True, **TINY)
    assert again["kept_runs"] == 7 and again["settings"]["lr"] == 1e-3


def test_runs_of_the_layout_before_profile_folders_are_pointed_out(tiny_run, tmp_path):
    out = _copy(tiny_run, tmp_path)
    (out / "ci" / "mnist").rename(out / "mnist")
    lines = []
    run_experiment("mnist", out=out, resume=True, **{**TINY, "log": lines.append})
    assert f"[mnist] {out / 'mnist'} holds runs of an earlier streamnets, which wrote every profile " \
           f"there; to keep them, stop now and move that folder to {out / 'ci' / 'mnist'}" in lines
    lines.clear()  # now with finished runs in the new place: no word
    run_experiment("mnist", out=out, resume=True, **{**TINY, "log": lines.append})
    assert not [line for line in lines if "earlier streamnets" in line]


def test_resume_refuses_a_finished_run_without_a_record_of_its_settings(tiny_run, tmp_path):
    out = _copy(tiny_run, tmp_path)
    path = out / "ci" / "mnist" / "runs" / "mnist_ff__streaming__rep0" / "evaluation.json"
    record = json.loads(path.read_text())
    path.write_text(json.dumps({k: v for k, v in record.items() if k != "settings"}))
    with pytest.raises(sn.StreamnetsError, match=r"evaluation.json: this finished run has no record of "
                                                 r"the settings it was trained with"):
        run_experiment("mnist", out=out, resume=True, **TINY)
    path.unlink()  # as the message says: evaluated again from its checkpoint
    again = run_experiment("mnist", out=out, resume=True, **TINY)
    before = json.loads((tiny_run / "ci" / "mnist" / "results.json").read_text())["runs"]
    assert [r["accuracy"] for r in again["runs"]] == [r["accuracy"] for r in before]


@pytest.mark.parametrize("blocked", ["results.json", "claims.md", "runs/mnist_sr__hybrid__rep0/evaluation.json"])
def test_a_file_that_cannot_be_written_is_named_and_leaves_no_temp_file(tiny_run, tmp_path, blocked):
    # before: an IsADirectoryError traceback from os.replace, and the temp file stayed behind
    out = _copy(tiny_run, tmp_path)
    path = out / "ci" / "mnist" / blocked
    path.unlink()
    path.mkdir()
    with pytest.raises(sn.StreamnetsError, match=rf"{path.name}: cannot write the file \(Is a directory\); "
                                                 r"move what is in the way or write elsewhere"):
        run_experiment("mnist", out=out, **TINY)
    assert not list(path.parent.glob(f".{path.name}.*"))


def test_a_fresh_run_over_finished_runs_says_they_are_replaced(tiny_run, tmp_path):
    # before: without --resume the finished runs were trained again and replaced without a word
    out = _copy(tiny_run, tmp_path)
    lines = []
    run_experiment("mnist", out=out, **{**TINY, "log": lines.append})
    warning = [line for line in lines if "finished run" in line]
    assert len(warning) == 1 and warning[0] == (
        f"[mnist] {out / 'ci' / 'mnist' / 'runs'} holds 7 finished runs; without --resume (resume=True) they "
        f"are trained again and replaced: stop now and add --resume to keep them")
    lines.clear()
    run_experiment("mnist", out=out, resume=True, **{**TINY, "log": lines.append})
    assert not [line for line in lines if "trained again" in line]
    # the profile's time estimate is not printed for other settings (before: "1 epochs ...;
    # expected about 1-2 min")
    [settings] = [line for line in lines if line.startswith("[mnist] profile ci: ")]
    assert settings.startswith("[mnist] profile ci: 1 epoch, batch ") and "expected" not in settings


def test_the_report_says_which_profile_fields_were_changed(tiny_run, tmp_path, capsys):
    # before: a run with --epochs 1 (or any override) was headed "profile ci" like the real thing
    head = (tiny_run / "ci" / "mnist" / "claims.md").read_text().splitlines()[0]
    assert head == ("# MNIST: feed-forward, skip, skip + recurrence, hybrid — profile ci, changed: "
                    "epochs 1 (ci: 6), repetitions 1 (ci: 2), n_train 64 (ci: 2000), n_test 48 (ci: 500), "
                    "max_batches 2 (ci: None)")
    results = json.loads((tiny_run / "ci" / "mnist" / "results.json").read_text())
    assert results["profile_changes"]["epochs"] == {"profile": 6, "used": 1}
    import streamnets.experiments as experiments
    from streamnets.experiments import claims_markdown, reference_results

    reference = reference_results("mnist", "ci")
    assert claims_markdown(reference).splitlines()[0].endswith("— profile ci")
    out = _copy(tiny_run, tmp_path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(experiments, "reproduce", lambda *a, **k: {"mnist": results})
        assert main(["reproduce", "mnist", "--quiet", "--epochs", "1", "--out", str(out)]) == 0
    assert "(ci profile, changed: epochs 1 (ci: 6), repetitions 1 (ci: 2)" in capsys.readouterr().out


def test_a_failed_claim_marks_the_checks_that_failed():
    # before: "DOES NOT HOLD" followed by every check's numbers, with no word on which failed
    runs = [dict(r) for r in MNIST_GOOD]
    runs[1]["accuracy"] = [0.70, 0.70, 0.70]  # FF sequential far above FF streaming; S still fine
    claim = _claims(runs)["skip_alone"]
    assert not claim["holds"]
    s_part, ff_part = claim["evidence"].split("; ")
    assert s_part == "mnist_s frame by frame: streaming [0.55 0.60 0.60] vs sequential [0.52 0.52 0.52]"
    assert ff_part == ("mnist_ff frame by frame: streaming [0.50 0.50 0.51] vs sequential [0.70 0.70 0.70] "
                       "(does not hold)")
    assert "(does not hold)" not in _claims(MNIST_GOOD)["skip_alone"]["evidence"]


def test_the_results_table_shows_a_spread_only_over_repetitions():
    # before: one repetition showed "0.735 ± 0.000", as if the accuracy had no uncertainty,
    # and with several the table did not say what the ± was
    from streamnets.experiments import reference_results
    from streamnets.experiments.report import results_table

    one = results_table(reference_results("cifar10", "ci"))
    assert "±" not in one and "| cifar10_dsr0 | streaming | 1 | 4, 4 | 0.720 / 0.912 | 4 … 11 |" in one
    two = results_table(reference_results("mnist", "ci"))
    assert "accuracy at first / last output frame (mean ± std over 2 repetitions)" in two
    assert "| mnist_s | streaming | 1 | 2, 2 | 0.319 ± 0.008 / 0.476 ± 0.037 | 2 … 9 |" in two


def test_a_resumed_run_counts_the_seconds_of_its_earlier_epochs(tiny_run, tmp_path):
    # before: only the seconds of the last process counted, so a run resumed after its
    # last epoch recorded the evaluation alone (about 1 s instead of 17 s for mnist ci)
    import torch

    out = _copy(tiny_run, tmp_path)
    run = out / "ci" / "mnist" / "runs" / "mnist_sr__hybrid__rep0"
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    state["history"][0]["seconds"] = 1000.0  # the epoch trained before the kill
    torch.save(state, run / "checkpoint.pt")
    (run / "evaluation.json").unlink()
    results = run_experiment("mnist", out=out, resume=True, **TINY)
    assert 1000 < json.loads((run / "evaluation.json").read_text())["seconds"] < 1100
    assert 1000 < results["runs"][-1]["seconds"] < 1100


def test_float_environment_names_the_device_it_trains_on(monkeypatch):
    from streamnets.device import DeviceError
    from streamnets.experiments.runner import float_environment

    cpu = {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
           "threads": torch.get_num_threads()}
    assert float_environment("cpu") == cpu
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert float_environment("auto") == cpu
    with pytest.raises(DeviceError, match="CUDA is not available"):
        float_environment("cuda")


@needs_cuda
def test_float_environment_of_a_cuda_run():
    from streamnets.experiments.runner import float_environment

    env = float_environment("cuda")
    assert env["device"].startswith(torch.cuda.get_device_name()) and env["device"].endswith("autocast)")


def test_comparing_with_a_reference_of_another_float_environment_says_so():
    # a reference made on another CPU instruction set (or torch build) differs: training
    # amplifies the float rounding (CIFAR-10 ci runs up to 0.22 in one point); before, the
    # comparison printed the differences with no word on why
    from streamnets.experiments import compare_to_reference, reference_results
    from streamnets.experiments.runner import float_environment

    ref = reference_results("gtsrb", "ci")
    same = {**ref, "environment": float_environment()}
    assert compare_to_reference(same, same) == [
        f"{r['network']} {r['rollout']}: accuracy minus reference per frame "
        + " ".join(["+0.000"] * len(r["accuracy"])) for r in ref["runs"]]
    other = {**same, "environment": {"torch": "2.13.0+cpu", "cpu_capability": "AVX512"}}
    first = compare_to_reference(same, other)[0]
    assert first.startswith("the reference was made with torch 2.13.0+cpu on AVX512, this run with "
                            f"torch {torch.__version__} on ") and "float rounding differs" in first
    assert "single accuracies may move by several points; compare the claims' verdicts" in first
    # a run on a GPU names the GPU and its autocast precision, not the CPU's instruction set
    gpu = {**same, "environment": {"torch": "2.11.0+cu130", "cpu_capability": "AVX512",
                                   "device": "NVIDIA H200 (bfloat16 autocast)"}}
    assert compare_to_reference(same, gpu)[0].startswith(
        "the reference was made with torch 2.11.0+cu130 on NVIDIA H200 (bfloat16 autocast), this run "
        f"with torch {torch.__version__} on ")
    assert compare_to_reference(same, gpu)[0].endswith("on the same torch build and device and precision)")
    assert compare_to_reference(same, other)[0].endswith(
        "on the same torch build and CPU instruction set and thread count)")
    # before: the thread count was not recorded, so --threads 1 differed from the reference
    # (by up to 0.018 per frame for MNIST) without a word on why
    # (both counts given: this process may itself run one thread, e.g. on one core)
    fewer = {**same, "environment": {**float_environment(), "threads": 1}}
    two = {**same, "environment": {**float_environment(), "threads": 2}}
    assert compare_to_reference(fewer, two)[0].startswith(
        f"the reference was made with torch {torch.__version__} on {float_environment()['cpu_capability']}, "
        f"2 threads, this run with torch {torch.__version__} on "
        f"{float_environment()['cpu_capability']}, 1 thread: float rounding differs")
    unrecorded = {k: v for k, v in ref.items() if k != "environment"}
    assert compare_to_reference(same, unrecorded)[0].startswith(
        "the reference was made with an unrecorded torch build and CPU")
    assert not compare_to_reference(same, same)[0].startswith("the reference")


@pytest.mark.parametrize("trained_with, text", [
    ({"device": "cuda:0"}, "torch ? on cuda:0"),  # a record of an earlier streamnets: its device alone
    ({"device": "cuda:0", "environment": {"torch": "2.11.0+cu130", "cpu_capability": "AVX512",
                                          "device": "NVIDIA H200 (bfloat16 autocast)"}},
     "torch 2.11.0+cu130 on NVIDIA H200 (bfloat16 autocast)"),
])
def test_a_kept_run_of_another_float_environment_is_named(tiny_run, tmp_path, trained_with, text):
    # before: a run finished on a GPU was kept by a resumed CPU run without a word, and
    # results.json named the CPU alone as the environment of all its runs
    out = _copy(tiny_run, tmp_path)
    path = out / "ci" / "mnist" / "runs" / "mnist_s__streaming__rep0" / "evaluation.json"
    record = {k: v for k, v in json.loads(path.read_text()).items() if k != "environment"}
    path.write_text(json.dumps({**record, **trained_with}))
    lines = []
    results = run_experiment("mnist", out=out, resume=True, device="cpu", **{**TINY, "log": lines.append})
    [warning] = [line for line in lines if "float rounding differs" in line]
    assert warning.startswith(f"[mnist: mnist_s streaming rep 0] it was trained with {text}, this call trains "
                              f"with torch {torch.__version__} on ")
    assert results["kept_environments"] == [trained_with.get("environment", {"device": "cuda:0"})]
    assert results["kept_runs"] == 7
    again = run_experiment("mnist", out=tiny_run, resume=True, device="cpu", **TINY)
    assert "kept_environments" not in again  # all trained here


def test_a_run_resumed_from_a_checkpoint_of_another_float_environment_is_named(tiny_run, tmp_path):
    # before: evaluation.json recorded this call's environment for a run whose epochs
    # were trained in another (the checkpoint's, e.g. before a restart with --threads 1)
    from streamnets.device import float_environment

    out = _copy(tiny_run, tmp_path)
    run = out / "ci" / "mnist" / "runs" / "mnist_s__streaming__rep0"
    other = {**float_environment(), "threads": torch.get_num_threads() + 1}
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    torch.save({**state, "environments": [other]}, run / "checkpoint.pt")
    (run / "evaluation.json").unlink()  # as if stopped after the last epoch, before the evaluation
    results = run_experiment("mnist", out=out, resume=True, device="cpu", **TINY)
    assert json.loads((run / "evaluation.json").read_text())["environment"] == other
    assert results["kept_environments"] == [other]


def test_streaming_must_reach_the_sequential_accuracy_before_the_sequential_rollout_does():
    # before: compared with the sequential rollout's last step (24), so a streaming rollout that
    # got there at step 8 "reached it far earlier" than a sequential one that had it at step 6
    runs = [_run("mnist_sr", "streaming", list(range(2, 10)), [0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.87, 0.87],
                 n=10000),
            _run("mnist_sr", "sequential", list(range(3, 27, 3)), [0.45] + [0.87] * 7, n=10000)]
    claim = _claims(runs)["recurrent_growth"]
    assert not claim["holds"]
    assert claim["evidence"].endswith("mnist_sr: streaming reaches the sequential last-frame accuracy 0.870 "
                                      "at step 8, the sequential rollout from step 6 (its last frame: step "
                                      "24) (does not hold)")
    assert _claims(MNIST_GOOD)["recurrent_growth"]["holds"]


@pytest.mark.parametrize("call", [lambda: run_experiment("all"), lambda: get_experiment("all")])
def test_all_given_as_one_experiment_is_refused_without_suggesting_all(call):
    # before: "unknown experiment 'all'; choose one of mnist, cifar10, gtsrb or all"
    with pytest.raises(sn.StreamnetsError, match=r"'all' is not one experiment; choose one of mnist, "
                                                 r"cifar10, gtsrb, or run them all with reproduce\('all'\)"):
        call()


def test_comparing_with_the_reference_names_kept_runs_of_another_float_environment():
    # results["environment"] is the one of this call; runs kept from another (e.g.
    # --threads 1) were listed in kept_environments, but the comparison with the
    # reference showed their differences without a word on why
    from streamnets.experiments import reference_results
    from streamnets.experiments.report import compare_to_reference

    ref = reference_results("mnist", "ci")
    results = {**ref, "kept_environments": [{**ref["environment"], "threads": 1}]}
    lines = compare_to_reference(results, ref)
    assert lines[0] == (f"some runs were kept from, or resumed after, an earlier call in another float "
                        f"environment (torch {ref['environment']['torch']} on {ref['environment']['cpu_capability']}, "
                        f"1 thread): their accuracies may differ from the reference for that reason too")
    assert not any("kept from" in line for line in compare_to_reference(ref, ref))
