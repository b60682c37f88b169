"""The lexical half of search: BM25 over the same entries, in an in-memory Tantivy index.

Tantivy (the Rust engine behind Quickwit) was picked over bm25s/rank-bm25 because it adds and deletes
documents in place: an edit is one small segment and a ~3 ms commit, where bm25s and rank-bm25 rebuild
the whole corpus. Each text is its own Tantivy document (an FAQ's alternatives are grouped back to the
FAQ by best score, as in the dense index), stemmed with the Snowball stemmer of the entry's language.

An entry's language is read from its texts together (fastText, `core/language_detection.py`; up to a text sure to be
in another language than those before it, as an FAQ's translations are); an entry in a
language Snowball stems (German, French, Spanish, Italian, Turkish, Arabic and a dozen more) goes to a field
analysed with that stemmer, any other to the English field as before. A question is parsed against every field
in use, each with its own analyser, so the question's language need not be known: "Geräte zurückgeben" meets a
German entry's "Gerät zurückgeben" as gerat/zuruckgeb, where the English stemmer kept "geräte" and "gerät" apart.
An English-only knowledge base has only the English field, and is searched exactly as before.

One text of an entry may be in another language than the entry: an English FAQ whose admin added the German
ways customers ask it. A text the detector is sure (`TEXT_SURE`) is in another language family than its entry is
stemmed and counted as that language; every other text takes its entry's. (Of 14,500 English questions of
banking77, HWU64 and Bitext, 4 are read that sure as another language, all of them on a name: "change this time to
ist"; of the sample shop's 204 German questions and alternatives, 180.)

BM25 only counts within one language. A German question over English FAQs shares no words with the right FAQ,
only "ich", "die", a product name with the wrong one: on the sample shop asked in German, BM25 at its usual
weight cost 16 points of hybrid top-1 against no BM25 at all (docs/languages.md). So a question the detector is
sure of (`QUESTION_SURE`) is not matched against entries it is sure are in another language; a short or unclear
question, or an entry of unclear language, is matched as before; so is an entry in a language the question
might be in after all (the detector's runners-up, and languages it confuses: Norwegian and Danish, Indonesian and
Malay, Chinese and Japanese).

Chinese and Japanese are written without spaces, so a word pattern made a whole sentence one token and BM25 never
matched a reworded question. Their characters are indexed as overlapping character bigrams in a field of their
own ("我的订单在哪里" → 我的 的订 订单 单在 在哪 哪里), the classic CJK analysis (Lucene's CJKAnalyzer): no
dictionary to ship, and a knowledge base may mix languages (docs/languages.md). Text without CJK characters is
indexed and searched exactly as before.
"""

import re
import threading
from collections import Counter
from dataclasses import dataclass

import tantivy

from core.language_detection import LanguageDetector, family, shared_detector
from retrieval.entries import entry_of_vector, vector_ids

_WORD = re.compile(r"\w+", re.UNICODE)
# Han ideographs, kana and the CJK compatibility ideographs: scripts written without spaces between words.
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_HEAP_BYTES = 64_000_000
# Snowball stemmers Tantivy has (rust-stemmers), by ISO 639-1 code; English is the "text" field's en_stem.
STEMMED_LANGUAGES = {
    "ar": "arabic", "da": "danish", "de": "german", "el": "greek", "es": "spanish", "fi": "finnish",
    "fr": "french", "hu": "hungarian", "it": "italian", "nl": "dutch", "no": "norwegian", "pt": "portuguese",
    "ro": "romanian", "ru": "russian", "sv": "swedish", "ta": "tamil", "tr": "turkish",
}
# An entry's texts together: the lite model gives the sample shop's English FAQs 0.42-1.0, its German ones
# 0.48-1.0; below this it is guessing (a product name alone) and the entry is of no known language.
_SURE = 0.3
# A question is short: the lite model gives "How do I return a camera?" English at 0.34, real German or Chinese
# questions 0.94-1.0 (as for a conversation's language, dialogue/language.py).
QUESTION_SURE = 0.8
TEXT_SURE = 0.9  # one text of an entry, in another language than the entry (above)
FOREIGN_SHARE = 0.1  # a question is asked across languages when fewer entries than this share are in its language
_DETECTED_CHARS = 400


@dataclass(frozen=True)
class LexicalMatch:
    entry: int
    score: float  # BM25
    position: int


