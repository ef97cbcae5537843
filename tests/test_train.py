"""The trainer: learning, per-frame evaluation, checkpoints, exact resume after a kill."""

import json
import re
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import pytest
import torch

import streamnets as sn
from streamnets.data import ArrayDataset, Digits
from streamnets.nn import StreamNet
from streamnets.train import TrainConfig, Trainer, make_sequences, train, window_frames
from test_nn_device import needs_cuda

QUICK = dict(batch_size=32, lr=1e-3, optimizer="adam", progress=False, device="cpu")


@pytest.fixture(scope="module")
def digits():
    return Digits(train=True), Digits(train=False)


def test_short_training_beats_chance_clearly(digits):
    torch.set_num_threads(1)
    trainer, ev = train("mnist_ff", "streaming", *digits, noise_std=0.3,
                        config=TrainConfig(epochs=3, output_frames=2, **QUICK))
    assert trainer.history[-1]["train_loss"] < trainer.history[0]["train_loss"]
    assert min(ev.accuracy) > 0.5  # chance is 0.1
    assert ev.samples == len(digits[1])


def test_evaluation_is_on_the_update_step_axis(digits):
    net = sn.load("mnist_sr")
    for name, steps in (("streaming", [2, 3, 4]), ("sequential", [3, 6, 9]), ("hybrid", [3, 5, 7])):
        r = sn.Rollout.named(net, name)
        frames = window_frames(r, 3)
        data = make_sequences(digits[1], frames, 2.0, train=False)
        trainer = Trainer(StreamNet(net), r, data, data, TrainConfig(output_frames=3, **QUICK))
        ev = trainer.evaluate()
        assert ev.update_steps == steps
        assert ev.frames == list(range(frames - 3, frames))
        assert len(ev.accuracy) == 3 and all(0 <= a <= 1 for a in ev.accuracy)


def test_evaluation_is_repeatable(digits):
    net = sn.load("mnist_s")
    r = sn.Rollout.streaming(net)
    data = make_sequences(digits[1], window_frames(r, 2), 2.0, train=False, seed=3)
    trainer = Trainer(StreamNet(net), r, None, data, TrainConfig(output_frames=2, **QUICK))
    assert trainer.evaluate() == trainer.evaluate()


def test_too_short_sequences_are_explained(digits):
    net = sn.load("mnist_ff")
    data = make_sequences(digits[1], 4, 2.0)
    with pytest.raises(sn.ShapeError, match=r"have 4 frames, but rollout 'streaming' of 'mnist_ff' "
                                            r"needs 11 \(first response at frame 3 \+ 8 output"):
        Trainer(StreamNet(net), sn.Rollout.streaming(net), data)


def test_unknown_optimizer(digits):
    net = sn.load("mnist_ff")
    data = make_sequences(digits[1], 11, 2.0)
    with pytest.raises(sn.SettingError, match=r"^TrainConfig.optimizer: unknown optimizer 'adamm'; "
                                              r"did you mean 'adam'\? use a torch.optim class name"):
        Trainer(StreamNet(net), sn.Rollout.streaming(net), data, config=TrainConfig(optimizer="adamm"))


def test_a_trainer_asked_for_fewer_epochs_than_it_trained_says_so(digits):
    # before: without an out_dir the message built a checkpoint path from None (TypeError)
    net = sn.load("mnist_ff")
    config = TrainConfig(epochs=2, max_batches=1, output_frames=2, progress=False, device="cpu")
    trainer = Trainer(StreamNet(net), "streaming", make_sequences(digits[1], 5, 2.0), config=config)
    trainer.fit()
    trainer.config.epochs = 1
    with pytest.raises(sn.StreamnetsError, match=r"^this Trainer has trained 2 epochs already, more "
                                                 r"than the 1 asked for; to continue ask for at least 2"):
        trainer.fit()


def test_empty_data_and_data_of_the_wrong_kind_are_refused(digits):
    from streamnets.data import ArrayDataset

    net = sn.load("mnist_ff")
    empty = ArrayDataset(digits[1].data[:0], digits[1].targets[:0], digits[1].classes, "no digits")
    with pytest.raises(sn.DataError, match="^the training data hold no sequences"):
        Trainer(StreamNet(net), "streaming", make_sequences(empty, 11, 2.0))
    with pytest.raises(sn.DataError, match="^the test data hold no sequences"):
        Trainer(StreamNet(net), "streaming", make_sequences(digits[1], 11, 2.0),
                make_sequences(empty, 11, 2.0))
    # before: AttributeError: 'str' object has no attribute 'data'
    with pytest.raises(sn.SettingError, match=r"^train: train_images must be an image or track data "
                                              r"set .* got str 'digits'"):
        train(net, "streaming", "digits")
    with pytest.raises(sn.SettingError, match=r"^train: test_images must be .* got list \[1, 2\]"):
        train(net, "streaming", digits[1], [1, 2])


@pytest.mark.parametrize("kwargs, message", [
    ({"lr": 0.1}, "give the learning rate as TrainConfig.lr, not in optimizer_kwargs"),
    ({"momentun": 0.9}, r"torch.optim.Adam refuses \{'momentun': 0.9\}: .*momentun"),
    ({"weight_decay": -1.0}, r"torch.optim.Adam refuses \{'weight_decay': -1.0\}: Invalid weight_decay"),
    ([("eps", 1e-8)], r"must be a dict of Adam's settings, e.g. \{'weight_decay': 1e-4\}; got \[")])
def test_bad_optimizer_kwargs_are_named(digits, kwargs, message):
    # before: TypeError "got multiple values for keyword argument 'lr'" and the like
    data = make_sequences(digits[1], 11, 2.0)
    with pytest.raises(sn.SettingError, match="^TrainConfig.optimizer_kwargs.*" + message):
        Trainer(StreamNet(sn.load("mnist_ff")), "streaming", data,
                config=TrainConfig(**QUICK, optimizer_kwargs=kwargs))


@pytest.mark.skipif(not hasattr(torch.optim, "Muon"), reason="torch.optim.Muon is new in torch 2.9")
def test_an_optimizer_that_cannot_take_the_network_is_named(digits):
    # before: "TrainConfig.optimizer_kwargs: torch.optim.Muon refuses {}: ..." (no kwargs were given)
    data = make_sequences(digits[1], 11, 2.0)
    with pytest.raises(sn.SettingError, match=r"^TrainConfig.optimizer: torch.optim.Muon cannot train "
                                              r"this network \(Muon only supports 2D.*\); use e.g. rmsprop"):
        Trainer(StreamNet(sn.load("mnist_sr")), "streaming", data, config=TrainConfig(**{**QUICK, "optimizer": "muon"}))


