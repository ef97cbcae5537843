"""The command line: output, JSON fields, exit codes, one-line errors."""

import json
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import streamnets
from streamnets.cli import main


def run(*args):
    """Run the CLI in a real subprocess (to see exit codes and stderr as a user would)."""
    return subprocess.run([sys.executable, "-m", "streamnets", *args],
                          capture_output=True, text=True, timeout=120)


def test_inspect_json_has_every_field():
    proc = run("inspect", "fig2", "--rollout", "sequential", "--window", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["network"] == {"name": "fig2", "nodes": ["u", "v", "w"],
                                 "edges": [["u", "v"], ["v", "w"], ["v", "v"], ["u", "w"], ["w", "v"]],
                                 "inputs": ["u"], "outputs": ["w"]}
    assert report["rollout"] == {"name": "sequential", "pattern": [
        ["u", "v", 0], ["v", "w", 0], ["v", "v", 1], ["u", "w", 0], ["w", "v", 1]]}
    assert report["valid"] is True
    assert report["inference_factor"] == 2
    assert report["window"] == 3
    assert report["tableau"] == {"u": [0, 0, 0, 0], "v": [0, 1, 3, 5], "w": [0, 2, 4, 6]}
    assert report["first_response"] == {"w": {"frame": 1, "update_step": 2}}
    assert report["patterns"] == {"total": 32, "valid": 12, "model_parallel_classes": 3}


def test_invalid_pattern_exits_2_with_one_line_naming_the_cycle():
    proc = run("inspect", "fig2", "--pattern", "10110")
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "not valid" in lines[0] and ("v -> w -> v" in lines[0] or "w -> v -> w" in lines[0])


@pytest.mark.parametrize("args, message", [
    (["inspect", "mnist_srr"], "did you mean 'mnist_sr'"),
    (["inspect", "fig2", "--pattern", "101"], "one 0/1 digit per edge"),
    (["inspect", "fig2", "--stream", "v-v"], "SOURCE:TARGET"),
    (["inspect", "fig2", "--stream", "v:x"], "--stream: v:x is not an edge of network 'fig2'; did "
                                             "you mean v:w? its edges: u:v v:w v:v u:w w:v"),
    (["inspect", "fig2", "--stream", "w:u"], "did you mean w:v? its edges: u:v v:w v:v u:w w:v"),
    (["inspect", "fig2", "--pattern", "1"], "--pattern: give one 0/1 digit per edge (5 edges, in the "
                                            "order u:v v:w v:v u:w w:v), got '1'"),
    (["inspect", "mnist_sr", "--rollout", "hybird"], "--rollout: unknown rollout 'hybird' for network "
                                                    "'mnist_sr'; did you mean 'hybrid'?"),
    (["train", "mnist_ff", "--rollout", "hybrid"], "--rollout: unknown rollout 'hybrid' for network "
                                                  "'mnist_ff'; choose one of streaming, sequential"),
    # '' used to mean the working folder: reproduce and notebooks wrote their results there
    (["train", "mnist_ff", "--out", ""], "--out is empty; give a folder"),
    (["reproduce", "mnist", "--out", ""], "--out is empty; give a folder"),
    (["notebooks", "01", "--out", ""], "--out is empty; give a folder"),
    (["train", "mnist_ff", "--data-dir", ""], "--data-dir is empty; give a folder"),
    (["inspect", "nope/missing.yaml"], "no such file"),
    (["train", "mnist_ff", "--threads", "0"], "--threads=0 is out of range 1..1024"),
    # before: "use Rollout.from_bits(network, [int(b) for b in '01100'])", Python on the command line
    (["inspect", "mnist_sr", "--rollout", "01100"], "--rollout: unknown rollout '01100' for network "
     "'mnist_sr'; for one delay per edge (image->h1, h1->h1, h1->h2, h2->prediction, h1->prediction) "
     "use --pattern 01100; choose one of"),
    # before: tracebacks (torch's "Overflow when unpacking long", TypeError in torch.rand,
    # MemoryError making workers, OSError from Path.is_dir)
    (["reproduce", "mnist", "--threads", "100000000000"], "--threads=100000000000 is out of range 1..1024"),
    (["bench", "parallel", "--batch", "99999999999999999999999"], "--batch=99999999999999999999999 is "
                                                                  "out of range 1..65536"),
    (["bench", "parallel", "--workers", "100000000000"], "--workers=100000000000 is out of range 1..1024"),
    (["inspect", "a" * 300], "a" * 300 + ": File name too long; check the path and its permissions"),
    (["train", "mnist_ff", "--out", "b" * 300], "b" * 300 + "/checkpoint.pt: File name too long"),
])
def test_user_errors_exit_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("streamnets: error: ") and message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["reproduce", "mnistt"], "streamnets reproduce: error: argument experiment: invalid choice: "
                              "'mnistt' (choose from 'mnist', 'cifar10', 'gtsrb', 'all'); see "
                              "streamnets reproduce --help"),
    (["inspect", "fig2", "--window", "abc"], "streamnets inspect: error: argument --window: invalid "
                                             "int value: 'abc'; see streamnets inspect --help"),
    (["frobnicate"], "streamnets: error: argument command: invalid choice: 'frobnicate'"),
])
def test_command_line_syntax_errors_are_one_line_too(args, message, capsys):
    # before: argparse printed its usage block first
    with pytest.raises(SystemExit) as exit_:
        main(args)
    captured = capsys.readouterr()
    assert exit_.value.code == 2 and captured.out == ""
    assert captured.err.startswith(message) and len(captured.err.splitlines()) == 1


