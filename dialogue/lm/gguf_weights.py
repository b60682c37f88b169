"""A GGUF re-written once with other tensor types (HELPDESK_LM_WEIGHTS), for llama.cpp's fast kernels."""

import fcntl
import logging
from pathlib import Path

from core.errors import ModelUnavailable

log = logging.getLogger(__name__)

# llama.cpp's llama_ftype values for the weight types a GGUF can be re-written to.
WEIGHT_TYPES = {"f16": 1, "q8_0": 7}
# File types (GGUF `general.file_type`) that `auto` re-writes as F16: Q4_1, the embedded SmolLM2's, which
# llama.cpp's fast matrix kernels do not cover. K-quants are served as they are (docs/generation.md).
SLOW_FILE_TYPES = {3: "Q4_1"}


def auto_weights(file_type: int | None) -> tuple[str, str]:
    """HELPDESK_LM_WEIGHTS=auto for a GGUF of `file_type`: the weights to serve, and why.

    Measured with bench/rewrite_latency.py (the judgement's rewrite and answer calls, 2 cores): the embedded
    SmolLM2 (Q4_1) answers in 2.85 s from F16 against 3.55 s as it is; Qwen2.5-Coder-1.5B (Q4_K_M) in 6.72 s
    as it is against 13.11 s from F16, whose decoding steps read 3x the bytes; the 0.5B (Q4_K_M) 3.37 against
    3.73 s."""
    if file_type in SLOW_FILE_TYPES:
        return "f16", f"{SLOW_FILE_TYPES[file_type]} has no fast prompt kernels in llama.cpp"
    return "original", "its tensor types have fast kernels in llama.cpp; F16 would read more bytes per token"


def retyped_gguf(gguf: Path, models_dir: Path, weights: str) -> Path:
    """`gguf` re-written once with `weights` tensors (~2 s for SmolLM2), next to the other converted models.

    The embedded SmolLM2 is Q4_1, which llama.cpp's fast matrix kernels (llamafile's sgemm) do not cover:
    its prompt is computed 2-3x slower than in F16. Q4_1 values convert to F16 with only F16 rounding, so
    the replies stay those of the published weights (checked on the eval set, docs/generation.md).
    """
    if weights not in WEIGHT_TYPES:
        raise ModelUnavailable(f"HELPDESK_LM_WEIGHTS={weights}: use one of auto, original, {', '.join(WEIGHT_TYPES)}.")
    from llama_cpp import llama_cpp as lib

    target = models_dir / f"{gguf.stem}.{weights}.gguf"
    if target.is_file():
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    with open(models_dir / f".{target.name}.lock", "w") as lock:  # two processes starting together
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file():
            return target
        log.info("Writing %s as %s for llama.cpp (once)", gguf.name, target.name)
        params = lib.llama_model_quantize_default_params()
        params.ftype, params.allow_requantize = WEIGHT_TYPES[weights], True
        partial = target.with_name(target.name + ".partial")
        if lib.llama_model_quantize(str(gguf).encode(), str(partial).encode(), params) != 0:
            partial.unlink(missing_ok=True)
            raise ModelUnavailable(f"llama.cpp could not re-write {gguf} as {weights}; "
                                   "set HELPDESK_LM_WEIGHTS=original to serve it as it is.")
        partial.rename(target)
    return target


def file_type(path: Path) -> int | None:
    """The GGUF's `general.file_type` (its main tensor type), read with the vocabulary only (~0.1 s)."""
    from llama_cpp import llama_cpp as lib
    from llama_cpp._internals import LlamaModel

    params = lib.llama_model_default_params()
    params.vocab_only = True
    try:
        model = LlamaModel(path_model=str(path), params=params, verbose=False)
    except ValueError as error:
        raise ModelUnavailable(f"llama.cpp cannot load {path}: {error}") from error
    try:
        value = model.metadata().get("general.file_type")
    finally:
        model.close()
    return int(value) if value is not None and str(value).isdigit() else None
