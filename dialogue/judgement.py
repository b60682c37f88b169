"""A capable LM does the judgement the 135M default cannot (issue 24): it verifies, rewrites, answers or abstains,
composes.

Switched by HELPDESK_JUDGEMENT: "auto" (the default) is on whenever the LM is not the embedded SmolLM2-135M (or an
adapter of it), "on" and "off" force it. By default the "verify" step runs, and "translate" for a message across
languages (HELPDESK_JUDGEMENT_STEPS): with Qwen2.5-Coder-1.5B verify answers as many questions correctly with no
more wrong ones, in a quarter of the time (docs/measurements.md). The other steps are there to be switched on:
measured on the same sets they sent more wrong answers than without them (the rewrite and the JSON answer: 25.9
against 7.4 per 100 on the mobile operator before the best-match gate, 10.0 against 5.0 after it).

It is asked only for questions of the uncertain band (the best confidence from the generate threshold minus
HELPDESK_JUDGEMENT_MARGIN up to the FAQ threshold), for messages across languages, and for
follow-ups; a confident FAQ answer never waits for it. Its steps (HELPDESK_JUDGEMENT_STEPS):

- **verify**: when the best match is an FAQ in the generate band, the LM is asked whether it answers the message
  (with the customer's earlier messages), and its answer is read from the first token's probabilities
  (dialogue/lm/choices.py): at or above HELPDESK_JUDGEMENT_VERIFY the curated answer is sent, no word of it the
  LM's; below it the other steps, or the usual generated reply, go on. A usual reply the check stops only because
  it was written from a weaker match than the best is answered with that FAQ when the LM confirms it, else with
  the fallback (`Judge.on_weaker_match`);
- **translate**: a message in another language than the knowledge that answers it is translated into the
  knowledge's language and searched again (dialogue/crosslingual.py);
- **rewrite**: the message, with the conversation so far, becomes one standalone question, searched again; a
  confident FAQ for it is answered verbatim at once;
- **answer**: the LM answers from numbered snippets in a fixed JSON form, `{"answer": ..., "sources": [n]}`, or
  abstains with `{"answer": null}`; the reply check (dialogue/grounding.py) then verifies the answer against
  the snippets it cites. An answer outside the form, a snippet number it was not given, an LM error or a
  timeout (HELPDESK_JUDGEMENT_TIMEOUT_SECONDS) is "cannot answer": the fallback, with the raw output kept on
  the turn for admins like a stopped reply;
- **compose**: the answer may rest on two snippets (one sentence each, each checked against its own).

When the best knowledge is in another language than the conversation's and "answer" is among the steps,
dialogue/crosslingual.py uses the same judge to rewrite the message into the knowledge's language and answer in
both.
"""

import logging
import re
import time
from dataclasses import dataclass, field, replace

from core.errors import LMUnavailable
from dialogue.abstention import only_refuses
from dialogue.answering import (
    Answer,
    Answering,
    Found,
    Question,
    citation,
    curated,
    entry_key,
    fallback,
    refused,
    snippet_texts,
    stopped,
)
from dialogue.grounding import (
    WEAKER_MATCH,
    check_reply,
    is_refusal,
    is_supported,
    mark_citations,
    sentences,
    tidied,
)
from dialogue.lm.generator import Generator, TextCallback
from dialogue.lm.sources import EMBEDDED_LM_ID
from dialogue.messages import ReplyKind, TurnRole
from dialogue.policy import Decision, decide, verbatim
from dialogue.verdicts import ANSWER_SCHEMA, CannotAnswer, parse_verdict
from retrieval.hits import Hit

log = logging.getLogger(__name__)

