"""LoRA fine-tuning end to end on a tiny run: registry card, interruption and resume, the evaluation gate,
promotion, serving the promoted adapter and swapping adapters live through the admin API."""

import json

import pytest
import torch
from click.testing import CliRunner
from fastapi.testclient import TestClient
from safetensors.torch import load_file
from transformers import TrainerCallback

from bot.app import create_app
from bot.cli import main
from bot.cli.serve import SAMPLE_FAQS
from bot.services import StartupError, build_services
from bot.settings import get_settings
from retrieval.faq_files import read_faq_file
from tests.conftest import make_settings
from training.datasets import DatasetOptions
from training.errors import PromotionRefused
from training.lm_eval_job import run_eval_generation
from training.lm_job import Sources, run_train_lm
from training.lm import LmTrainingArguments, LoraArguments
from training.registry import Registry

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# A handful of steps on short prompts: what is tested is the machinery, not the quality.
TINY = LmTrainingArguments(max_steps=2, batch_size=1, eval_steps=1, seed=5,
                           lora=LoraArguments(r=4, alpha=8, dropout=0.0, target_modules=("q_proj", "v_proj")))
OPTIONS = DatasetOptions(company="Nimbus Home", max_tokens=360, seed=5)
FAQS_ONLY = Sources(faqs=True, conversations=False)


@pytest.fixture(scope="module")
def lm_services(tmp_path_factory, models_dir, embedder, generator):
    data_dir = tmp_path_factory.mktemp("learning")
    settings = make_settings(data_dir, f"sqlite:///{data_dir / 'helpdesk.db'}", models_dir)
    services = build_services(settings, embedder=embedder, generator=generator)
    services.start()
    services.knowledge.upsert_many(read_faq_file(SAMPLE_FAQS).drafts[:8])
    yield services
    generator.use_adapter(None)  # the generator is shared with the rest of the suite
    services.engine.dispose()


@pytest.fixture(scope="module")
def trained(lm_services):
    return run_train_lm(lm_services, FAQS_ONLY, OPTIONS, TINY)


@pytest.fixture()
def registry(lm_services) -> Registry:
    return Registry(lm_services.settings.resolved_registry_dir)


@pytest.fixture()
def cli_env(lm_services, monkeypatch):
    settings = lm_services.settings
    for name, value in {"DATA_DIR": settings.data_dir, "DATABASE_URL": settings.database_url,
                        "MODELS_DIR": settings.models_dir, "DEVICE": "cpu"}.items():
        monkeypatch.setenv(f"HELPDESK_{name}", str(value))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_adapter_lands_in_the_registry_with_its_card(trained, registry, lm_services):
    card = trained.card
    assert registry.get(card.id).data == card.data
    assert card.base_model == "SmolLM2-135M-Instruct"
    assert card.arguments["lora"]["r"] == 4 and card.arguments["dataset"]["max_tokens"] == 360
    assert len(card.data["fingerprint"]) == 64 and card.data["examples"]["test"] > 0
    assert card.training["steps"] == 2 and card.training["device"] == "cpu"
    assert card.training["examples"]["validation"] > 0
    assert card.training["tokens_per_second"] > 0 and card.training["validation_loss"] > 0
    assert {"adapter_config.json", "adapter_model.safetensors", "card.json", "test.jsonl"} <= {
        p.name for p in trained.path.iterdir()}
    assert json.loads((trained.path / "adapter_config.json").read_text())["r"] == 4
    assert not list(lm_services.settings.runs_dir.glob("lm-*"))  # checkpoints are gone once registered


class Crash(Exception):
    pass


