"""The paper's experiments and the two profiles they run under.

``paper`` is the paper's setting (real data, full networks, 100 epochs, RMSprop
1e-4 with decay 1e-6; expect a GPU: its times are projections from timed batches on
an NVIDIA H200, ``benchmarks/time_paper_profile.py``). ``ci`` runs the same code path small enough
for two CPU cores: the offline stand-in data unless real data is present, subsets,
networks with fewer channels (same graph, same rollout theory), a few epochs,
smaller batches and a larger learning rate.

The CIFAR-10 and GTSRB ci values were measured on the offline stand-ins with the
paper's noise (1.0, 0.5): at RMSprop 1e-3 and batch 32 the width-0.125 networks
spend most of such a short run on the initial plateau (loss ln 10 = 2.30, resp.
ln 43 = 3.76) and some never leave it; at 3e-3 with batch 16 they leave it within
one to three epochs (5e-3 left a CIFAR-10 DSR5 run stuck). After 4 CIFAR-10 epochs
the streaming rollouts of DSR0, DSR1 and DSR5 still trailed their sequential
rollouts' last-frame accuracy by 0.05-0.12; after 8, DSR0 and DSR1 were within
noise of it and DSR5 0.027 behind (0.958 vs 0.985); 6 epochs keeps ``reproduce all``
within about 35 minutes on the slower of the two machines measured (11 on the faster;
CIFAR-10 takes 26 of the 35). The times are for an
otherwise idle machine: with two torch threads on two cores that other work shares,
training becomes several times slower (thread oversubscription; ``--threads 1``
avoids it, but its sums round differently from the 2-thread references).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from ..errors import SettingError, SpecError, positive_number, whole_number
from ..graph import _suggest

__all__ = ["Profile", "Experiment", "EXPERIMENTS", "PROFILES", "get_experiment"]


@dataclass(frozen=True)
class Profile:
    """Training budget of one experiment under one profile.

    ``n_train`` / ``n_test`` cap the number of samples (None: all), ``width``
    scales the hidden channels (:meth:`Network.scaled`), ``repetitions`` is the
    number of seeds per (network, rollout).

    Examples
    --------
    >>> ci = get_experiment("mnist").profile("ci")
    >>> ci.epochs, ci.batch_size, ci.lr, ci.repetitions, ci.n_train
    (6, 32, 0.001, 2, 2000)
    >>> Profile(epochs=0, batch_size=32, lr=1e-3)
    Traceback (most recent call last):
    ...
    streamnets.errors.SettingError: epochs must be a whole number >= 1, got 0
    """

    epochs: int
    batch_size: int
    lr: float
    repetitions: int = 1
    optimizer: str = "rmsprop"
    decay: float = 1e-6
    n_train: int | None = None
    n_test: int | None = None
    width: float = 1.0
    max_batches: int | None = None
    expected_time: str = ""

    def __post_init__(self):
        for name in ("epochs", "batch_size", "repetitions"):
            whole_number(name, getattr(self, name))
        for name in ("n_train", "n_test", "max_batches"):
            whole_number(name, getattr(self, name), default=True)
        for name in ("lr", "width"):
            positive_number(name, getattr(self, name))


@dataclass(frozen=True)
class Experiment:
    """One of the paper's experiments: networks, rollouts, data and noise.

    Examples
    --------
    >>> mnist = get_experiment("mnist")
    >>> mnist.networks, mnist.rollouts["mnist_sr"], mnist.noise_std
    (('mnist_ff', 'mnist_s', 'mnist_sr'), ('streaming', 'sequential', 'hybrid'), 2.0)
    >>> sorted(mnist.profiles), mnist.profile("paper").epochs
    (['ci', 'paper'], 100)
    """

    name: str
    title: str
    networks: tuple
    rollouts: dict
    noise_std: float
    profiles: dict = field(default_factory=dict)
    skip_networks: tuple = ()
    recurrent_networks: tuple = ()
    depth_series: tuple = ()

    def profile(self, name):
        try:
            return self.profiles[name]
        except KeyError:
            raise SpecError(f"unknown profile {name!r}; choose one of {', '.join(self.profiles)}",
                            field="profile") from None


_DSR = tuple(f"cifar10_dsr{k}" for k in range(7))

EXPERIMENTS = {
    "mnist": Experiment(
        name="mnist", title="MNIST: feed-forward, skip, skip + recurrence, hybrid",
        networks=("mnist_ff", "mnist_s", "mnist_sr"),
        rollouts={"mnist_ff": ("streaming", "sequential"), "mnist_s": ("streaming", "sequential"),
                  "mnist_sr": ("streaming", "sequential", "hybrid")},
        noise_std=2.0,
        skip_networks=("mnist_s", "mnist_sr"), recurrent_networks=("mnist_sr",),
        profiles={
            "paper": Profile(epochs=100, batch_size=128, lr=1e-4, repetitions=6,
                             expected_time="about 5.5 h on an NVIDIA H200 (7 runs x 6 repetitions)"),
            # n_train / n_test: all of the digits stand-in (1,437 / 360), a subset of real MNIST
            "ci": Profile(epochs=6, batch_size=32, lr=1e-3, repetitions=2, n_train=2000, n_test=500,
                          expected_time="about 1-2 min on 2 idle CPU cores"),
        }),
    "cifar10": Experiment(
        name="cifar10", title="CIFAR-10: network depth DSR0 ... DSR6",
        networks=_DSR, rollouts={n: ("streaming", "sequential") for n in _DSR},
        noise_std=1.0,
        skip_networks=_DSR[1:], recurrent_networks=_DSR, depth_series=_DSR,
        profiles={
            "paper": Profile(epochs=100, batch_size=64, lr=1e-4,
                             expected_time="about 9-10 h on an NVIDIA H200 (14 runs)"),
            "ci": Profile(epochs=6, batch_size=16, lr=3e-3, n_train=1600, n_test=400, width=0.125,
                          expected_time="about 9-26 min on 2 idle CPU cores"),
        }),
    "gtsrb": Experiment(
        name="gtsrb", title="GTSRB: tracks of approaching traffic signs",
        networks=("gtsrb_dsr4",), rollouts={"gtsrb_dsr4": ("streaming", "sequential")},
        noise_std=0.5, skip_networks=("gtsrb_dsr4",),
        profiles={
            "paper": Profile(epochs=100, batch_size=16, lr=1e-4,
                             expected_time="about 6-8 min on an NVIDIA H200 (2 runs)"),
            "ci": Profile(epochs=10, batch_size=16, lr=3e-3, width=0.125,
                          expected_time="about 2-4 min on 2 idle CPU cores"),
        }),
}

PROFILES = ("ci", "paper")


def get_experiment(name):
    """The :class:`Experiment` called ``name`` (mnist, cifar10, gtsrb).

    Examples
    --------
    >>> cifar = get_experiment("cifar10")
    >>> cifar.title, cifar.noise_std
    ('CIFAR-10: network depth DSR0 ... DSR6', 1.0)
    >>> cifar.depth_series[-1], cifar.profile("ci").width
    ('cifar10_dsr6', 0.125)
    >>> get_experiment("all")
    Traceback (most recent call last):
    ...
    streamnets.errors.SpecError: experiment: 'all' is not one experiment; choose one of mnist, cifar10, gtsrb, or run them all with reproduce('all') (streamnets reproduce all)
    """
    try:
        return EXPERIMENTS[name]
    except KeyError:
        if name == "all":  # what reproduce("all") and `streamnets reproduce all` take, not one experiment
            raise SpecError(f"'all' is not one experiment; choose one of {', '.join(EXPERIMENTS)}, or "
                            f"run them all with reproduce('all') (streamnets reproduce all)",
                            field="experiment") from None
        raise SpecError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)} or all",
                        field="experiment") from None


def with_overrides(profile, **changes):
    """The profile with some fields replaced (None values are ignored); an unknown
    field or a value out of range is a :class:`~streamnets.errors.SettingError`.

    Examples
    --------
    >>> with_overrides(get_experiment("mnist").profile("ci"), epochs=1).epochs
    1
    >>> with_overrides(get_experiment("mnist").profile("ci"), epoch=1)
    Traceback (most recent call last):
    ...
    streamnets.errors.SettingError: unknown profile field 'epoch' (did you mean 'epochs'?); the fields are epochs, batch_size, lr, repetitions, optimizer, decay, n_train, n_test, width, max_batches, expected_time
    """
    names = [f.name for f in fields(Profile)]
    for key in changes:
        if key not in names:
            raise SettingError(f"unknown profile field {key!r}{_suggest(key, names)}; the fields are "
                               f"{', '.join(names)}")
    return replace(profile, **{k: v for k, v in changes.items() if v is not None})
