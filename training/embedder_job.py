"""The embedder's training job (`helpdesk train embeddings`): fine-tune on the knowledge base's questions,
score on held-out ones, calibrate its thresholds, register.

Every check that can fail (base model, groups to learn from) runs before the model is trained.
"""

from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from core.errors import ModelUnavailable
from retrieval.embedder import resolve_embedding_model
from retrieval.tuned_calibration import ModelCalibration, save_model_calibration
from training.embedder_calibration import calibrate_tuned
from training.errors import BaseModelNotFound
from training.registry import BASE, ModelCard, Registry, new_id
from training.serving import embedding_model_id
from training.train_embeddings import (
    EmbeddingTrainingArguments,
    check_groups,
    encoder,
    groups_fingerprint,
    hold_out,
    nearest_neighbour_accuracy,
    train_embedder,
)


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
    faqs, _ = services.knowledge.page(0, 10**9)
    groups = check_groups({f"faq:{faq.id}": faq.searchable_texts for faq in faqs})
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
