"""The PyTorch engine: a :class:`StreamNet` runs a network under any valid rollout.

``model(frames, rollout=r)`` runs a rollout window (training, evaluation);
``model.step(frame, state, rollout=r)`` advances one frame (streaming inference);
``model.frame_sources`` and ``model.node_update`` are the per-node pieces for
model-parallel executors.

Examples
--------
>>> import torch, streamnets as sn
>>> from streamnets.nn import StreamNet
>>> model = StreamNet(sn.load("mnist_sr"))
>>> out = model(torch.rand(2, 4, 1, 28, 28), rollout=sn.Rollout.sequential(model.network))
>>> out.mask["prediction"].tolist(), out.update_step["prediction"].tolist()
([False, True, True, True], [0, 3, 6, 9])
"""

from .edges import ConvEdge, DenseEdge, edge_transform
from .model import StreamNet, StreamOutput, StreamState
from .node import NodeUpdate
from .plan import NodeStep, RolloutPlan

__all__ = [
    "StreamNet", "StreamOutput", "StreamState", "RolloutPlan", "NodeStep",
    "NodeUpdate", "DenseEdge", "ConvEdge", "edge_transform",
]
