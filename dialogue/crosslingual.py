"""A capable LM answers in the customer's language from knowledge written in another (issue 26).

When the judge is active (dialogue/judgement.py) and the best knowledge is in another language than the
conversation's (a German customer, English FAQs), the LM
- rewrites the message into one standalone question in the knowledge's language, which is searched again: a
  question asked across languages scores low, the same question in the knowledge's language finds its FAQ;
- answers from the numbered snippets in JSON, `{"answer": ..., "translation": ..., "sources": [n]}`: the answer
  in the snippets' language and the same answer in the customer's, or abstains with `{"answer": null}`.

The reply check reads English, so it checks the answer, exactly as any judged answer (`Judge.verified`, against
the snippets it cites). The translation is what the customer gets, and only when it states the same facts and
names as the checked answer (dialogue/translated_facts.py) and reads as the customer's language. Anything else
(output outside the form, an abstention, an answer the check stops, a translation that differs) is "not
answered here": the manager gives what it gives without the LM, the curated answer under a note or the
fallback, and the LM's raw output stays on the turn for admins.
"""

import logging
from dataclasses import dataclass, replace

from dialogue.answering import Answer, Answering, Found, Question, citation, fallback, snippet_texts
from dialogue.judgement import COMPOSE, Judge, best_matches, combined
from core.language_detection import LanguageDetector
from dialogue.lm.generator import TextCallback
from dialogue.messages import ReplyKind
from dialogue.translated_facts import difference
from dialogue.verdicts import CannotAnswer, json_object, parse_verdict, without_citations
from retrieval.hits import Hit

log = logging.getLogger(__name__)

LANGUAGE_NAMES = {"en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian",
                  "pt": "Portuguese", "nl": "Dutch", "pl": "Polish", "zh": "Simplified Chinese", "ja": "Japanese",
                  "ko": "Korean", "ar": "Arabic", "ru": "Russian", "tr": "Turkish", "sv": "Swedish", "da": "Danish",
                  "id": "Indonesian", "uk": "Ukrainian", "hi": "Hindi"}
ANSWER_INSTRUCTIONS = (
    "You answer a customer of {company} using only the numbered knowledge snippets, which are written in "
    "{knowledge}; the customer writes {customer}. Reply with JSON only, in exactly one of two forms:\n"
    '{{"answer": "<the answer in {knowledge}, at most three short sentences>", '
    '"translation": "<the same answer in {customer}>", "sources": [<numbers of the snippets used>]}}\n'
    '{{"answer": null, "translation": null, "sources": []}}  (when the snippets do not answer the question)\n'
    "Write the answer in the snippets' own words: copy prices, numbers, dates, times and links exactly as they are "
    "written. Never add a fact that is not in the snippets, and never apply one plan's, product's or region's "
    "fact to another. {compose} The translation says exactly what the answer says, no more and no less: the same "
    "numbers in digits with their units, the same prices, links, e-mail addresses and phone numbers, the same "
    "product and plan names."
)
ANSWER_SCHEMA = {  # held to by the backend where it can (dialogue/verdicts.py ANSWER_SCHEMA)
    "type": "object",
    "properties": {"answer": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                   "translation": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                   "sources": {"type": "array", "items": {"type": "integer"}}},
    "required": ["answer", "translation", "sources"], "additionalProperties": False,
}
_TRANSLATION_CONFIDENCE = 0.5  # a translation detected as another language at least this surely is not sent


@dataclass(frozen=True)
class Languages:
    customer: str  # the conversation's language code ("de")
    knowledge: str  # the best knowledge's ("en")


