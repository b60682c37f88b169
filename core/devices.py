"""The one rule for which torch device a model runs on, for serving, training and evaluation alike, and in
which precision the transformers LM computes there."""

from pathlib import Path

from core.errors import DeviceUnavailable

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # CPU instructions that compute bf16 matrix products natively


def choose_device(setting: str, *, gpu_when_auto: bool = True) -> str:
    """The torch device for a device setting: "auto", "cpu", "cuda" (or any other torch device name).

    "auto" is CUDA when PyTorch sees a GPU, else the CPU; with `gpu_when_auto=False` it stays on the CPU
    (the serving embedder has always run there unless told "cuda"). "cuda" without a GPU raises
    `DeviceUnavailable`, rather than failing later inside the model library. PyTorch is imported only
    when the answer depends on it.
    """
    if setting == "cpu" or (setting == "auto" and not gpu_when_auto):
        return "cpu"
    import torch

    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable("device 'cuda' was asked for, but PyTorch sees no CUDA GPU.")
    return setting


def lm_dtype(setting: str, device: str, cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, str]:
    """The torch dtype name the transformers LM is loaded in, and why.

    "auto" is bfloat16 on a GPU, and on a CPU whose instructions multiply bf16 natively (avx512_bf16 or AMX):
    there the weights read at every decoding step are half the bytes, and prompts compute 2x faster
    (docs/generation.md). Elsewhere float32: without those instructions bf16 is emulated, and prompts took
    4-6x longer. The flags are read from /proc/cpuinfo; where there is none (not Linux), float32.
    """
    if setting != "auto":
        return setting, f"HELPDESK_LM_DTYPE={setting}"
    if device.startswith("cuda"):
        return "bfloat16", "a GPU"
    try:
        flags = next((line.split(":", 1)[1].split() for line in cpuinfo.read_text().splitlines()
                      if line.startswith("flags")), [])
    except OSError:
        flags = []
    native = [flag for flag in BF16_CPU_FLAGS if flag in flags]
    if native:
        return "bfloat16", f"the CPU multiplies bf16 natively ({native[0]})"
    return "float32", "the CPU has no native bf16 (avx512_bf16 or AMX)"