def test_optimizer_kwargs_may_be_any_mapping(digits):
    from types import MappingProxyType

    data = make_sequences(digits[1], 11, 2.0)
    trainer = Trainer(StreamNet(sn.load("mnist_ff")), "streaming", data,
                      config=TrainConfig(**QUICK, optimizer_kwargs=MappingProxyType({"weight_decay": 0.5})))
    assert trainer.optimizer.param_groups[0]["weight_decay"] == 0.5


def test_evaluate_checks_the_data_it_is_given(digits):
    # before: one frame too few copied one frame's accuracy to every output frame
    net = sn.load("mnist_ff")
    r = sn.Rollout.streaming(net)
    frames = window_frames(r, 4)
    trainer = Trainer(StreamNet(net), r, make_sequences(digits[1], frames, 2.0),
                      config=TrainConfig(output_frames=4, **QUICK))
    with pytest.raises(sn.ShapeError, match=f"^evaluation sequences have {frames - 1} frames, but "
                                            f"rollout 'streaming' of 'mnist_ff' needs {frames}"):
        trainer.evaluate(make_sequences(digits[1], frames - 1, 2.0, train=False))
    big = ArrayDataset(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), torch.tensor([0, 11]),
                       [str(i) for i in range(12)], "twelve classes")
    with pytest.raises(sn.SpecError, match="output node 'prediction' has 10 channels, but the evaluation "
                                           "data has 12 classes"):
        trainer.evaluate(make_sequences(big, frames, 2.0, train=False))
    assert len(trainer.evaluate(make_sequences(digits[1], frames + 2, 2.0, train=False)).accuracy) == 4
    # before: AttributeError: 'Digits' object has no attribute 'frames'
    with pytest.raises(sn.DataError, match=r"^the evaluation data must be frame sequences, got Digits; "
                                           r"make them with streamnets.train.make_sequences\(images, frames, "
                                           r"noise_std, train=False\)"):
        trainer.evaluate(digits[1])


@pytest.mark.parametrize("name, why", [("Optimizer", "it is the base class"),
                                       ("LBFGS", "its step needs a closure that re-evaluates the loss"),
                                       ("sparseadam", "it takes sparse gradients only")])
def test_optimizers_that_cannot_train_here_are_refused(digits, name, why):
    # before: TypeError (Optimizer, LBFGS) or RuntimeError (SparseAdam) in the first step
    net = sn.load("mnist_ff")
    data = make_sequences(digits[1], 11, 2.0)
    with pytest.raises(sn.SettingError, match=f"optimizer '{name}' cannot train here: {why}; use e.g. "
                                              f"rmsprop, adam or sgd"):
        Trainer(StreamNet(net), "streaming", data, config=TrainConfig(**{**QUICK, "optimizer": name}))


def test_a_config_that_is_not_a_train_config_is_named(digits):
    # before: train(..., config={"epochs": 1}) ended in AttributeError: 'dict' object has no attribute 'seed'
    with pytest.raises(sn.SettingError, match=r"^config must be a TrainConfig, e.g. TrainConfig\(epochs=1\) "
                                              r"or TrainConfig\(\*\*settings\), got dict \{'epochs': 1\}"):
        train("mnist_ff", "streaming", digits[1], config={"epochs": 1})


@pytest.mark.parametrize("field, value, message", [
    ("epochs", 0, "TrainConfig.epochs must be a whole number >= 1, got 0"),
    ("batch_size", 0, "TrainConfig.batch_size must be a whole number >= 1, got 0"),
    ("batch_size", 2.5, "TrainConfig.batch_size must be a whole number >= 1, got 2.5"),
    ("output_frames", 0, "TrainConfig.output_frames must be a whole number >= 1, got 0"),
    ("max_batches", 0, "TrainConfig.max_batches must be a whole number >= 1 (or None"),
    ("lr", -1.0, "TrainConfig.lr must be a finite number > 0, got -1.0"),
    ("lr", float("nan"), "TrainConfig.lr must be a finite number > 0, got nan"),
    ("lr", 1e39, "TrainConfig.lr must be at most 3.4e+38, got 1e+39"),  # before: torch's RuntimeError
    ("decay", -0.5, "TrainConfig.decay must be a finite number >= 0, got -0.5"),
])
def test_config_out_of_range_is_a_setting_error(digits, field, value, message):
    # before: epochs=0 trained nothing silently, batch_size=0 a ZeroDivisionError in the first
    # epoch, lr=-1 torch's ValueError, output_frames=0 an empty evaluation
    net = sn.load("mnist_ff")
    data = make_sequences(digits[1], 11, 2.0)
    config = TrainConfig(**{**QUICK, field: value})
    with pytest.raises(sn.SettingError, match=re.escape(message)):
        Trainer(StreamNet(net), "streaming", data, config=config)


def test_rollout_of_another_network_is_refused_and_names_are_taken(digits):
    net = sn.load("mnist_ff")
    data = make_sequences(digits[1], 11, 2.0)
    with pytest.raises(sn.SpecError, match="rollout 'streaming' belongs to network 'mnist_sr', not to "
                                           "'mnist_ff'"):
        Trainer(StreamNet(net), sn.Rollout.streaming(sn.load("mnist_sr")), data)
    trainer = Trainer(StreamNet(net), "streaming", data)
    assert trainer.rollout == sn.Rollout.streaming(net) and trainer.rollout.network is trainer.model.network


def test_metrics_and_checkpoint_files(digits, tmp_path):
    trainer, _ = train("mnist_ff", "sequential", digits[1], digits[1], noise_std=2.0, out_dir=tmp_path,
                       config=TrainConfig(epochs=2, output_frames=2, max_batches=2, **QUICK))
    doc = json.loads((tmp_path / "metrics.json").read_text())
    assert [e["epoch"] for e in doc["epochs"]] == [1, 2]
    assert doc["update_steps"] == [3, 6] and doc["rollout_name"] == "sequential"
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert rows[0].split(",")[-2:] == ["test_accuracy_frame1", "test_accuracy_frame2"]
    assert len(rows) == 3
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # resuming a finished run trains nothing more
    again, _ = train("mnist_ff", "sequential", digits[1], digits[1], noise_std=2.0, out_dir=tmp_path,
                     resume=True, config=TrainConfig(epochs=2, output_frames=2, max_batches=2, **QUICK))
    assert again.history == trainer.history
    # before: a run stopped between writing the checkpoint and the metrics kept metrics
    # one epoch short for good, since a finished run resumed writes nothing
    doc["epochs"] = doc["epochs"][:1]
    (tmp_path / "metrics.json").write_text(json.dumps(doc))
    (tmp_path / "metrics.csv").write_text("\n".join(rows[:2]) + "\n")
    train("mnist_ff", "sequential", digits[1], digits[1], noise_std=2.0, out_dir=tmp_path,
          resume=True, config=TrainConfig(epochs=2, output_frames=2, max_batches=2, **QUICK))
    assert [e["epoch"] for e in json.loads((tmp_path / "metrics.json").read_text())["epochs"]] == [1, 2]
    assert (tmp_path / "metrics.csv").read_text().splitlines() == rows


