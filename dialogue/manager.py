"""The one answering path: record, understand, retrieve, decide, answer, record.

`respond` hands back the finished replies; `respond_stream` runs the same path and also hands out the
LM's text while it is being written, for front ends that show it live.
"""

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from core.turn_locks import ThreadLocks, TurnLocks
from dialogue.actions.results import PERSON_PAYLOAD
from dialogue.actions.runner import ActionRunner, Interrupted, PendingCall
from dialogue.answering import Answer, AnswerConfig, Answering, Found, Question
from dialogue.catalogue import Catalogue
from dialogue.context import SearchQuery, contextualize
from dialogue.crosslingual import AcrossLanguages, Languages
from dialogue.errors import EmptyMessage, MessageTooLong
from dialogue.judgement import Judge, JudgementConfig
from dialogue.keyed_locks import KeyedLocks
from dialogue.language import LanguagePolicy
from dialogue.lm.generator import Generator, TextCallback
from dialogue.messages import Button, HandoffReason, InboundMessage, Reply, ReplyKind, Source
from dialogue.policy import (
    MAX_SUGGESTIONS,
    Thresholds,
    ThresholdSettings,
    suggestions,
    wants_person,
)
from dialogue.privacy import Masked, Masker
from dialogue.profile import (
    ProfileUpdate,
    acknowledge,
    answer_profile_question,
    asked_profile_field,
    hide_profile,
    is_only_self_description,
    search_text,
)
from dialogue.records import ConversationStatus
from dialogue.small_talk import says_yes, small_talk, small_talk_reply
from dialogue.store import ConversationStore, OpenedTurn, TurnContext
from dialogue.suggested import chosen_answer, chosen_faq, faq_button, lone_suggestion
from retrieval.errors import FaqNotFound
from retrieval.faqs import Faq
from retrieval.hits import Hit
from retrieval.knowledge_base import KnowledgeBase

log = logging.getLogger(__name__)

# The English catalogue's fallback (dialogue/phrases/en.yaml), which training data uses as the refusal. Every
# text the bot writes comes from the catalogue, in the conversation's language (dialogue/catalogue.py).
FALLBACK_TEXT = (
    "I'm sorry, I can't help with that: it isn't covered by what I know. "
    'Would you like me to connect you with a person from our support team? Just say "talk to a person".'
)
ANSWER_THREADS = 64
_RESTART = re.compile(r"^\s*/restart\s*$")


@dataclass(frozen=True)
class TextDelta:
    """A piece of a generated answer, as the LM wrote it; the final `Reply` carries the tidied whole."""

    text: str


# What `respond_stream` yields: any number of deltas (only for generated answers), then the replies.
ReplyEvent = TextDelta | Reply


class ReplyFailed(RuntimeError):
    """Answering a streamed message failed after it was accepted; the cause is in the server log."""


@dataclass(frozen=True)
class DialogueConfig:
    company: str
    thresholds: ThresholdSettings
    max_message_chars: int
    snippets_in_prompt: int
    history_token_budget: int
    max_new_tokens: int
    temperature: float
    fallback_suggestions: int = MAX_SUGGESTIONS  # FAQs the fallback may offer as buttons; 0: none
    judgement: JudgementConfig = JudgementConfig()  # a capable LM's judgement (dialogue/judgement.py)
    # The embedder compares across languages (retrieval/model_card.py): an FAQ in another language may be quoted.
    multilingual_search: bool = False


