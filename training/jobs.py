"""The learning-loop jobs the CLI runs: gather data, check it, train, evaluate, register.

Every check that can fail (files, columns, base model, registry ids) runs before any model is trained.
"""

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.errors import ModelUnavailable
from dialogue.lm.sources import resolve_lm_source
from retrieval.embedder import resolve_embedding_model
from retrieval.tuned_calibration import ModelCalibration, save_model_calibration
from training.conversations import iter_conversations
from training.datasets import (
    CsvSource, Dataset, DatasetOptions, QAPair, build_dataset, pairs_from_conversations, pairs_from_faqs,
    read_examples, read_qa_csv,
)
from training.embedder_calibration import calibrate_tuned
from training.errors import BaseModelNotFound, DatasetError, RegistryError
from training.eval_generation import Report, evaluate, pick, write_report
from training.lm import (
    LmTrainingArguments, TrainedAdapter, check_base_model, example_tokens, load_tokenizer, train_lm,
)
from training.registry import BASE, ModelCard, Registry, new_id
from training.serving import embedding_model_id
from training.train_embeddings import (
    EmbeddingTrainingArguments, check_groups, encoder, hold_out, nearest_neighbour_accuracy, train_embedder,
    groups_fingerprint,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sources:
    faqs: bool = True
    conversations: bool = True
    csv_files: tuple[CsvSource, ...] = ()


def all_faqs(knowledge) -> list:
    faqs, _ = knowledge.page(0, 10**9)
    return faqs


def collect_pairs(services, sources: Sources) -> list[QAPair]:
    """CSV files first: their errors are the likeliest and cheapest to report."""
    pairs = []
    for csv_source in sources.csv_files:
        pairs += read_qa_csv(csv_source.path, csv_source.question_column, csv_source.answer_column,
                             csv_source.group_column, csv_source.placeholders)
    faqs = all_faqs(services.knowledge) if sources.faqs or sources.conversations else []
    if sources.faqs:
        pairs += pairs_from_faqs(faqs)
    if sources.conversations:
        pairs += pairs_from_conversations(iter_conversations(services.sessions, only_rated=True),
                                          {faq.id: faq for faq in faqs})
    if not pairs:
        raise DatasetError("No training data: the knowledge base is empty, no conversation was rated or "
                           "answered by an agent, and no --csv file was given.")
    return pairs


def lm_base(settings) -> tuple[Path, str]:
    """(folder, model id) of the LM to fine-tune; fails clearly when it is not there."""
    try:
        source, model_id = resolve_lm_source(settings.lm_model, settings.resolved_models_dir)
    except ModelUnavailable as error:
        raise BaseModelNotFound(str(error)) from error
    check_base_model(Path(source))
    return Path(source), model_id


def prepare_lm_dataset(services, sources: Sources, options: DatasetOptions) -> tuple[Dataset, Path, str]:
    base_path, base_id = lm_base(services.settings)
    pairs = collect_pairs(services, sources)
    dataset = build_dataset(pairs, options, services.embedder.embed, example_tokens(load_tokenizer(base_path)))
    return dataset, base_path, base_id


def run_train_lm(services, sources: Sources, options: DatasetOptions, args: LmTrainingArguments,
                 resume: bool = True, callbacks: list | None = None) -> TrainedAdapter:
    dataset, base_path, base_id = prepare_lm_dataset(services, sources, options)
    log.info("Dataset %s: %s", dataset.fingerprint[:12], dataset.summary())
    registry = Registry(services.settings.resolved_registry_dir)
    return train_lm(dataset, base_path, base_id, args, registry, services.settings.runs_dir, resume=resume,
                    callbacks=callbacks)


# -- evaluation gate -----------------------------------------------------------------------------------------

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


# -- embedder ------------------------------------------------------------------------------------------------

def embedding_base(settings) -> tuple[str, str]:
    """(what SentenceTransformer loads, model id) of the configured embedding model; fails when missing."""
    try:
        source = resolve_embedding_model(settings.embedding_model)
    except ModelUnavailable as error:
        raise BaseModelNotFound(str(error)) from error
    path = Path(source).expanduser()
    looks_like_path = source.startswith(("/", ".", "~")) or source.count("/") > 1
    if looks_like_path and not (path / "config.json").is_file() and not (path / "modules.json").is_file():
        raise BaseModelNotFound(f"The embedding model folder {path} does not exist or holds no model. "
                                "Set HELPDESK_EMBEDDING_MODEL to a model folder (or leave it 'default').")
    return source, embedding_model_id(settings.embedding_model)


def run_train_embeddings(services, args: EmbeddingTrainingArguments, show_progress: bool = True) -> ModelCard:
    """Fine-tune on the knowledge base's questions; scored on one held-out alternative question per FAQ."""
    settings = services.settings
    base_path, base_id = embedding_base(settings)
    groups = check_groups({f"faq:{faq.id}": faq.searchable_texts for faq in all_faqs(services.knowledge)})
    train_groups, held_out = hold_out(groups, args.seed)
    registry = Registry(settings.resolved_registry_dir)
    current = registry.promoted("embeddings")
    fingerprint = groups_fingerprint(groups, args)
    model, stats = train_embedder(base_path, train_groups, args, show_progress=show_progress)
    calibration = calibrate_tuned(base_path, groups, args, show_progress=show_progress)

    def top1(embed) -> dict:
        return {"top1": round(nearest_neighbour_accuracy(embed, *held_out.as_index(), *held_out.as_queries()), 4)}

    from sentence_transformers import SentenceTransformer

    card_id = new_id("embeddings", fingerprint)
    models = {BASE: top1(encoder(SentenceTransformer(base_path, device=stats.device)))}
    if current is not None:
        models[current.id] = top1(encoder(SentenceTransformer(str(registry.path(current.id)), device=stats.device)))
    models[card_id] = top1(encoder(model))
    card = ModelCard(
        id=card_id, kind="embeddings", base_model=base_id, created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        arguments=asdict(args),
        data={"fingerprint": fingerprint, "groups": len(groups), "texts": sum(map(len, groups.values())),
              "held_out_queries": len(held_out.queries), "calibration": _calibration_summary(calibration)},
        training=asdict(stats),
        scores={"test_fingerprint": fingerprint, "examples": len(held_out.queries), "models": models},
    )
    with registry.staging() as staged:
        model.save(str(staged))
        save_model_calibration(staged, calibration)
        registry.commit(staged, card)
    return card


def _calibration_summary(calibration: ModelCalibration) -> dict:
    """The thresholds the model will serve with (its folder holds the whole calibration)."""
    if calibration.calibrated is None:
        return {"note": calibration.note}
    c = calibration.calibrated
    return {"faq_threshold": c.faq_threshold, "generate_threshold": c.generate_threshold, "method": c.method,
            "held_out": c.held_out, "held_out_top1": c.held_out_top1, "uncovered_rejected": c.uncovered_rejected}


def trained_embedder_lines(card: ModelCard) -> list[str]:
    """What a new embedder card says: its held-out top-1 beside the others', and the thresholds it serves with."""
    lines = [f"Saved {card.id}; held-out top-1: " + ", ".join(
        f"{name} {scores['top1']:.3f}" for name, scores in card.scores["models"].items())]
    calibration = card.data["calibration"]
    if "faq_threshold" in calibration:
        lines.append(f"Thresholds it serves with: faq {calibration['faq_threshold']:.2f} / generate "
                     f"{calibration['generate_threshold']:.2f}, from {calibration['held_out']} questions its "
                     f"held-out copies never saw (held-out top-1 {calibration['held_out_top1']:.3f})")
    else:
        lines.append(f"Thresholds: {calibration['note']}")
    return lines


def describe(cards: Sequence[ModelCard], promoted: dict[str, str | None]) -> list[str]:
    lines = []
    for card in cards:
        mark = "*" if promoted.get(card.kind) == card.id else " "
        scores = card.candidate_scores() or {}
        shown = ", ".join(f"{k} {v:.3f}" for k, v in scores.items() if k in ("rouge_l", "groundedness",
                                                                              "refusal_accuracy", "top1"))
        lines.append(f"{mark} {card.id}  base {card.base_model}  data {card.data.get('fingerprint', '')[:8]}  "
                     f"{shown or 'not evaluated'}")
    return lines