def test_train_evaluates_the_test_data_once_after_the_last_epoch(digits, tmp_path, monkeypatch):
    # before: fit evaluated after the last epoch and train() evaluated the same model again
    calls = []
    evaluate = Trainer.evaluate
    monkeypatch.setattr(Trainer, "evaluate", lambda self, data=None: calls.append(1) or evaluate(self, data))
    cfg = TrainConfig(epochs=2, output_frames=2, max_batches=1, **QUICK)
    trainer, ev = train("mnist_ff", "streaming", digits[1], digits[1], out_dir=tmp_path, config=cfg)
    assert len(calls) == 2  # once per epoch
    assert ev is trainer.last_evaluation and ev.accuracy == trainer.history[-1]["test_accuracy"]
    assert ev == evaluate(trainer)
    # a resumed run with every epoch done trains nothing, so it evaluates here
    again, ev_again = train("mnist_ff", "streaming", digits[1], digits[1], out_dir=tmp_path,
                            config=cfg, resume=True)
    assert len(calls) == 3 and again.last_evaluation is None and ev_again == ev


def test_resume_refuses_a_foreign_or_corrupt_checkpoint(digits, tmp_path):
    cfg = TrainConfig(epochs=1, output_frames=2, max_batches=1, **QUICK)
    train("mnist_ff", "sequential", digits[1], None, out_dir=tmp_path, config=cfg)
    with pytest.raises(sn.StreamnetsError, match="checkpoint is of another run"):
        train("mnist_ff", "streaming", digits[1], None, out_dir=tmp_path, resume=True, config=cfg)
    (tmp_path / "checkpoint.pt").write_bytes(b"garbage")
    with pytest.raises(sn.StreamnetsError, match="cannot read the checkpoint"):
        train("mnist_ff", "sequential", digits[1], None, out_dir=tmp_path, resume=True, config=cfg)
    # before: a checkpoint without one of its parts ended in a KeyError traceback
    train("mnist_ff", "sequential", digits[1], None, out_dir=tmp_path / "run", config=cfg)
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    del state["optimizer"], state["torch_rng"]
    torch.save(state, tmp_path / "run" / "checkpoint.pt")
    with pytest.raises(sn.StreamnetsError, match=r"checkpoint.pt: the checkpoint has no optimizer, torch_rng; "
                                                 r"it is damaged: delete it to start over"):
        train("mnist_ff", "sequential", digits[1], None, out_dir=tmp_path / "run", resume=True, config=cfg)


@pytest.mark.parametrize("part, value", [("model", "junk"), ("optimizer", 5), ("torch_rng", "junk"),
                                         ("history", "junk"), ("schedule", [1])])
def test_a_checkpoint_with_a_part_of_the_wrong_kind_is_damaged(digits, tmp_path, part, value):
    # before: TypeError / AttributeError tracebacks; history='junk' read as "4 epochs"
    cfg = TrainConfig(epochs=1, output_frames=2, max_batches=1, **QUICK)
    train("mnist_ff", "sequential", digits[1], None, out_dir=tmp_path, config=cfg)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    state[part] = value
    torch.save(state, tmp_path / "checkpoint.pt")
    with pytest.raises(sn.StreamnetsError, match=r"checkpoint.pt: the checkpoint is damaged \(.*\); delete "
                                                 r"it to start over"):
        train("mnist_ff", "sequential", digits[1], None, out_dir=tmp_path, resume=True, config=cfg)
    if part in ("model", "history"):
        with pytest.raises(sn.StreamnetsError, match=r"checkpoint.pt: (not a streamnets training checkpoint|"
                                                     r"the checkpoint's weights are damaged)"):
            sn.train.load_trained(tmp_path)


def test_a_run_resumed_in_another_float_environment_says_so_and_records_the_mix(digits, tmp_path):
    # before: a run resumed with another thread count (or on another CPU, torch build,
    # device) went on without a word and its results named this process's environment alone
    from streamnets.device import float_environment

    threads = torch.get_num_threads()
    first = {**float_environment(), "threads": threads + 1}  # as if epoch 1 ran with another count
    cfg = TrainConfig(epochs=1, output_frames=2, max_batches=1, **QUICK)
    trainer, _ = train("mnist_ff", "sequential", digits[1], None, out_dir=tmp_path, config=cfg)
    assert trainer.environments == [float_environment()] and trainer.environment == float_environment()
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert state["environments"] == [float_environment()]
    state["environments"] = [first]
    torch.save(state, tmp_path / "checkpoint.pt")
    more = TrainConfig(epochs=2, output_frames=2, max_batches=1, **QUICK)
    with pytest.warns(UserWarning, match=rf"checkpoint.pt: epochs 1..1 were trained with torch .*, "
                                         rf"{threads + 1} threads?, this process trains with torch .*, "
                                         rf"{threads} threads?: float rounding differs"):
        trainer, _ = train("mnist_ff", "sequential", digits[1], None, out_dir=tmp_path, resume=True,
                           config=more)
    assert trainer.environment == {"mixed": [first, float_environment()]}
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert saved["environments"] == [first, float_environment()]
    with warnings.catch_warnings():  # nothing left to train, nothing to warn of
        warnings.simplefilter("error")
        again, _ = train("mnist_ff", "sequential", digits[1], None, out_dir=tmp_path, resume=True, config=more)
    assert again.environment == {"mixed": [first, float_environment()]}
    # a checkpoint of an earlier streamnets records none: no warning, this environment
    del state["environments"]
    torch.save(state, tmp_path / "checkpoint.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer, _ = train("mnist_ff", "sequential", digits[1], None, out_dir=tmp_path, resume=True,
                           config=more)
    assert trainer.environment == float_environment()