class DialogueManager:
    def __init__(self, store: ConversationStore, knowledge: KnowledgeBase, generator: Generator,
                 config: DialogueConfig, turn_locks: TurnLocks | None = None, actions: ActionRunner | None = None,
                 privacy: Masker | None = None, languages: LanguagePolicy | None = None,
                 catalogue: Catalogue | None = None):
        self.catalogue = catalogue or Catalogue.load()  # every text the bot writes, per language
        self.languages = languages or LanguagePolicy(known=self.catalogue.languages)  # the conversation's language
        self.actions = actions  # custom actions and forms (dialogue/actions/runner.py); None: none
        self.store = store
        self.knowledge = knowledge
        self.generator = generator
        self.config = config
        # The one answer from the knowledge base, for chat and agent assist (dialogue/answering.py).
        judge = Judge(generator, config.judgement, config.company)
        self.answering = Answering(knowledge, generator, AnswerConfig(
            config.company, config.snippets_in_prompt, config.history_token_budget, config.max_new_tokens,
            config.temperature), self.thresholds, judge)
        self.across = AcrossLanguages(judge, self.languages.detector)  # a capable LM answers across languages
        self.privacy = privacy or Masker()  # personal data is masked before it is stored (dialogue/privacy.py)
        self._locks = KeyedLocks()
        self.turn_locks = turn_locks or ThreadLocks()  # the same order across server processes
        # Answers wait on the one LM; with the loop's default pool (cores + 4 threads) a few customers
        # waiting for generations left FAQ answers queued behind them. Waiting threads are cheap.
        self._answer_threads = ThreadPoolExecutor(max_workers=ANSWER_THREADS, thread_name_prefix="answer")
        self._answering: set[asyncio.Task] = set()  # streamed answers run on even if their reader leaves

    def validate(self, text: str) -> str:
        if not text or not text.strip():
            raise EmptyMessage()
        if len(text) > self.config.max_message_chars:
            raise MessageTooLong(len(text), self.config.max_message_chars)
        return text.strip()

    async def respond(self, message: InboundMessage) -> list[Reply]:
        """Answer one inbound message; messages of one sender are answered strictly in arrival order."""
        text = self.validate(message.text)
        async with self._locks.hold((message.channel, message.sender_id)):
            # Database and model work happens in a thread so that no conversation blocks the others.
            return await self._run_actions(await asyncio.get_running_loop().run_in_executor(
                self._answer_threads, self._respond, message, text, None))

    async def respond_stream(self, message: InboundMessage) -> AsyncIterator[ReplyEvent]:
        """Answer like `respond`, yielding the LM's text as it is written, then the final replies.

        Checks the message before it returns (raising like `respond`), so that the reader can still get a clean
        refusal, and has started answering by then, so arrival order is kept. Whether an unverified sender's id
        is claimed is asked in a thread, in the sender's turn: a database slow to give a connection must not
        stall the event loop. The answer is completed and recorded even if the reader stops early; a failure
        after acceptance is logged here and surfaces to the reader as `ReplyFailed`.
        """
        text = self.validate(message.text)
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[ReplyEvent | _Finished] = asyncio.Queue()
        accepted: asyncio.Future[None] = loop.create_future()
        if message.verified:
            accepted.set_result(None)

        def on_text(delta: str) -> None:  # called on the generating thread
            loop.call_soon_threadsafe(events.put_nowait, TextDelta(delta))

        async def answer() -> None:
            try:
                async with self._locks.hold((message.channel, message.sender_id)):
                    if not accepted.done():
                        await loop.run_in_executor(self._answer_threads, self.store.refuse_if_claimed,
                                                   message.channel, message.sender_id)  # SenderClaimed
                        accepted.set_result(None)
                    replies = await self._run_actions(await loop.run_in_executor(
                        self._answer_threads, self._respond, message, text, on_text))
            except Exception as error:
                if not accepted.done():  # refused before the reader started: the caller raises it
                    accepted.set_exception(error)
                    return
                log.exception("Answering a message of %s on %s failed", message.sender_id, message.channel)
                events.put_nowait(_Finished(failed=True))
                return
            for reply in replies:
                events.put_nowait(reply)
            events.put_nowait(_Finished(failed=False))

        task = loop.create_task(answer())
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)
        await accepted
        return _drain(events)

    def _respond(self, message: InboundMessage, text: str, on_text: TextCallback | None) -> list[Reply]:
        # Another server process may be answering this customer: its turn ends first (core/turn_locks.py).
        with self.turn_locks.hold(f"{message.channel}\x00{message.sender_id}"):
            return self._respond_in_turn(message, text, on_text)

    def _respond_in_turn(self, message: InboundMessage, text: str, on_text: TextCallback | None) -> list[Reply]:
        started = time.perf_counter()
        # A suggestion's button (dialogue/suggested.py): recorded as the FAQ's question. An FAQ deleted since it was
        # suggested gives None, and the payload is answered as a message: the fallback.
        if (chosen := self._faq(chosen_faq(text))) is not None:
            text = chosen.question
            message = dataclasses.replace(message, text=text,
                                          metadata={**(message.metadata or {}), "suggestion_chosen": chosen.id})
        budget = self.privacy.budget()  # CPU for this message's masking and profile; over it, nothing is stored
        masked = self.privacy.mask(text, budget)  # from here on only the masked text is stored, logged, generated from
        message = self.privacy.mask_message(message, masked, budget)  # its metadata, as stored and as actions see it
        update = self.privacy.profile_update(masked, budget)  # the customer's own email and phone, as they typed them
        # One transaction: the message, the conversation's language after it, what answering it reads.
        turn = self.store.record_user_message(
            message, masked.text, lambda current: self.languages.choose(current, text, message.metadata))
        if turn.replayed and (stored := self.store.stored_reply(turn)):
            return [stored]  # answered before a crash; only its delivery may be missing
        turn = dataclasses.replace(turn, verified=message.verified)
        # A form's slots take what the customer typed for them (their own data, like the profile; erased and
        # purged with the conversation), card numbers excepted (docs/privacy.md).
        handled = self.actions.handle(turn, self.privacy.scrub(text), message) \
            if self.actions and chosen is None else None
        if handled is not None and not isinstance(handled, Interrupted):
            return handled  # a form's step, already recorded, or a call to the action server (_run_actions)
        reply, model_id = self._answer(turn, masked, update, on_text, chosen)
        turn_id = self.store.record_reply(self.privacy.scrub_reply(reply, masked),
                                          (time.perf_counter() - started) * 1000, model_id, turn.writes, turn.turn_id)
        replies = [dataclasses.replace(reply, turn_id=turn_id)]
        if handled is not None:  # an FAQ asked in the middle of a form: answered, and the form offered again
            replies.append(self.actions.offer_again(handled))
        return replies

    async def _run_actions(self, result: "list[Reply] | PendingCall") -> list[Reply]:
        """Make the action server calls a turn needs on the event loop, so a slow server holds no thread."""
        while isinstance(result, PendingCall):
            outcome = await self.actions.call(result)
            result = await asyncio.get_running_loop().run_in_executor(
                self._answer_threads, self.actions.finish, result, outcome)
        return result

    def _answer(self, turn: OpenedTurn, masked: Masked, update: ProfileUpdate,
                on_text: TextCallback | None, chosen: Faq | None = None) -> tuple[Reply, str | None]:
        text = masked.for_answer
        say = self.catalogue.phrases(turn.language)

        def reply(kind: ReplyKind, answer: str, sources: list[Source] | None = None) -> Reply:
            return Reply(answer, kind, turn.conversation_id, sources or [])

        if _RESTART.match(text):
            turn.writes.status = ConversationStatus.CLOSED
            return reply(ReplyKind.ACTION, say("restarted")), None
        if turn.conversation_status == ConversationStatus.HANDOFF:
            return reply(ReplyKind.HANDOFF, say("waiting_for_agent")), None
        if chosen is not None:
            return self._chosen(turn, chosen), None

        context = turn.context
        if update:
            self.store.update_profile(turn.customer_id, update)
            context = dataclasses.replace(context, profile=context.profile.updated(update))
            if is_only_self_description(update):
                return reply(ReplyKind.ACTION, acknowledge(update, say)), None
            text = search_text(text, update)  # the question, or the problem, that came with it
        if asked := asked_profile_field(text):  # what is stored is read back only to a verified sender
            return reply(ReplyKind.ACTION, answer_profile_question(asked, context.profile if turn.verified else None,
                                                                   say)), None
        if talk := small_talk(text):  # before the handoff rule: "are you a real person?" is a question
            # Yes to the fallback's one suggestion, else to its "Would you like me to connect you with a person?"
            if says_yes(text) and context.last_bot_kind == ReplyKind.FALLBACK:
                if (one := lone_suggestion(context.last_bot_choices)) and (faq := self._faq(one)):
                    return self._chosen(turn, faq), None
                turn.writes.status = ConversationStatus.HANDOFF
                return self._handoff(turn), None
            name = context.profile.name if turn.verified else None
            return reply(ReplyKind.ACTION, small_talk_reply(talk, name, say)), None
        if wants_person(text):
            turn.writes.status = ConversationStatus.HANDOFF
            return self._handoff(turn), None

        query = contextualize(text, context.previous_queries)
        return self._answer_from_knowledge(turn, context, text, query, on_text)

    def thresholds(self) -> Thresholds:
        """The thresholds in force now: the operator's, else the knowledge base's own calibration."""
        return self.config.thresholds.in_force(self.knowledge.learned)

    def answer(self, question: Question, on_text: TextCallback | None = None, draft: bool = True,
               found=None) -> Answer:
        """The one answer from the knowledge base, for chat replies and agent-assist drafts: search, decide, the
        capable LM's judgement, prompt, generate, check, cite (dialogue/answering.py). `draft=False` stops
        before the LM; `found`: what `self.answering.search(question)` already found."""
        found = found or self.answering.search(question)
        return self.answering.respond(question, found, on_text, draft)

    def draft_answer(self, question: Question, language: str | None, draft: bool = True) -> Answer:
        """Agent assist's answer to a customer writing `language`: `answer`, or, when the best knowledge is in
        another language and a capable LM's judgement is on, that LM's answer in the customer's language
        (dialogue/crosslingual.py), checked as a chat reply is. Without such an LM the draft is what `answer`
        writes: the agent, who reads both, translates it."""
        found = self.answering.search(question, asked=False)  # chat searched it when the customer sent it
        knowledge = self.across.knowledge_language(language, found.hits[0]) if draft and language and found.hits \
            else None
        if knowledge and self.across.active:
            return self.across.respond(self.answering, question, found, Languages(language, knowledge), None)
        return self.answer(question, draft=draft, found=found)

    def _answer_from_knowledge(self, turn: OpenedTurn, context: TurnContext, text: str, query: SearchQuery,
                               on_text: TextCallback | None) -> tuple[Reply, str | None]:
        # An unverified sender may not be who spoke before under this id: what is stored about the customer stays
        # out of the prompt, also where earlier turns repeat it (docs/channels.md, "Verified senders").
        profile, history = context.profile, context.history
        question = Question(text, query, history if turn.verified else hide_profile(history, profile),
                            profile.facts() if turn.verified else [])
        found = self.answering.search(question)
        if (searched := found.query or query).context or searched.text != text:  # a follow-up: what was searched
            turn.writes.search_query = searched.rewritten
        knowledge = self.across.knowledge_language(turn.language, found.hits[0]) if found.hits else None
        if knowledge and not self.across.active:
            return self._across_languages(turn, found, knowledge, question=question), None
        if knowledge:
            answer = self.across.respond(self.answering, question, found, Languages(turn.language, knowledge),
                                         on_text)
        else:
            answer = self.answer(question, on_text, found=found)
        if answer.searched:  # the LM's standalone rewrite was searched: the turn records it
            turn.writes.search_query = answer.searched
        if answer.kind is ReplyKind.FALLBACK:
            # Across languages the LM could not answer: what the bot says without it, from the better search.
            # In the customer's language, the FAQs it came closest to are offered to choose from.
            reply = self._across_languages(turn, answer.found, knowledge, rewritten=answer.searched is not None) \
                if knowledge else self._fallback(turn, suggestions(answer.found.hits, answer.found.thresholds,
                                                                   self.config.fallback_suggestions))
        else:
            reply = Reply(answer.text, answer.kind, turn.conversation_id, answer.sources)
        # What the check stopped (or the LM's unusable output) stays on the turn for admins (docs/generation.md).
        return dataclasses.replace(reply, rejected=answer.rejected), answer.model_id

    def _across_languages(self, turn: OpenedTurn, found: Found, knowledge: str, rewritten: bool = False,
                          question: Question | None = None) -> Reply:
        """The answer without an LM writing it when the knowledge is in another language than the customer's: the
        curated answer under a one-line note when an FAQ is confident enough (`AcrossLanguages.quoted`), else the
        fallback."""
        faqs, translated = self.across.quoted(self.answering, question, found, Languages(turn.language, knowledge),
                                              self.config.multilingual_search, rewritten)
        if translated is not None:  # the LM's translation was searched: the turn records it, and its FAQs are
            turn.writes.search_query = translated.searched  # offered when none is quoted
        if not faqs:
            return self._fallback(turn, translated and suggestions(translated.hits, translated.thresholds,
                                                                   self.config.fallback_suggestions))
        return self._noted(turn, _curated(turn, faqs))

    def _noted(self, turn: OpenedTurn, curated: Reply) -> Reply:
        """A curated answer in another language than the customer's, under the one-line note that says so."""
        return dataclasses.replace(curated, text=f"{self.catalogue.phrases(turn.language)('other_language_note')}"
                                                 f"\n\n{curated.text}")

    def _chosen(self, turn: OpenedTurn, faq: Faq) -> Reply:
        """The curated answer of the FAQ chosen from the fallback's suggestions, under the note when its language is
        not the customer's."""
        chosen = chosen_answer(turn.conversation_id, faq)
        across = self.across.other_language(turn.language, faq.question, faq.answer)
        return self._noted(turn, chosen) if across else chosen

    def _handoff(self, turn: OpenedTurn) -> Reply:
        return Reply(self.catalogue.phrases(turn.language)("handoff"), ReplyKind.HANDOFF, turn.conversation_id,
                     handoff=HandoffReason.ASKED)

    def _fallback(self, turn: OpenedTurn, suggested: list[Hit] | None = None) -> Reply:
        """The fallback, which offers a person; with `suggested` FAQs, it first asks whether the question is one of
        them, each a button (dialogue/suggested.py)."""
        say = self.catalogue.phrases(turn.language)
        if not suggested:
            return Reply(say("fallback"), ReplyKind.FALLBACK, turn.conversation_id)
        return Reply(say("fallback_suggestions"), ReplyKind.FALLBACK, turn.conversation_id,
                     buttons=[*map(faq_button, suggested), Button(say("person_button"), PERSON_PAYLOAD)])

    def _faq(self, faq_id: int | None) -> Faq | None:
        try:
            return self.knowledge.get(faq_id) if faq_id is not None else None
        except FaqNotFound:
            return None


@dataclass(frozen=True)
class _Finished:
    failed: bool


async def _drain(events: "asyncio.Queue[ReplyEvent | _Finished]") -> AsyncIterator[ReplyEvent]:
    while not isinstance(event := await events.get(), _Finished):
        yield event
    if event.failed:
        raise ReplyFailed("The bot could not answer this message; the error is in the server log.")


def _source(hit: Hit) -> Source:
    return Source(id=hit.faq.id, title=hit.faq.question)


def _curated(turn: OpenedTurn, hits: list[Hit]) -> Reply:
    """The curated answers of `hits`, verbatim; two when the question asked two things."""
    text = "\n\n".join(hit.faq.answer for hit in hits)
    return Reply(text, ReplyKind.FAQ, turn.conversation_id, [_source(hit) for hit in hits])
