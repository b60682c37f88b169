"""LoRA adapters on the inference server: vLLM's runtime LoRA API.

`POST /v1/load_lora_adapter {"lora_name", "lora_path"}` loads a peft adapter folder that the *server* can
read; requests then name the adapter as their `model`. `POST /v1/unload_lora_adapter {"lora_name"}` drops
it. vLLM serves these only when started with `--enable-lora` and `VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`
in its environment; without the variable the routes do not exist (404), without the flag a load is
refused (400). The adapter folder is the bot's registry entry; the server reads it through a path of its
own (a shared mount, HELPDESK_LM_SERVER_ADAPTERS_DIR), docs/deploy.md.
"""

import logging
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import httpx

from core.errors import ModelUnavailable

log = logging.getLogger(__name__)

HOW = ("Start vLLM with --enable-lora (and --max-lora-rank at least the adapter's rank) and "
       "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True in its environment, or serve the base model only "
       "(HELPDESK_LOAD_PROMOTED_MODELS=false, HELPDESK_LM_ADAPTER unset).")


class LoraApiMissing(ModelUnavailable):
    """The inference server has no runtime LoRA API (not vLLM, or not started for it)."""


@dataclass(frozen=True)
class AdapterPaths:
    """An adapter folder as the inference server sees it: the registry folder is `local` here and `server`
    there; with `server` empty, the server reads the same path as this process (one host, or one mount)."""

    local: Path | None
    server: str = ""

    def on_server(self, adapter: Path) -> str:
        if not self.server or self.local is None:
            return str(adapter.resolve())
        try:
            relative = adapter.resolve().relative_to(self.local.resolve())
        except ValueError:
            raise ModelUnavailable(
                f"The LM adapter {adapter} is not in the registry folder {self.local}, which the inference server "
                f"reads as {self.server} (HELPDESK_LM_SERVER_ADAPTERS_DIR): put it there, or unset that setting if "
                "the server reads the same paths as the bot.") from None
        return str(PurePosixPath(self.server) / relative.as_posix())


class LoraServer:
    def __init__(self, client: httpx.Client, url: str):
        self.client, self.url = client, url

    def load(self, name: str, path: str) -> None:
        response = self._post("/load_lora_adapter", {"lora_name": name, "lora_path": path})
        if response.status_code == 200 or "already been loaded" in response.text:
            log.info("The LM server at %s loaded the LoRA adapter %s from %s", self.url, name, path)
            return
        message = _message(response)
        if response.status_code == 404 and "adapter" not in message.lower():
            raise LoraApiMissing(f"The LM server at {self.url} has no runtime LoRA API (POST /v1/load_lora_adapter "
                                 f"answered 404). {HOW}")
        if "lora" in message.lower() and "not enabled" in message.lower():
            raise LoraApiMissing(f"The LM server at {self.url} refused the LoRA adapter: {message}. {HOW}")
        raise ModelUnavailable(f"The LM server at {self.url} could not load the LoRA adapter {name} from {path} "
                               f"(HTTP {response.status_code}: {message}). The path must be one the server can "
                               "read: see HELPDESK_LM_SERVER_ADAPTERS_DIR in docs/deploy.md.")

    def unload(self, name: str) -> None:
        """Best effort: a server that lost the adapter (restarted) has nothing to unload."""
        try:
            response = self._post("/unload_lora_adapter", {"lora_name": name})
        except ModelUnavailable as error:
            log.warning("Could not unload the LoRA adapter %s: %s", name, error)
            return
        if response.status_code == 200:
            log.info("The LM server at %s unloaded the LoRA adapter %s", self.url, name)
        else:
            log.warning("The LM server at %s did not unload the LoRA adapter %s: HTTP %d %s", self.url, name,
                        response.status_code, _message(response))

    def _post(self, path: str, body: dict) -> httpx.Response:
        try:
            return self.client.post(path, json=body)
        except httpx.TransportError as error:
            raise ModelUnavailable(f"The LM server at {self.url} did not answer ({type(error).__name__}: {error}); "
                                   "check HELPDESK_LM_URL and that the server is running.") from error


def _message(response: httpx.Response) -> str:
    """vLLM's error text: {"message"} (older), {"error": {"message"}} (newer), FastAPI's {"detail"}, or plain."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        return str(inner.get("message") or inner.get("detail") or body)[:300]
    return str(body)[:300]
