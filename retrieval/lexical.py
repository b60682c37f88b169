"""The lexical half of search: BM25 over the same entries, in an in-memory Tantivy index.

Tantivy (the Rust engine behind Quickwit) was picked over bm25s/rank-bm25 because it adds and deletes
documents in place: an edit is one small segment and a ~3 ms commit, where bm25s and rank-bm25 rebuild
the whole corpus. Each text is its own Tantivy document (an FAQ's alternatives are grouped back to the
FAQ by best score, as in the dense index), stemmed with the English Snowball stemmer.

Chinese and Japanese are written without spaces, so a word pattern made a whole sentence one token and BM25 never
matched a reworded question. Their characters are indexed as overlapping character bigrams in a field of their
own ("我的订单在哪里" → 我的 的订 订单 单在 在哪 哪里), the classic CJK analysis (Lucene's CJKAnalyzer): no
dictionary to ship, and a knowledge base may mix languages (docs/languages.md). Text without CJK characters is
indexed and searched exactly as before.
"""

import re
import threading
from dataclasses import dataclass

import tantivy

from retrieval.entries import entry_of_vector, vector_ids

_WORD = re.compile(r"\w+", re.UNICODE)
# Han ideographs, kana and the CJK compatibility ideographs: scripts written without spaces between words.
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_HEAP_BYTES = 64_000_000


@dataclass(frozen=True)
class LexicalMatch:
    entry: int
    score: float  # BM25
    position: int


class LexicalIndex:
    def __init__(self) -> None:
        builder = tantivy.SchemaBuilder()
        # Entry and vector ids use bit 62 at most, so they fit Tantivy's signed 64-bit integers as they are.
        builder.add_integer_field("vector", stored=True, indexed=True, fast=True)
        builder.add_integer_field("entry", stored=False, indexed=True, fast=True)
        builder.add_text_field("text", stored=False, tokenizer_name="en_stem")
        builder.add_text_field("cjk", stored=False, tokenizer_name="cjk_bigrams")
        self._schema = builder.build()
        self._index = tantivy.Index(self._schema)
        bigrams = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build()  # made by cjk_bigrams()
        self._index.register_tokenizer("cjk_bigrams", bigrams)
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
                for vector_id, text in zip(vector_ids(entry, len(texts)), texts):
                    self._writer.add_document(tantivy.Document(
                        vector=vector_id, entry=entry, text=text, cjk=" ".join(cjk_bigrams(text))))
            self._commit()

    def remove_many(self, entries: list[int]) -> None:
        with self._lock:
            for entry in entries:
                self._writer.delete_documents_by_term("entry", entry)
            self._commit()

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
            parsed = self._index.parse_query(" ".join(("+" if all_words else "") + w for w in words), ["text"])
            if not clauses:
                return parsed
            clauses.append((occur, parsed))
        return tantivy.Query.boolean_query(clauses)


def cjk_bigrams(text: str) -> list[str]:
    """Overlapping character pairs of each Chinese/Japanese run of `text` (a run of one character: itself)."""
    grams = []
    for run in _CJK_RUN.findall(text):
        grams.extend([run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)])
    return grams
