"""`helpdesk train lm|embeddings`: fine-tune the reply model (LoRA) or the embedder (docs/learning.md).

The runs themselves are training/lm_job.py and embedder_job.py; this module turns options into their
arguments and results into a few lines for the operator.
"""

from pathlib import Path

import click
import yaml

from bot.cli.startup import started_services
from core.errors import ModelUnavailable
from training.errors import TrainingError


@click.group()
def train() -> None:
    """Fine-tune the reply model (LoRA) or the embedder on your own data."""


@train.command("lm")
@click.option("--csv", "csv_files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Extra question/answer CSV file (repeatable).")
@click.option("--question-column", default="question", show_default=True)
@click.option("--answer-column", default="answer", show_default=True)
@click.option("--group-column", default=None, help="CSV column that groups rows (e.g. intent) for the split.")
@click.option("--placeholders", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML mapping of {{Placeholder}} names to your values (see docs/learning.md).")
@click.option("--faqs/--no-faqs", default=True, show_default=True, help="Use the knowledge base's FAQs.")
@click.option("--conversations/--no-conversations", default=True, show_default=True,
              help="Use agent replies and thumbs-up bot replies from stored conversations.")
@click.option("--epochs", default=3.0, show_default=True)
@click.option("--max-steps", default=-1, show_default=True, help="Stop after this many steps (overrides epochs).")
@click.option("--batch-size", default=4, show_default=True)
@click.option("--learning-rate", default=2e-4, show_default=True)
@click.option("--lora-r", default=16, show_default=True)
@click.option("--max-tokens", default=512, show_default=True, help="Longest prompt + reply kept.")
@click.option("--eval-steps", default=25, show_default=True, help="Validation loss and checkpoint interval.")
@click.option("--seed", default=42, show_default=True)
@click.option("--resume/--fresh", default=True, show_default=True,
              help="Continue an interrupted run with the same data and arguments from its last checkpoint.")
def train_lm(csv_files, question_column, answer_column, group_column, placeholders, faqs, conversations, epochs,
             max_steps, batch_size, learning_rate, lora_r, max_tokens, eval_steps, seed, resume) -> None:
    """LoRA fine-tuning of the configured LM; the adapter lands in the registry (not yet served)."""
    from training.datasets import DatasetOptions
    from training.qa_csv import CsvSource
    from training.lm_job import Sources, run_train_lm
    from training.lm import LmTrainingArguments, LoraArguments

    services = started_services(with_lm=False)
    settings = services.settings
    values = yaml.safe_load(placeholders.read_text()) if placeholders else {}
    values = {"Company Name": settings.company_name} | {str(k): str(v) for k, v in (values or {}).items()}
    sources = Sources(faqs, conversations, tuple(
        CsvSource(path, question_column, answer_column, group_column, values) for path in csv_files))
    options = DatasetOptions(company=settings.company_name, snippets_in_prompt=settings.snippets_in_prompt,
                             max_tokens=max_tokens, seed=seed)
    try:
        args = LmTrainingArguments(epochs=epochs, max_steps=max_steps, batch_size=batch_size,
                                   learning_rate=learning_rate, eval_steps=eval_steps, seed=seed,
                                   device=settings.device, lora=LoraArguments(r=lora_r, alpha=2 * lora_r))
        trained = run_train_lm(services, sources, options, args, resume=resume)
    except (TrainingError, ModelUnavailable, ValueError) as error:
        raise click.ClickException(str(error)) from None
    figures = trained.card.training
    click.echo(f"Saved {trained.card.id} in {trained.path}")
    click.echo(f"{figures['steps']} steps, {figures['seconds']:.0f} s on {figures['device']}, "
               f"{figures['tokens_per_second']} tokens/s, validation loss {figures['validation_loss']}")
    click.echo(f"Next: helpdesk eval generation {trained.card.id}")


@train.command("embeddings")
@click.option("--loss", type=click.Choice(["proxy", "mnrl"]), default="proxy", show_default=True,
              help="proxy: one learned point per FAQ, with a margin; mnrl: in-batch negatives on question pairs.")
@click.option("--epochs", default=5.0, show_default=True)
@click.option("--max-steps", default=None, type=int, help="Stop after this many steps.")
@click.option("--batch-size", default=128, show_default=True, help="Texts (proxy) or pairs (mnrl) per batch.")
@click.option("--texts-per-group", default=4, show_default=True, help="proxy: at most this many of one FAQ per batch.")
@click.option("--learning-rate", default=2e-4, show_default=True)
@click.option("--margin", default=0.1, show_default=True, help="proxy: cosine margin on the right FAQ.")
@click.option("--seed", default=42, show_default=True)
def train_embeddings(loss, epochs, max_steps, batch_size, texts_per_group, learning_rate, margin, seed) -> None:
    """Contrastive fine-tuning of the embedder on your FAQs' questions and alternative questions."""
    from training.embedder_job import run_train_embeddings, trained_embedder_lines
    from training.train_embeddings import EmbeddingTrainingArguments

    services = started_services(with_lm=False)
    try:
        args = EmbeddingTrainingArguments(loss=loss, epochs=epochs, max_steps=max_steps, batch_size=batch_size,
                                          texts_per_group=texts_per_group, learning_rate=learning_rate,
                                          margin=margin, seed=seed, device=services.settings.device)
        card = run_train_embeddings(services, args)
    except (TrainingError, ModelUnavailable, ValueError) as error:
        raise click.ClickException(str(error)) from None
    for line in trained_embedder_lines(card):
        click.echo(line)
    click.echo(f"Next: helpdesk model promote {card.id}  (then restart: the index is re-embedded)")
