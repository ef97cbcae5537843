"""Node updates: bias, dropout and activation applied to the sum of a node's inputs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["NodeUpdate"]


def _identity(x):
    return x


def _elu_(x):
    return F.elu(x, inplace=True)


def _leaky_relu_(x):
    return F.leaky_relu(x, 0.01, inplace=True)


def _softmax(x):
    return torch.softmax(x, dim=1)


# In-place variants: the summed input is a fresh tensor nobody else holds, and
# none of these activations needs its input for the backward pass, so writing
# over it saves one activation-sized tensor per node and frame. Named functions, not
# lambdas, so that a model pickles (torch.save, worker processes).
_ACTIVATIONS = {
    "identity": _identity,
    "relu": torch.relu_,
    "tanh": torch.tanh_,
    "sigmoid": torch.sigmoid_,
    "elu": _elu_,
    "leaky_relu": _leaky_relu_,
    "softmax": _softmax,
}


#: Devices where out-of-place dropout is one fused kernel that keeps a one-byte mask
#: for backward. Elsewhere, and in place everywhere, PyTorch draws a float noise
#: tensor, scales it and multiplies: three kernels and four bytes kept per element.
_FUSED_DROPOUT = ("cuda", "xpu")


class NodeUpdate(nn.Module):
    """The per-node part of an update: one bias per channel, dropout, activation.

    The caller sums the node's incoming edge transforms, lending :attr:`bias` to the
    first of them (``transform(x, bias)``) so that the addition is fused into the
    convolution or matrix product; :meth:`forward` then applies dropout and the
    activation, in place where that is safe and saves memory (dropout on a GPU
    runs out of place: there PyTorch fuses it into one kernel).

    Parameters
    ----------
    node : streamnets.Node

    Examples
    --------
    >>> import streamnets as sn
    >>> update = NodeUpdate(sn.load("mnist_sr").nodes["h2"])
    >>> value, logits = update(torch.randn(2, 128))
    >>> bool((value >= 0).all())
    True
    """

    def __init__(self, node):
        super().__init__()
        self.name = node.name
        self.activation = node.activation
        self.p = float(node.dropout)
        self.bias = nn.Parameter(torch.zeros(node.shape[0]))
        self._act = _ACTIVATIONS[node.activation]

    def forward(self, summed):
        """Dropout and activation of ``summed`` (the biased sum, overwritten).

        Returns ``(value, logits)``: the node's new value and what an output node
        reports, the value itself or, for softmax nodes, the pre-activation (so
        that cross entropy can take it).
        """
        if self.p and self.training:
            fused = summed.device.type in _FUSED_DROPOUT
            summed = F.dropout(summed, self.p, True, inplace=not fused)
        value = self._act(summed)
        return value, summed if self.activation == "softmax" else value

    def extra_repr(self):
        return (f"{self.name!r}, channels={self.bias.shape[0]}, activation={self.activation}, "
                f"dropout={self.p}")
