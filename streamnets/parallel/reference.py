"""The reference: node by node in one stream, i.e. ``StreamNet.step`` itself."""

from __future__ import annotations

import torch

from .base import Executor

__all__ = ["ReferenceExecutor", "SerialExecutor"]


class ReferenceExecutor(Executor):
    """``model.step`` chained frame by frame (no autograd): what every parallel
    executor must reproduce.

    Examples
    --------
    >>> import torch, streamnets as sn
    >>> from streamnets.nn import StreamNet
    >>> model = StreamNet(sn.load("cifar10_dsr0")).eval()
    >>> ex = ReferenceExecutor(model, "sequential")
    >>> outs, state = ex.step(torch.rand(1, 3, 32, 32), ex.initial_state(1))
    >>> outs, state.frame
    ({'prediction': None}, 0)
    """

    name = "reference"

    def step(self, frame, state):
        with torch.no_grad():
            return self.model.step(frame, state, rollout=self.rollout)


class SerialExecutor(Executor):
    """The executors' node kernels run one after the other in the calling thread:
    the parallel executors' arithmetic without their parallelism (a check that
    kernels and schedule alone reproduce the reference).

    Examples
    --------
    >>> import torch, streamnets as sn
    >>> from streamnets.nn import StreamNet
    >>> model = StreamNet(sn.load("mnist_sr")).eval()
    >>> x = torch.rand(2, 4, 1, 28, 28)
    >>> a = SerialExecutor(model).run(x)[-1]["prediction"]
    >>> b = ReferenceExecutor(model).run(x)[-1]["prediction"]
    >>> torch.equal(a, b)
    True
    """

    name = "serial"

    def _compute(self, previous, current, outputs, frame, batch):
        kernels = self.schedule.kernels
        for group in self.schedule.groups:
            for v in group:
                kernels[v].run(previous, current, outputs)
