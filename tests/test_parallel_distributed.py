"""DistributedExecutor on 2 and 3 gloo ranks spawned on 127.0.0.1: every rank's
outputs equal StreamNet.step's (tolerance: streamnets.parallel.base.TOLERANCE).
And its torchrun entry point (``-m streamnets.parallel``): its run, its settings and
its choice of backend."""

import json
import subprocess
import sys

import pytest
import torch

import streamnets as sn
from streamnets.nn import StreamNet
from streamnets.parallel import DistributedExecutor, ReferenceExecutor, launch
from streamnets.parallel.base import compare_outputs, random_clip
from streamnets.parallel.distributed import time_frames


def softmax_net():
    nodes = [sn.Node("img", (2, 8, 8), "identity"), sn.Node("a", (4, 4, 4), "relu"),
             sn.Node("b", (3, 8, 8), "tanh"), sn.Node("c", (5,), "softmax", tags=("prediction",)),
             sn.Node("d", (2, 4, 4), "elu")]
    edges = [("img", "a"), ("img", "b"), ("a", "c"), ("b", "c"), ("c", "d"), ("d", "a"), ("a", "a"),
             ("d", "b")]
    return sn.Network(nodes, [sn.Edge(u, v, 3) for u, v in edges], name="softmaxnet")


def two_inputs_net():
    """Two inputs of different shapes, one of them read by a recurrent node."""
    nodes = [sn.Node("img", (2, 8, 8), "identity"), sn.Node("aux", (3,), "identity"),
             sn.Node("a", (4, 4, 4), "relu"), sn.Node("b", (6,), "tanh"),
             sn.Node("c", (5,), "softmax", tags=("prediction",))]
    edges = [("img", "a"), ("aux", "b"), ("a", "b"), ("b", "b"), ("b", "c"), ("a", "c")]
    return sn.Network(nodes, [sn.Edge(u, v, 3) for u, v in edges], name="twoinputs")


NETS = {"softmaxnet": softmax_net, "twoinputs": two_inputs_net}


def build(name):
    net = NETS[name]() if name in NETS else sn.load(name)
    # Different weights per rank on purpose: the executor must broadcast rank 0's.
    torch.manual_seed(torch.distributed.get_rank() if torch.distributed.is_initialized() else 0)
    return StreamNet(net).eval()


def frames_of(model, batch=2, count=8):
    return random_clip(model, batch, count, "cpu", seed=5)  # a dict per input for twoinputs


def rank_job(rank, world, name, streaming_edges):
    """Run on every rank: the executor's outputs, its owners and rank 0's weights."""
    model = build(name)
    net = model.network
    rollout = "streaming" if streaming_edges is None else sn.Rollout.from_streaming_edges(net, streaming_edges)
    ex = DistributedExecutor(model, rollout)
    outputs = ex.run(frames_of(model))
    return {"outputs": outputs, "owners": ex.owners, "state": model.state_dict()}


@pytest.mark.parametrize("world, name, streaming_edges", [
    (2, "cifar10_dsr1", None),
    (3, "softmaxnet", None),
    (3, "softmaxnet", [("d", "a"), ("a", "a"), ("d", "b")]),  # a chain of 3 update steps
    (2, "twoinputs", None),
])
def test_distributed_equals_step(world, name, streaming_edges):
    results = launch(rank_job, world, args=(name, streaming_edges))
    assert len(results) == world
    owners = results[0]["owners"]
    assert set(owners.values()) <= set(range(world)) and len(set(owners.values())) > 1
    model = StreamNet(NETS[name]() if name in NETS else sn.load(name)).eval()
    model.load_state_dict(results[0]["state"])
    for r in results[1:]:  # weights were broadcast from rank 0
        assert all(torch.equal(r["state"][k], v) for k, v in results[0]["state"].items())
    net = model.network
    rollout = "streaming" if streaming_edges is None else sn.Rollout.from_streaming_edges(net, streaming_edges)
    expected = ReferenceExecutor(model, rollout).run(frames_of(model))
    for rank, r in enumerate(results):
        match, diff = compare_outputs(r["outputs"], expected)
        assert match, f"rank {rank}: max |diff| {diff}"


