"""HELPDESK_LM_BACKEND=auto: batched transformers when PyTorch sees a GPU, llama.cpp otherwise, and why."""

from pathlib import Path

import pytest
import torch

from core.errors import DeviceUnavailable
from dialogue.lm.backends import LMConfig, choose_backend

pytestmark = pytest.mark.unit


def choice(backend: str, device: str = "auto", **extra):
    return choose_backend(LMConfig(backend, "default", Path("models"), device=device, **extra))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU (the gpu tests cover it)")
def test_auto_without_a_gpu_is_llamacpp_and_says_why():
    chosen = choice("auto")
    assert (chosen.backend, chosen.device) == ("llamacpp", "cpu")
    assert "PyTorch sees no CUDA GPU" in chosen.reason


def test_auto_told_to_stay_on_the_cpu_is_llamacpp():
    chosen = choice("auto", device="cpu")
    assert chosen.backend == "llamacpp" and "HELPDESK_DEVICE=cpu" in chosen.reason


def test_an_explicit_backend_is_kept_and_named_as_the_reason():
    kept = choice("transformers", device="cpu")
    assert (kept.backend, kept.device) == ("transformers", "cpu") and "HELPDESK_LM_BACKEND=transformers" in kept.reason
    assert (choice("llamacpp").backend, choice("llamacpp").device) == ("llamacpp", "cpu")
    served = choice("openai", url="http://gpu.internal:8001/v1")
    assert (served.backend, served.device) == ("openai", "server") and "http://gpu.internal:8001/v1" in served.reason


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_cuda_without_one_is_a_clear_error():
    with pytest.raises(DeviceUnavailable, match="cuda"):
        choice("auto", device="cuda")