def test_resume_refuses_other_training_data_of_the_same_size(digits, tmp_path):
    # before: a run resumed on another data set of as many samples (--dataset digits, then
    # --dataset mnist with --limit) and mixed the two without a word
    cfg = TrainConfig(epochs=1, output_frames=2, max_batches=1, **QUICK)
    images = digits[1]
    other = ArrayDataset(images.data, images.targets.roll(1), images.classes, "the same images, other labels")
    train("mnist_ff", "streaming", images, None, out_dir=tmp_path, config=cfg)
    later = TrainConfig(epochs=2, output_frames=2, max_batches=1, **QUICK)
    with pytest.raises(sn.StreamnetsError, match=r"other settings: training labels digest='[0-9a-f]{12}' "
                                                 r"\(now '[0-9a-f]{12}'\)"):
        train("mnist_ff", "streaming", other, None, out_dir=tmp_path, resume=True, config=later)
    train("mnist_ff", "streaming", images, None, out_dir=tmp_path, resume=True, config=later)  # the same: fine


@pytest.mark.parametrize("change, message", [
    ({"optimizer": "sgd"}, r"optimizer='adam' \(now 'sgd'\)"),
    ({"lr": 0.1, "batch_size": 16}, r"batch_size=32 \(now 16\), lr=0.001 \(now 0.1\)"),
    ({"noise_std": 1.0}, r"noise_std=2.0 \(now 1.0\)"),
    ({"seed": 1}, r"seed=0 \(now 1\)"),
])
def test_resume_refuses_a_checkpoint_trained_with_other_settings(digits, tmp_path, change, message):
    # before: another optimizer was a KeyError traceback; another lr, batch size or noise was
    # silently mixed into the run (the lr even came back from the optimizer's checkpoint)
    cfg = dict(epochs=1, output_frames=2, max_batches=1, **QUICK)
    train("mnist_ff", "sequential", digits[1], None, 2.0, TrainConfig(**cfg), out_dir=tmp_path)
    noise = change.pop("noise_std", 2.0)
    again = TrainConfig(**{**cfg, "epochs": 2, **change})
    with pytest.raises(sn.StreamnetsError, match=r"checkpoint.pt: the checkpoint was trained with other "
                                                 r"settings: " + message + r"; to continue it, give"):
        train("mnist_ff", "sequential", digits[1], None, noise, again, out_dir=tmp_path, resume=True)
    same = TrainConfig(**{**cfg, "epochs": 2, "optimizer": "ADAM"})  # case does not matter
    trainer, _ = train("mnist_ff", "sequential", digits[1], None, 2.0, same, out_dir=tmp_path, resume=True)
    assert [h["epoch"] for h in trainer.history] == [1, 2]


RUN = textwrap.dedent("""
    import sys, torch
    torch.set_num_threads(1)
    from streamnets.data import Digits
    from streamnets.train import TrainConfig, train
    cfg = TrainConfig(epochs=3, batch_size=32, lr=1e-3, output_frames=2,
                      progress=False, device="cpu", seed=7)
    train("mnist_sr", "sequential", Digits(train=True), Digits(train=False), noise_std=2.0,
          config=cfg, out_dir=sys.argv[1], resume=True)
""")


def _run(out_dir, **kw):
    return subprocess.Popen([sys.executable, "-c", RUN, str(out_dir)], **kw)


@pytest.mark.slow
def test_resume_after_a_kill_mid_epoch_gives_identical_metrics(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert _run(whole).wait(timeout=600) == 0
    proc = _run(killed)
    checkpoint = killed / "checkpoint.pt"
    deadline = time.time() + 600
    while not checkpoint.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)  # into epoch 2 (a whole epoch takes about a second)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = torch.load(checkpoint, weights_only=False)["history"]
    assert len(done) < 3, "the run finished before it could be killed"
    assert _run(killed).wait(timeout=600) == 0
    a = json.loads((whole / "metrics.json").read_text())
    b = json.loads((killed / "metrics.json").read_text())
    for rec in a["epochs"] + b["epochs"]:
        for key in ("seconds", "data_seconds", "step_seconds"):
            rec.pop(key)
    assert a == b


@needs_cuda
@pytest.mark.parametrize("first_device", ["cuda", "cpu"])
def test_a_run_resumes_on_cuda(digits, tmp_path, first_device):
    # before: the checkpoint was loaded onto the GPU, and torch.set_rng_state refused the
    # CPU generator's state there (TypeError), so no run on CUDA could be resumed
    def config(epochs, device):
        return TrainConfig(epochs=epochs, output_frames=2, max_batches=2, **dict(QUICK, device=device))

    train("mnist_ff", "streaming", digits[1], None, out_dir=tmp_path, config=config(1, first_device))
    trainer, _ = train("mnist_ff", "streaming", digits[1], None, out_dir=tmp_path, resume=True,
                       config=config(2, "cuda"))
    assert trainer.resumed_epochs == 1 and len(trainer.history) == 2
    assert next(trainer.model.parameters()).is_cuda
    moments = [v for state in trainer.optimizer.state.values() for k, v in state.items() if k != "step"]
    assert moments and all(v.is_cuda for v in moments)


@needs_cuda
def test_a_run_trained_on_cuda_loads_on_the_cpu_and_on_cuda(digits, tmp_path):
    cfg = TrainConfig(epochs=1, output_frames=2, max_batches=2, **dict(QUICK, device="cuda"))
    trainer, ev = train("mnist_sr", "hybrid", digits[1], digits[1], config=cfg, out_dir=tmp_path)
    saved = {k: v.cpu() for k, v in trainer.model.state_dict().items()}
    on_cpu = sn.train.load_trained(tmp_path)
    assert all(not v.is_cuda and torch.equal(v, saved[k]) for k, v in on_cpu.state_dict().items())
    on_cuda = sn.train.load_trained(tmp_path, device="cuda")
    assert next(on_cuda.parameters()).is_cuda and on_cuda.trained_with["test_accuracy"] == ev.accuracy
    assert Trainer(on_cuda, "hybrid", trainer.train_data, config=cfg).evaluate(trainer.test_data) == ev


def test_prefetching_trains_on_exactly_the_same_batches(digits):
    histories, evals = [], []
    for prefetch in (False, True):
        config = TrainConfig(epochs=2, output_frames=2, max_batches=5, prefetch=prefetch, seed=4, **QUICK)
        trainer, ev = train("mnist_s", "streaming", *digits, noise_std=1.0, config=config)
        histories.append([(h["train_loss"], h["train_accuracy"], h["samples"]) for h in trainer.history])
        evals.append(ev.accuracy)
    assert histories[0] == histories[1]
    assert histories[0][0][2] == 5 * QUICK["batch_size"]  # max_batches is respected
    assert evals[0] == evals[1]