@pytest.mark.parametrize("owners, message", [
    ({"h1": 0, "h2": 1, "prediction": 0, "predicton": 1},
     "owners: network 'mnist_ff' has no node 'predicton' (did you mean 'prediction'?)"),
    ({"image": 0, "h1": 0, "h2": 1, "prediction": 0}, "owners: 'image' is an input node, which no rank updates"),
    ({"h1": 0, "h2": 1}, "owners: no rank for node 'prediction'"),
    ({"h1": 0, "h2": 2, "prediction": 0}, "owners: node 'h2' has rank 2"),
    ({"h1": 0, "h2": 1.0, "prediction": 0}, "owners: node 'h2' has rank 1.0"),
    ({"h1": True, "h2": 1, "prediction": 0}, "owners: node 'h1' has rank True"),
    ([("h1", 0)], "owners must be a dict {node: rank}, got list"),
])
def test_owners_that_misname_or_miss_a_node_are_refused(owners, message):
    # before: a misspelt or extra node (and a rank 1.0 or True) was silently accepted
    # when every real node also had a rank
    from streamnets.parallel.distributed import check_owners

    net = sn.load("mnist_ff")
    with pytest.raises(sn.SettingError) as err:
        check_owners(net, ["h1", "h2", "prediction"], owners, 2)
    assert str(err.value).startswith(message)
    assert str(err.value).endswith("give every non-input node a rank in 0..1 (h1, h2, prediction)")
    assert check_owners(net, ["h1", "h2", "prediction"], {"h1": 0, "h2": 1, "prediction": 1}, 2) == \
        {"h1": 0, "h2": 1, "prediction": 1}


@pytest.mark.parametrize("kw, message", [
    ({"ranks": (1, 0)}, "ranks must be a whole number >= 1, got 0"),
    ({"ranks": (1.5,)}, "ranks must be a whole number >= 1, got 1.5"),
    ({"ranks": 2}, r"ranks must be a list of rank counts, e\.g\. \(1, 2, 3\), got 2"),
    ({"frames": 0}, "frames must be a whole number >= 1, got 0"),
    ({"warmup": -1}, "warmup must be a whole number >= 0, got -1"),
    ({"batch": 0}, "batch must be a whole number >= 1, got 0"),
    ({"network": "nope"}, "nope: no built-in network of that name"),
])
def test_bench_distributed_refuses_bad_settings_before_launching_a_rank(kw, message, monkeypatch):
    # before: ranks=(0,) raised ZeroDivisionError, frames=0 StatisticsError in a rank, a
    # negative rank count an IndexError, 1.5 ranks ran 1 rank, an unknown network failed
    # in every spawned rank
    from streamnets.errors import SettingError, SpecError
    from streamnets.parallel import bench

    monkeypatch.setattr("streamnets.parallel.distributed.launch", lambda *a, **k: pytest.fail("launched"))
    with pytest.raises((SettingError, SpecError), match=message):
        bench.bench_distributed(**{"network": "cifar10_dsr0", **kw})


def test_time_frames_steps_through_a_clip_of_every_input():
    # before: it indexed the clip as one tensor, so a network of two inputs failed
    model = StreamNet(two_inputs_net()).eval()
    clip = frames_of(model, count=5)
    times, outputs = time_frames(ReferenceExecutor(model), clip, 2, "cpu")
    assert len(times) == 3 and min(times) > 0
    match, diff = compare_outputs(outputs, ReferenceExecutor(model).run(clip))
    assert match and diff == 0


def torchrun(tmp_path, *args):
    """``torchrun --standalone --nproc-per-node 2 -m streamnets.parallel ARGS``, as the docs run it."""
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                           "2", "-m", "streamnets.parallel", *args], capture_output=True, text=True,
                          cwd=tmp_path, timeout=180)