class LexicalIndex:
    def __init__(self, detector: LanguageDetector | None = None) -> None:
        """`detector`: reads each entry's language (default: the process's shared one, loaded on first use)."""
        builder = tantivy.SchemaBuilder()
        # Entry and vector ids use bit 62 at most, so they fit Tantivy's signed 64-bit integers as they are.
        builder.add_integer_field("vector", stored=True, indexed=True, fast=True)
        builder.add_integer_field("entry", stored=False, indexed=True, fast=True)
        builder.add_text_field("text", stored=False, tokenizer_name="en_stem")
        for code in STEMMED_LANGUAGES:
            builder.add_text_field(f"text_{code}", stored=False, tokenizer_name=f"stem_{code}")
        builder.add_text_field("cjk", stored=False, tokenizer_name="cjk_bigrams")
        builder.add_text_field("language", stored=False, tokenizer_name="raw")  # the entry's, when sure
        self._schema = builder.build()
        self._index = tantivy.Index(self._schema)
        bigrams = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build()  # made by cjk_bigrams()
        self._index.register_tokenizer("cjk_bigrams", bigrams)
        for code, language in STEMMED_LANGUAGES.items():  # what en_stem is, with another stemmer
            self._index.register_tokenizer(f"stem_{code}", tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
                                           .filter(tantivy.Filter.remove_long(40))
                                           .filter(tantivy.Filter.lowercase())
                                           .filter(tantivy.Filter.stemmer(language)).build())
        self._detector = detector or shared_detector()
        self._entries: set[int] = set()
        self._languages: dict[int, str] = {}  # entry -> its language, where the detector is sure
        self._also: dict[int, frozenset[str]] = {}  # entry -> the other languages some of its texts are in
        self._counts: Counter[str] = Counter()  # entries per language
        self._written: Counter[str] = Counter()  # entries per language any of their texts is in: the fields in use
        self._own_language: dict[frozenset[str], set[int]] = {}  # same_language's answers, until the next edit
        self._writer = self._index.writer(heap_size=_HEAP_BYTES, num_threads=1)
        self._lock = threading.Lock()
        self._searcher = self._index.searcher()

    def __len__(self) -> int:
        return self._searcher.num_docs

    def upsert_many(self, items: list[tuple[int, list[str]]]) -> None:
        """`items`: (entry, its texts); replaces whatever the entries had."""
        with self._lock:
            for entry, texts in items:
                self._writer.delete_documents_by_term("entry", entry)
                language = self._language_of(texts)
                self._forget_language(entry)
                if language:
                    self._languages[entry] = language
                    self._counts[language] += 1
                self._entries.add(entry)
                text_languages = ([self._text_language(text, language) for text in texts] if len(texts) > 1
                                  else [language])  # a passage: its one text is what the entry was read from
                if also := frozenset(text_languages) - {language, None}:
                    self._also[entry] = also
                self._written.update(also | ({language} if language else set()))
                for vector_id, text, text_language in zip(vector_ids(entry, len(texts)), texts, text_languages):
                    field = f"text_{text_language}" if text_language in STEMMED_LANGUAGES else "text"
                    tagged = {"language": text_language} if text_language else {}
                    self._writer.add_document(tantivy.Document(
                        vector=vector_id, entry=entry, cjk=" ".join(cjk_bigrams(text)), **{field: text}, **tagged))
            self._commit()

    def remove_many(self, entries: list[int]) -> None:
        with self._lock:
            for entry in entries:
                self._writer.delete_documents_by_term("entry", entry)
                self._entries.discard(entry)
                self._forget_language(entry)
            self._commit()

    def _forget_language(self, entry: int) -> None:
        self._own_language.clear()
        language = self._languages.pop(entry, None)
        if language is not None:
            _decrement(self._counts, [language])
        _decrement(self._written, [*self._also.pop(entry, ()), *([language] if language else [])])

    def language_counts(self) -> dict[str, int]:
        """Entries per language, where the detector was sure of it."""
        with self._lock:
            return dict(self._counts)

    def mixed(self) -> bool:
        """Are the entries written in two languages or more (kin counted as one)?"""
        return len({family(language) for language in self._counts}) >= 2

    def same_language(self, text: str) -> set[int] | None:
        """In a knowledge base of several languages, the entries a question the detector is sure of may be
        answered from first: those in its language (or one it might be in, as `_other_languages` reads it) and
        those of unclear language. None when the entries are in one language, the question is unclear, or
        nothing is written in its language (then every entry, across languages)."""
        if not self.mixed():
            return None
        found, possible = self._detector.possible(text)
        if found is None or found.confidence < QUESTION_SURE or not possible & self._written.keys():
            return None
        key = frozenset(possible & self._written.keys())
        with self._lock:
            if key not in self._own_language:
                self._own_language[key] = {entry for entry in self._entries if self._languages.get(entry, None)
                                           in key or entry not in self._languages
                                           or key & self._also.get(entry, frozenset())}
            return self._own_language[key]

    def foreign_language(self, text: str) -> str | None:
        """The language of a question the detector is sure of, when (almost) no entry is written in it or its kin:
        a German question to an English knowledge base (retrieval/language_traffic.py). None when the question is
        unclear, the entries' languages are unknown, or at least `FOREIGN_SHARE` of them are in its language.
        (A share, not "none": of HWU64's English texts a handful read as German, "change this time to ist".)"""
        with self._lock:
            counts = dict(self._counts)
        if not counts:
            return None
        found = self._detector.detect(text)
        if found is None or found.confidence < QUESTION_SURE:
            return None
        own = sum(count for code, count in counts.items() if family(code) == family(found.code))
        return found.code if own < FOREIGN_SHARE * sum(counts.values()) else None

    def language_of(self, entry: int) -> str | None:
        """The language an entry was indexed as ("de"), None where the detector was unsure."""
        return self._languages.get(entry)

    def _language_of(self, texts: list[str]) -> str | None:
        """The entry's language, read from its texts together up to the first one the detector is sure is in
        another language family than those before it. An FAQ's texts come as its question, the admin's
        alternatives, then generated ones, translations into customers' languages last
        (training/translations.py): a plain question with two translations was read as one of them."""
        own = texts[:1]
        for text in texts[1:]:
            found = self._detector.detect(text[:_DETECTED_CHARS])
            if found is not None and found.confidence >= TEXT_SURE:
                so_far = self._detector.detect(" ".join(own)[:_DETECTED_CHARS])
                if so_far is not None and so_far.confidence >= _SURE and family(so_far.code) != family(found.code):
                    break
            own.append(text)
        found = self._detector.detect(" ".join(own)[:_DETECTED_CHARS])
        return found.code if found is not None and found.confidence >= _SURE else None

    def _text_language(self, text: str, entry_language: str | None) -> str | None:
        """The language one text of an entry is counted in: its own where the detector is sure it is not the
        entry's (nor kin to it), else the entry's."""
        found = self._detector.detect(text[:_DETECTED_CHARS])
        if found is None or found.confidence < TEXT_SURE or entry_language is not None \
                and family(found.code) == family(entry_language):
            return entry_language
        return found.code

    def _other_languages(self, text: str) -> list[str]:
        """The entries' languages a question the detector is sure of cannot be in: not among the detector's
        runners-up, nor kin to them (core.language_detection.KIN: Norwegian read as Danish, Chinese and Japanese
        sharing ideographs)."""
        if not self._written:
            return []
        found, possible = self._detector.possible(text)
        if found is None or found.confidence < QUESTION_SURE:
            return []
        return sorted(self._written.keys() - possible)  # the counts, not every entry: a question costs the same

    def _commit(self) -> None:
        self._writer.commit()
        self._index.reload()
        self._searcher = self._index.searcher()

    def search(self, text: str, top_k: int, allowed: set[int] | None = None,
               all_words: bool = False) -> list[LexicalMatch]:
        """`all_words`: only texts that contain every word (else any, ranked by BM25)."""
        words = _WORD.findall(_CJK_RUN.sub(" ", text.lower()))
        grams = cjk_bigrams(text)
        if not (words or grams) or allowed is not None and not allowed:
            return []
        query = self._query(words, grams, all_words)
        if not all_words and (others := self._other_languages(text)):  # a code or number is in every language
            query = tantivy.Query.boolean_query([
                (tantivy.Occur.Must, query),
                (tantivy.Occur.MustNot, tantivy.Query.term_set_query(self._schema, "language", others)),
            ])
        if allowed is not None:
            only = tantivy.Query.term_set_query(self._schema, "entry", sorted(allowed))
            query = tantivy.Query.boolean_query([
                (tantivy.Occur.Must, query),
                (tantivy.Occur.Must, tantivy.Query.const_score_query(only, 0.0)),
            ])
        searcher = self._searcher
        best: dict[int, LexicalMatch] = {}
        for score, address in searcher.search(query, top_k * 8 + 16).hits:
            vector_id = searcher.doc(address)["vector"][0]
            entry, position = entry_of_vector(vector_id)
            if entry not in best:
                best[entry] = LexicalMatch(entry, float(score), position)
                if len(best) == top_k:
                    break
        return list(best.values())

    def _query(self, words: list[str], grams: list[str], all_words: bool) -> tantivy.Query:
        occur = tantivy.Occur.Must if all_words else tantivy.Occur.Should
        clauses = [(occur, tantivy.Query.term_query(self._schema, "cjk", gram)) for gram in dict.fromkeys(grams)]
        if words:
            # Only plain words reach the parser, so customer text can never be a query-syntax error.
            fields = ["text", *(f"text_{code}" for code in sorted(self._written.keys() & STEMMED_LANGUAGES.keys()))]
            parsed = self._index.parse_query(" ".join(("+" if all_words else "") + w for w in words), fields)
            if not clauses:
                return parsed
            clauses.append((occur, parsed))
        return tantivy.Query.boolean_query(clauses)


def _decrement(counts: Counter[str], languages: list[str]) -> None:
    for language in languages:
        counts[language] -= 1
        if not counts[language]:
            del counts[language]


def cjk_bigrams(text: str) -> list[str]:
    """Overlapping character pairs of each Chinese/Japanese run of `text` (a run of one character: itself)."""
    grams = []
    for run in _CJK_RUN.findall(text):
        grams.extend([run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)])
    return grams