def test_version(capsys):
    import streamnets as sn

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out == f"streamnets {sn.__version__}\n"


def test_bad_spec_file_names_file_and_field(tmp_path, capsys):
    path = tmp_path / "typo.yaml"
    path.write_text("nodes: {a: {shape: [1]}, b: {shape: [2]}}\nedges: [[a, bb]]\n")
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert "typo.yaml: edges[0].target: unknown node 'bb'" in err


def test_human_output_shows_the_tableau(capsys):
    assert main(["inspect", "mnist_sr", "--rollout", "hybrid"]) == 0
    out = capsys.readouterr().out
    assert "inference factor F = 2" in out
    assert "prediction: first at frame 2, update step 3" in out
    assert "prediction    0   2   3   4" in out
    assert "image         0   0   0   0" in out


def test_st_graph_through_the_cli(tmp_path, capsys):
    from test_spec import ST_GRAPH
    path = tmp_path / "net.st_graph"
    path.write_text(ST_GRAPH)
    assert main(["inspect", str(path), "--rollout", "sequential", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["inference_factor"] == 2


def test_list_compares_every_builtin_with_the_paper(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert out.count("matches") == 12 and "DIFFERS" not in out


@pytest.mark.parametrize("command", [["list", "--json"], ["inspect", "--json"]])
def test_list_json_holds_the_table(command, monkeypatch, capsys):
    # before: inspect --json without a network printed the text table
    import streamnets as sn
    from streamnets import paper

    assert main(command) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["network"] for row in rows] == sn.builtin_names()
    sr = next(row for row in rows if row["network"] == "mnist_sr")
    assert sr == {"network": "mnist_sr", "nodes": 4, "edges": 5, "sequential_factor": 3,
                  "streaming_first": [2, 2], "sequential_first": [1, 3],
                  "paper": [3, [2, 2], [1, 3]], "matches": True}
    assert [row["matches"] for row in rows].count(True) == 12
    assert next(row for row in rows if row["network"] == "fig2")["matches"] is None
    monkeypatch.setitem(paper.AUTHORS_VALUES, "mnist_sr", paper.AuthorsValues(4, (2, 2), None))
    assert main(["list"]) == 1
    assert "DIFFERS: paper [4, [2, 2], None]" in capsys.readouterr().out


def test_bench_parallel_json_has_the_documented_keys(capsys):
    assert main(["bench", "parallel", "--network", "mnist_sr", "--frames", "3", "--repeats", "1",
                 "--threads-per-worker", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["threads_per_worker"] == 1
    for key in ("network", "device", "batch", "sequential_ms_per_frame", "streaming_ms_per_frame",
                "ideal_ms_per_frame", "outputs_match"):
        assert key in result
    assert result["network"] == "mnist_sr" and result["outputs_match"] is True


def test_bench_parallel_prints_the_cuda_graph_times(monkeypatch, capsys):
    import streamnets.parallel.bench as bench

    def fake(network, batch, **kwargs):  # what bench_parallel reports on a GPU
        return {"network": network, "device": "cuda:0", "batch": batch, "sequential_ms_per_frame": 0.33,
                "streaming_ms_per_frame": 0.13, "ideal_ms_per_frame": 0.055, "balanced_ms_per_frame": None,
                "handoff_ms": None, "outputs_match": True, "streaming_pipelined_ms_per_frame": 0.06,
                "sequential_executor": "sequential", "streaming_executor": "streaming-cuda-graphs",
                "speedup": 2.54, "executors": {"sequential": {"graph_ms": None, "ms_per_frame": 0.33},
                                               "streaming-cuda-graphs": {"graph_ms": 0.08, "ms_per_frame": 0.13}}}

    monkeypatch.setattr(bench, "bench_parallel", fake)
    assert main(["bench", "parallel", "--device", "cuda"]) == 0
    out = capsys.readouterr().out
    lines = {line.rsplit(None, 1)[0].strip(): line.rsplit(None, 1)[1] for line in out.splitlines()[1:]}
    assert lines["streaming-cuda-graphs graph alone ms"] == "0.080"
    assert lines["streaming pipelined ms per frame"] == "0.060"
    # which executors the two numbers are, and their ratio (before: only two unnamed numbers)
    assert lines["best node by node ms per frame"] == "0.330" and lines["executor sequential ms per frame"] == "0.330"
    assert lines["speed-up of streaming-cuda-graphs over sequential"] == "2.54x"
    assert len({len(line) for line in out.splitlines()[1:-1]}) == 1  # one column
    assert "balanced" not in out and "sequential graph" not in out


def test_bench_parallel_unknown_executor_exits_2(capsys):
    assert main(["bench", "parallel", "--executor", "warp-drive"]) == 2
    assert "unknown executor 'warp-drive'" in capsys.readouterr().err


def test_bench_parallel_zero_workers_exits_2(capsys):
    assert main(["bench", "parallel", "--network", "mnist_sr", "--workers", "0"]) == 2
    assert "streamnets: error: --workers=0 is out of range 1..1024" in capsys.readouterr().err


def test_threads_option_sets_torch_threads(tmp_path, capsys):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert main(["train", "mnist_ff", "--dataset", "digits", "--epochs", "1", "--limit", "32",
                     "--threads", "1", "--quiet", "--out", str(tmp_path)]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert "test accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("option, value, message", [
    ("--epochs", "0", "--epochs must be a whole number >= 1, got 0"),
    ("--epochs", "-1", "--epochs must be a whole number >= 1, got -1"),
    ("--batch-size", "0", "--batch-size must be a whole number >= 1, got 0"),
    ("--limit", "0", "--limit must be a whole number >= 1, got 0: leave the option out"),
    ("--limit", "-3", "--limit must be a whole number >= 1, got -3"),
    ("--lr", "-1", "--lr must be a finite number > 0, got -1"),
    ("--lr", "nan", "--lr must be a finite number > 0, got nan"),
    ("--lr", "1e39", "--lr must be at most 3.4e+38, got 1e+39"),
    ("--width", "inf", "--width must be a finite number > 0, got inf"),
    ("--noise-std", "-1", "--noise-std must be a finite number >= 0, got -1"),
    ("--optimizer", "adamm", "--optimizer: unknown optimizer 'adamm'; did you mean 'adam'?"),
    ("--seed", "-1", "--seed must be a whole number >= 0, got -1"),
    ("--seed", "4294967296", "--seed=4294967296 is out of range 0..4294967295"),
    ("--device", "warp", "unknown device 'warp'"),
])
def test_train_options_out_of_range_exit_2_before_any_work(option, value, message, tmp_path, capsys):
    # before: --epochs 0/-1 printed an untrained model's accuracies with status 0, --limit -3
    # trained on all but 3 samples, --batch-size 0, --limit 0 and --lr -1 ended in tracebacks
    assert main(["train", "mnist_ff", option, value, "--quiet", "--out", str(tmp_path / "run")]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"streamnets: error: {captured.err.split(': ', 2)[2]}"
    assert message in captured.err and len(captured.err.strip().splitlines()) == 1
    assert captured.out == "" and not (tmp_path / "run").exists()


@pytest.mark.parametrize("option, value", [("--frames", "0"), ("--frames", "-2"), ("--repeats", "0"),
                                           ("--frames-per-graph", "0"), ("--batch", "0")])
def test_bench_parallel_counts_out_of_range_exit_2(option, value, capsys):
    # before: --frames 0/-2 and --repeats 0 printed timings of 0 samples with status 0,
    # --frames-per-graph 0 was ignored on the CPU
    assert main(["bench", "parallel", "--network", "fig2", option, value]) == 2
    captured = capsys.readouterr()
    assert (f"streamnets: error: {option} must be a whole number >= 1, got {value}" in captured.err
            or f"streamnets: error: {option}={value} is out of range 1..65536" in captured.err)
    assert captured.out == ""


@pytest.mark.parametrize("option", ["--epochs", "--repetitions"])
def test_reproduce_counts_out_of_range_exit_2(option, tmp_path, capsys):
    # before: --epochs 0 checked the paper's claims on untrained networks (status 0),
    # --repetitions 0 ended in an IndexError traceback
    assert main(["reproduce", "mnist", option, "0", "--quiet", "--out", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert f"streamnets: error: {option} must be a whole number >= 1, got 0: leave the option " \
           f"out for the profile's value" in captured.err
    assert captured.out == "" and not any(tmp_path.iterdir())


def test_reproduce_into_a_file_exits_2_naming_it_before_any_work(tmp_path, capsys):
    # before: the data were loaded first, then the error named a path inside the file
    # (.../afile/mnist/runs/mnist_ff__streaming__rep0: ... Not a directory)
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    assert main(["reproduce", "mnist", "--epochs", "1", "--quiet", "--out", str(afile)]) == 2
    captured = capsys.readouterr()
    assert captured.err == (f"streamnets: error: {afile}: this is a file, not a folder for results "
                            f"and runs; give another output folder (--out, out_dir)\n")
    assert captured.out == "" and afile.read_text() == "not a folder"


@pytest.mark.parametrize("value", ["-1", "100000000"])
def test_inspect_window_out_of_range_exits_2(value, capsys):
    # before: --window 100000000 ran for minutes building a 10^8-column tableau
    assert main(["inspect", "fig2", "--window", value]) == 2
    err = capsys.readouterr().err
    assert f"streamnets: error: --window={value} is out of range 0..10000: the tableau has W + 1 " \
           f"columns per node" in err


def test_train_says_whether_it_trained_resumed_or_found_the_run_finished(tmp_path, capsys):
    # before: a resumed or already finished run printed the same lines as a fresh one
    out = tmp_path / "run"
    common = ["train", "mnist_ff", "--limit", "32", "--quiet", "--out", str(out)]
    lines = []
    for epochs, resume in (("1", True), ("1", True), ("2", True)):
        assert main(common + ["--epochs", epochs] + ["--resume"] * resume) == 0
        output = capsys.readouterr().out.splitlines()
        lines.append(output[1 + next(i for i, line in enumerate(output) if line.startswith("training"))])
    assert lines == [f"trained 1 epoch (--resume: no checkpoint in {out}, so from the start)",
                     f"nothing trained: the checkpoint in {out} already holds the 1 epoch asked for; "
                     f"the accuracies below are of that model",
                     "resumed after epoch 1 of 2; trained epoch 2"]
    last = output[-1]
    assert last == f"the trained model, for inference: streamnets.train.load_trained({str(out)!r})"
    # before: without --resume the finished run was trained again from scratch and replaced
    assert main(common + ["--epochs", "1"]) == 2
    captured = capsys.readouterr()
    assert captured.err == (f"streamnets: error: {out} holds a training run already (checkpoint.pt); add "
                            f"--resume to continue it, or give another --out (or delete the folder) to "
                            f"train afresh\n") and captured.out == ""
    model = eval(last.split(": ", 1)[1], {"streamnets": streamnets})
    assert model.network.name == "mnist_ff" and model.trained_with["epochs"] == 2


def test_a_diverging_run_exits_2_and_keeps_its_finished_epochs(tmp_path, capsys):
    # before: the loss went NaN, the run ended with status 0 and wrote NaN into metrics.json
    out = tmp_path / "run"
    common = ["train", "mnist_ff", "--limit", "64", "--quiet", "--out", str(out), "--resume"]
    assert main(common + ["--epochs", "1"]) == 0
    capsys.readouterr()
    assert main(common + ["--epochs", "2", "--lr", "1e30"]) == 2  # other settings: refused as before
    assert "trained with other settings: lr=0.001 (now 1e+30)" in capsys.readouterr().err
    assert main(["train", "mnist_ff", "--limit", "64", "--quiet", "--out", str(tmp_path / "hot"),
                 "--lr", "1e30"]) == 2
    err = capsys.readouterr().err
    assert re.match(r"streamnets: error: training diverged: the loss became (nan|inf|-inf) in epoch 1, "
                    r"batch \d+; ", err)  # nan on the CPU; under a GPU's autocast it may overflow first
    assert err.rstrip().endswith("lower the learning rate (--lr, now 1e+30)")
    assert json.loads((out / "metrics.json").read_text())["epochs"][0]["epoch"] == 1


@pytest.mark.parametrize("args, message", [
    (["inspect", "--stream", "v:v", "w:v", "fig2"],
     "--stream needs a network: streamnets inspect SPEC --stream ... (SPEC first: --stream takes every "
     "name after it as an edge)"),
    (["inspect", "--pattern", "10101"], "--pattern needs a network: streamnets inspect SPEC --pattern ..."),
    (["inspect", "--window", "5"], "--window needs a network"),
    (["inspect", "--rollout", "streaming"], "--rollout needs a network"),  # the default, given: still asked for
])
def test_inspect_options_without_a_network_exit_2(args, message, capsys):
    # before: they were ignored and the list of built-ins printed with status 0
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"streamnets: error: {message}") and len(err.splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["train", "mnist_ff", "--limt", "5"], "streamnets train: error: unrecognized arguments: --limt 5 "
                                           "(did you mean --limit?); see streamnets train --help"),
    (["bench", "parallel", "--netwrk", "fig2"], "streamnets bench parallel: error: unrecognized arguments: "
                                                "--netwrk fig2 (did you mean --network?)"),
    (["inspect", "fig2", "extra"], "streamnets inspect: error: unrecognized arguments: extra; see"),
    # before: without the hint that --stream had taken the network's name as an edge
    (["train", "--stream", "h1:h1", "mnist_sr"], "streamnets train: error: the following arguments are "
     "required: spec (SPEC first: --stream takes every name after it as an edge); see"),
    (["train", "--strea", "h1:h1", "mnist_sr"], "streamnets train: error: the following arguments are "
     "required: spec (SPEC first: --stream takes every name after it as an edge); see"),
    # before: "required: command", and "unrecognized arguments: --json (did you mean --json?)"
    (["--foo"], "streamnets: error: unrecognized arguments: --foo; give a command first (e.g. "
                "streamnets list), its options after it; see"),
    (["--json", "list"], "streamnets list: error: unrecognized arguments: --json (give it after the "
                         "command: streamnets list --json ...); see"),
    (["train", "--pattern", "01"], "streamnets train: error: the following arguments are required: "
                                   "spec; see"),
])
def test_argument_errors_are_reported_by_their_subcommand_with_a_hint(args, message, capsys):
    # before: the top-level parser reported them (streamnets: error: ...), without a suggestion
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2 and capsys.readouterr().err.startswith(message)


def test_train_takes_the_data_of_the_networks_experiment_by_default(tmp_path, monkeypatch, capsys):
    # before: the default was digits for every network, so every CIFAR-10 or GTSRB network
    # failed on the input shape unless --dataset was given
    monkeypatch.setenv("STREAMNETS_DATA", str(tmp_path / "no-data"))
    assert main(["train", "cifar10_dsr0", "--width", "0.125", "--epochs", "1", "--limit", "8",
                 "--quiet", "--out", str(tmp_path / "run"), "--data-dir", str(tmp_path)]) == 0
    note, training = capsys.readouterr().out.splitlines()[:2]
    assert note.startswith("CIFAR-10 not found in [") and "using the offline stand-in 'shapes'" in note
    assert training.startswith("training cifar10_dsr0@0.125 under the streaming rollout on shapes "
                               "(train split") and "(noise std 1)" in training


@pytest.mark.parametrize("args, message", [
    (["cifar10_dsr0", "--dataset", "Digits"],
     "--dataset digits: its frames have shape [1, 28, 28], but cifar10_dsr0's input node 'image' "
     "has shape [3, 32, 32]; choose one of cifar10, shapes, gtsrb, signs"),
    # before: "fig2: input node 'u' has shape [1, 1, 1]", without the field, and not as written
    (["fig2"], "fig2: nodes.u.shape: input node 'u' has shape [1], which the frames of no built-in data set "
               "have (1x28x28: mnist, fashion-mnist, digits; 3x32x32: cifar10, shapes, gtsrb, signs); "
               "give the input node one of these shapes, or train it from Python"),
])
def test_train_data_that_cannot_fit_the_input_node_exit_2_before_loading_it(args, message, tmp_path,
                                                                            monkeypatch, capsys):
    import streamnets.data
    from streamnets.data import registry

    for module in (streamnets.data, registry):
        monkeypatch.setattr(module, "load", lambda *a, **k: pytest.fail("data were loaded"))
    assert main(["train", *args, "--quiet", "--out", str(tmp_path / "run")]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"streamnets: error: {message}") and captured.out == ""
    assert not (tmp_path / "run").exists()


def test_train_default_folder_is_one_folder_even_for_a_name_with_a_slash(tmp_path, monkeypatch, capsys):
    # before: a network named 'lab/mine' trained into runs/train/lab/mine__streaming
    import streamnets as sn
    net = sn.load("mnist_ff")
    spec = sn.save(sn.Network(net.nodes.values(), net.edges, name="lab/mine"), tmp_path / "mine.yaml")
    monkeypatch.chdir(tmp_path)
    assert main(["train", str(spec), "--epochs", "1", "--limit", "32", "--quiet"]) == 0
    assert "writing to runs/train/lab_mine__streaming" in capsys.readouterr().out
    assert [p.name for p in (tmp_path / "runs" / "train").iterdir()] == ["lab_mine__streaming"]


def test_train_takes_a_pattern_of_ones_own(tmp_path, monkeypatch, capsys):
    # before: train took --rollout names only ("unrecognized arguments: --pattern")
    import streamnets as sn

    monkeypatch.chdir(tmp_path)
    assert main(["train", "mnist_sr", "--pattern", "01100", "--epochs", "1", "--limit", "32",
                 "--dataset", "digits", "--quiet"]) == 0
    assert "under the custom-01100 rollout" in capsys.readouterr().out
    model = sn.train.load_trained(tmp_path / "runs" / "train" / "mnist_sr__custom-01100")
    assert model.trained_with["pattern"] == [0, 1, 1, 0, 0]
    assert main(["train", "mnist_sr", "--stream", "h1:h1", "--epochs", "1", "--limit", "32",
                 "--dataset", "digits", "--quiet"]) == 0
    assert (tmp_path / "runs" / "train" / "mnist_sr__custom-01000" / "checkpoint.pt").is_file()
    import streamnets.cli as cli  # an invalid pattern is refused before any data are read

    monkeypatch.setattr(cli, "_training_data", lambda *a: pytest.fail("data were loaded"))
    assert main(["train", "mnist_sr", "--pattern", "00000", "--quiet", "--out", "bad"]) == 2
    assert "is not valid" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_an_error_message_of_several_lines_is_printed_on_one_line(monkeypatch, capsys):
    # before: e.g. a missing data set printed the folders searched on lines of their own
    import streamnets.cli as cli
    from streamnets.errors import DataError

    def missing(args, out):
        raise DataError("MNIST not found. Looked in:\n  - data/mnist\n  - /cache/mnist\nTo fix: add --download.")

    monkeypatch.setattr(cli, "_cmd_list", missing)
    assert main(["list"]) == 2
    assert capsys.readouterr().err == ("streamnets: error: MNIST not found. Looked in: data/mnist; "
                                       "/cache/mnist. To fix: add --download.\n")


def test_inspect_says_why_patterns_were_not_counted(tmp_path, capsys):
    # before: "? valid, ? model-parallel classes" without a reason (the reason was in --json only)
    nodes = {f"n{i}": {"shape": [2]} for i in range(14)}
    nodes["n13"]["tags"] = ["prediction"]
    edges = [[f"n{i}", f"n{i + 1}"] for i in range(13)] + [[f"n{i + 1}", f"n{i}"] for i in range(1, 13)]
    path = tmp_path / "loop.yaml"
    path.write_text(json.dumps({"nodes": nodes, "edges": edges}))
    assert main(["inspect", str(path)]) == 0
    line = capsys.readouterr().out.splitlines()[4]
    assert line.startswith(f"patterns  {2 ** 25} in all; valid ones and model-parallel classes not "
                           f"counted: a strongly connected part of network 'loop' has 24 edges")


def test_stream_names_edges_between_nodes_with_a_colon_in_their_name(tmp_path, capsys):
    # before: "conv:1:conv:1" was split at its first ':' into ('conv', '1:conv:1'), not an edge
    path = tmp_path / "colon.yaml"
    path.write_text('nodes: {"in": {shape: [2]}, "conv:1": {shape: [4]}, "out": {shape: [2]}}\n'
                    'edges: [["in", "conv:1"], ["conv:1", "conv:1"], ["conv:1", "out"]]\n')
    assert main(["inspect", str(path), "--stream", "conv:1:conv:1", "in:conv:1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rollout"]["pattern"] == [["in", "conv:1", 1], ["conv:1", "conv:1", 1],
                                            ["conv:1", "out", 0]]
    assert main(["inspect", str(path), "--stream", "in:conv:2"]) == 2
    assert "--stream: in:conv:2 is not an edge of network 'colon'; did you mean in:conv:1?" \
        in capsys.readouterr().err


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_script(name, args, monkeypatch):
    """Run ``benchmarks/<name>`` as ``python benchmarks/<name> ARGS`` would, in this
    process; returns its exit status."""
    monkeypatch.setattr(sys, "argv", [str(BENCHMARKS / name), *args])
    monkeypatch.setattr(sys, "path", list(sys.path))  # the scripts put the repository first
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(BENCHMARKS / name), run_name="__main__")
    return exit_.value.code


@pytest.mark.parametrize("script, args, message", [
    ("bench_parallel.py", ["--network", "fig2", "nope"], "nope: no built-in network of that name"),
    ("bench_parallel.py", ["--batch", "1", "0"], "--batch must be a whole number >= 1, got 0"),
    ("bench_parallel.py", ["--repeats", "-1"], "--repeats must be a whole number >= 1, got -1"),
    ("bench_parallel.py", ["--warmup", "-1"], "--warmup must be a whole number >= 0, got -1"),
    ("bench_parallel.py", ["--attempts", "0"], "--attempts must be a whole number >= 1, got 0"),
    ("bench_parallel.py", ["--ranks", "1", "0"], "--ranks must be a whole number >= 1, got 0"),
    ("bench_parallel.py", ["--ranks", "1", "--rank-frames", "0"], "--rank-frames must be a whole number"),
    ("bench_parallel.py", ["--ranks-only"], "--ranks-only times only the distributed executor"),
    ("bench_parallel.py", ["--wait-load", "-1"], "--wait-load must be a finite number > 0, got -1.0"),
    ("bench_parallel.py", ["--device", "warp"], "unknown device 'warp'"),
    ("bench_parallel.py", ["--workers", "0"], "--workers must be a whole number >= 1, got 0"),
    ("bench_streamnet.py", ["--batch", "0"], "--batch must be a whole number >= 1, got 0"),
    ("bench_streamnet.py", ["--repeats", "0"], "--repeats must be a whole number >= 1, got 0"),
    ("bench_streamnet.py", ["--warmup", "-1"], "--warmup must be a whole number >= 0, got -1"),
    ("bench_streamnet.py", ["--frames", "2"], "--frames must be a whole number >= 3, got 2: mnist_sr"),
    ("bench_streamnet.py", ["--threads", "0"], "--threads must be a whole number >= 1, got 0"),
    ("bench_streamnet.py", ["--device", "warp"], "unknown device 'warp'"),
    ("bench_train.py", ["--batch-size", "0"], "--batch-size must be a whole number >= 1, got 0"),
    ("bench_train.py", ["--network", "nope"], "nope: no built-in network of that name"),
    ("bench_train.py", ["--rollout", "nope"], "unknown rollout 'nope' for network 'mnist_sr'"),
    ("bench_train.py", ["--device", "warp"], "unknown device 'warp'"),
    ("cuda_overlap.py", ["--batch", "1", "0"], "--batch must be a whole number >= 1, got 0"),
    ("cuda_overlap.py", ["--network", "nope"], "nope: no built-in network of that name"),
    ("cuda_overlap.py", ["--frames-per-graph", "0"], "--frames-per-graph must be a whole number >= 1"),
    ("profile_cuda_step.py", ["--batch", "0"], "--batch must be a whole number >= 1, got 0"),
    ("profile_cuda_step.py", ["--steps", "0"], "--steps must be a whole number >= 1, got 0"),
    ("profile_cuda_step.py", ["--network", "nope"], "nope: no built-in network of that name"),
    ("time_paper_profile.py", ["--batches", "0"], "--batches must be a whole number >= 1, got 0"),
    ("time_paper_profile.py", ["--eval-batches", "-1"], "--eval-batches must be a whole number >= 1"),
    ("time_paper_profile.py", ["--experiment", "gtsrb", "--network", "mnist_sr"],
     "--network: mnist_sr is not a network of gtsrb; they have gtsrb_dsr4"),
    ("time_paper_profile.py", ["--experiment", "mnist", "--network", "mnist_sr", "mnist_rs"],
     "--network: mnist_rs is not a network of mnist; they have mnist_ff, mnist_s, mnist_sr"),
    ("time_paper_profile.py", ["--device", "warp"], "unknown device 'warp'"),
])
def test_benchmark_scripts_refuse_bad_arguments_with_one_line_and_status_2(script, args, message,
                                                                           monkeypatch, capsys):
    # before: a traceback and status 1 (--attempts 0: UnboundLocalError, --ranks 0:
    # ZeroDivisionError, --wait-load -1 waited up to 15 minutes for a load below -1,
    # --ranks-only without --ranks printed an empty table with status 0; bench_streamnet.py
    # --repeats 0 ended in StatisticsError, --frames 2 in torch.stack's error, --threads 0
    # was ignored; bench_train.py printed tracebacks, after loading the data; the CUDA
    # scripts checked nothing before CUDA: on a GPU, --batch 0 or --steps 0 ended in tracebacks)
    assert run_script(script, args, monkeypatch) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"{script}: error: ") and message in captured.err
    assert len(captured.err.strip().splitlines()) == 1 and captured.out == ""


@pytest.mark.skipif(torch.cuda.is_available(), reason="the message for a machine without CUDA")
@pytest.mark.parametrize("script", ["cuda_overlap.py", "profile_cuda_step.py"])
def test_cuda_scripts_say_they_need_a_gpu(script, monkeypatch, capsys):
    assert run_script(script, [], monkeypatch) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{script}: error: this script needs a CUDA GPU: ") and len(err.splitlines()) == 1


def test_time_paper_profile_projects_the_profile_from_its_timed_batches(monkeypatch, capsys):
    # One batch per run of mnist_ff's two runs; the projection recomputed from the
    # times it printed: epochs x (training batches x s + test batches x s), x repetitions.
    args = ["--experiment", "mnist", "--network", "mnist_ff", "--batches", "1", "--eval-batches", "1",
            "--device", "cpu", "--json"]
    assert run_script("time_paper_profile.py", args, monkeypatch) == 0
    report = json.loads(capsys.readouterr().out)
    mnist = report["experiments"]["mnist"]
    assert (mnist["epochs"], mnist["batch_size"], mnist["repetitions"]) == (100, 128, 6)
    assert (mnist["train_samples"], mnist["test_samples"]) == (60_000, 10_000)
    runs = mnist["runs"]
    assert [(r["network"], r["rollout"], r["frames"]) for r in runs] == [
        ("mnist_ff", "streaming", 11), ("mnist_ff", "sequential", 9)]  # first response + 8 frames
    for r in runs:
        assert r["s_per_batch"] > 0 and r["s_per_test_batch"] > 0
        assert r["projected_seconds"] == pytest.approx(100 * (469 * r["s_per_batch"] + 79 * r["s_per_test_batch"]))
    assert mnist["projected_hours"] == pytest.approx(6 * sum(r["projected_seconds"] for r in runs) / 3600)


def test_stream_given_twice_adds_up(capsys):
    # before: the second --stream replaced the first, so the error blamed a cycle it had fixed
    assert main(["inspect", "fig2", "--stream", "v:v", "--stream", "w:v", "--json"]) == 0
    twice = json.loads(capsys.readouterr().out)["rollout"]["pattern"]
    assert main(["inspect", "fig2", "--stream", "v:v", "w:v", "--json"]) == 0
    assert twice == json.loads(capsys.readouterr().out)["rollout"]["pattern"]
    assert [e[:2] for e in twice if e[2]] == [["v", "v"], ["w", "v"]]


def test_train_with_a_data_dir_refuses_what_it_cannot_use_there(tmp_path, capsys):
    # before: a missing folder, or a corrupt MNIST in it, trained on the digits stand-in with status 0
    common = ["train", "mnist_ff", "--epochs", "1", "--limit", "32", "--quiet", "--out", str(tmp_path / "run")]
    assert main(common + ["--data-dir", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err == (f"streamnets: error: --data-dir {tmp_path / 'nowhere'} is not a folder; "
                                       f"give the folder that holds the data sets (e.g. "
                                       f"{tmp_path / 'nowhere' / 'mnist'} in it), or add --download to fetch "
                                       f"them there\n")
    (tmp_path / "data" / "mnist").mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (tmp_path / "data" / "mnist" / name).write_bytes(b"\x00\x00\x08\x03garbage")
    assert main(common + ["--data-dir", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("streamnets: error: MNIST found but unreadable (") and "offline stand-in 'digits'" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", [["train", "mnist_ff", "--epochs", "1", "--quiet"],
                                     ["reproduce", "mnist", "--epochs", "1", "--quiet"]])
def test_an_offline_dataset_refuses_the_options_it_would_ignore(command, tmp_path, capsys):
    # before: --download and --data-dir were ignored, and the run trained on the stand-in
    common = command + ["--out", str(tmp_path / "run"), "--dataset", "Digits"]
    assert main(common + ["--download"]) == 2
    assert capsys.readouterr().err == ("streamnets: error: --download: --dataset digits is an offline data "
                                       "set built into streamnets, read from no folder and never downloaded; "
                                       "leave out --download, or give --dataset mnist for the real data\n")
    assert main(common + ["--data-dir", str(tmp_path), "--download"]) == 2
    assert "error: --download and --data-dir: --dataset digits is an offline" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_warnings_print_one_line_each_without_python_source(tmp_path, capsys):
    # before: "/.../streamnets/train.py:781: UserWarning: output 'out' ..." and the source line
    import warnings

    spec = tmp_path / "sm.yaml"
    spec.write_text("nodes: {image: {shape: [1, 28, 28]}, h: {shape: [16]},\n"
                    "        out: {shape: [10], activation: relu, tags: [output]}}\n"
                    "edges: [[image, h], [h, out]]\n")
    before = warnings.showwarning
    assert main(["train", str(spec), "--epochs", "1", "--limit", "8", "--quiet", "--dataset", "digits",
                 "--out", str(tmp_path / "run")]) == 0
    assert capsys.readouterr().err == ("streamnets: warning: output 'out' of 'sm' has activation 'relu': the "
                                       "cross entropy takes the output's values as logits, which relu "
                                       "limits; give a classifier's output 'activation: identity' (or "
                                       "softmax, whose input the loss takes)\n")
    assert warnings.showwarning is before

    def deprecated():
        warnings.warn("old", DeprecationWarning)

    from streamnets.cli import exit_status
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert exit_status(deprecated, prog="bench.py") == 0
    assert capsys.readouterr().err == "bench.py: warning: DeprecationWarning: old\n"


def test_ctrl_c_exits_130_on_a_line_of_its_own_saying_what_is_kept(capsys):
    from streamnets.cli import exit_status

    def interrupted():
        raise KeyboardInterrupt

    assert exit_status(interrupted) == 130
    assert capsys.readouterr().err == ("\nstreamnets: interrupted; finished epochs and runs are kept (train "
                                       "and reproduce go on from them with --resume)\n")



@pytest.mark.parametrize("args, device", [([], "cpu"), (["--profile", "paper"], "auto"),
                                          (["--device", "cpu", "--profile", "paper"], "cpu")])
def test_notebooks_run_on_the_cpu_under_ci_and_on_the_best_device_under_paper(args, device, tmp_path,
                                                                               monkeypatch, capsys):
    # before: `streamnets notebooks --profile paper` trained the paper profile on the CPU of a GPU machine
    from streamnets import notebooks

    seen = {}
    monkeypatch.setattr(notebooks, "run_notebooks", lambda *a, **k: seen.update(k) or [])
    assert main(["notebooks", "00", "--out", str(tmp_path), *args]) == 0
    assert seen["parameters"] == {"device": device} and seen["profile"] == (
        "paper" if "paper" in args else "ci")


def test_notebooks_refuse_an_unknown_device_before_running_any(tmp_path, capsys):
    assert main(["notebooks", "00", "--device", "warp", "--out", str(tmp_path / "nb")]) == 2
    assert "unknown device 'warp'" in capsys.readouterr().err and not (tmp_path / "nb").exists()


@pytest.mark.parametrize("args, download", [(["--profile", "paper"], True), ([], False),
                                            (["--profile", "paper", "--no-download"], False),
                                            (["--download"], True)])
def test_reproduce_downloads_the_real_data_under_the_paper_profile(args, download, tmp_path, monkeypatch,
                                                                   capsys):
    # before: `make reproduce PROFILE=paper` trained 100 epochs on the offline stand-ins
    from streamnets.errors import DataError
    from streamnets.experiments import runner

    seen = {}

    def datasets(experiment, dataset, data_dir, download):
        seen["download"] = download
        raise DataError("seen")  # stop before any data is read

    monkeypatch.setattr(runner, "_datasets", datasets)
    assert main(["reproduce", "mnist", "--out", str(tmp_path), *args]) == 2
    assert seen["download"] is download


def test_run_experiment_paper_profile_without_its_data_stops_instead_of_using_the_stand_in(tmp_path,
                                                                                          monkeypatch):
    from streamnets.data import MNIST, download as dl, paths
    from streamnets.errors import DataError
    from streamnets.experiments import run_experiment

    monkeypatch.setenv("STREAMNETS_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(paths, "REPO_DATA_DIR", tmp_path / "no-repo-data")
    monkeypatch.setattr(paths, "CACHE_DIR", tmp_path / "no-cache")
    monkeypatch.setattr(MNIST, "system_dirs", ())  # a machine with Debian's MNIST would train 100 epochs
    monkeypatch.setitem(dl.MIRRORS, "mnist", ["http://127.0.0.1:1/"])  # nothing listens there
    with pytest.raises(DataError, match="MNIST download failed .*--no-download for reproduce --profile paper"):
        run_experiment("mnist", profile="paper", out=tmp_path / "out", device="cpu", progress=False,
                       log=lambda line: None)


def test_reproduce_paper_refuses_a_misspelt_data_dir_unless_download_is_given(tmp_path, monkeypatch, capsys):
    from streamnets import experiments

    monkeypatch.setattr(experiments, "reproduce", lambda *a, **k: {})
    typo = str(tmp_path / "dta")
    assert main(["reproduce", "mnist", "--profile", "paper", "--data-dir", typo, "--out", str(tmp_path)]) == 2
    assert f"--data-dir {typo} is not a folder" in capsys.readouterr().err
    assert main(["reproduce", "mnist", "--profile", "paper", "--data-dir", typo, "--download",
                 "--out", str(tmp_path)]) == 0  # asked for by name: the folder to download into
