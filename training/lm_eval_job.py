"""The evaluation gate's job (`helpdesk eval generation`): the base model, the promoted adapter and the
candidate on the candidate's test split; the scores go onto its card."""

from datetime import UTC, datetime
from pathlib import Path

from training.datasets import read_examples
from training.errors import RegistryError
from training.eval_generation import Report, evaluate, pick, write_report
from training.registry import BASE, ModelCard, Registry


def run_eval_generation(settings, generator, entry_id: str | None, limit: int | None, max_new_tokens: int,
                        out_dir: Path) -> tuple[Report, Path, Path]:
    """Base model, the promoted adapter (if any, and not the candidate) and the candidate on its test split."""
    registry = Registry(settings.resolved_registry_dir)
    card = _lm_entry(registry, entry_id)
    examples = pick(read_examples(registry.path(card.id) / "test.jsonl"), limit)
    generator.warm_up()
    if card.base_model != generator.base_model_id:
        raise RegistryError(f"{card.id} was trained on {card.base_model}, but the configured LM is "
                            f"{generator.base_model_id}; set HELPDESK_LM_MODEL to it.")
    models = {BASE: _serving(generator, None)}
    current = registry.promoted_id("lm")
    if current and current != card.id:
        models[current] = _serving(generator, registry.path(current))
    models[card.id] = _serving(generator, registry.path(card.id))
    report = evaluate(models, examples, max_new_tokens)
    registry.save_scores(card.id, report.as_card_scores())
    stem = f"eval-{card.id}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    json_path, md_path = write_report(report, out_dir, stem, f"Generation evaluation of {card.id}")
    return report, json_path, md_path


def _lm_entry(registry: Registry, entry_id: str | None) -> ModelCard:
    if entry_id:
        card = registry.get(entry_id)
        if card.kind != "lm":
            raise RegistryError(f"{entry_id} is an {card.kind} model; `eval generation` evaluates LM adapters.")
        return card
    entries = registry.entries("lm")
    if not entries:
        raise RegistryError("The registry has no LM adapter yet: run `helpdesk train lm` first.")
    return entries[-1]


def _serving(generator, adapter: Path | None):
    def activate():
        generator.use_adapter(adapter)
        return generator.generate
    return activate
