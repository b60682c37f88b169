"""The one rule for which torch device a model runs on, for serving, training and evaluation alike."""

from core.errors import DeviceUnavailable


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
