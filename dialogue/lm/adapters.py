"""LoRA adapters served batched: replies of the base model and of adapters share forward passes.

peft's LoRA layers take a per-row list of adapter names (`adapter_names`, "__base__" for none) and apply
each row's own adapter. peft hands that list to its layers through hooks registered on every call, which
walks the whole module tree each time; here each LoRA layer gets one hook, registered once, that reads the
names of the step being computed (`route`, called by the engine before every forward pass).

Loading: the first adapter turns the model's projections into LoRA layers, which must not happen while a
forward pass runs, so it is done on the engine thread between two steps (a one-time pause of ~1 s on a
CPU). Later adapters on the same projections (every `helpdesk train lm` adapter: the same target modules)
are loaded beside the replies being written: peft only adds entries to the existing LoRA layers, which no
forward pass iterates over, and no reply uses the new name until the load is done. An adapter that targets
projections no adapter did before would create LoRA layers mid-step (active for the new adapter until peft
resets them), so it is loaded between steps too. Adapters no reply uses any more are deleted between steps;
the last one loaded stays (peft cannot hold none once wrapped), unused.
"""

import json
import logging
import threading
import warnings
from pathlib import Path

from core.errors import ModelUnavailable

log = logging.getLogger(__name__)

BASE = "__base__"


class AdapterRouter:
    def __init__(self, model):
        self.model = model  # the transformers model; peft injects its LoRA layers into it in place
        self.peft = None
        self._names: list[str] = []
        self._hooked: set[int] = set()
        self._targets: set[str] = set()  # projection names that already are LoRA layers
        self._loaded = 0
        self._lock = threading.Lock()  # one load at a time

    @property
    def _device(self) -> str:
        return str(next(self.model.parameters()).device)

    @property
    def loaded(self) -> list[str]:
        return list(self.peft.peft_config) if self.peft is not None else []

    def route(self, adapters: list[str | None]) -> None:
        self._names = [adapter or BASE for adapter in adapters]

    def load(self, path: Path, between_steps) -> str:
        """Loads the peft adapter folder `path` under a new name and returns the name."""
        check_adapter(path)
        with self._lock:
            self._loaded += 1
            name = f"adapter{self._loaded}"
            targets = _targets(path)
            if self.peft is None:
                between_steps(lambda: self._wrap(path, name))
            elif targets is not None and targets <= self._targets:
                try:
                    self.peft.load_adapter(str(path), adapter_name=name, torch_device=self._device)
                except Exception:
                    between_steps(lambda: self._delete_partial(name))
                    raise
                between_steps(self._hook_layers)
            else:
                between_steps(lambda: self._load_new_layers(path, name))
            self._targets |= targets or set()
        return name

    def delete_unused(self, in_use: set[str | None]) -> list[str]:
        """Deletes loaded adapters no reply uses, keeping the newest; returns their names. Engine thread."""
        deleted = [name for name in self.loaded[:-1] if name not in in_use]
        for name in deleted:
            with warnings.catch_warnings():  # "adapter X was active": replies name theirs, none is "active"
                warnings.simplefilter("ignore", UserWarning)
                self.peft.delete_adapter(name)
            log.info("Deleted LoRA adapter %s (no reply uses it any more)", name)
        return deleted

    def _wrap(self, path: Path, name: str) -> None:
        from peft import PeftModel

        self.peft = PeftModel.from_pretrained(self.model, str(path), adapter_name=name, torch_device=self._device)
        self.peft.eval()
        self._hook_layers()

    def _load_new_layers(self, path: Path, name: str) -> None:
        try:
            self.peft.load_adapter(str(path), adapter_name=name, torch_device=self._device)
        except Exception:
            self._delete_partial(name)
            raise
        self._hook_layers()

    def _delete_partial(self, name: str) -> None:
        if name in self.loaded:
            self.peft.delete_adapter(name)

    def _hook_layers(self) -> None:
        from peft.tuners.lora import LoraLayer

        for module in self.model.modules():
            if isinstance(module, LoraLayer) and id(module) not in self._hooked:
                module.register_forward_pre_hook(self._hand_names, with_kwargs=True)
                self._hooked.add(id(module))

    def _hand_names(self, module, args, kwargs):
        return args, {**kwargs, "adapter_names": self._names}


def _targets(adapter: Path) -> set[str] | None:
    """The projections an adapter targets, or None when its config names them by a pattern."""
    targets = json.loads((adapter / "adapter_config.json").read_text()).get("target_modules")
    return set(targets) if isinstance(targets, list) else None


def check_adapter(adapter: Path) -> None:
    if not (adapter / "adapter_config.json").is_file():
        raise ModelUnavailable(f"The LM adapter folder {adapter} holds no adapter_config.json.")
