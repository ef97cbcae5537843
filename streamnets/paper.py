"""Reference values stated in the paper (PAPER.md), kept in one place.

The theory values of the example network (Figs. 2-6) and the authors' values for
the experiment networks. Code never derives anything from these: they are what
computed results are compared against (by the tests and by ``streamnets list``,
also ``streamnets inspect`` without a network).
"""

from typing import NamedTuple, Optional

__all__ = ["AuthorsValues", "AUTHORS_VALUES", "FIG2_COUNTS", "FIG2_TABLEAUS",
           "FIG2_INVALID", "CHAIN_SEQUENTIAL_F"]


class AuthorsValues(NamedTuple):
    """Inference factor of the sequential rollout and first responses as
    ``(frame, update_step)``; None where the paper states no value.

    Examples
    --------
    >>> import streamnets as sn
    >>> AUTHORS_VALUES["mnist_sr"]
    AuthorsValues(sequential_factor=3, streaming_first=(2, 2), sequential_first=(1, 3))
    >>> r = sn.Rollout.sequential(sn.load("mnist_sr"))
    >>> r.inference_factor, tuple(r.first_response()["prediction"])
    (3, (1, 3))
    """

    sequential_factor: int
    streaming_first: tuple
    sequential_first: Optional[tuple]


AUTHORS_VALUES = {
    "mnist_ff": AuthorsValues(3, (3, 3), (1, 3)),
    "mnist_s": AuthorsValues(3, (2, 2), (1, 3)),
    "mnist_sr": AuthorsValues(3, (2, 2), (1, 3)),
    "mnist_hybrid": AuthorsValues(2, (2, 2), (2, 3)),
    **{f"cifar10_dsr{k}": AuthorsValues(4 + k, (4, 4), (1, 4 + k)) for k in range(7)},
    "gtsrb_dsr4": AuthorsValues(8, (4, 4), None),
}

#: Fig. 2 network: all patterns, valid patterns, model-parallel classes.
FIG2_COUNTS = (32, 12, 3)

#: Fig. 5 tableaus of the Fig. 2 network, frames 0..3: (pattern, {node: row}).
#: Patterns are given by their edges with R = 1.
FIG2_TABLEAUS = [
    ({("u", "v"), ("v", "w"), ("v", "v"), ("u", "w"), ("w", "v")},
     {"w": [0, 1, 2, 3], "v": [0, 1, 2, 3], "u": [0, 0, 0, 0]}),
    ({("v", "v"), ("w", "v")},
     {"w": [0, 2, 4, 6], "v": [0, 1, 3, 5], "u": [0, 0, 0, 0]}),
    ({("v", "v"), ("u", "w"), ("w", "v")},
     {"w": [0, 2, 4, 6], "v": [0, 1, 3, 5], "u": [0, 0, 0, 0]}),
    ({("v", "w"), ("v", "v"), ("w", "v")},
     {"w": [0, 1, 2, 3], "v": [0, 1, 2, 3], "u": [0, 0, 0, 0]}),
    ({("v", "w"), ("v", "v")},
     {"w": [0, 1, 3, 5], "v": [0, 2, 4, 6], "u": [0, 0, 0, 0]}),
]

#: R(v, w) = R(w, v) = 0 is not valid: the cycle v -> w -> v stays within a frame.
FIG2_INVALID = {("u", "v"), ("v", "v"), ("u", "w")}

#: Feed-forward chains of depth 1, 2, 3: F of the sequential rollout (streaming: 1).
CHAIN_SEQUENTIAL_F = {1: 1, 2: 2, 3: 3}
