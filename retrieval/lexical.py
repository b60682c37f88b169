"""The lexical half of search: BM25 over the same entries, in an in-memory Tantivy index.

Tantivy (the Rust engine behind Quickwit) was picked over bm25s/rank-bm25 because it adds and deletes
documents in place: an edit is one small segment and a ~3 ms commit, where bm25s and rank-bm25 rebuild
the whole corpus. Each text is its own Tantivy document (an FAQ's alternatives are grouped back to the
FAQ by best score, as in the dense index), stemmed with the English Snowball stemmer.
"""

import re
import threading
from dataclasses import dataclass

import tantivy

from retrieval.entries import entry_of_vector, vector_ids

_WORD = re.compile(r"\w+", re.UNICODE)
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
        self._schema = builder.build()
        self._index = tantivy.Index(self._schema)
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
                        vector=vector_id, entry=entry, text=text))
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
        words = _WORD.findall(text.lower())
        if not words or allowed is not None and not allowed:
            return []
        # Only plain words reach the parser, so customer text can never be a query-syntax error.
        query = self._index.parse_query(" ".join(("+" if all_words else "") + w for w in words), ["text"])
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

