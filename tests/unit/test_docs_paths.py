"""The files the documentation names exist: a module that moved is not left behind in the docs."""

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
NAMED_FILE = re.compile(r"\b((?:bot|dialogue|retrieval|training|core|bench|tests|scripts)/[\w/]+"
                        r"\.(?:py|md|yaml|json|sh))")


def test_every_file_the_docs_name_exists():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    missing = sorted({f"{page.name}: {path}" for page in pages
                      for path in NAMED_FILE.findall(page.read_text(encoding="utf-8"))
                      if not (ROOT / path).exists()})
    assert missing == []
