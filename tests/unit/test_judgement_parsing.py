"""What the bot accepts from a capable LM's judgement (dialogue/judgement.py): the answer form, the rewrite."""

import pytest

from dialogue.judgement import is_capable, standalone_question
from dialogue.verdicts import CannotAnswer, parse_verdict

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("raw, answer, cited", [
    ('{"answer": "Plus costs £14 a month.", "sources": [2]}', "Plus costs £14 a month.", [2]),
    ('```json\n{"answer": "It costs £14 [1].", "sources": [1, 1, 3]}\n```', "It costs £14.", [1, 3]),
    ('{"answer": null, "sources": []}', None, []),
    ('{"answer": "I don\'t know.", "sources": []}', None, []),
])
def test_the_answer_form_is_read(raw, answer, cited):
    verdict = parse_verdict(raw, snippet_count=3)
    assert (verdict.answer, verdict.cited, verdict.raw) == (answer, cited, raw)


@pytest.mark.parametrize("raw, reason", [
    ("Plus costs £14 a month.", "outside the JSON form"),
    ('{"answer": "Plus costs £14", "sources": [1]', "outside the JSON form"),
    ('{"answer": "Plus costs £14", sources: [1]}', "does not parse"),
    ('{"reply": "Plus costs £14"}', 'no "answer"'),
    ('{"answer": ["Plus"], "sources": [1]}', "not text"),
    ('{"answer": "Plus costs £14", "sources": ["1"]}', "not snippet numbers"),
    ('{"answer": "Plus costs £14", "sources": [true]}', "not snippet numbers"),
    ('{"answer": "Plus costs £14", "sources": [4]}', "a snippet it was not given"),
    ('{"answer": "Plus costs £14", "sources": [0]}', "a snippet it was not given"),
    ('{"answer": "Plus costs £14", "sources": []}', "without naming its snippets"),
])
def test_anything_else_is_cannot_answer_with_the_raw_output(raw, reason):
    with pytest.raises(CannotAnswer) as caught:
        parse_verdict(raw, snippet_count=3)
    assert reason in caught.value.args[0] and caught.value.args[1] == raw


@pytest.mark.parametrize("raw, question", [
    ("Is there a student discount on the Plus plan?", "Is there a student discount on the Plus plan?"),
    ('Question: "How do I return a device?"\nThat is the rewrite.', "How do I return a device?"),
    ("", None),
    ("I'm sorry, I can't help with that.", None),
    ("x" * 400, None),
])
def test_the_rewrite_is_one_tidy_question(raw, question):
    assert standalone_question(raw) == question


class _Model:
    def __init__(self, model_id: str, base: str | None = None):
        self.model_id, self.base_model_id = model_id, base


def test_only_a_model_beyond_the_embedded_135m_is_capable():
    assert not is_capable(_Model("SmolLM2-135M-Instruct"))
    assert not is_capable(_Model("SmolLM2-135M-Instruct+lora-3", "SmolLM2-135M-Instruct"))
    assert not is_capable(_Model("default"))
    assert is_capable(_Model("Qwen2.5-Coder-1.5B-Instruct-Q4_K_M"))
    assert is_capable(_Model("qwen2.5-coder-1.5b"))