def test_the_torchrun_entry_point_times_two_ranks_on_a_network_of_two_inputs(tmp_path):
    spec = tmp_path / "twoinputs.yaml"
    sn.spec.save(two_inputs_net(), spec)
    done = torchrun(tmp_path, "--network", str(spec), "--batch", "2", "--frames", "3", "--warmup", "1",
                    "--backend", "gloo")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["network"] == "twoinputs" and result["ranks"] == 2 and result["backend"] == "gloo"
    assert result["outputs_match"] and result["max_abs_diff"] <= 1e-5 and result["ms_per_frame"] > 0
    assert sorted(sum(result["nodes_by_rank"], [])) == ["a", "b", "c"]


@pytest.mark.parametrize("args, message", [
    (["--network", "nope"], "nope: no built-in network of that name"),
    (["--network", "mnist_ff", "--frames", "0"], "--frames must be a whole number >= 1, got 0"),
    (["--network", "mnist_ff", "--warmup", "-1"], "--warmup must be a whole number >= 0, got -1"),
    (["--network", "mnist_ff", "--rollout", "streamin"], "unknown rollout 'streamin'"),
    (["--network", "mnist_ff", "--backend", "mpi"], "--backend must be gloo or nccl, got 'mpi'"),
])
def test_the_entry_point_checks_its_settings_before_the_ranks_meet(args, message, monkeypatch):
    # before: a bad --frames failed only after the ranks met, in every rank
    from streamnets.parallel.distributed import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda *a, **k: pytest.fail("joined"))
    with pytest.raises(sn.StreamnetsError, match=message):
        main(args)


class Joined(Exception):
    """Raised in place of torch.distributed.init_process_group: the backend main chose."""


def two_local_ranks(monkeypatch, gpus):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: None)

    def init_process_group(backend):
        raise Joined(backend)

    monkeypatch.setattr(torch.distributed, "init_process_group", init_process_group)


@pytest.mark.parametrize("gpus, default", [(0, "gloo"), (1, "gloo"), (2, "nccl")])
def test_the_entry_point_picks_nccl_only_with_a_gpu_per_rank(gpus, default, monkeypatch):
    # before: two ranks on a machine of one GPU failed in torch.cuda.set_device
    # ("invalid device ordinal"), also by default, which was nccl wherever CUDA was
    from streamnets.parallel.distributed import main

    two_local_ranks(monkeypatch, gpus)
    with pytest.raises(Joined, match=f"^{default}$"):
        main(["--network", "mnist_ff"])
    if gpus < 2:
        with pytest.raises(sn.SettingError, match=f"--backend nccl needs a GPU per rank: 2 ranks on this "
                                                  f"machine, {gpus} GPU\\(s\\) that torch sees; start fewer "
                                                  f"ranks or use gloo"):
            main(["--network", "mnist_ff", "--backend", "nccl"])


@pytest.mark.parametrize("backend, message", [
    ("mpi", "backend must be gloo or nccl, got 'mpi'"),
    ("nccl", r"backend nccl needs a GPU per rank: 2 ranks on this machine, 1 GPU\(s\)"),
])
def test_launch_refuses_a_backend_it_cannot_start_before_starting_a_rank(backend, message, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr("streamnets.parallel.distributed.start_context", lambda: pytest.fail("started"))
    with pytest.raises(sn.SettingError, match=message):
        launch(rank_job, 2, args=("softmaxnet", None), backend=backend)


def test_under_torchrun_each_rank_prints_one_line_for_a_bad_setting(tmp_path):
    # before: every rank printed a traceback. torchrun still prints its own, and may stop
    # the second rank before it prints its line.
    done = torchrun(tmp_path, "--network", "mnist_ff", "--frames", "0")
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.startswith("streamnets.parallel: error: ")]
    assert lines and all(line.endswith("--frames must be a whole number >= 1, got 0") for line in lines), \
        done.stderr[-2000:]
    assert "streamnets/" not in done.stderr  # no frame of this package's code


def test_the_entry_point_without_torchrun_says_to_use_it(tmp_path):
    done = subprocess.run([sys.executable, "-m", "streamnets.parallel", "--network", "mnist_ff"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith(
        "streamnets.parallel: error: no torch.distributed ranks to join: start this under torchrun"), done.stderr