class AcrossLanguages:
    def __init__(self, judge: Judge, detector: LanguageDetector):
        self.judge = judge
        self.detector = detector

    @property
    def active(self) -> bool:
        return self.judge.active and "answer" in self.judge.config.steps

    def respond(self, answering: Answering, question: Question, found: Found, languages: Languages,
                on_text: TextCallback | None) -> Answer:
        """A generated answer in the customer's language; else the fallback, with the better search in its
        `found` and the LM's output in `rejected`, for the manager's answer without the LM."""
        judge, searched, leaders = self.judge, None, best_matches(found)
        if "rewrite" in judge.config.steps and (
                standalone := judge.rewrite(question, language=_name(languages.knowledge))):
            again = answering.search_standalone(standalone)
            found, searched, leaders = combined(found, again), standalone, leaders | best_matches(again)
        snippets = answering.snippets(found, floor=judge.floor(found))
        if not snippets:
            return replace(fallback(found), searched=searched)
        return replace(self.answer(question, found, snippets, languages, searched, leaders, on_text),
                       searched=searched)

    def answer(self, question: Question, found: Found, snippets: list[Hit], languages: Languages,
               standalone: str | None, leaders: set[tuple], on_text: TextCallback | None) -> Answer:
        judge, model_id = self.judge, self.judge.generator.model_id

        def not_sent(raw: str, reasons: list[str]) -> Answer:
            log.info("No answer across languages: %s", "; ".join(reasons))
            return replace(fallback(found, model_id), rejected={"text": raw, "reasons": reasons})

        try:
            raw = judge.ask(self.prompt(question, snippet_texts(snippets), languages, standalone),
                            2 * judge.config.answer_tokens, ANSWER_SCHEMA)
            verdict = parse_verdict(raw, len(snippets))
            translation = parse_translation(raw) if verdict.answer else None
        except CannotAnswer as error:
            return not_sent(error.args[1] if len(error.args) > 1 else "", [f"cannot answer: {error.args[0]}"])
        if verdict.answer is None:
            return not_sent(raw, ["the LM says the snippets do not answer it"])
        cited = [snippets[number - 1] for number in verdict.cited]
        if len(cited) > 1 and "compose" not in judge.config.steps:
            return not_sent(raw, ["rests on two snippets, and composing is off"])
        asked = replace(question, text=standalone) if standalone else question
        cited, problems = judge.verified(asked, found, snippets, verdict.answer, cited, leaders)
        if problems or (problems := self.translation_problems(verdict.answer, translation, cited, languages)):
            return not_sent(raw, problems)
        if on_text:
            on_text(translation)
        return Answer(ReplyKind.GENERATED, translation, [citation(hit) for hit in cited], found, model_id)

    def translation_problems(self, answer: str, translation: str, cited: list[Hit], languages: Languages) -> list[str]:
        """Why the translation of a checked answer may not be sent, or []."""
        differs = difference(answer, translation, "\n".join(snippet_texts(cited)), checked_in=languages.knowledge,
                             translated_in=languages.customer)
        if differs:
            return [f"the translation does not state the checked answer's facts: it {differs}"]
        read = self.detector.detect(translation)
        if read and read.code != languages.customer and read.confidence >= _TRANSLATION_CONFIDENCE:
            return [f"the translation reads as {read.code}, not {languages.customer}"]
        return []

    def prompt(self, question: Question, texts: list[str], languages: Languages,
               standalone: str | None) -> list[dict[str, str]]:
        system = ANSWER_INSTRUCTIONS.format(company=self.judge.company, knowledge=_name(languages.knowledge),
                                            customer=_name(languages.customer),
                                            compose=COMPOSE["compose" in self.judge.config.steps])
        if question.profile_facts:
            system += "\n\nWhat we know about this customer:\n" + "\n".join(f"- {f}" for f in question.profile_facts)
        numbered = "\n\n".join(f"[{number}] {text}" for number, text in enumerate(texts, start=1))
        asked = f"Customer question: {question.text}"
        if standalone:
            asked += f"\n(In {_name(languages.knowledge)}: {standalone})"
        return [{"role": "system", "content": system},
                {"role": "user", "content": f"Knowledge snippets:\n{numbered}\n\n{asked}"}]


def parse_translation(raw: str) -> str:
    """The translation in the LM's JSON answer (whose form parse_verdict checked). Raises CannotAnswer."""
    translation = json_object(raw).get("translation")
    if not isinstance(translation, str) or not without_citations(translation):
        raise CannotAnswer("the LM's JSON has no \"translation\" of its answer", raw)
    return without_citations(translation)


def _name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, f"the language whose ISO 639 code is {code!r}")
