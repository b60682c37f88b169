"""The prompt that asks an LM for paraphrases of an FAQ, and the reading of its lines as questions."""

import re

from dialogue.content_words import is_cjk
from dialogue.lm.generator import ChatMessages
from retrieval.faqs import Faq

_BULLET = re.compile(r"^\s*(?:[-*•]+|\d+[.):]|[qQ]\d*[.):])\s*")
_WORDS = re.compile(r"\w+")
# The LM talking about itself instead of writing a customer's message (SmolLM2-135M does, most of the time).
_ASSISTANT = re.compile(r"\b(?:i'?m sorry|i am sorry|as an? (?:[\w-]+ )?ai\b|language model"
                        r"|(?:i'?m|i am) (?:unable|not able) to (?:assist|provide|help|answer)"
                        r"|i (?:cannot|can't) (?:assist|provide|help you|answer))", re.IGNORECASE)
MIN_WORDS, MAX_WORDS = 2, 30
ANSWER_CHARS = 700  # of the answer shown to the LM: enough for its gist, short enough for a small context


def paraphrase_prompt(faq: Faq, count: int, company: str) -> ChatMessages:
    answer = faq.answer if len(faq.answer) <= ANSWER_CHARS else faq.answer[:ANSWER_CHARS].rsplit(" ", 1)[0] + " …"
    return [
        {"role": "system", "content": f"You help the support team of {company} list the different ways customers "
                                      "ask the same question."},
        {"role": "user", "content": f"Question: {faq.question}\nAnswer: {answer}\n\n"
                                    f"Write {count} different messages a customer could send that this answer "
                                    "replies to. Use other words for the key terms, a casual tone, or describe the "
                                    "problem instead of asking. One message per line, no numbering, nothing else."},
    ]


def parse_paraphrases(text: str, faq: Faq, count: int) -> list[str]:
    """The LM's lines as questions: bullets, numbering and quotes stripped; preambles, the LM speaking as an
    assistant, texts the FAQ already has and lines too short or too long dropped; at most `count`."""
    known = {t.casefold() for t in (faq.question, *faq.alt_questions, *faq.generated_questions)}
    found: list[str] = []
    for line in text.splitlines():
        line = _BULLET.sub("", line).strip().strip('"“”\'').strip()
        words = words_in(line)
        if not (MIN_WORDS <= words <= MAX_WORDS) or line.endswith(":") or line.casefold() in known \
                or _ASSISTANT.search(line):
            continue
        known.add(line.casefold())
        found.append(line)
    return found[:count]


def words_in(line: str) -> int:
    """Words of a line; Chinese and Japanese, written without spaces, at two characters a word."""
    cjk = sum(map(is_cjk, line))
    return len(_WORDS.findall("".join(" " if is_cjk(ch) else ch for ch in line))) + (cjk + 1) // 2
