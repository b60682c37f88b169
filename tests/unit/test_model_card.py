"""Whether an embedder compares across languages, read from its model card (retrieval/model_card.py)."""

import pytest

from retrieval.embedder import embedded_minilm_path
from retrieval.model_card import card_languages, compares_across_languages

pytestmark = pytest.mark.unit


def card(folder, front_matter: str):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text(f"---\n{front_matter}\n---\n# A model\n", encoding="utf-8")
    return str(folder)


def test_the_embedded_minilm_is_english_only():
    assert card_languages(str(embedded_minilm_path())) == ["en"]
    assert not compares_across_languages(str(embedded_minilm_path()))


@pytest.mark.parametrize("front_matter", ["language:\n- multilingual\n- af\n- de", "language: [de, en, zh]",
                                          "language: multilingual"])
def test_a_card_that_lists_several_languages_or_multilingual(tmp_path, front_matter):
    assert compares_across_languages(card(tmp_path / "model", front_matter))


def test_a_card_that_names_one_language_wins_over_a_multilingual_name(tmp_path):
    assert not compares_across_languages(card(tmp_path / "multilingual-tuned", "language: en"))


def test_without_a_card_the_name_decides(tmp_path):
    (tmp_path / "paraphrase-multilingual-MiniLM-L12-v2").mkdir()
    (tmp_path / "my-model").mkdir()
    assert compares_across_languages(str(tmp_path / "paraphrase-multilingual-MiniLM-L12-v2"))
    assert not compares_across_languages(str(tmp_path / "my-model"))


def test_a_broken_card_is_no_card(tmp_path):
    assert card_languages(card(tmp_path / "model", "language: [unclosed")) == []
    assert card_languages("not/a-model-anywhere") == []
