"""Edge transforms: what an edge ``source -> target`` does to the source's value.

Into a dense target (1x1) an edge is a dense layer on the flattened source. Into a
spatial target it is a "same"-padded convolution with kernel ``edge.rf``, strided by
the size ratio when the target is smaller, preceded by nearest upsampling when the
target is larger. Edge transforms have no bias: the target node owns one bias and
lends it to the first transform it sums (see :class:`~streamnets.nn.node.NodeUpdate`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ShapeError
from ..graph import size_ratio

__all__ = ["DenseEdge", "ConvEdge", "edge_transform"]


def _glorot_(weight, fan_in, fan_out):
    # Keras' default glorot_uniform: the paper's experiments were Keras scripts.
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        weight.uniform_(-bound, bound)


class DenseEdge(nn.Module):
    """A dense layer from the flattened source (C*H*W units) to a dense target.

    Examples
    --------
    >>> edge = DenseEdge(784, 128)
    >>> edge(torch.zeros(2, 16, 7, 7)).shape
    torch.Size([2, 128])
    """

    def __init__(self, in_features, out_features):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.reset_parameters()

    def reset_parameters(self):
        _glorot_(self.weight, self.weight.shape[1], self.weight.shape[0])

    def forward(self, x, bias=None):
        """``x``: (B, C) or (B, C, H, W); ``bias`` (out_features,) is added if given."""
        return F.linear(x.flatten(1) if x.dim() > 2 else x, self.weight, bias)

    def extra_repr(self):
        return f"{self.weight.shape[1]} -> {self.weight.shape[0]}"


class ConvEdge(nn.Module):
    """A "same"-padded convolution into a spatial target.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel : int
        The receptive field ``edge.rf``.
    stride : int
        Size ratio source/target when the target is smaller, else 1.
    upsample : int
        Size ratio target/source when the target is larger, else 1.
    broadcast : tuple of int, optional
        (H, W) of the target when the source is dense: its value is copied to every
        pixel (nearest upsampling of a 1x1 map).

    Notes
    -----
    "Same" padding puts ``(rf - 1) // 2`` zeros on each side, so the kernel is centred
    on the first pixel of each stride block (PyTorch's usual ``padding=k // 2``); the
    output is exactly ``input / stride``. An even ``rf`` at stride 1 gets the extra
    zero at the bottom and right (as PyTorch's and Keras' ``padding="same"``).

    Examples
    --------
    >>> edge = ConvEdge(1, 16, kernel=7, stride=4)
    >>> edge(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 16, 7, 7])
    """

    def __init__(self, in_channels, out_channels, kernel, stride=1, upsample=1, broadcast=None):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel, kernel))
        self.stride = int(stride)
        self.upsample = int(upsample)
        self.broadcast = tuple(broadcast) if broadcast else None
        self.padding = (kernel - 1) // 2
        # An even kernel at stride 1 needs one more zero after than before.
        extra = kernel - 1 - 2 * self.padding if self.stride == 1 else 0
        self.pad = (self.padding, self.padding + extra) * 2 if extra else None
        self.reset_parameters()

    def reset_parameters(self):
        out_c, in_c, k, _ = self.weight.shape
        _glorot_(self.weight, in_c * k * k, out_c * k * k)

    def forward(self, x, bias=None):
        """``x``: (B, C, H, W), or (B, C) for a dense source; ``bias`` is added if given."""
        if self.broadcast is not None:
            x = x.reshape(x.shape[0], -1, 1, 1).expand(-1, -1, *self.broadcast)
        elif self.upsample > 1:
            x = F.interpolate(x, scale_factor=self.upsample, mode="nearest")
        if self.pad is not None:
            return F.conv2d(F.pad(x, self.pad), self.weight, bias, self.stride)
        return F.conv2d(x, self.weight, bias, self.stride, self.padding)

    def extra_repr(self):
        out_c, in_c, k, _ = self.weight.shape
        parts = [f"{in_c} -> {out_c}", f"rf={k}"]
        if self.stride > 1:
            parts.append(f"stride={self.stride}")
        if self.upsample > 1:
            parts.append(f"upsample={self.upsample}")
        if self.broadcast:
            parts.append(f"broadcast={self.broadcast}")
        return ", ".join(parts)


def edge_transform(edge, src, tgt):
    """The transform module of ``edge`` from node ``src`` to node ``tgt``.

    Raises :class:`~streamnets.errors.ShapeError` when the shapes cannot be joined,
    naming the edge and both shapes. The output shape is checked on a dummy input.

    Examples
    --------
    >>> import streamnets as sn
    >>> from streamnets.nn.edges import edge_transform
    >>> net = sn.load("mnist_sr")
    >>> edge_transform(net.edge("image", "h1"), net.nodes["image"], net.nodes["h1"])
    ConvEdge(1 -> 16, rf=7, stride=4)
    """
    c_in, c_out = src.shape[0], tgt.shape[0]
    if not tgt.is_spatial:
        module = DenseEdge(src.size, c_out)
    elif not src.is_spatial:
        module = ConvEdge(c_in, c_out, edge.rf, broadcast=tgt.shape[1:])
    else:
        stride, upsample = size_ratio(edge, src, tgt)
        module = ConvEdge(c_in, c_out, edge.rf, stride=stride, upsample=upsample)
    expected = (1, c_out) if not tgt.is_spatial else (1, *tgt.shape)
    dummy = torch.zeros((1, c_in) if not src.is_spatial else (1, *src.shape))
    with torch.no_grad():
        got = tuple(module(dummy).shape)
    if got != expected:  # pragma: no cover - guards the padding arithmetic above
        raise ShapeError(f"edge {edge.source} -> {edge.target}: the transform gives shape "
                         f"{got[1:]} instead of {expected[1:]} for rf={edge.rf}")
    return module
