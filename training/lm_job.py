"""The reply model's training job (`helpdesk train lm`): gather pairs, check them, build the dataset, train,
register.

Every check that can fail (files, columns, base model) runs before any model is trained.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

from core.errors import ModelUnavailable
from dialogue.lm.sources import resolve_lm_source
from training.conversations import iter_conversations
from training.datasets import Dataset, DatasetOptions, build_dataset
from training.errors import BaseModelNotFound, DatasetError
from training.lm import LmTrainingArguments, TrainedAdapter, check_base_model, example_tokens, load_tokenizer, train_lm
from training.qa_csv import CsvSource, read_qa_csv
from training.qa_pairs import QAPair, pairs_from_conversations, pairs_from_faqs
from training.registry import Registry

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
