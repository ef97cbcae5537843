"""Device resolution, and the engine on CUDA (skipped without a GPU)."""

import pytest
import torch

import streamnets as sn
from streamnets.device import DeviceError, autocast, available_devices, maybe_compile, resolve_device
from streamnets.errors import StreamnetsError
from streamnets.nn import StreamNet

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="torch.cuda.is_available() is False: no CUDA GPU "
                                                   "here, CUDA-only check skipped")


@pytest.fixture
def no_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_cpu_and_torch_devices():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert available_devices()[-1] == "cpu"


def test_auto_falls_back_to_cpu(no_accelerator):
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    assert available_devices() == ["cpu"]


@pytest.mark.parametrize("name", ["cuda", "cuda:0", torch.device("cuda")])
def test_cuda_without_cuda_is_a_streamnets_error(no_accelerator, name):
    with pytest.raises(DeviceError, match=r"CUDA is not available.*use the CPU or 'auto' \(device='cpu' "
                                          r"in Python, --device cpu on the command line\)") as err:
        resolve_device(name)
    assert isinstance(err.value, StreamnetsError)


def test_mps_without_mps_and_unknown_devices(no_accelerator):
    with pytest.raises(DeviceError, match="MPS is not available"):
        resolve_device("mps")
    with pytest.raises(DeviceError, match="unknown device 'gpu'.*available here: cpu"):
        resolve_device("gpu")
    # before: torch's other device types and CPU indices were passed on unchecked
    for name in ("xpu", "meta", "cpu:3"):
        with pytest.raises(DeviceError, match=f"device '{name}' is not one streamnets runs on; use "
                                              f"'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"):
            resolve_device(name)
    assert resolve_device("cpu:0") == resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_autocast_is_off_on_cpu_by_default():
    with autocast("cpu"):
        assert not torch.is_autocast_enabled("cpu")
    with autocast("cpu", enabled=True):
        assert torch.is_autocast_enabled("cpu")
    layer = torch.nn.Linear(1, 1)
    assert maybe_compile(layer) is layer


def test_model_moves_with_to():
    model = StreamNet(sn.load("mnist_sr")).to(resolve_device("cpu"))
    assert model.device.type == "cpu"
    assert {p.device for p in model.parameters()} == {torch.device("cpu")}


@needs_cuda
def test_cuda_resolution():
    assert resolve_device("auto").type == "cuda"
    with pytest.raises(DeviceError, match="CUDA device"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


@needs_cuda
def test_cuda_window_and_step_match_cpu():
    torch.manual_seed(0)
    cpu = StreamNet(sn.load("mnist_sr")).eval()
    gpu = StreamNet(sn.load("mnist_sr")).eval()
    gpu.load_state_dict(cpu.state_dict())
    gpu.to("cuda")
    x = torch.rand(2, 5, 1, 28, 28)
    with torch.no_grad():
        a = cpu(x, rollout="hybrid")
        b = gpu(x, rollout="hybrid")  # CPU frames are moved to the model's device
        state = gpu.initial_state(2)
        for t in range(5):
            logits, state = gpu.step(x[:, t].cuda(), state, rollout="hybrid")
    assert b.logits["prediction"].device.type == "cuda" and b.mask["prediction"].device.type == "cuda"
    torch.testing.assert_close(b.logits["prediction"].cpu(), a.logits["prediction"],
                               atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(logits["prediction"], b.logits["prediction"][:, 4], atol=1e-5, rtol=1e-5)


@needs_cuda
def test_cuda_dropout_is_the_fused_kernel():
    """One kernel and a one-byte mask per element, as ``nn.Dropout`` gets on CUDA."""
    model = StreamNet(sn.load("mnist_sr")).cuda().train()
    out = model(torch.rand(2, 4, 1, 28, 28, device="cuda")).responses()
    seen, todo = set(), [out.grad_fn]
    while todo:
        fn = todo.pop()
        if fn is not None and fn not in seen:
            seen.add(fn)
            todo.extend(f for f, _ in fn.next_functions)
    assert "NativeDropoutBackward0" in {type(fn).__name__ for fn in seen}


@needs_cuda
def test_cuda_autocast_training_step():
    model = StreamNet(sn.load("mnist_sr")).cuda()
    x = torch.rand(4, 5, 1, 28, 28, device="cuda")
    with autocast("cuda"):
        out = model(x)
        loss = out.responses().float().square().mean()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_cpu_autocast_training_step_runs_in_bfloat16():
    model = StreamNet(sn.load("mnist_sr"))
    with autocast("cpu", enabled=True):
        out = model(torch.rand(2, 4, 1, 28, 28), rollout="hybrid")
    assert out.logits["prediction"].dtype == torch.bfloat16
    out.responses().float().square().mean().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())
