"""On a machine with CUDA: `helpdesk train lm` trains in bf16 on the GPU and the card says how fast, the adapter
then serves from the batched transformers backend, and HELPDESK_LM_BACKEND=auto picks that backend.

Marked `gpu`: the default run (`-m 'not gpu'`, pyproject.toml) leaves it out; run it with `pytest -m gpu`.
"""

import math

import pytest
import torch
from click.testing import CliRunner

from bot.cli import main
from bot.cli.serve import SAMPLE_FAQS
from bot.services import build_services
from bot.settings import get_settings
from dialogue.lm.backends import LMConfig, choose_backend
from retrieval.faq_files import read_faq_file
from tests.conftest import make_settings
from tests.integration.test_llamacpp_backend import ask
from training.registry import Registry

pytestmark = [pytest.mark.integration, pytest.mark.gpu, pytest.mark.slow,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="PyTorch sees no CUDA GPU")]


@pytest.fixture(scope="module")
def cuda_services(tmp_path_factory, models_dir, embedder):
    data_dir = tmp_path_factory.mktemp("gpu")
    settings = make_settings(data_dir, f"sqlite:///{data_dir / 'helpdesk.db'}", models_dir, device="cuda")
    services = build_services(settings, embedder=embedder)
    services.start()
    services.knowledge.upsert_many(read_faq_file(SAMPLE_FAQS).drafts)
    yield services
    services.generator.close()
    services.engine.dispose()


def test_helpdesk_train_lm_runs_in_bf16_on_the_gpu_and_the_card_records_its_speed(cuda_services, monkeypatch):
    settings = cuda_services.settings
    for name, value in {"DATA_DIR": settings.data_dir, "DATABASE_URL": settings.database_url,
                        "MODELS_DIR": settings.models_dir, "DEVICE": "cuda"}.items():
        monkeypatch.setenv(f"HELPDESK_{name}", str(value))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["train", "lm", "--no-conversations", "--max-steps", "40",
                                           "--batch-size", "8", "--eval-steps", "20", "--fresh"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "on cuda" in result.output
    card = Registry(settings.resolved_registry_dir).entries("lm")[-1]
    figures = card.training
    assert (figures["device"], figures["dtype"]) == ("cuda", "bfloat16")
    assert figures["gpu"] == torch.cuda.get_device_name()
    assert figures["tokens_per_second"] > 0 and figures["minutes_per_epoch"] > 0
    assert math.isfinite(figures["train_loss"]) and math.isfinite(figures["validation_loss"])

    generator = cuda_services.generator  # transformers on CUDA, bf16, batched
    assert generator.device == "cuda"
    served = generator.use_adapter(Registry(settings.resolved_registry_dir).path(card.id))
    try:
        run = generator.generate(ask("How long do I have to return a device?"), max_new_tokens=40, temperature=0)
        assert run.text and run.model_id == served == f"{generator.base_model_id}+{card.id}"
    finally:
        generator.use_adapter(None)


def test_auto_serves_replies_batched_on_the_gpu(models_dir):
    choice = choose_backend(LMConfig("auto", "default", models_dir))
    assert (choice.backend, choice.device) == ("transformers", "cuda")
    assert "GPU" in choice.reason