STEPS = ("verify", "translate", "rewrite", "answer", "compose")
REWRITE_INSTRUCTIONS = (
    "You turn a customer's latest message into one standalone question for searching a customer-support "
    "knowledge base. Use the earlier messages only to fill in what the latest one leaves out (what \"it\" or "
    "\"that\" means, which product or plan). Keep the customer's meaning, name the thing asked about plainly, "
    "and do not answer. Reply with the question only, on one line."
)
ANSWER_INSTRUCTIONS = (
    "You answer a customer of {company} using only the numbered knowledge snippets. Reply with JSON only, in "
    "exactly one of two forms:\n"
    '{{"answer": "<the answer, at most three short sentences>", "sources": [<numbers of the snippets used>]}}\n'
    '{{"answer": null, "sources": []}}  (when the snippets do not answer the question)\n'
    "Answer in the snippets' own words: copy prices, numbers, dates, times and links exactly as they are "
    "written. Never add a fact that is not in the snippets, and never apply one plan's, product's or region's "
    "fact to another. {compose}"
)
VERIFY_INSTRUCTIONS = ("You check whether an FAQ answer of a customer-support knowledge base answers a customer's "
                       "message.")
VERIFY_QUESTION = "Does this FAQ answer what the customer asks or needs? Reply yes or no."
COMPOSE = {True: "If the question asks two things, answer each in its own sentence from its own snippet.",
           False: "Use one snippet only."}
_MAX_REWRITE_CHARS = 300


@dataclass(frozen=True)
class JudgementConfig:
    mode: str = "off"  # auto | on | off (HELPDESK_JUDGEMENT)
    steps: frozenset[str] = field(default_factory=lambda: frozenset(STEPS))
    margin: float = 0.15  # how far below the generate threshold the uncertain band reaches
    timeout_seconds: float = 30.0  # per LM call
    rewrite_tokens: int = 48
    answer_tokens: int = 160
    # How sure the LM must be that the best FAQ answers the message for it to be quoted from the generate band
    # (HELPDESK_JUDGEMENT_VERIFY; chosen on the sample shop, docs/measurements.md).
    verify_threshold: float = 0.6


def is_capable(generator: Generator) -> bool:
    """Is the LM more than the embedded 135M default (which copies a snippet's "No." into any answer)?"""
    model = str(getattr(generator, "base_model_id", None) or generator.model_id)
    return model not in ("", "default") and not model.startswith(EMBEDDED_LM_ID)


