"""Every setting is documented: in docs/configuration.md, or with its feature in a page that one points to."""

from pathlib import Path

import pytest

from bot.settings import Settings

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[2] / "docs"
# The feature pages docs/configuration.md sends readers to for their own settings.
FEATURE_PAGES = ("channels.md", "widget.md", "deploy.md", "webhooks.md")


def test_every_setting_is_named_in_the_settings_documentation():
    text = "\n".join((DOCS / page).read_text(encoding="utf-8") for page in ("configuration.md", *FEATURE_PAGES))
    undocumented = [f"HELPDESK_{name.upper()}" for name in Settings.model_fields
                    if f"HELPDESK_{name.upper()}" not in text]
    assert undocumented == [], "add them to docs/configuration.md's table"
