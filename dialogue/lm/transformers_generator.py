"""The LM of a `TransformersGenerator`: a transformers causal LM in this process, with an optional LoRA adapter."""

import logging
import threading
import time
from pathlib import Path

from core.devices import choose_device
from core.errors import ModelUnavailable
from dialogue.lm.generator import ChatMessages, Generation, TextCallback, tidy
from dialogue.lm.sources import resolve_lm_source

log = logging.getLogger(__name__)


class TransformersGenerator:
    """A transformers causal LM with an optional LoRA adapter; bf16 on CUDA, fp32 on CPU."""

    def __init__(self, model: str, models_dir: Path, adapter: Path | None = None, device: str = "auto"):
        self.model_name = model
        self.models_dir = models_dir
        self.adapter = adapter
        self.device_setting = device
        self.model_id = model
        self.calls = 0  # generations served; lets operators (and tests) see when the LM ran
        self.base_model_id = model
        self._swaps = 0
        self._model = None
        self._tokenizer = None
        # One generation at a time: parallel generate() calls on a CPU only slow each other down.
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        source, self.model_id = resolve_lm_source(self.model_name, self.models_dir)
        device = choose_device(self.device_setting)
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        try:
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype).to(device)
        except OSError as error:
            raise ModelUnavailable(
                f"Cannot load LM {source!r}: {error}. Set HELPDESK_LM_MODEL to an existing folder, "
                "a .gguf file, or a model id available offline."
            ) from error
        self.base_model_id = self.model_id
        if self.adapter is not None:
            model = self._with_adapter(model)
        model.eval()
        self._tokenizer, self._model, self.device = tokenizer, model, device

    def _with_adapter(self, model):
        from peft import PeftModel

        _check_adapter(self.adapter)
        self.model_id = f"{self.model_id}+{self.adapter.name}"
        return PeftModel.from_pretrained(model, str(self.adapter))

    def use_adapter(self, adapter: Path | None) -> str:
        """Serve `adapter` (a peft LoRA folder), or the bare base model for None, from the next reply on.

        Swapped under the generation lock, so a reply in progress finishes on the weights it started with.
        A failed load leaves the previous adapter serving. Returns the new model id.
        """
        from peft import PeftModel

        self.warm_up()
        if adapter is not None:
            _check_adapter(adapter)
        with self._lock:
            model = self._model
            if adapter is None:
                model = model.unload() if isinstance(model, PeftModel) else model
            elif isinstance(model, PeftModel):
                self._swaps += 1
                name, previous = f"adapter{self._swaps}", model.active_adapter
                model.load_adapter(str(adapter), adapter_name=name)
                model.set_adapter(name)
                model.delete_adapter(previous)
            else:
                model = PeftModel.from_pretrained(model, str(adapter))
            model.eval()
            self._model, self.adapter = model, adapter
            self.model_id = self.base_model_id + (f"+{adapter.name}" if adapter else "")
        log.info("Now serving %s", self.model_id)
        return self.model_id

    def count_tokens(self, text: str) -> int:
        self.warm_up()
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(self, messages: ChatMessages, *, max_new_tokens: int, temperature: float,
                 on_text: TextCallback | None = None) -> Generation:
        import torch

        self.warm_up()
        inputs = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self.device)
        sampling = {"do_sample": True, "temperature": temperature, "top_p": 0.9} if temperature > 0 else {
            "do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        started = time.perf_counter()
        with self._lock, torch.inference_mode():
            output = self._model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                # No repetition penalty: in a decoder-only model it also penalises the prompt's tokens, which
                # pushed the model away from copying facts out of the snippets.
                pad_token_id=self._tokenizer.pad_token_id or self._tokenizer.eos_token_id,
                streamer=_text_streamer(self._tokenizer, on_text) if on_text else None,
                **sampling,
            )
            self.calls += 1
        prompt_tokens = inputs["input_ids"].shape[1]
        new_ids = output[0, prompt_tokens:]
        text = self._tokenizer.decode(new_ids, skip_special_tokens=True)
        finished = bool(len(new_ids)) and int(new_ids[-1]) == self._tokenizer.eos_token_id
        return Generation(
            text=tidy(text, cut_unfinished=not finished),
            model_id=self.model_id,
            prompt_tokens=prompt_tokens,
            new_tokens=len(new_ids),
            seconds=time.perf_counter() - started,
        )


def _text_streamer(tokenizer, on_text: TextCallback):
    """transformers' word-by-word streamer, handing text to `on_text` instead of printing it.

    It runs inside `generate()` on the generating thread, so no second thread or queue is needed; the
    leading whitespace of the answer is dropped, as `tidy` drops it from the final text.
    """
    from transformers import TextStreamer

    class CallbackStreamer(TextStreamer):
        started = False

        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if not self.started:
                text = text.lstrip()
                self.started = bool(text)
            if text:
                on_text(text)

    return CallbackStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)


def _check_adapter(adapter: Path) -> None:
    if not (adapter / "adapter_config.json").is_file():
        raise ModelUnavailable(f"The LM adapter folder {adapter} holds no adapter_config.json.")
