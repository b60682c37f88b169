"""The judge's answer in its fixed JSON form: the schema the LM is held to, and its output read and checked."""

import json
import re
from dataclasses import dataclass

from dialogue.grounding import is_refusal
from dialogue.source_talk import without_source_talk

# The answer's JSON form. llama.cpp writes only JSON of it (a grammar), an OpenAI-compatible server is asked
# through `response_format`: Qwen2.5-Coder-1.5B otherwise answered in plain prose 8 times in 34 minutes on the
# sample shop, each then "cannot answer" (the fallback; docs/generation.md).
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                   "sources": {"type": "array", "items": {"type": "integer"}}},
    "required": ["answer", "sources"], "additionalProperties": False,
}


class CannotAnswer(Exception):
    """The LM's output is unusable: outside the form, a snippet it was not given, an error, a timeout."""


@dataclass(frozen=True)
class Verdict:
    answer: str | None  # None: the LM says the snippets do not answer the question
    cited: list[int]  # 1-based numbers of the snippets it used
    raw: str


def parse_verdict(raw: str, snippet_count: int) -> Verdict:
    """The LM's JSON answer, checked: the form, the snippet numbers. Raises CannotAnswer(reason, raw)."""
    data = json_object(raw)
    if "answer" not in data:
        raise CannotAnswer("the LM's JSON has no \"answer\"", raw)
    answer, sources = data.get("answer"), data.get("sources", [])
    if answer is not None and not isinstance(answer, str):
        raise CannotAnswer("the LM's \"answer\" is not text", raw)
    if not isinstance(sources, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in sources):
        raise CannotAnswer("the LM's \"sources\" are not snippet numbers", raw)
    if any(not 1 <= number <= snippet_count for number in sources):
        raise CannotAnswer(f"the LM cites a snippet it was not given ({sources}; it had 1-{snippet_count})", raw)
    answer = without_source_talk(without_citations(answer)) if answer else None
    if not answer or (not sources and is_refusal(answer)):
        return Verdict(None, [], raw)
    if not sources:
        raise CannotAnswer("the LM answers without naming its snippets", raw)
    return Verdict(answer, list(dict.fromkeys(sources)), raw)


def json_object(raw: str) -> dict:
    """The JSON object in the LM's output (a code fence or a word around it is tolerated); else CannotAnswer."""
    start, end = raw.find("{"), raw.rfind("}")
    if start < 0 or end < start:
        raise CannotAnswer("the LM answered outside the JSON form", raw)
    try:
        data = json.loads(raw[start:end + 1])
    except ValueError:
        raise CannotAnswer("the LM's JSON does not parse", raw) from None
    if not isinstance(data, dict):
        raise CannotAnswer("the LM's JSON has no \"answer\"", raw)
    return data


def without_citations(text: str) -> str:
    return re.sub(r"\s*\[\d+(?:,\s*\d+)*\]", "", text).strip()