@pytest.mark.parametrize("cores, threads, expected", [(4, 2, True), (2, 2, False), (1, 1, False)])
def test_automatic_prefetching_needs_a_free_core(digits, monkeypatch, cores, threads, expected):
    import streamnets.train as train_module

    monkeypatch.setattr(train_module, "cpu_cores", lambda: cores)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        trainer = Trainer(StreamNet(sn.load("mnist_ff")), sn.Rollout.streaming(sn.load("mnist_ff")),
                          None, None, TrainConfig(**QUICK))
        assert trainer._prefetching() is expected
        trainer.config.prefetch = not expected  # an explicit choice wins
        assert trainer._prefetching() is (not expected)
    finally:
        torch.set_num_threads(before)


def test_a_failing_step_stops_the_prefetching_thread(digits, monkeypatch):
    import threading

    net = sn.load("mnist_ff")
    r = sn.Rollout.streaming(net)
    data = make_sequences(digits[1], window_frames(r, 2), 1.0, train=True)
    trainer = Trainer(StreamNet(net), r, data, None, TrainConfig(epochs=1, output_frames=2, prefetch=True,
                                                                 **QUICK))
    monkeypatch.setattr(trainer, "_logits", lambda frames: (_ for _ in ()).throw(RuntimeError("step failed")))
    with pytest.raises(RuntimeError, match="step failed") as failure:
        trainer.fit()
    assert failure.traceback  # the traceback (and its frames) is still alive here
    assert not [t for t in threading.enumerate() if t.name == "streamnets-prefetch"]


SPEC = textwrap.dedent("""
    name: small
    nodes:
      image: {{shape: [1, 28, 28], activation: identity}}
      h1: {{shape: [4, 7, 7]}}
      h2: {{shape: [{h2}]}}
      prediction: {{shape: {output}, activation: identity, tags: [prediction]}}
    edges:
      - {{source: image, target: h1, rf: 7}}
      - {{source: h1, target: h2}}
      - {{source: h2, target: prediction}}
""")


def _spec(tmp_path, output="[10]", h2=16):
    path = tmp_path / "small.yaml"
    path.write_text(SPEC.format(output=output, h2=h2))
    return path


def _trainer(net, digits):
    r = sn.Rollout.streaming(net)
    data = make_sequences(digits[1], window_frames(r, 2), 1.0)
    return Trainer(StreamNet(net), r, data, config=TrainConfig(output_frames=2, **QUICK))


def test_an_input_tagged_as_the_output_is_refused(digits, tmp_path):
    # before: "give it shape [1] (one channel per class)" for the 1-channel input
    spec = tmp_path / "inout.yaml"
    spec.write_text("nodes: {image: {shape: [1, 28, 28], tags: [prediction]}, h: {shape: [10]}}\n"
                    "edges: [[image, h]]")
    with pytest.raises(sn.SpecError, match=r"inout.yaml: nodes.image.tags: output node 'image' is the "
                                           r"input node: .* tag the classifying node"):
        _trainer(sn.load(str(spec)), digits)


def test_an_output_with_fewer_channels_than_classes_is_refused_up_front(digits, tmp_path):
    net = sn.load(str(_spec(tmp_path, output="[3]")))
    with pytest.raises(sn.SpecError, match=r"small.yaml: nodes.prediction.shape: output node 'prediction' "
                                           r"has 3 channels, but the training data has 10 classes; "
                                           r"give it shape \[10\]"):
        _trainer(net, digits)
    _trainer(sn.load(str(_spec(tmp_path, output="[12]"))), digits)  # spare channels are fine


def test_a_spatial_output_is_refused_up_front(digits, tmp_path):
    net = sn.load(str(_spec(tmp_path, output="[10, 7, 7]")))
    with pytest.raises(sn.SpecError, match=r"nodes.prediction.shape: output node 'prediction' has the "
                                           r"spatial shape \[10, 7, 7\], but the trainer classifies "
                                           r"with a dense output node; give it shape \[10\]"):
        _trainer(net, digits)


def test_a_network_with_several_inputs_is_refused_up_front(digits):
    net = sn.Network([sn.Node("a", (1, 28, 28), "identity"), sn.Node("b", (1, 28, 28), "identity"),
                      sn.Node("prediction", (10,), "identity", tags=("prediction",))],
                     [("a", "prediction"), ("b", "prediction")], name="two")
    with pytest.raises(sn.SpecError, match="inputs: the trainer feeds one input .*; network 'two' has "
                                           "inputs a, b; give it a single input node"):
        _trainer(net, digits)


def test_a_network_with_several_outputs_is_refused_with_how_to_pick_one(digits):
    net = sn.Network([sn.Node("image", (1, 28, 28), "identity"), sn.Node("h", (8,)),
                      sn.Node("prediction", (10,), "identity", tags=("prediction",)),
                      sn.Node("aux", (10,), "identity", tags=("output",))],
                     [("image", "h"), ("h", "prediction"), ("h", "aux")], name="two")
    with pytest.raises(sn.SpecError, match="outputs: the trainer takes networks with one output; "
                                           "'two' has prediction, aux; tag only the one to use "
                                           "'tags: \\[prediction\\]'"):
        _trainer(net, digits)


@pytest.mark.parametrize("activation, warns", [("relu", True), ("sigmoid", True), ("identity", False),
                                               ("softmax", False)])
def test_an_output_whose_activation_bounds_the_logits_is_warned_about(digits, activation, warns):
    # before: a relu output (the default activation) was trained as logits without a word
    net = sn.Network([sn.Node("image", (1, 28, 28), "identity"), sn.Node("h", (8,)),
                      sn.Node("prediction", (10,), activation)], [("image", "h"), ("h", "prediction")],
                     name="bounded")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _trainer(net, digits)
    messages = [str(w.message) for w in caught if "cross entropy" in str(w.message)]
    assert messages == ([f"output 'prediction' of 'bounded' has activation {activation!r}: the cross entropy "
                         f"takes the output's values as logits, which {activation} limits; give a "
                         f"classifier's output 'activation: identity' (or softmax, whose input the loss "
                         f"takes)"] if warns else [])