class Judge:
    def __init__(self, generator: Generator, config: JudgementConfig, company: str):
        self.generator = generator
        self.config = config
        self.company = company

    @property
    def active(self) -> bool:
        if self.config.mode == "off" or not self.config.steps:
            return False
        return self.config.mode == "on" or is_capable(self.generator)

    def wanted(self, question: Question, found: Found) -> bool:
        """Follow-ups, and questions whose best confidence is in the uncertain band (never a confident FAQ)."""
        if not self.active:
            return False
        top = found.hits[0].confidence if found.hits else 0.0
        return _follow_up(question) or self.floor(found) <= top < found.thresholds.faq

    def rewrites(self, question: Question, found: Found) -> bool:
        """A follow-up, or a message whose search found nothing confident enough for the LM: worth an LM call to
        put it in other words. Above the generate threshold the search found its snippets already."""
        top = found.hits[0].confidence if found.hits else 0.0
        return "rewrite" in self.config.steps and (_follow_up(question) or top < found.thresholds.generate)

    def floor(self, found: Found) -> float:
        return found.thresholds.generate - self.config.margin

    def respond(self, answering: Answering, question: Question, found: Found,
                on_text: TextCallback | None) -> Answer:
        if (confirmed := self.confirmed(question, found)) is not None:
            return confirmed
        searched, leaders = None, best_matches(found)
        if self.rewrites(question, found) and (standalone := self.rewrite(question)):
            if _normal(standalone) not in (_normal(question.text), _normal(found.searched)):
                again = answering.search_standalone(standalone)
                if again.decision is Decision.FAQ and self.rewrite_holds(question, again):
                    return replace(curated(verbatim(again.hits, again.thresholds), again), searched=standalone)
                if again.decision is not Decision.FAQ:  # else the LM did not confirm its own rewrite: dropped
                    searched = standalone
                    if (confirmed := self.confirmed(question, again)) is not None:
                        return replace(confirmed, searched=standalone)
                    found, leaders = combined(found, again), leaders | best_matches(again)
        if "answer" not in self.config.steps:  # the rewrite alone: the usual reply from the better search
            snippets = answering.snippets(found)
            answer = answering.generate(question, found, snippets, on_text) if snippets else fallback(found)
            return replace(self.on_weaker_match(question, found, snippets, answer), searched=searched)
        snippets = answering.snippets(found, floor=self.floor(found))
        if not snippets:
            return replace(fallback(found), searched=searched)
        return replace(self.answer(question, found, snippets, leaders, on_text), searched=searched)

    def confirmed(self, question: Question, found: Found, margin: float = 0.0) -> Answer | None:
        """The best FAQ's curated answer, when it is in the generate band and the LM is sure enough that it answers
        the message ("verify"); else None, and the other steps (or the usual generated reply) go on.

        A generated reply from the generate band is where a capable LM lost most right answers: it wrote its own
        words, and the reply check stopped them (docs/measurements.md). Whether the FAQ answers the message is a
        question the LM reads well; the admin's own answer is then sent, so no fact is the LM's. `margin` raises the
        threshold (across languages, dialogue/manager.py)."""
        if not self.active or "verify" not in self.config.steps or found.decision is not Decision.GENERATE \
                or found.parts:
            return None
        top, asked = found.hits[0], replace(question, query=found.query) if found.query else question  # as searched
        if top.faq is None or top.confidence < found.thresholds.generate or not self.sure(asked, top, margin):
            return None
        return replace(curated([top], found), model_id=self.generator.model_id)

    def on_weaker_match(self, question: Question, found: Found, snippets: list[Hit], answer: Answer) -> Answer:
        """What a usual reply becomes when the check stopped it only because it rests on a weaker match than the best:
        the curated answer of the FAQ it rests on when the LM confirms that FAQ answers the message ("verify"), else
        the fallback; never the best match's curated answer, which a stopped reply otherwise gets when it is
        confident enough (`answering.stopped`). Any other answer is returned as it is.

        Where the search ranks a wrong FAQ first, the LM, given the top snippets, often writes from the right one:
        "The Nimbus Hub isn't for me, can I send it back?" ranked the Hub's setup FAQ first and the returns FAQ
        second; "it has already shipped, can I swap it for the white one?" the delivery-tracking FAQ above the
        exchange FAQ. The reply was stopped, and the customer got the setup or the tracking FAQ in its place: all 7
        such substitutions in the Qwen2.5-Coder-1.5B runs were wrong (docs/measurements.md). The LM's choice of
        snippet is one judgement, its yes to the FAQ a second; the admin's answer is sent, no word of it the LM's."""
        if not answer.rejected or answer.rejected["reasons"] != [WEAKER_MATCH]:
            return answer
        if "verify" in self.config.steps:
            rests_on = next((hit for hit in snippets[1:] if check_reply(
                answer.rejected["text"], snippet_texts([hit]), question.text, question.earlier_replies,
                best_first=False).passed), None)
            if rests_on is not None and rests_on.faq is not None and self.sure(question, rests_on):
                log.info("A reply stopped as resting on a weaker match: FAQ %s, which it rests on, instead",
                         rests_on.faq.id)
                return replace(curated([rests_on], found), model_id=self.generator.model_id)
        return replace(fallback(found, self.generator.model_id), rejected=answer.rejected)

    def rewrite_holds(self, question: Question, again: Found) -> bool:
        """May the confident FAQ of the LM's standalone question be quoted? With "verify" on, only when the LM also
        confirms it answers the customer's own message: the rewrite is the LM's guess at what was meant, and on the
        mobile operator "and for adding my brother's SIM to my account?" became a question about the plans' prices,
        whose FAQ was then quoted (the multi-line discount was meant). A rewrite the LM does not confirm is dropped:
        the message goes on with its own search."""
        return "verify" not in self.config.steps or self.sure(question, again.hits[0])

    def sure(self, question: Question, hit: Hit, margin: float = 0.0) -> bool:
        """Does the LM say the FAQ of `hit` answers the message, at HELPDESK_JUDGEMENT_VERIFY (+ `margin`) or surer?"""
        probability = self.answers_probability(question, hit)
        if probability is None or probability < self.config.verify_threshold + margin:
            log.info("The LM does not confirm FAQ %s for the message (%s)", hit.faq.id,
                     "no judgement" if probability is None else f"{probability:.2f}")
            return False
        log.info("The LM confirms FAQ %s for the message (%.2f)", hit.faq.id, probability)
        return True

    def answers_probability(self, question: Question, hit: Hit) -> float | None:
        """How likely the LM says the FAQ of `hit` answers the message; None when it could not tell (an LM error, a
        backend without next-token probabilities). The customer's earlier messages are in the prompt only for a
        follow-up: after two messages on other topics, Qwen2.5-Coder-1.5B's P(yes) for "I forgot my password for
        the app" and the password FAQ fell from 0.67 to 0.41."""
        earlier = [text[:200] for role, text in question.history if role == TurnRole.USER][-3:] \
            if _follow_up(question) else []
        content = "".join(f"Earlier message: {text}\n" for text in earlier) + \
            f"Customer message: {question.text}\n\nFAQ question: {hit.faq.question}\nFAQ answer: {hit.faq.answer}" \
            f"\n\n{VERIFY_QUESTION}"
        messages = [{"role": "system", "content": VERIFY_INSTRUCTIONS}, {"role": "user", "content": content}]
        judge = getattr(self.generator, "choice_probabilities", None)
        if judge is None:
            return None
        try:
            return judge(messages, ("yes", "no"))["yes"]
        except (LMUnavailable, KeyError) as error:
            log.info("No judgement on FAQ %s: %s", hit.faq.id, error)
            return None

    def rewrite(self, question: Question, language: str | None = None) -> str | None:
        """The message as one standalone question (written in `language`, a language's English name, when given),
        or None when the LM gave nothing usable."""
        instructions = REWRITE_INSTRUCTIONS + (f" Write the question in {language}." if language else "")
        earlier = "\n".join(f"{'Customer' if role == TurnRole.USER else 'Assistant'}: {text[:300]}"
                            for role, text in question.history[-4:])
        content = (f"Earlier messages:\n{earlier}\n\n" if earlier else "") + f"Latest message: {question.text}"
        messages = [{"role": "system", "content": instructions}, {"role": "user", "content": content}]
        try:
            raw = self.ask(messages, self.config.rewrite_tokens)
        except CannotAnswer as error:
            log.info("No standalone question: %s", error)
            return None
        return standalone_question(raw)

    def answer(self, question: Question, found: Found, snippets: list[Hit], leaders: set[tuple],
               on_text: TextCallback | None) -> Answer:
        texts = snippet_texts(snippets)
        try:
            verdict = parse_verdict(self.ask(self.answer_prompt(question, texts), self.config.answer_tokens,
                                             ANSWER_SCHEMA),
                                    len(snippets))
        except CannotAnswer as error:
            log.info("The LM's answer is unusable: %s", error)
            return replace(fallback(found), rejected={"text": error.args[1] if len(error.args) > 1 else "",
                                                      "reasons": [f"cannot answer: {error.args[0]}"]})
        if verdict.answer is None:
            return replace(fallback(found), rejected={"text": verdict.raw,
                                                      "reasons": ["the LM says the snippets do not answer it"]})
        cited = [snippets[number - 1] for number in verdict.cited]
        if len(cited) > 1 and "compose" not in self.config.steps:
            return stopped(found, snippets, verdict.answer, ["rests on two snippets, and composing is off"],
                           self.generator.model_id)
        answer = tidied(verdict.answer, texts, question.text)  # its sources already left out by parse_verdict
        if not answer:
            return replace(fallback(found), rejected={"text": verdict.raw, "reasons": ["only a yes or no"]})
        cited, problems = self.verified(question, found, snippets, answer, cited, leaders)
        if problems:
            return stopped(found, snippets, answer, problems, self.generator.model_id)
        if only_refuses(answer, question.text, "\n".join(texts)):
            return refused(found, answer, self.generator.model_id)
        text = mark_citations(answer, snippet_texts(cited))
        if on_text:
            on_text(text)
        return Answer(ReplyKind.GENERATED, text, [citation(hit) for hit in cited], found, self.generator.model_id)

    def verified(self, question: Question, found: Found, snippets: list[Hit], answer: str,
                 cited: list[Hit], leaders: set[tuple]) -> tuple[list[Hit], list[str]]:
        """The snippets the answer rests on, or why it may not be sent. It is checked against the snippets it cites;
        a small model's numbers are often off by one, so an answer that fails there is checked as any generated
        reply is, against all it was given (each sentence by one snippet, a claim from the best match), and then
        rests on those that support it.

        Then it must be about what was asked: one snippet it rests on must be a best match (`leaders`: the top hit
        of the message's search and of its standalone question's). Qwen2.5-Coder-1.5B rarely abstains; it copied
        a real snippet of another topic instead ("I typed my PIN wrong three times" → the porting code), which no
        lexical check can see. Composing may add a second snippet that is not a best match. And one snippet it
        rests on must be at least as confident as the generate threshold: below it, snippets are context for the
        LM, never the answer."""
        check = check_reply(answer, snippet_texts(cited), question.text, question.earlier_replies, best_first=False)
        if not check.passed:
            anywhere = check_reply(answer, snippet_texts(snippets), question.text, question.earlier_replies)
            if not anywhere.passed:
                return cited, check.reasons
            cited = [hit for hit in snippets if any(is_supported(sentence, text) for sentence in sentences(answer)
                                                    for text in snippet_texts([hit]))]
        if not any(entry_key(hit) in leaders for hit in cited):
            return cited, ["rests on no best match of the message or of its standalone question"]
        if max(hit.confidence for hit in cited) < found.thresholds.generate:
            return cited, ["rests only on snippets below the generate threshold"]
        return cited, []

    def answer_prompt(self, question: Question, texts: list[str]) -> list[dict[str, str]]:
        system = ANSWER_INSTRUCTIONS.format(company=self.company, compose=COMPOSE["compose" in self.config.steps])
        if question.profile_facts:
            system += "\n\nWhat we know about this customer:\n" + "\n".join(f"- {f}" for f in question.profile_facts)
        numbered = "\n\n".join(f"[{number}] {text}" for number, text in enumerate(texts, start=1))
        return [{"role": "system", "content": system},
                {"role": "user", "content": f"Knowledge snippets:\n{numbered}\n\nCustomer question: {question.text}"}]

    def ask(self, messages: list[dict[str, str]], max_new_tokens: int, json_schema: dict | None = None) -> str:
        """The LM's text for `messages` (JSON of `json_schema`, where the backend can hold it to one); CannotAnswer
        on an LM error or past the timeout."""
        deadline = time.monotonic() + self.config.timeout_seconds

        def in_time(_: str) -> None:
            if time.monotonic() > deadline:
                raise _TimedOut()

        try:
            schema = {"json_schema": json_schema} if json_schema is not None else {}
            generation = self.generator.generate(messages, max_new_tokens=max_new_tokens, temperature=0.0,
                                                 on_text=in_time, **schema)
        except _TimedOut:
            raise CannotAnswer(f"no answer within {self.config.timeout_seconds:g} s") from None
        except LMUnavailable as error:
            raise CannotAnswer(f"the LM failed: {error}") from error
        if time.monotonic() > deadline:
            raise CannotAnswer(f"no answer within {self.config.timeout_seconds:g} s", generation.text)
        return generation.text


class _TimedOut(Exception):
    pass


def standalone_question(raw: str) -> str | None:
    """The LM's rewrite, tidied: its first line, without quotes or a "Question:" label."""
    line = next((line.strip() for line in raw.splitlines() if line.strip()), "")
    line = re.sub(r"^(?:standalone\s+)?(?:question|rewritten|search)\s*:\s*", "", line, flags=re.IGNORECASE)
    line = line.strip().strip("\"'“”`").strip()
    if not line or len(line) > _MAX_REWRITE_CHARS or is_refusal(line):
        return None
    return line


def combined(first: Found, then: Found) -> Found:
    """The standalone question's hits, then the message's that it did not find (each entry once)."""
    seen = {entry_key(hit) for hit in then.hits}
    hits = [*then.hits, *(hit for hit in first.hits if entry_key(hit) not in seen)]
    return Found(hits, first.parts, first.thresholds, decide(hits, first.thresholds), then.searched)


def best_matches(found: Found) -> set[tuple]:
    """The entry a search put first (as an empty set when it found nothing)."""
    return {entry_key(found.hits[0])} if found.hits else set()


def _follow_up(question: Question) -> bool:
    return question.query.context is not None or question.query.text != question.text


def _normal(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()
