"""Device strings -> explicit execution providers, and the error paths without a GPU."""

from __future__ import annotations

import logging

import numpy as np
import onnxruntime as ort
import pytest

import runtime
from runtime._devices import CPU, CUDA, TENSORRT, plan_device
from runtime.errors import DeviceUnavailable, InvalidDevice

GPU_BOX = [TENSORRT, CUDA, CPU]
CPU_BOX = [CPU]
HAS_CUDA = CUDA in ort.get_available_providers()


def test_cpu_is_cpu_only():
    assert plan_device("cpu", GPU_BOX).providers == (CPU,)


@pytest.mark.parametrize(
    ("device", "expected", "chosen"),
    [
        ("cuda", ((CUDA, {"device_id": 0}), CPU), "cuda:0"),
        ("cuda:1", ((CUDA, {"device_id": 1}), CPU), "cuda:1"),
        ("CUDA:2", ((CUDA, {"device_id": 2}), CPU), "cuda:2"),
        ("tensorrt:0", ((TENSORRT, {"device_id": 0}), (CUDA, {"device_id": 0}), CPU), "tensorrt:0"),
    ],
)
def test_gpu_devices_map_to_explicit_providers(device, expected, chosen):
    plan = plan_device(device, GPU_BOX)
    assert plan.providers == expected
    assert plan.device == chosen


def test_auto_picks_cuda_when_present_and_logs_it(caplog):
    with caplog.at_level(logging.INFO, logger="runtime"):
        assert plan_device("auto", GPU_BOX).device == "cuda:0"
    assert "chose cuda:0" in caplog.text


def test_auto_picks_cpu_without_gpu():
    assert plan_device("auto", CPU_BOX).providers == (CPU,)


def test_cuda_missing_is_a_clear_error():
    with pytest.raises(
        DeviceUnavailable, match=r"needs onnxruntime's CUDAExecutionProvider.*modelport\[gpu\]"
    ):
        plan_device("cuda", CPU_BOX)


def test_cuda_missing_with_fallback_warns_and_uses_cpu():
    with pytest.warns(RuntimeWarning, match="running on CPU"):
        plan = plan_device("cuda:0", CPU_BOX, fallback=True)
    assert plan.providers == (CPU,) and plan.device == "cpu"


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "cpu:0", "cuda:-1", "", "auto:1"])
def test_malformed_devices_are_refused(bad):
    with pytest.raises(InvalidDevice, match="use 'cpu', 'cuda', 'cuda:N'"):
        plan_device(bad, GPU_BOX)


def test_devices_lists_what_the_providers_offer():
    assert runtime.devices(CPU_BOX) == ["cpu"]
    assert runtime.devices([CUDA, CPU])[-1] == "cpu"
    assert runtime.devices([CUDA, CPU])[0] == "cuda:0"
    assert "cpu" in runtime.devices()


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_loading_on_cuda_without_gpu_fails_clearly(linear_path):
    with pytest.raises(DeviceUnavailable, match="cuda"):
        runtime.load_file(linear_path, device="cuda")


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_loading_on_cuda_with_fallback_runs_on_cpu(linear_path):
    with pytest.warns(RuntimeWarning, match="running on CPU"):
        model = runtime.load_file(linear_path, device="cuda", fallback=True)
    assert model.info.device == "cpu"
    assert model.info.providers == ("CPUExecutionProvider",)
    assert model.predict(np.ones((1, 4), np.float32)).shape == (1, 2)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs onnxruntime-gpu and an NVIDIA GPU")
def test_cuda_predictions_match_cpu(mlp_path):
    x = np.random.default_rng(0).standard_normal((256, 16)).astype(np.float32)
    gpu = runtime.load_file(mlp_path, device="cuda")
    assert gpu.info.providers[0] == CUDA
    np.testing.assert_allclose(gpu.predict(x), runtime.load_file(mlp_path).predict(x), atol=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs onnxruntime-gpu and an NVIDIA GPU")
def test_auto_uses_the_gpu_when_present(mlp_path):
    assert runtime.load_file(mlp_path, device="auto").info.device == "cuda:0"