@pytest.mark.parametrize("spec, message", [
    ("[3]", "output node 'prediction' has 3 channels, but the training data has 10 classes"),
    ("[10, 7, 7]", "output node 'prediction' has the spatial shape [10, 7, 7]"),
])
def test_the_cli_reports_a_bad_output_node_on_one_line(tmp_path, capsys, spec, message):
    from streamnets.cli import main

    path = _spec(tmp_path, output=spec)
    args = ["train", str(path), "--epochs", "1", "--limit", "64", "--quiet", "--out", str(tmp_path / "run")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"small.yaml: nodes.prediction.shape: {message}" in err


def test_resume_refuses_a_checkpoint_of_an_edited_spec(digits, tmp_path):
    cfg = TrainConfig(epochs=1, output_frames=2, max_batches=1, **QUICK)
    out = tmp_path / "run"
    train(str(_spec(tmp_path, h2=16)), "streaming", digits[1], None, out_dir=out, config=cfg)
    edited = str(_spec(tmp_path, h2=32))  # same name, other shape: the old weights do not fit
    with pytest.raises(sn.StreamnetsError, match=r"checkpoint is of another run \(different nodes or edges: "
                                                 r"nodes.h2.shape: \[16\] in the checkpoint, \[32\] now\); "
                                                 r"to start fresh, use another --out folder or delete "
                                                 r"the checkpoint \(in Python: resume=False\)"):
        train(edited, "streaming", digits[1], None, out_dir=out, resume=True, config=cfg)
    # before: a change of dropout alone was reported as "different node shapes or edges"
    dropout = tmp_path / "dropout" / "small.yaml"
    dropout.parent.mkdir()
    dropout.write_text(_spec(tmp_path, h2=16).read_text().replace("shape: [16]", "shape: [16], dropout: 0.3"))
    with pytest.raises(sn.StreamnetsError, match=r"\(different nodes or edges: nodes.h2.dropout: \(not set\) in the "
                                                 r"checkpoint, 0.3 now\)"):
        train(str(dropout), "streaming", digits[1], None, out_dir=out, resume=True, config=cfg)
    # a checkpoint written before the identity recorded the spec gets the same clear error
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    del state["identity"]["spec"]
    torch.save(state, out / "checkpoint.pt")
    with pytest.raises(sn.StreamnetsError, match=r"another run \(no record of its nodes or edges\)"):
        train(str(_spec(tmp_path, h2=16)), "streaming", digits[1], None, out_dir=out, resume=True,
              config=cfg)
    # starting fresh (no resume) over the old checkpoint works, and then resuming does
    train(edited, "streaming", digits[1], None, out_dir=out, config=cfg)
    again, _ = train(edited, "streaming", digits[1], None, out_dir=out, resume=True, config=cfg)
    assert len(again.history) == 1


def test_resume_refuses_fewer_epochs_than_the_checkpoint_has(digits, tmp_path):
    # before: the 2-epoch model was silently reported for a run asked to train 1 epoch
    cfg = dict(epochs=2, output_frames=2, max_batches=1, **QUICK)
    trainer, _ = train("mnist_ff", "streaming", digits[1], None, 2.0, TrainConfig(**cfg), out_dir=tmp_path)
    with pytest.raises(sn.StreamnetsError, match=r"checkpoint.pt: the checkpoint has 2 epochs, more than "
                                                 r"the 1 asked for; to continue it ask for at least 2"):
        train("mnist_ff", "streaming", digits[1], None, 2.0, TrainConfig(**{**cfg, "epochs": 1}),
              out_dir=tmp_path, resume=True)
    again, _ = train("mnist_ff", "streaming", digits[1], None, 2.0, TrainConfig(**{**cfg, "epochs": 3}),
                     out_dir=tmp_path, resume=True)
    assert again.resumed_epochs == 2 and len(again.history) == 3 and trainer.resumed_epochs is None


def test_an_output_folder_that_cannot_be_written_is_refused_before_training(digits, tmp_path, monkeypatch):
    # before: an OSError traceback from the first checkpoint, after an epoch of training
    net = sn.load("mnist_ff")
    data = make_sequences(digits[1], 11, 2.0)
    (tmp_path / "file").write_text("")
    with pytest.raises(sn.StreamnetsError, match=r"file: this is a file, not a folder for checkpoints"):
        Trainer(StreamNet(net), "streaming", data, config=TrainConfig(**QUICK), out_dir=tmp_path / "file")
    with pytest.raises(sn.StreamnetsError, match=r"/file: this is a file, not a folder for checkpoints "
                                                 r"and metrics; give another output folder"):
        Trainer(StreamNet(net), "streaming", data, config=TrainConfig(**QUICK),
                out_dir=tmp_path / "file" / "run")

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.TemporaryFile", read_only)
    with pytest.raises(sn.StreamnetsError, match=r"cannot write checkpoints and metrics there "
                                                 r"\(Permission denied\)"):
        Trainer(StreamNet(net), "streaming", data, config=TrainConfig(**QUICK), out_dir=tmp_path / "ro")


def test_an_input_node_of_another_shape_than_the_frames_is_named_up_front(digits):
    # before: a ShapeError from the model in the first batch, naming neither the spec nor the fix
    from streamnets.spec import loads

    net = loads("nodes: {image: {shape: [3, 28, 28]}, p: {shape: [10]}}\nedges: [[image, p]]", "mine.yaml")
    data = make_sequences(digits[1], 11, 2.0)
    with pytest.raises(sn.SpecError, match=r"mine.yaml: nodes.image.shape: input node 'image' has shape "
                                           r"\[3, 28, 28\], but the training data's frames have shape "
                                           r"\[1, 28, 28\]; give the input node shape \[1, 28, 28\]"):
        Trainer(StreamNet(net), "streaming", data, config=TrainConfig(**QUICK))


def test_float16_autocast_trains_with_loss_scaling(digits, tmp_path, monkeypatch):
    # before: on a GPU without bfloat16 the trainer ran float16 autocast without a
    # GradScaler, where small gradients underflow to zero. Here the CPU stands in: the
    # scaler is on exactly when the autocast dtype is float16, and since it scales by
    # powers of two the trained weights equal those of unscaled training.
    import streamnets.train as train_mod

    net = sn.load("mnist_ff")
    data = make_sequences(digits[0], 11, 1.0)
    config = TrainConfig(epochs=2, max_batches=3, seed=3, **QUICK)
    torch.manual_seed(0)
    plain = Trainer(StreamNet(net), "streaming", data, config=config)
    assert not plain.scaler.is_enabled()
    plain.fit()
    monkeypatch.setattr(train_mod, "autocast_dtype", lambda device, enabled: torch.float16)
    torch.manual_seed(0)
    scaled = Trainer(StreamNet(net), "streaming", data, config=config, out_dir=tmp_path)
    assert scaled.scaler.is_enabled()
    scaled.fit()
    assert scaled.scaler.get_scale() > 1
    for (name, a), b in zip(plain.model.state_dict().items(), scaled.model.state_dict().values()):
        assert torch.equal(a, b), name
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["scaler"]
    assert saved["scale"] == scaled.scaler.get_scale()
    again = Trainer(StreamNet(net), "streaming", data, config=TrainConfig(**{**config.__dict__, "epochs": 3}),
                    out_dir=tmp_path)
    again.fit(resume=True)
    assert again.resumed_epochs == 2 and again.scaler.get_scale() == saved["scale"]


def test_steps_the_loss_scaler_skips_do_not_advance_the_learning_rate_decay(digits, monkeypatch):
    # before: the schedule stepped on every batch, also where the scaler skipped the
    # optimizer (float16 gradients overflowed): the decay ran ahead of the updates and
    # torch warned that lr_scheduler.step() came before optimizer.step()
    import warnings

    import streamnets.train as train_mod

    monkeypatch.setattr(train_mod, "autocast_dtype", lambda device, enabled: torch.float16)
    data = make_sequences(digits[0], 11, 1.0)
    trainer = Trainer(StreamNet(sn.load("mnist_ff")), "streaming", data,
                      config=TrainConfig(epochs=1, max_batches=3, seed=3, **QUICK))
    overflows = [True, True]  # the first two batches' gradients overflow, as float16's may
    weight = next(trainer.model.parameters())
    weight.register_hook(lambda grad: grad * float("inf") if overflows and overflows.pop() else grad)
    scale = trainer.scaler.get_scale()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer.fit()
    assert trainer.scaler.get_scale() == scale / 4  # halved on each skipped step
    assert trainer.schedule.last_epoch == 1  # one update in three batches
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(
        trainer.config.lr / (1 + trainer.config.decay))


# -- loading a trained run --------------------------------------------------------------


def _old_format(run):
    """Make ``run``'s checkpoint look like one written before it held its network."""
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    for key in ("network_spec", "rollout_name", "data_name"):
        del state[key]
    torch.save(state, run / "checkpoint.pt")


def test_load_trained_gives_back_the_trained_model_and_what_it_trained_with(digits, tmp_path):
    net = sn.load("mnist_sr").scaled(0.5)
    cfg = TrainConfig(epochs=2, output_frames=3, max_batches=2, seed=5, **QUICK)
    trainer, ev = train(net, "hybrid", digits[1], digits[1], noise_std=1.5, config=cfg, out_dir=tmp_path)
    for run in (tmp_path, tmp_path / "checkpoint.pt"):
        model = sn.train.load_trained(run)
        assert not model.training and model.network == net and model.network.name == "mnist_sr@0.5"
        saved = trainer.model.state_dict()
        assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
        assert model.trained_with == {
            "rollout": "hybrid", "pattern": list(sn.Rollout.named(net, "hybrid").bits),
            "noise_std": 1.5, "epochs": 2, "seed": 5, "data": trainer.train_data.name,
            "test_accuracy": ev.accuracy, "update_steps": ev.update_steps}
    # it answers as the trained model does: the same evaluation on the same test sequences
    loaded = Trainer(model, model.trained_with["rollout"], trainer.train_data, config=cfg)
    assert loaded.evaluate(trainer.test_data) == ev
    # and runs the trained pattern by default (before: streaming, unless told otherwise)
    assert model.default_rollout == sn.Rollout.named(net, "hybrid")
    frames = torch.rand(2, 5, 1, 28, 28)
    assert torch.equal(model(frames).logits["prediction"],
                       model(frames, rollout="hybrid").logits["prediction"])


def test_load_trained_rebuilds_older_checkpoints_of_built_in_networks(digits, tmp_path):
    cfg = TrainConfig(epochs=1, output_frames=2, max_batches=1, **QUICK)
    trainer, _ = train(sn.load("mnist_sr").scaled(0.25), "hybrid", digits[1], None, config=cfg,
                       out_dir=tmp_path)
    _old_format(tmp_path)
    model = sn.train.load_trained(tmp_path)
    assert model.network.name == "mnist_sr@0.25" and model.network == trainer.model.network
    assert model.trained_with["rollout"] == "hybrid" and model.trained_with["data"] is None
    assert model.trained_with["test_accuracy"] is None and model.trained_with["update_steps"] is None
    (tmp_path / "metrics.json").unlink()  # nothing names the pattern any more
    assert sn.train.load_trained(tmp_path).trained_with["rollout"] == "custom"  # bits still right


def test_load_trained_of_an_older_checkpoint_of_a_spec_file_needs_the_network(digits, tmp_path):
    cfg = TrainConfig(epochs=1, output_frames=2, max_batches=1, **QUICK)
    spec = str(_spec(tmp_path, h2=16))
    train(spec, "streaming", digits[1], None, out_dir=tmp_path / "run", config=cfg)
    _old_format(tmp_path / "run")
    with pytest.raises(sn.StreamnetsError, match=r"checkpoint.pt: the checkpoint names network 'small', "
                                                 r"which is not a built-in; pass the network it trained"):
        sn.train.load_trained(tmp_path / "run")
    assert sn.train.load_trained(tmp_path / "run", network=spec).trained_with["rollout"] == "streaming"
    other = str(_spec(tmp_path, h2=32))
    with pytest.raises(sn.StreamnetsError, match=r"nodes \(shapes, activations, dropout, tags, order\) or edges "
                                                 r"differ from those of network 'small'; pass"):
        sn.train.load_trained(tmp_path / "run", network=other)


def test_load_trained_names_a_missing_or_foreign_checkpoint(tmp_path):
    with pytest.raises(sn.StreamnetsError, match=re.escape(f"{tmp_path}/checkpoint.pt: no checkpoint here")):
        sn.train.load_trained(tmp_path)
    (tmp_path / "checkpoint.pt").write_bytes(b"garbage")
    with pytest.raises(sn.StreamnetsError, match="checkpoint.pt: not a streamnets training checkpoint"):
        sn.train.load_trained(tmp_path)
    torch.save({"model": {}}, tmp_path / "checkpoint.pt")
    with pytest.raises(sn.StreamnetsError, match=r"not a streamnets training checkpoint \(KeyError"):
        sn.train.load_trained(tmp_path)
    with pytest.raises(sn.StreamnetsError, match=r"^load_trained takes the folder of a training run .*got "
                                                 r"NoneType None"):  # before: pathlib's TypeError
        sn.train.load_trained(None)


def test_load_trained_of_a_run_whose_pattern_name_is_now_taken_loads_it_as_custom(digits, tmp_path):
    # a checkpoint written before names were checked could call a hand-made pattern "streaming"
    cfg = TrainConfig(epochs=1, output_frames=2, max_batches=1, **QUICK)
    train("mnist_sr", "hybrid", digits[1], None, out_dir=tmp_path, config=cfg)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    state["rollout_name"] = "streaming"
    torch.save(state, tmp_path / "checkpoint.pt")
    with pytest.warns(UserWarning, match="the run's pattern was named 'streaming', which network 'mnist_sr' "
                                         "now gives another pattern; loaded as 'custom'"):
        model = sn.train.load_trained(tmp_path)
    assert model.default_rollout.name == "custom"
    assert model.default_rollout.bits == sn.Rollout.named(model.network, "hybrid").bits


# -- the trainer's numbers against a hand-written loop ---------------------------------------

def tiny_task(n=40, seed=0):
    """A small dropout-free network and ``n`` random 4x4 images of 3 classes."""
    net = sn.spec.loads("{nodes: {x: {shape: [1, 4, 4]}, h: {shape: [4, 4, 4], activation: tanh}, "
                        "y: {shape: [3], activation: softmax}}, "
                        "edges: [[x, h], [h, h], [h, y], [x, y]]}")
    g = torch.Generator().manual_seed(seed)
    images = ArrayDataset(torch.randint(0, 256, (n, 1, 4, 4), generator=g, dtype=torch.uint8),
                          torch.randint(0, 3, (n,), generator=g), ["a", "b", "c"], "random 4x4")
    return net, images


def per_frame_cross_entropy(logits, labels):
    """(batch, frames) cross entropies, written out."""
    picked = logits.gather(-1, labels[:, None, None].expand(-1, logits.shape[1], 1))[..., 0]
    return torch.logsumexp(logits, -1) - picked


def test_evaluation_equals_a_hand_computation_per_frame():
    # 40 samples in batches of 16 (16, 16, 8): per-frame accuracy in frame order, and the loss
    # as the mean over samples and output frames of the per-frame cross entropy.
    net, images = tiny_task()
    r = sn.Rollout.sequential(net)
    torch.manual_seed(1)
    model = StreamNet(net)
    data = make_sequences(images, 5, 0.5, train=False, seed=2)
    config = TrainConfig(output_frames=4, batch_size=16, progress=False, device="cpu")
    trainer = Trainer(model, r, None, data, config)
    ev = trainer.evaluate()
    frames, labels = data.batch(range(len(data)))
    with torch.no_grad():
        logits = model.eval()(frames, rollout=r).logits["y"][:, 1:]  # first response at frame 1
    assert ev.frames == [1, 2, 3, 4]
    accuracy = [float((logits[:, t].argmax(-1) == labels).double().mean()) for t in range(4)]
    assert accuracy != accuracy[::-1]  # so that the order of the frames is checked
    assert ev.accuracy == pytest.approx(accuracy, abs=1e-12)
    assert ev.loss == pytest.approx(float(per_frame_cross_entropy(logits, labels).mean()), rel=1e-5)


def test_training_loss_and_accuracy_are_means_over_samples_and_frames(monkeypatch):
    net, images = tiny_task()
    torch.manual_seed(0)
    data = make_sequences(images, 4, 0.5, train=True, seed=1)
    config = TrainConfig(epochs=1, output_frames=3, batch_size=16, lr=1e-2, optimizer="sgd",
                         progress=False, device="cpu")
    trainer = Trainer(StreamNet(net), "streaming", data, None, config)
    seen = []
    logits_of = Trainer._logits

    def record(self, frames):
        logits = logits_of(self, frames)
        seen.append(logits.detach().clone())
        return logits

    labels = []
    batches = data.iter_batches

    def record_labels(*args, **kw):
        for x, y in batches(*args, **kw):
            labels.append(y)
            yield x, y

    monkeypatch.setattr(Trainer, "_logits", record)
    monkeypatch.setattr(data, "iter_batches", record_labels)
    (rec,) = trainer.fit()
    assert [len(y) for y in labels] == [16, 16, 8] and rec["samples"] == 40
    logits, labels = torch.cat(seen), torch.cat(labels)
    assert logits.shape == (40, 3, 3)
    assert rec["train_loss"] == pytest.approx(float(per_frame_cross_entropy(logits, labels).mean()),
                                              rel=1e-5)
    correct = (logits.argmax(-1) == labels[:, None]).double()
    assert rec["train_accuracy"] == pytest.approx(float(correct.mean()), abs=1e-6)  # float32 sums


def test_rmsprop_has_keras_defaults_and_lr_decays_per_batch():
    net, images = tiny_task()
    data = make_sequences(images, 4, 0.5, train=True)
    config = TrainConfig(epochs=2, output_frames=3, batch_size=16, lr=0.01, decay=0.5,
                         progress=False, device="cpu")
    trainer = Trainer(StreamNet(net), "streaming", data, None, config)
    group = trainer.optimizer.param_groups[0]
    assert isinstance(trainer.optimizer, torch.optim.RMSprop)
    assert (group["alpha"], group["eps"]) == (0.9, 1e-7)
    history = trainer.fit()  # 3 batches per epoch: lr_t = lr / (1 + decay * t)
    assert [h["lr"] for h in history] == pytest.approx([0.01 / (1 + 0.5 * 3), 0.01 / (1 + 0.5 * 6)])


def test_evaluate_restores_the_training_mode():
    net, images = tiny_task()
    data = make_sequences(images, 4, 0.5, train=False)
    trainer = Trainer(StreamNet(net), "streaming", None, data,
                      TrainConfig(output_frames=3, progress=False, device="cpu"))
    trainer.model.train()
    trainer.evaluate()
    assert trainer.model.training
    trainer.model.eval()
    trainer.evaluate()
    assert not trainer.model.training


def test_a_torch_subset_is_refused_pointing_to_subset(digits):
    with pytest.raises(sn.SettingError, match=r"train_images must be an image or track data set .*n samples "
                                              r"of one: streamnets.experiments.subset\(images, n\)\), got Subset"):
        train("mnist_ff", "streaming", torch.utils.data.Subset(digits[1], range(10)))
    assert len(sn.experiments.subset(digits[1], 10)) == 10  # what it points to