class CrashAfterFirstCheckpoint(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        if state.global_step == 1:
            raise Crash()


def test_interrupted_run_leaves_the_registry_unchanged_and_resumes_to_the_same_adapter(trained, registry,
                                                                                       lm_services):
    before = [card.id for card in registry.entries()]
    with pytest.raises(Crash):
        run_train_lm(lm_services, FAQS_ONLY, OPTIONS, TINY, callbacks=[CrashAfterFirstCheckpoint()])
    assert [card.id for card in registry.entries()] == before
    assert not list((registry.root / ".staging").iterdir())

    resumed = run_train_lm(lm_services, FAQS_ONLY, OPTIONS, TINY)
    assert resumed.card.training["resumed_from"] == "checkpoint-1"
    assert resumed.card.data["fingerprint"] == trained.card.data["fingerprint"]
    # Same seed, data and arguments: the resumed run ends on the weights of the uninterrupted one.
    first = load_file(trained.path / "adapter_model.safetensors")
    second = load_file(resumed.path / "adapter_model.safetensors")
    assert first.keys() == second.keys()
    assert all(torch.allclose(first[k], second[k], atol=1e-5) for k in first)
    # peft starts every lora_B at zero (lora_A is random), so an adapter that two steps did not move would
    # still have all-zero B matrices: each one must have left its initial value.
    trained_b = {k: v for k, v in first.items() if "lora_B" in k}
    assert trained_b and all(v.abs().max() > 0 for v in trained_b.values())


def test_eval_reports_base_and_adapter_side_by_side(trained, registry, lm_services, tmp_path):
    report, json_path, md_path = run_eval_generation(lm_services.settings, lm_services.generator, trained.card.id,
                                                     limit=2, max_new_tokens=8, out_dir=tmp_path)
    assert list(report.scores) == ["base", trained.card.id]
    assert report.examples == 2
    for scores in report.scores.values():
        assert 0.0 <= scores.rouge_l <= 1.0 and 0.0 <= scores.refusal_accuracy <= 1.0
        assert scores.latency_mean_s > 0
    saved = json.loads(json_path.read_text())
    assert set(saved["models"]) == {"base", trained.card.id} and len(saved["outputs"]["base"]) == 2
    assert f"| metric | base | {trained.card.id} |" in md_path.read_text()
    card = registry.get(trained.card.id)
    assert card.scores["models"][trained.card.id] == saved["models"][trained.card.id]
    assert lm_services.generator.model_id.endswith(trained.card.id)  # eval left the candidate loaded
    lm_services.generator.use_adapter(None)


def gate_scores(card_id: str, candidate: dict, base: dict) -> dict:
    return {"test_fingerprint": "x", "models": {"base": base, card_id: candidate}}


GOOD = {"rouge_l": 0.40, "groundedness": 0.9, "refusal_accuracy": 0.8}


def test_promote_refuses_a_worse_adapter_unless_forced(trained, registry, cli_env):
    card_id = trained.card.id
    registry.save_scores(card_id, gate_scores(card_id, GOOD | {"groundedness": 0.5}, GOOD))
    with pytest.raises(PromotionRefused, match="groundedness 0.500 < 0.900"):
        registry.promote(card_id)
    result = CliRunner().invoke(main, ["model", "promote", card_id])
    assert result.exit_code == 1 and "worse than base on groundedness" in result.output
    assert registry.promoted_id("lm") is None

    result = CliRunner().invoke(main, ["model", "promote", card_id, "--force"])
    assert result.exit_code == 0, result.output
    assert registry.promoted_id("lm") == card_id
    listing = CliRunner().invoke(main, ["model", "list"]).output
    assert f"* {card_id}" in listing and "groundedness 0.500" in listing

    registry.save_scores(card_id, gate_scores(card_id, GOOD, GOOD))
    assert registry.promote(card_id).compared_with == card_id  # now compared with itself: not worse


def test_serve_loads_the_promoted_adapter_built_on_the_same_base(trained, registry, lm_services):
    registry.save_scores(trained.card.id, gate_scores(trained.card.id, GOOD, GOOD))
    registry.promote(trained.card.id)
    served = build_services(lm_services.settings, embedder=lm_services.embedder)
    assert served.generator.adapter == trained.path
    explicit = build_services(lm_services.settings.model_copy(update={"load_promoted_models": False}),
                              embedder=lm_services.embedder)
    assert explicit.generator.adapter is None
    with pytest.raises(StartupError, match="trained on SmolLM2-135M-Instruct, but HELPDESK_LM_MODEL is other-lm"):
        build_services(lm_services.settings.model_copy(update={"lm_model": "other-lm"}),
                       embedder=lm_services.embedder)


def test_admin_swaps_the_served_adapter_without_restart(trained, lm_services, admin_headers):
    generator = lm_services.generator
    messages = [{"role": "user", "content": "Hello"}]
    with TestClient(create_app(lm_services.settings, lm_services)) as client:
        listed = client.get("/admin/models", headers=admin_headers).json()
        assert trained.card.id in [m["id"] for m in listed["models"]]
        base_reply = generator.generate(messages, max_new_tokens=6, temperature=0.0)

        swapped = client.post("/admin/models/lm", json={"adapter": trained.card.id}, headers=admin_headers)
        assert swapped.status_code == 200, swapped.text
        assert swapped.json()["serving_lm"] == f"SmolLM2-135M-Instruct+{trained.card.id}"
        assert generator.generate(messages, max_new_tokens=6, temperature=0.0).model_id.endswith(trained.card.id)
        assert client.get("/admin/models", headers=admin_headers).json()["serving_lm"].endswith(trained.card.id)

        missing = client.post("/admin/models/lm", json={"adapter": "lm-nope"}, headers=admin_headers)
        assert missing.status_code == 404 and "helpdesk model list" in missing.json()["detail"]
        assert generator.model_id.endswith(trained.card.id)  # a failed swap keeps the adapter serving

        back = client.post("/admin/models/lm", json={"adapter": None}, headers=admin_headers)
        assert back.json()["serving_lm"] == "SmolLM2-135M-Instruct"
        again = generator.generate(messages, max_new_tokens=6, temperature=0.0)
        assert (again.text, again.model_id) == (base_reply.text, base_reply.model_id)
        assert client.post("/admin/models/lm", json={"adapter": None}).status_code == 401


def test_bad_base_model_or_csv_fails_before_training(lm_services, registry, cli_env, monkeypatch, tmp_path):
    before = [card.id for card in registry.entries()]
    monkeypatch.setenv("HELPDESK_LM_MODEL", str(tmp_path / "no-such-model"))
    monkeypatch.setenv("HELPDESK_LOAD_PROMOTED_MODELS", "false")
    get_settings.cache_clear()
    result = CliRunner().invoke(main, ["train", "lm", "--no-conversations"])
    assert result.exit_code == 1
    assert "no-such-model, which does not exist" in result.output

    monkeypatch.delenv("HELPDESK_LM_MODEL")
    get_settings.cache_clear()
    bad = tmp_path / "qa.csv"
    bad.write_text("prompt,reply\nhi,hello\n")
    result = CliRunner().invoke(main, ["train", "lm", "--csv", str(bad)])
    assert result.exit_code == 1 and "missing column(s) question, answer" in result.output
    assert [card.id for card in registry.entries()] == before
    assert not list(lm_services.settings.runs_dir.glob("lm-*"))
