"""Training and evaluating a StreamNet under one rollout pattern.

The paper's protocol: a sequence shows the same image (or a track) in every frame
with fresh noise; the network must answer early and well. A pattern's window is
its first-response frame plus ``output_frames`` frames (8 in the paper), so every
pattern is trained and evaluated on the same number of responding frames. The loss
is the mean over those frames of the per-frame cross entropy. Evaluation reports
test accuracy per output frame together with the update step at which that frame's
answer is available (:meth:`Rollout.output_steps`): "accuracy over update steps" is
one call.

Each epoch ends with an atomic checkpoint (model, optimiser, schedule, RNG state,
metrics so far) and atomically written ``metrics.json`` / ``metrics.csv``;
``resume=True`` continues an interrupted run and, on the CPU with a seed, ends with
exactly the metrics of an uninterrupted one.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import itertools
import json
import math
import os
import time
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ._io import atomic_write_text, atomic_writer, writable_folder
from .data import NoisyFrames, TrackWindows
from .data.prefetch import prefetch
from .device import autocast, autocast_dtype, cpu_cores, environment_text, float_environment, resolve_device
from .errors import (DataError, SettingError, ShapeError, SpecError, StreamnetsError, positive_number,
                     whole_number)
from .nn import StreamNet
from .rollout import Rollout
from .seeding import seed_everything

__all__ = ["TrainConfig", "Evaluation", "Trainer", "window_frames", "make_sequences", "train",
           "load_trained", "mark_trained", "optimizer_class", "check_lr", "classifier_output"]


@dataclass
class TrainConfig:
    """Hyperparameters of one training run (defaults: the paper's MNIST scripts).

    ``optimizer`` names any ``torch.optim`` class (case-insensitive);
    ``"rmsprop"`` uses Keras' defaults (rho 0.9, epsilon 1e-7) like the authors'
    scripts. ``decay`` is Keras' time decay: lr_t = lr / (1 + decay * t) after t
    updates (batches, less those float16 loss scaling skips). ``max_batches`` caps
    the batches per epoch (small CI runs).
    ``prefetch`` builds the next training batch in a background thread while
    the current one trains (same batches, same order); ``None`` (auto) does so
    when that thread has a core to itself: on a GPU, or when torch uses fewer
    intra-op threads than there are cores (on 2 cores with 2 threads it made the
    data wait 2x shorter but the step 11% slower; benchmarks/README.md).

    Examples
    --------
    >>> config = TrainConfig(epochs=1, max_batches=2, progress=False)
    >>> config.batch_size, config.lr, config.optimizer, config.output_frames
    (128, 0.0001, 'rmsprop', 8)
    """

    epochs: int = 100
    batch_size: int = 128
    lr: float = 1e-4
    decay: float = 1e-6
    optimizer: str = "rmsprop"
    optimizer_kwargs: dict = field(default_factory=dict)
    output_frames: int = 8
    seed: int = 0
    device: str = "auto"
    amp: bool | None = None
    max_batches: int | None = None
    prefetch: bool | None = None
    progress: bool = True


@dataclass
class Evaluation:
    """Test results per output frame of one rollout.

    ``frames`` are the window frames that respond (first response on),
    ``update_steps`` the update step at which each is available, ``accuracy`` the
    test accuracy of each, ``loss`` the mean cross entropy over them.

    Examples
    --------
    >>> import torch, streamnets as sn
    >>> from streamnets.data import ArrayDataset
    >>> from streamnets.nn import StreamNet
    >>> blank = ArrayDataset(torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.arange(4),
    ...                      list("0123456789"), "blank")
    >>> trainer = Trainer(StreamNet(sn.load("mnist_ff")), "sequential", make_sequences(blank, 4, 2.0),
    ...                   config=TrainConfig(output_frames=3, progress=False, device="cpu"))
    >>> ev = trainer.evaluate(make_sequences(blank, 4, 2.0, train=False))  # untrained
    >>> ev.frames, ev.update_steps, ev.samples, len(ev.accuracy)  # F(R_seq) = 3
    ([1, 2, 3], [3, 6, 9], 4, 3)
    """

    frames: list
    update_steps: list
    accuracy: list
    loss: float
    samples: int

    def as_dict(self):
        return asdict(self)


def window_frames(rollout, output_frames=8):
    """Frames a pattern's window needs: its first-response frame + ``output_frames``.

    Examples
    --------
    >>> import streamnets as sn
    >>> window_frames(sn.Rollout.streaming(sn.load("mnist_ff")))
    11
    """
    first = max(f.frame for f in rollout.first_response().values())
    return first + output_frames


def make_sequences(dataset, frames, noise_std, train=True, seed=0):
    """The paper's sequences over an image or track data set: :class:`NoisyFrames`
    for images ``(N, C, H, W)``, :class:`TrackWindows` for tracks ``(N, L, C, H, W)``.

    Examples
    --------
    >>> import torch
    >>> from streamnets.data import ArrayDataset
    >>> images = ArrayDataset(torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.arange(4),
    ...                       list("abcd"), "blank images")
    >>> seqs = make_sequences(images, frames=5, noise_std=2.0)
    >>> type(seqs).__name__, seqs.batch([0, 1])[0].shape
    ('NoisyFrames', torch.Size([2, 5, 1, 28, 28]))
    >>> tracks = ArrayDataset(torch.zeros(2, 6, 3, 8, 8, dtype=torch.uint8), torch.arange(2),
    ...                       list("ab"), "blank tracks")
    >>> type(make_sequences(tracks, frames=4, noise_std=0.5)).__name__
    'TrackWindows'
    """
    kind = TrackWindows if dataset.data.dim() == 5 else NoisyFrames
    return kind(dataset, None, frames=frames, noise_std=noise_std, train=train, seed=seed)


def _spec_digest(network):
    """A stable digest of what makes parameters (checkpoints) of ``network`` fit.

    It covers the nodes (names, order, shapes, activations, dropout, tags) and the
    edges (source, target, receptive field), not the name, description or named
    rollouts.

    Examples
    --------
    >>> import streamnets as sn
    >>> net = sn.load("mnist_ff")
    >>> _spec_digest(net) == _spec_digest(sn.load("mnist_ff")) != _spec_digest(net.scaled(0.5))
    True
    """
    from .spec import to_dict

    doc = to_dict(network)
    doc = {"nodes": list(doc["nodes"].items()), "edges": doc["edges"]}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def classifier_output(net, what="the trainer"):
    """The output node of ``net`` as a classifier: one input node (the frames) and one
    dense output node that is not the input; else a SpecError saying what ``what``
    (the trainer, a viewer) needs.

    Examples
    --------
    >>> import streamnets as sn
    >>> classifier_output(sn.load("mnist_sr"))
    'prediction'
    """
    if len(net.inputs) != 1:
        raise SpecError(f"{what} feeds one input (the frames); network {net.name!r} has inputs "
                        f"{', '.join(net.inputs)}; give it a single input node (a node without "
                        f"incoming edges)", net.source, "inputs")
    if len(net.outputs) != 1:
        raise SpecError(f"{what} takes networks with one output; {net.name!r} has "
                        f"{', '.join(net.outputs)}; tag only the one to use 'tags: [prediction]' (the "
                        f"outputs are the nodes tagged prediction or output; without tags, the sinks)",
                        net.source, "outputs")
    output = net.outputs[0]
    node = net.nodes[output]
    if output in net.inputs:
        raise SpecError(f"output node {output!r} is the input node: it holds the frames, so there is "
                        f"nothing to classify with; tag the classifying node 'tags: [prediction]' and "
                        f"not the input", net.source, f"nodes.{output}.tags")
    if node.is_spatial:
        raise SpecError(f"output node {output!r} has the spatial shape {list(node.shape)}, but {what} "
                        f"classifies with a dense output node; give it shape [{node.shape[0]}] (one "
                        f"channel per class)", net.source, f"nodes.{output}.shape")
    return output


def _spec_changes(saved, network, most=3):
    """What differs between a checkpoint's network (``saved``, from ``spec.to_dict``)
    and ``network``, in the terms :func:`_spec_digest` covers; at most ``most`` items.

    Examples
    --------
    >>> import streamnets as sn
    >>> from streamnets.spec import to_dict
    >>> saved = to_dict(sn.load("mnist_sr"))
    >>> saved["nodes"]["h1"]["dropout"] = 0.1
    >>> _spec_changes(saved, sn.load("mnist_sr"))
    ['nodes.h1.dropout: 0.1 in the checkpoint, 0.25 now']
    """
    from .spec import to_dict

    def edges(doc):
        return [f"{e['source']}->{e['target']} ("
                + ", ".join(f"{k} {v}" for k, v in e.items() if k not in ("source", "target")) + ")"
                for e in doc.get("edges", [])]

    now = to_dict(network)
    changes = []
    old_nodes, new_nodes = saved.get("nodes", {}), now["nodes"]
    if list(old_nodes) != list(new_nodes):
        changes.append(f"nodes: {', '.join(old_nodes)} in the checkpoint, {', '.join(new_nodes)} now")
    for name in [v for v in old_nodes if v in new_nodes]:
        a, b = old_nodes[name], new_nodes[name]
        changes += [f"nodes.{name}.{key}: {a.get(key, '(not set)')} in the checkpoint, "
                    f"{b.get(key, '(not set)')} now"
                    for key in sorted(a.keys() | b.keys()) if a.get(key) != b.get(key)]
    old_edges, new_edges = edges(saved), edges(now)
    if old_edges != new_edges:
        gone = [e for e in old_edges if e not in new_edges]
        added = [e for e in new_edges if e not in old_edges]
        parts = [f"{', '.join(gone)} only in the checkpoint"] if gone else []
        parts += [f"{', '.join(added)} only now"] if added else []
        changes.append("edges: " + ("; ".join(parts) or "the same, in another order"))
    return changes[:most]


def check_lr(lr, setting="TrainConfig.lr"):
    """A learning rate: a finite number > 0 that a float32 holds (the optimizers keep it
    as one), else a :class:`~streamnets.errors.SettingError` naming ``setting``.

    Examples
    --------
    >>> check_lr(1e39, "--lr")
    Traceback (most recent call last):
    ...
    streamnets.errors.SettingError: --lr must be at most 3.4e+38, got 1e+39
    """
    positive_number(setting, lr)
    if lr > torch.finfo(torch.float32).max:
        raise SettingError(f"{setting} must be at most {torch.finfo(torch.float32).max:.2g}, got {lr:g}")
    return lr


def _check_config(config):
    """The counts and rates of ``config`` in range, else a SettingError naming the field."""
    if not isinstance(config, TrainConfig):
        raise SettingError(f"config must be a TrainConfig, e.g. TrainConfig(epochs=1) or "
                           f"TrainConfig(**settings), got {type(config).__name__} {config!r:.60}")
    for name in ("epochs", "batch_size", "output_frames"):
        whole_number(f"TrainConfig.{name}", getattr(config, name), 1)
    whole_number("TrainConfig.max_batches", config.max_batches, 1, default=True)
    check_lr(config.lr)
    positive_number("TrainConfig.decay", config.decay, zero=True)
    optimizer_class(config.optimizer)
    return config


#: torch.optim classes the trainer cannot step: the base class, LBFGS (its step needs a
#: closure that re-evaluates the loss) and SparseAdam (sparse gradients only).
_UNUSABLE_OPTIMIZERS = {"optimizer": "it is the base class",
                        "lbfgs": "its step needs a closure that re-evaluates the loss",
                        "sparseadam": "it takes sparse gradients only"}


def optimizer_class(name, setting="TrainConfig.optimizer"):
    """The ``torch.optim`` class that ``name`` names (case-insensitive), if the trainer
    can step it; else a :class:`~streamnets.errors.SettingError` naming ``setting``.

    Examples
    --------
    >>> optimizer_class("rmsprop").__name__, optimizer_class("AdamW").__name__
    ('RMSprop', 'AdamW')
    >>> optimizer_class("adamm", "--optimizer")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    streamnets.errors.SettingError: --optimizer: unknown optimizer 'adamm'; did you mean 'adam'? ...
    """
    key = str(name).lower()
    if key in _UNUSABLE_OPTIMIZERS:
        raise SettingError(f"{setting}: optimizer {name!r} cannot train here: "
                           f"{_UNUSABLE_OPTIMIZERS[key]}; use e.g. rmsprop, adam or sgd")
    classes = {k.lower(): getattr(torch.optim, k) for k in dir(torch.optim)
               if isinstance(getattr(torch.optim, k), type)
               and issubclass(getattr(torch.optim, k), torch.optim.Optimizer)}
    if key not in classes:
        close = difflib.get_close_matches(key, [k for k in classes if k not in _UNUSABLE_OPTIMIZERS],
                                          n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise SettingError(f"{setting}: unknown optimizer {name!r}; {hint}use a torch.optim class "
                           f"name such as rmsprop, adam, sgd")
    return classes[key]


def _make_optimizer(config, params):
    """The optimizer of ``config``; a SettingError names a bad ``optimizer_kwargs``."""
    cls = optimizer_class(config.optimizer)
    kwargs = config.optimizer_kwargs
    where = "TrainConfig.optimizer_kwargs"
    if not isinstance(kwargs, Mapping):
        raise SettingError(f"{where} must be a dict of {cls.__name__}'s settings, e.g. "
                           f"{{'weight_decay': 1e-4}}; got {kwargs!r}")
    kwargs = dict(kwargs)
    if "lr" in kwargs or "params" in kwargs:
        raise SettingError(f"{where}: give the learning rate as TrainConfig.lr, not in "
                           f"optimizer_kwargs (the trainer passes the parameters and lr itself)")
    if cls is torch.optim.RMSprop:
        kwargs = {"alpha": 0.9, "eps": 1e-7, **kwargs}  # Keras' defaults, as the authors used
    try:
        return cls(params, lr=config.lr, **kwargs)
    except (TypeError, ValueError) as err:
        if not config.optimizer_kwargs:  # then it is the network the optimizer cannot take
            raise SettingError(f"TrainConfig.optimizer: torch.optim.{cls.__name__} cannot train this "
                               f"network ({err}); use e.g. rmsprop, adam or sgd") from None
        raise SettingError(f"{where}: torch.optim.{cls.__name__} refuses {config.optimizer_kwargs!r}: "
                           f"{err}") from None


class Trainer:
    """Train a :class:`StreamNet` under one rollout on sequence data sets.

    Parameters
    ----------
    model : StreamNet
        Of a classifier: one input node (the frames) and one output node (the
        class logits: ``activation: identity``, or softmax, whose input the loss
        takes). Other networks run everywhere else (theory, StreamNet, executors).
    rollout : Rollout, str or dict
        The pattern used for training and evaluation (parameters trained under
        one pattern need not transfer to another): a Rollout of the model's
        network (or of an equal one), a name or ``{edge: 0/1}`` (:meth:`Rollout.of`).
    train_data, test_data : NoisyFrames or TrackWindows
        Sequences with at least :func:`window_frames` frames (extra frames are
        cut); ``test_data`` may be None.
    config : TrainConfig, optional
    out_dir : path, optional
        Where checkpoints and metrics go; None keeps everything in memory.

    Examples
    --------
    >>> import streamnets as sn
    >>> from streamnets.data import Digits
    >>> from streamnets.nn import StreamNet
    >>> net = sn.load("mnist_ff")
    >>> r = sn.Rollout.streaming(net)
    >>> T = window_frames(r, output_frames=2)
    >>> data = make_sequences(Digits(train=False), T, noise_std=2.0, seed=0)
    >>> config = TrainConfig(epochs=1, batch_size=32, max_batches=2, output_frames=2,
    ...                      progress=False, device="cpu")
    >>> trainer = Trainer(StreamNet(net), r, data, config=config)
    >>> history = trainer.fit()
    >>> len(trainer.evaluate(make_sequences(Digits(train=False), T, 2.0, train=False)).accuracy)
    2
    """

    def __init__(self, model, rollout, train_data, test_data=None, config=None, out_dir=None):
        self.config = _check_config(TrainConfig() if config is None else config)
        self.device = resolve_device(self.config.device)
        self.model = model.to(self.device)
        self.rollout = Rollout.of(model.network, rollout).validate()
        net = model.network
        self.output = classifier_output(net)
        self.frames = window_frames(self.rollout, self.config.output_frames)
        self.first = self.frames - self.config.output_frames
        for name, data in (("training", train_data), ("test", test_data)):
            if data is not None:
                self._check_data(name, data)
        activation = net.nodes[self.output].activation
        if activation not in ("identity", "softmax"):
            warnings.warn(f"output {self.output!r} of {net.name!r} has activation {activation!r}: the "
                          f"cross entropy takes the output's values as logits, which {activation} "
                          f"limits; give a classifier's output 'activation: identity' (or softmax, "
                          f"whose input the loss takes)", stacklevel=2)
        if self.device.type != "cpu":  # build batches (gather + noise) on the device
            for data in (train_data, test_data):
                if data is not None:
                    data.to(self.device)
        self.train_data, self.test_data = train_data, test_data
        self.optimizer = _make_optimizer(self.config, self.model.parameters())
        # float16 autocast (a GPU without bfloat16) needs loss scaling, or small
        # gradients underflow to zero; for any other precision the scaler passes through.
        fp16 = autocast_dtype(self.device, self.config.amp) == torch.float16
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=fp16)
        decay = self.config.decay
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda t: 1 / (1 + decay * t))
        self.out_dir = writable_folder(out_dir) if out_dir is not None else None
        self.history = []
        #: Epochs taken over from a checkpoint by ``fit(resume=True)`` (None: none was).
        self.resumed_epochs = None
        #: The float environments (:func:`~streamnets.device.float_environment`) the
        #: epochs of ``history`` were trained in, in order: one, unless a resumed run
        #: went on in another (or none, before an epoch or from a checkpoint that
        #: records none).
        self.environments = []
        #: The :class:`Evaluation` of the test data after the last epoch trained by this
        #: Trainer (None before one has run, or without test data).
        self.last_evaluation = None

    def _check_data(self, name, data):
        """``data`` (the ``name`` data) must hold sequences of frames of the input node's
        shape, no more classes than the output has channels, and enough frames."""
        net = self.model.network
        if not hasattr(data, "frames") or not hasattr(data, "iter_batches"):
            how = "" if name == "training" else ", train=False"
            raise DataError(f"the {name} data must be frame sequences, got {type(data).__name__}; make "
                            f"them with streamnets.train.make_sequences(images, frames, noise_std{how})")
        if len(data) == 0:
            raise DataError(f"the {name} data hold no sequences; give a data set with at least one")
        node = net.nodes[net.inputs[0]]
        shape = getattr(data, "frame_shape", None)
        if shape is not None and tuple(shape) != node.shape:
            raise SpecError(f"input node {node.name!r} has shape {list(node.spec_shape)}, but the {name} "
                            f"data's frames have shape {list(shape)}; give the input node shape "
                            f"{list(shape)} or use other data", net.source, f"nodes.{node.name}.shape")
        channels = net.nodes[self.output].shape[0]
        if channels < data.num_classes:
            raise SpecError(f"output node {self.output!r} has {channels} channels, but the {name} "
                            f"data has {data.num_classes} classes; give it shape [{data.num_classes}] "
                            f"(one channel per class)", net.source, f"nodes.{self.output}.shape")
        if data.frames < self.frames:
            raise ShapeError(
                f"{name} sequences have {data.frames} frames, but rollout {self.rollout.name!r} "
                f"of {net.name!r} needs {self.frames} (first response at frame {self.first} + "
                f"{self.config.output_frames} output frames); make them longer")

    # -- one batch ------------------------------------------------------------------

    def _logits(self, frames):
        """The output logits of the responding frames: (batch, output_frames, classes)."""
        frames = frames[:, :self.frames].to(self.device, non_blocking=True)
        with autocast(self.device, enabled=self.config.amp):
            out = self.model(frames, rollout=self.rollout)
        logits = out.logits[self.output][:, self.first:].float()
        return logits

    def _batch_loss(self, logits, labels):
        b, t, c = logits.shape
        return F.cross_entropy(logits.reshape(b * t, c), labels.repeat_interleave(t))

    # -- epochs ---------------------------------------------------------------------

    def fit(self, resume=False):
        """Train for ``config.epochs`` epochs; returns the per-epoch history.

        With ``resume=True`` and a checkpoint in ``out_dir``, continue after the
        last finished epoch. The checkpoint must be of the same network, pattern
        and frames, with the same settings (all of ``TrainConfig`` but ``epochs``,
        ``device``, ``amp``, ``prefetch`` and ``progress``) and as many training
        samples at the same noise; else a :class:`StreamnetsError` says what differs.
        """
        if resume:
            self._restore()
        start = len(self.history)
        if start > self.config.epochs and self.resumed_epochs is None:
            raise StreamnetsError(
                f"this Trainer has trained {start} epochs already, more than the {self.config.epochs} "
                f"asked for; to continue ask for at least {start} (config.epochs), to start fresh "
                f"make a new Trainer")
        if start > self.config.epochs:
            raise StreamnetsError(
                f"{self.out_dir / 'checkpoint.pt'}: the checkpoint has {start} epochs, more than the "
                f"{self.config.epochs} asked for; to continue it ask for at least {start} (--epochs), "
                f"to start fresh use another --out folder or delete the checkpoint (in Python: resume=False)")
        here = float_environment(self.device)
        for epoch in range(start, self.config.epochs):
            self.history.append(self._train_epoch(epoch))
            if self.environments[-1:] != [here]:
                self.environments.append(here)
            self._save()
        return self.history

    @property
    def environment(self):
        """The float environment of the epochs trained so far (this process's before
        any): one :func:`~streamnets.device.float_environment`, or ``{"mixed": [...]}``
        when a resumed run went on in another, whose results repeat neither."""
        envs = self.environments or [float_environment(self.device)]
        return envs[0] if len(envs) == 1 else {"mixed": list(envs)}

    def _train_epoch(self, epoch):
        cfg = self.config
        self.model.train()
        self.train_data.set_epoch(epoch)
        n_batches = -(-len(self.train_data) // cfg.batch_size)
        if cfg.max_batches is not None:
            n_batches = min(n_batches, cfg.max_batches)
        batches = itertools.islice(self.train_data.iter_batches(cfg.batch_size), n_batches)
        fetcher = prefetch(batches) if self._prefetching() else None
        try:
            record = self._run_batches(fetcher or batches, epoch, n_batches)
        finally:  # a step that raises must not leave the prefetching thread running
            if fetcher is not None:
                fetcher.close()
        if self.test_data is not None:
            ev = self.last_evaluation = self.evaluate()
            record.update(test_loss=ev.loss, test_accuracy=ev.accuracy)
        return record

    def _run_batches(self, batches, epoch, n_batches):
        cfg = self.config
        bar = tqdm(total=n_batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                   disable=not cfg.progress)
        loss_sum = correct = seen = 0
        data_time = step_time = 0.0
        started = t0 = time.perf_counter()
        for frames, labels in batches:  # data time: what the step waited for its batch
            labels = labels.to(self.device, non_blocking=True)
            t1 = time.perf_counter()
            logits = self._logits(frames)
            loss = self._batch_loss(logits, labels)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            scale = self.scaler.get_scale() if self.scaler.is_enabled() else None
            self.scaler.update()
            if scale is None or self.scaler.get_scale() >= scale:
                # the decay counts updates: a step the scaler skipped (float16 gradients
                # overflowed) halved its scale and changed no weight
                self.schedule.step()
            value = loss.item()
            if not math.isfinite(value):
                raise StreamnetsError(
                    f"training diverged: the loss became {value} in epoch {epoch + 1}, batch "
                    f"{seen // cfg.batch_size + 1}; lower the learning rate (--lr, now {cfg.lr:g})"
                    f"{self._kept(epoch)}")
            loss_sum += value * len(labels)
            correct += (logits.argmax(-1) == labels[:, None]).float().mean(1).sum().item()
            seen += len(labels)
            t2 = time.perf_counter()
            data_time += t1 - t0
            step_time += t2 - t1
            bar.update()
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
            t0 = time.perf_counter()
        bar.close()
        return {"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
                "samples": seen, "seconds": time.perf_counter() - started,
                "data_seconds": data_time, "step_seconds": step_time,
                "lr": self.optimizer.param_groups[0]["lr"]}

    def _kept(self, epoch):
        """Where the epochs before ``epoch`` are kept, for a message (nothing in memory)."""
        if self.out_dir is None or not epoch:
            return ""
        return f"; {self.out_dir / 'checkpoint.pt'} keeps epochs 1..{epoch}"

    def _prefetching(self):
        if self.config.prefetch is not None:
            return self.config.prefetch
        return self.device.type != "cpu" or torch.get_num_threads() < cpu_cores()

    @property
    def update_steps(self):
        """The update step at which the output answers, per evaluated frame."""
        return _answer_steps(self.rollout, self.frames, self.config.output_frames)

    @torch.no_grad()
    def evaluate(self, data=None):
        """Test accuracy per output frame on ``data`` (default: the test data)."""
        if data is None and self.test_data is None:
            raise StreamnetsError("no test data: pass test_data to the Trainer or data to evaluate()")
        if data is None:
            data = self.test_data
        else:
            self._check_data("evaluation", data)
        was_training = self.model.training
        self.model.eval()
        correct = torch.zeros(self.config.output_frames, dtype=torch.float64)
        loss_sum = seen = 0
        for frames, labels in data.iter_batches(self.config.batch_size, shuffle=False):
            labels = labels.to(self.device)
            logits = self._logits(frames)
            loss_sum += self._batch_loss(logits, labels).item() * len(labels)
            correct += (logits.argmax(-1) == labels[:, None]).sum(0).double().cpu()
            seen += len(labels)
        self.model.train(was_training)
        return Evaluation(frames=list(range(self.first, self.frames)), update_steps=self.update_steps,
                          accuracy=(correct / max(seen, 1)).tolist(), loss=loss_sum / max(seen, 1),
                          samples=seen)

    # -- checkpoints and metrics ----------------------------------------------------

    _IDENTITY_WORDS = {"network": "network name", "spec": "nodes or edges",
                       "rollout": "rollout pattern", "frames": "number of frames"}

    def _identity(self):
        return {"network": self.model.network.name, "spec": _spec_digest(self.model.network),
                "rollout": list(self.rollout.bits), "frames": self.frames}

    def _data_identity(self):
        """What the checkpoint records of the training data (not its name: real data
        sets name their folder, which may move between runs; a digest of the labels
        tells two data sets of one size apart)."""
        labels = getattr(self.train_data, "labels", None)
        digest = (None if labels is None else
                  hashlib.sha256(labels.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:12])
        return {"training samples": len(self.train_data), "noise_std": self.train_data.noise_std,
                "training labels digest": digest}

    def _save(self):
        if self.out_dir is None:
            return
        from .spec import to_dict

        state = {"identity": self._identity(), "config": asdict(self.config),
                 "data": self._data_identity(),
                 # what load_trained rebuilds the model from (not checked on resume)
                 "network_spec": to_dict(self.model.network), "rollout_name": self.rollout.name,
                 "data_name": getattr(self.train_data, "name", None),
                 "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "schedule": self.schedule.state_dict(), "scaler": self.scaler.state_dict(),
                 "history": self.history, "environments": self.environments,
                 "torch_rng": torch.get_rng_state(),
                 "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}
        with atomic_writer(self.out_dir / "checkpoint.pt") as tmp:
            torch.save(state, tmp)
        self.write_metrics()

    def _restore(self):
        path = self.out_dir / "checkpoint.pt" if self.out_dir is not None else None
        if path is None or not path.exists():
            return
        try:
            # Loaded on the CPU: torch.set_rng_state takes only a CPU tensor (mapped to a GPU,
            # every resume on CUDA failed), and load_state_dict moves the rest to the model.
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as err:  # a corrupt file is a user-facing problem, not a crash
            raise StreamnetsError(f"{path}: cannot read the checkpoint ({err}); delete it to "
                                  f"start over") from None
        saved = state.get("identity") if isinstance(state, dict) else None
        identity = self._identity()
        if not isinstance(saved, dict) or saved != identity:
            saved = saved if isinstance(saved, dict) else {}
            words = self._IDENTITY_WORDS
            differ = [w for k, w in words.items() if k in saved and saved[k] != identity[k]]
            missing = [w for k, w in words.items() if k not in saved]
            why = "; ".join(filter(None, (differ and f"different {', '.join(differ)}",
                                          missing and f"no record of its {', '.join(missing)}")))
            why = why or "a different identity"
            spec_differs = saved.get("spec") not in (None, identity["spec"])
            if spec_differs and isinstance(state.get("network_spec"), dict):
                why += ": " + "; ".join(_spec_changes(state["network_spec"], self.model.network))
            raise StreamnetsError(f"{path}: the checkpoint is of another run ({why}); to start fresh, "
                                  f"use another --out folder or delete the checkpoint (in Python: "
                                  f"resume=False)")
        self._check_same_settings(path, state)
        missing = [k for k in ("model", "optimizer", "schedule", "history", "torch_rng") if k not in state]
        if missing:
            raise StreamnetsError(f"{path}: the checkpoint has no {', '.join(missing)}; it is damaged: "
                                  f"delete it to start over")
        try:  # parts of the wrong kind: a damaged or tampered file, not a crash
            history = _checked_history(state["history"])
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.schedule.load_state_dict(state["schedule"])
            if state.get("scaler"):  # older checkpoints have none; a disabled scaler saves {}
                self.scaler.load_state_dict(state["scaler"])
            torch.set_rng_state(state["torch_rng"])
            if state.get("cuda_rng") is not None and torch.cuda.is_available():
                # one state per GPU of the saving machine; this one may have fewer
                for device, rng in enumerate(state["cuda_rng"][:torch.cuda.device_count()]):
                    torch.cuda.set_rng_state(rng, device)
        except (TypeError, AttributeError, KeyError, ValueError, RuntimeError) as err:
            raise StreamnetsError(f"{path}: the checkpoint is damaged ({type(err).__name__}: {err}); "
                                  f"delete it to start over") from None
        self.history = history
        self.resumed_epochs = len(history)
        self.environments = _checked_environments(state.get("environments"))
        here = float_environment(self.device)
        if self.environments and self.environments[-1] != here and len(history) < self.config.epochs:
            before = self.environments[0] if len(self.environments) == 1 else {"mixed": self.environments}
            warnings.warn(f"{path}: epochs 1..{len(history)} were trained with {environment_text(before)}, "
                          f"this process trains with {environment_text(here)}: float rounding differs, so "
                          f"the run will not repeat an uninterrupted one exactly (its environment is "
                          f"recorded as the mix)", stacklevel=3)
        self.write_metrics()  # a run stopped between checkpoint and metrics left them behind

    #: TrainConfig fields a resumed run must share with its checkpoint (not epochs: a run
    #: may be extended; not device, amp, prefetch, progress: they do not change the run).
    _RUN_SETTINGS = ("batch_size", "lr", "decay", "optimizer", "optimizer_kwargs", "output_frames",
                     "seed", "max_batches")

    def _check_same_settings(self, path, state):
        """Refuse to continue a checkpoint trained with other settings or data (noise,
        number of samples): the optimiser state would not fit another optimiser, and the
        rest would silently mix two runs."""
        saved = state.get("config") if isinstance(state.get("config"), dict) else {}
        saved = {k: saved[k] for k in self._RUN_SETTINGS if k in saved}
        if isinstance(state.get("data"), dict):
            saved.update(state["data"])
        now = {**asdict(self.config), **self._data_identity()}

        def same(key):
            a, b = saved[key], now.get(key)
            return str(a).lower() == str(b).lower() if key == "optimizer" else a == b

        differ = [f"{k}={saved[k]!r} (now {now.get(k)!r})" for k in saved if not same(k)]
        if differ:
            raise StreamnetsError(
                f"{path}: the checkpoint was trained with other settings: {', '.join(differ)}; to "
                f"continue it, give the same settings; to start fresh, use another --out folder or "
                f"delete the checkpoint (in Python: resume=False)")

    def write_metrics(self):
        """Write ``metrics.json`` and ``metrics.csv`` into ``out_dir`` atomically."""
        if self.out_dir is None:
            return
        doc = {**self._identity(), "rollout_name": self.rollout.name, "output": self.output,
               "update_steps": self.update_steps,
               "config": asdict(self.config), "epochs": self.history}
        atomic_write_text(self.out_dir / "metrics.json", json.dumps(doc, indent=1))
        rows = io.StringIO()
        writer = csv.writer(rows)
        frames = range(self.first, self.frames)
        writer.writerow(["epoch", "train_loss", "train_accuracy", "test_loss", "seconds"]
                        + [f"test_accuracy_frame{i}" for i in frames])
        for rec in self.history:
            writer.writerow([rec["epoch"], rec["train_loss"], rec["train_accuracy"],
                             rec.get("test_loss", ""), rec["seconds"]]
                            + list(rec.get("test_accuracy", [""] * len(frames))))
        atomic_write_text(self.out_dir / "metrics.csv", rows.getvalue())


def train(network, rollout, train_images, test_images=None, noise_std=2.0, config=None,
          out_dir=None, resume=False):
    """Seed, build the model and sequences, train, and evaluate: one call.

    Parameters
    ----------
    network : Network or str
        A classifier: one input and one output node (see :class:`Trainer`).
    rollout : Rollout, str or dict
        A pattern, its name (``"streaming"``, ``"sequential"``, a named pattern) or
        ``{(source, target): 0 or 1}`` for every edge.
    train_images, test_images : image or track data sets
        Anything with ``.data``, a tensor of images ``(N, C, H, W)`` or tracks
        ``(N, L, C, H, W)`` (``uint8`` or floats in [0, 1]), and ``.targets`` (class
        ids), e.g. :class:`~streamnets.data.ArrayDataset`; ``.classes`` names the
        classes.
    noise_std : float
        The std of the Gaussian noise added to every frame (0: clean frames).
    config : TrainConfig, optional
    out_dir : path, optional
    resume : bool

    Returns
    -------
    (Trainer, Evaluation or None)

    Examples
    --------
    >>> import torch, streamnets as sn
    >>> from streamnets.data import ArrayDataset
    >>> net = sn.spec.loads("{nodes: {x: {shape: [1, 4, 4]}, h: {shape: [2, 4, 4]}, "
    ...                     "y: {shape: [2], activation: softmax}}, edges: [[x, h], [h, h], [h, y]]}")
    >>> images = ArrayDataset(torch.zeros(8, 1, 4, 4, dtype=torch.uint8), torch.arange(8) % 2,
    ...                       ["a", "b"], "blank 4x4 images")
    >>> config = TrainConfig(epochs=1, batch_size=4, max_batches=1, output_frames=2,
    ...                      progress=False, device="cpu")
    >>> trainer, evaluation = train(net, "sequential", images, images, config=config)
    >>> len(trainer.history), evaluation.frames, evaluation.update_steps, evaluation.samples
    (1, [1, 2], [2, 4], 8)
    """
    from .spec import load

    for name, images in (("train_images", train_images), ("test_images", test_images)):
        if not (images is None and name == "test_images") and not isinstance(
                getattr(images, "data", None), torch.Tensor):
            raise SettingError(f"train: {name} must be an image or track data set (with .data "
                               f"and .targets tensors, e.g. streamnets.data.Digits(train=True) or "
                               f"streamnets.data.load('digits'); n samples of one: "
                               f"streamnets.experiments.subset(images, n)), got {type(images).__name__} "
                               f"{images!r:.40}")
    config = _check_config(TrainConfig() if config is None else config)
    net = load(network)
    rollout = Rollout.of(net, rollout)
    seed_everything(config.seed)
    model = StreamNet(net)
    frames = window_frames(rollout, config.output_frames)
    train_seq = make_sequences(train_images, frames, noise_std, train=True, seed=config.seed)
    test_seq = None if test_images is None else make_sequences(
        test_images, frames, noise_std, train=False, seed=config.seed)
    trainer = Trainer(model, rollout, train_seq, test_seq, config, out_dir)
    trainer.fit(resume=resume)
    if test_seq is None:
        return trainer, None
    return trainer, trainer.last_evaluation or trainer.evaluate()  # all epochs resumed: none


def load_trained(run, network=None, device="cpu"):
    """The model a training run saved, in eval mode: for inference and the widgets.

    Parameters
    ----------
    run : path
        A run folder (``streamnets train --out``, the ``out_dir`` of :func:`train`,
        a ``runs/<network>__<rollout>__rep<k>`` folder of ``streamnets reproduce``)
        or its ``checkpoint.pt``.
    network : Network or str, optional
        The network the run trained. Not needed: checkpoints hold their network,
        and older ones name it (a built-in, or a built-in at another width). Give
        it for an older checkpoint of a network from a spec file; it must have the
        nodes (shapes, activations, dropout, tags, in order) and edges the
        checkpoint records.
    device : str or torch.device

    Returns
    -------
    StreamNet
        Running the pattern it was trained with when called without a rollout
        (:attr:`~streamnets.nn.StreamNet.default_rollout`, also by its name), and
        with ``model.trained_with`` = ``{"rollout", "pattern", "noise_std",
        "epochs", "seed", "data", "test_accuracy", "update_steps"}``: the rollout's
        name and its delays in edge order (use the same pattern for inference:
        parameters trained under one pattern need not transfer to another), and
        the test accuracy of the last epoch per output frame with the update step
        at which each frame answers (None without test data).

    Examples
    --------
    >>> import tempfile, torch, streamnets as sn
    >>> from streamnets.data import ArrayDataset
    >>> images = ArrayDataset(torch.zeros(8, 1, 28, 28, dtype=torch.uint8), torch.arange(8) % 2,
    ...                       ["a", "b"], "blank images")
    >>> config = TrainConfig(epochs=1, batch_size=4, max_batches=1, output_frames=2,
    ...                      progress=False, device="cpu")
    >>> run = tempfile.mkdtemp()
    >>> trainer, _ = train("mnist_sr", "hybrid", images, images, config=config, out_dir=run)
    >>> model = load_trained(run)
    >>> model.network.name, model.trained_with["rollout"], model.trained_with["update_steps"]
    ('mnist_sr', 'hybrid', [3, 5])
    >>> model.default_rollout.name
    'hybrid'
    >>> r = sn.Rollout.from_bits(model.network, model.trained_with["pattern"])
    >>> torch.equal(model(torch.ones(1, 4, 1, 28, 28)).logits["prediction"],
    ...             trainer.model.eval()(torch.ones(1, 4, 1, 28, 28), rollout=r).logits["prediction"])
    True
    """
    if not isinstance(run, (str, os.PathLike)):
        raise StreamnetsError(f"load_trained takes the folder of a training run (or its "
                              f"checkpoint.pt), got {type(run).__name__} {run!r:.40}")
    path = Path(run)
    path = path / "checkpoint.pt" if path.is_dir() else path
    if not path.is_file():
        raise StreamnetsError(f"{path}: no checkpoint here; give the folder a training run wrote "
                              f"(streamnets train --out, or a runs/<network>__<rollout>__rep<k> "
                              f"folder of streamnets reproduce) or its checkpoint.pt")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        identity, config, history = state["identity"], state["config"], _checked_history(state["history"])
        if not (isinstance(identity, dict) and isinstance(config, dict)):
            raise TypeError("its identity or config is not a dict")
    except Exception as err:  # a corrupt or foreign file is a user-facing problem
        raise StreamnetsError(f"{path}: not a streamnets training checkpoint ({type(err).__name__}: "
                              f"{err}); give the checkpoint.pt of a training run") from None
    net = _checkpoint_network(state, identity, path, network)
    rollout = _checkpoint_rollout(net, identity["rollout"], _checkpoint_rollout_name(state, path), path)
    model = StreamNet(net)
    try:
        model.load_state_dict(state["model"])
    except (TypeError, AttributeError, KeyError, RuntimeError) as err:
        raise StreamnetsError(f"{path}: the checkpoint's weights are damaged ({type(err).__name__}: "
                              f"{str(err).splitlines()[0]}); give the checkpoint.pt of a training "
                              f"run") from None
    model = model.to(resolve_device(device)).eval()
    last = history[-1] if history else {}
    return mark_trained(model, rollout, noise_std=state["data"]["noise_std"], epochs=len(history),
                        seed=config["seed"], data=state.get("data_name"),
                        test_accuracy=last.get("test_accuracy"),
                        update_steps=(_answer_steps(rollout, identity["frames"], config["output_frames"])
                                      if last.get("test_accuracy") is not None else None))


def mark_trained(model, rollout, **trained_with):
    """Make ``model`` run ``rollout`` when called without one, and record how it was
    trained in ``model.trained_with``: the rollout's name and its delays in edge order
    (``"rollout"``, ``"pattern"``), then ``trained_with``. Returns ``model``.

    Examples
    --------
    >>> import streamnets as sn
    >>> model = sn.StreamNet(sn.load("mnist_sr"))
    >>> model = mark_trained(model, sn.Rollout.named(model.network, "hybrid"), epochs=3)
    >>> model.default_rollout.name, model.trained_with
    ('hybrid', {'rollout': 'hybrid', 'pattern': [0, 1, 1, 0, 1], 'epochs': 3})
    """
    model.default_rollout = rollout
    model.trained_with = {"rollout": rollout.name, "pattern": list(rollout.bits), **trained_with}
    return model


def _answer_steps(rollout, frames, output_frames):
    """The update step at which the (one) output answers in each of the last
    ``output_frames`` of ``frames`` frames: the frames the trainer evaluates."""
    return rollout.output_steps(frames)[rollout.network.outputs[0]][frames - output_frames:]


def _checkpoint_rollout(net, bits, name, path):
    """The checkpoint's pattern under its name, or as "custom" (with a warning) when the
    network now gives that name another pattern (a checkpoint written before names were
    checked, or an edited spec pattern)."""
    try:
        return Rollout.from_bits(net, bits, name)
    except SpecError as err:
        if err.field != "name":
            raise
        warnings.warn(f"{path}: the run's pattern was named {name!r}, which network {net.name!r} now "
                      f"gives another pattern; loaded as 'custom'", stacklevel=3)
        return Rollout.from_bits(net, bits, "custom")


def _checkpoint_rollout_name(state, path):
    """The rollout's name; older checkpoints leave it to the metrics.json beside them."""
    if "rollout_name" in state:
        return state["rollout_name"]
    try:
        return str(json.loads((path.parent / "metrics.json").read_text())["rollout_name"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _checked_history(history):
    """A checkpoint's history: a list of per-epoch dicts, else a TypeError."""
    if not (isinstance(history, list) and all(isinstance(record, dict) for record in history)):
        raise TypeError(f"its history is not a list of epoch records, got {type(history).__name__}")
    return list(history)


def _checked_environments(envs):
    """A checkpoint's float environments: a list of dicts (an earlier streamnets, or a
    damaged record, gives none: they are a record, not needed to go on)."""
    if isinstance(envs, list) and all(isinstance(env, dict) for env in envs):
        return envs
    return []


def _checkpoint_network(state, identity, path, network):
    """The checkpoint's network: the one it holds, ``network``, or the built-in it names."""
    from .spec import builtin_names, from_dict, load

    if network is not None:
        net = load(network)
    elif "network_spec" in state:
        net = from_dict(state["network_spec"], source=str(path))
    else:  # written before checkpoints held their network: "name" or "name@width"
        base, _, width = identity["network"].partition("@")
        if base not in builtin_names():
            raise StreamnetsError(f"{path}: the checkpoint names network {identity['network']!r}, "
                                  f"which is not a built-in; pass the network it trained "
                                  f"(load_trained(run, network=<spec file or Network>))")
        net = load(base).scaled(float(width) if width else 1)
    if _spec_digest(net) != identity["spec"]:
        changes = (f" ({'; '.join(_spec_changes(state['network_spec'], net))})"
                   if isinstance(state.get("network_spec"), dict) else "")
        raise StreamnetsError(f"{path}: the checkpoint's nodes (shapes, activations, dropout, tags, "
                              f"order) or edges differ from those of network {net.name!r}{changes}; "
                              f"pass the network the run trained (with the --width it trained at)")
    return net
