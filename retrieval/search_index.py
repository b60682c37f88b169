"""The search index of one process: dense + BM25 over every FAQ and chunk, kept at the database's version.

The database is the source of truth. Writers change records and log the touched entries under a new
index version in one transaction (`retrieval.changes`), then apply the change to their own index.
Every other process notices the new version on its next search (polled at most every `poll_seconds`)
and re-reads only the logged entries. A snapshot of the dense index (with the version it reflects) is
written in the background, so a restart re-embeds only what changed since.

Each FAQ's answer has a vector too, in an index of its own (`answers`, one vector per FAQ under the FAQ's
entry id, snapshotted beside the other): a knowledge base written as plain questions has one short text per
FAQ, and its answer is where the words of a customer's paraphrase are (retrieval/hybrid.py). The writer logs
an FAQ's answer vector after its questions' (`FaqDraft.embedded_texts`), so other processes still apply
an edit without embedding.
"""

import logging
import re
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from sqlalchemy.orm import sessionmaker

from retrieval.changes import changed_since, current_version, logged_vectors
from retrieval.dense import DenseConfig, DenseIndex
from retrieval.dense_snapshots import load_snapshot, save_snapshot
from retrieval.embedder import Embedder
from retrieval.entries import ACTION_BIT, FAQ_BIT, fingerprint, ref
from retrieval.classifier import FaqClassifier
from retrieval.hybrid import (
    CLASSIFIER_MIN_COSINE, Candidate, FusionConfig, fuse, leads, order_key, plain_ranking, reciprocal_rank_fusion,
)
from retrieval.indexed_content import stored_answers, stored_fingerprints, stored_texts
from retrieval.lexical import LexicalIndex

log = logging.getLogger(__name__)

_BATCH = 2048
_CODE = re.compile(r"\b(?=[A-Za-z-]*\d)(?=[\d-]*[A-Za-z])[A-Za-z\d]+(?:-[A-Za-z\d]+)+\b|\b[A-Za-z]+\d+[A-Za-z\d]*\b")
CODE_BONUS = 0.5  # ranking only; the confidence the decision uses is untouched
_ANSWERS = "answers"  # the answers' snapshot, a folder inside the index folder


@dataclass(frozen=True)
class Upsert:
    """An entry's new state, as its writer committed it."""

    entry: int
    texts: list[str]
    vectors: np.ndarray
    content_hash: str
    answer: np.ndarray | None = None  # an FAQ's answer vector; None: embedded from the stored answer


@dataclass(frozen=True)
class SyncReport:
    added: int  # entries embedded (new, changed, or everything without a snapshot)
    removed: int  # entries dropped or replaced because the database no longer has them as indexed
    unchanged: int  # entries kept with their vectors
    loaded_snapshot: bool
    version: int


class SearchIndex:
    def __init__(self, sessions: sessionmaker, embedder: Embedder, folder: Path,
                 dense_config: DenseConfig = DenseConfig(), fusion: FusionConfig = FusionConfig(),
                 poll_seconds: float = 0.25, snapshot_seconds: float = 30.0):
        self.sessions = sessions
        self.embedder = embedder
        self.folder = folder
        self.dense_config = dense_config
        self.fusion = fusion
        self.poll_seconds = poll_seconds
        self.snapshot_seconds = snapshot_seconds
        self.dense: DenseIndex | None = None
        self.answers: DenseIndex | None = None  # one vector per FAQ: its answer
        self.lexical = LexicalIndex()
        self.version = 0
        self._saved_version = -1
        self._checked_at = 0.0
        self._apply_lock = threading.RLock()
        self._snapshots: threading.Thread | None = None
        self._stop = threading.Event()
        self._actions: set[int] = set()

    # -- start-up ------------------------------------------------------------------------------------

    def sync(self) -> SyncReport:
        """Bring this process's index in line with the database, embedding only what changed.

        The index starts from memory, else from the snapshot, else empty. An entry is re-read when its
        content fingerprint differs from the database's (which also catches edits that bypassed the
        change log: a restore, a manual fix) or when the change log lists it since the index's version.
        """
        dimension, model_id = self.embedder.dimension, self.embedder.model_id
        with self._apply_lock:
            loaded = False
            if self.dense is None:
                snapshot = load_snapshot(self.folder, dimension, model_id, self.dense_config)
                self.dense, self.version = snapshot or (DenseIndex(dimension, model_id, self.dense_config), 0)
                self._saved_version = self.version if snapshot else -1
                loaded = snapshot is not None
                answers = load_snapshot(self.folder / _ANSWERS, dimension, model_id, self.dense_config)
                self.answers = answers[0] if answers else DenseIndex(dimension, model_id, self.dense_config)
            with self.sessions() as session:
                latest = current_version(session)
                current = stored_fingerprints(session)
                in_order = self.version <= latest  # else the database was restored to an older state
                changed = set(changed_since(session, self.version, latest)) if in_order else set(current)
                logged = logged_vectors(session, self.version, latest, model_id, dimension) if in_order else {}
            indexed = self.dense.fingerprints()
            changed = {e for e in current if e in changed or indexed.get(e) != current[e]}
            stale = set(indexed) - set(current)
            if len(self.lexical) == 0:  # BM25 lives in memory only: index the unchanged texts too
                self._load(sorted(set(current) - changed), embed=False)
            self._load(sorted(changed | stale), logged=logged)
            answered = self.answers.fingerprints()
            self._load_answers(sorted({e for e in current if e & FAQ_BIT and answered.get(e) != current[e]}
                                      | (set(answered) - set(current))))
            self.version = latest
        self.save()
        self._start_snapshots()
        report = SyncReport(added=len(changed), removed=len(stale) + len(changed & set(indexed)),
                            unchanged=len(current) - len(changed), loaded_snapshot=loaded, version=latest)
        log.info("Search index at version %d: %d vectors (%s), %d BM25 texts; %s",
                 latest, len(self.dense), self.dense.kind, len(self.lexical), report)
        return report

    # -- keeping up ----------------------------------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Catch up with changes other processes committed; cheap when there are none."""
        now = time.monotonic()
        if not force and now - self._checked_at < self.poll_seconds:
            return
        self._checked_at = now
        with self.sessions() as session:
            latest = current_version(session)
        if latest <= self.version:
            return
        with self._apply_lock:
            if latest <= self.version:
                return
            with self.sessions() as session:
                entries = changed_since(session, self.version, latest)
                logged = logged_vectors(session, self.version, latest, self.embedder.model_id,
                                        self._require_dense().dimension)
            self._load(entries, logged=logged)
            log.info("Index caught up from version %d to %d (%d entries)", self.version, latest, len(entries))
            self.version = latest

    def apply(self, version: int, upserts: list[Upsert], removals: list[int]) -> None:
        """Apply a change this process just committed as `version`, without reading it back."""
        with self._apply_lock:
            dense = self._require_dense()
            if upserts:
                dense.upsert_many([u.entry for u in upserts], np.vstack([u.vectors for u in upserts]),
                                  [len(u.texts) for u in upserts], [fingerprint(u.content_hash) for u in upserts])
                self.lexical.upsert_many([(u.entry, u.texts) for u in upserts])
            self._track_actions([u.entry for u in upserts], removals)
            self._load_answers([u.entry for u in upserts if u.entry & FAQ_BIT],
                               {u.entry: u.answer for u in upserts if u.answer is not None})
            for entry in removals:
                dense.remove(entry)
                if entry in self._require_answers():
                    self.answers.remove(entry)
            if removals:
                self.lexical.remove_many(removals)
            if version == self.version + 1:
                self.version = version  # otherwise another process wrote in between: refresh() reads it

    def _load(self, entries: list[int], embed: bool = True,
              logged: dict[int, tuple[str, np.ndarray]] | None = None) -> None:
        """Bring `entries` in line with the database: re-read their texts; gone ones are removed.

        Vectors come from `logged` (the change log) when they were made from the entry's current content,
        else from the embedder. An FAQ's logged vectors end with its answer's (`embedded_texts`).
        """
        logged = logged or {}
        for start in range(0, len(entries), _BATCH):
            batch = entries[start : start + _BATCH]
            stored = stored_texts(self.sessions, batch)
            texts = {entry: entry_texts for entry, (entry_texts, _) in stored.items()}
            present = [entry for entry in batch if entry in texts]
            current = {e: logged[e][1] for e in present if logged.get(e, ("",))[0] == stored[e][1]}
            if embed and present:
                missing = [e for e in present if e not in current]
                fresh = self.embedder.embed([text for entry in missing for text in texts[entry]])
                offsets = np.cumsum([0] + [len(texts[entry]) for entry in missing])
                vector_of = {e: vectors[: len(texts[e])] for e, vectors in current.items()}
                vector_of.update({e: fresh[offsets[i] : offsets[i + 1]] for i, e in enumerate(missing)})
                self._require_dense().upsert_many(present, np.vstack([vector_of[e] for e in present]),
                                                  [len(texts[entry]) for entry in present],
                                                  [fingerprint(stored[entry][1]) for entry in present])
            self.lexical.upsert_many([(entry, texts[entry]) for entry in present])
            gone = [entry for entry in batch if entry not in texts]
            self._track_actions(present, gone)
            for entry in gone:
                self._require_dense().remove(entry)
            self.lexical.remove_many(gone)
            if embed:
                self._load_answers([entry for entry in batch if entry & FAQ_BIT],
                                   {e: v[len(texts[e])] for e, v in current.items() if len(v) > len(texts[e])})

    def _load_answers(self, entries: list[int], known: dict[int, np.ndarray] | None = None) -> None:
        """Bring the answer vectors of the FAQ `entries` in line with the database: `known` ones as given (made
        from the stored content), the others embedded from the stored answer; gone FAQs' are dropped."""
        answers, known = self._require_answers(), known or {}
        for start in range(0, len(entries), _BATCH):
            batch = entries[start : start + _BATCH]
            stored = stored_answers(self.sessions, batch)
            present = [entry for entry in batch if entry in stored]
            missing = [entry for entry in present if entry not in known]
            fresh = dict(zip(missing, self.embedder.embed([stored[e][0] for e in missing]))) if missing else {}
            if present:
                answers.upsert_many(present, np.vstack([known.get(e, fresh.get(e)) for e in present]),
                                    [1] * len(present), [fingerprint(stored[e][1]) for e in present])
            for entry in batch:
                if entry not in stored and entry in answers:
                    answers.remove(entry)
    def _track_actions(self, present: list[int], gone: list[int]) -> None:
        self._actions = (self._actions | {e for e in present if e & ACTION_BIT}) - set(gone)

    # -- search --------------------------------------------------------------------------------------

    def search(self, vector: np.ndarray, text: str, top_k: int, allowed: set[int] | None = None,
               fusion: FusionConfig | None = None, classifier: FaqClassifier | None = None,
               actions: bool = False, own_language: bool = False) -> list[Candidate]:
        """The best `top_k` entries, each with its cosine, BM25 score, classifier probability and fusion.

        Candidates are the union of the dense list, the BM25 list and (in hybrid mode) the classifier's
        most probable FAQs; every candidate gets its cosine and probability, whoever found it, because the
        decision is calibrated on both. Declared actions are searched only with `actions` (and then only
        they), so they never change an FAQ's ranking or its scaled BM25. `own_language`: `allowed` are the entries
        of the question's language, and the classifier's probabilities are renormalised over them."""
        fusion = fusion or self.fusion
        dense_index = self._require_dense()
        depth = max(top_k * 4, 30)
        if actions:
            allowed = {entry for entry in self.action_entries if allowed is None or entry in allowed}
        dense = dense_index.search(vector, depth, allowed) if fusion.mode != "lexical" else []
        lexical = self.lexical.search(text, depth, allowed) if fusion.mode not in ("dense",) else []
        if not actions and self.action_entries:
            dense = [match for match in dense if not match.entry & ACTION_BIT]
            lexical = [match for match in lexical if not match.entry & ACTION_BIT]
        probabilities = (classifier.probability_of(vector, allowed if own_language else None)
                         if classifier is not None else {})
        dense_of = {match.entry: (rank, match) for rank, match in enumerate(dense, start=1)}
        lexical_of = {match.entry: (rank, match) for rank, match in enumerate(lexical, start=1)}
        entries = list(dict.fromkeys([*dense_of, *lexical_of]))
        if fusion.mode == "hybrid" and probabilities and classifier.scale > 0:
            likely = sorted(probabilities, key=probabilities.get, reverse=True)
            entries += [e for e in likely if allowed is None or e in allowed][:top_k + 5]
        answer_of = {} if actions else self._answer_scores(vector, entries, depth, allowed, fusion)
        entries = list(dict.fromkeys([*entries, *answer_of]))
        extra = dense_index.best_scores(vector, [entry for entry in entries if entry not in dense_of])
        rrf = reciprocal_rank_fusion(list(dense_of), list(lexical_of), fusion) if fusion.mode == "rrf" else {}
        coded = self._entries_with_codes(text, depth, allowed) if fusion.mode == "hybrid" else set()
        best_lexical = max((match.score for match in lexical), default=0.0)
        candidates = []
        for entry in entries:
            dense_rank, dense_match = dense_of.get(entry, (None, extra.get(entry)))
            lexical_rank, lexical_match = lexical_of.get(entry, (None, None))
            if dense_match is None and lexical_match is None:
                continue  # removed from the dense index since the classifier was trained
            cosine = dense_match.score if dense_match else None
            bm25 = lexical_match.score if lexical_match else None
            probability = probabilities.get(entry)
            if probability is not None and (cosine is None or cosine < CLASSIFIER_MIN_COSINE):
                probability = 0.0
            answer = answer_of.get(entry)
            candidates.append(Candidate(
                entry=entry,
                position=dense_match.position if dense_match else lexical_match.position,
                dense=cosine, dense_rank=dense_rank, lexical=bm25, lexical_rank=lexical_rank,
                probability=probability, answer=answer,
                fused=(rrf.get(entry, 0.0) if fusion.mode == "rrf" else
                       fuse(cosine, bm25, best_lexical, probability, fusion, answer) + CODE_BONUS * (entry in coded)),
            ))
        if classifier is None and fusion.mode == "hybrid" and not actions:
            candidates = self._plain(candidates, coded, best_lexical, fusion)
        candidates.sort(key=order_key(fusion), reverse=True)
        return candidates[:top_k]

    @staticmethod
    def _plain(candidates: list[Candidate], coded: set[int], best_lexical: float,
               fusion: FusionConfig) -> list[Candidate]:
        """A knowledge base without a classifier (retrieval/hybrid.py `plain_ranking`): its FAQs ranked without
        BM25, and the first one's lead, read with it."""
        lead = leads({c.entry: c.fused - CODE_BONUS * (c.entry in coded) for c in candidates if c.entry & FAQ_BIT})
        ranked = [replace(c, fused=plain_ranking(c, best_lexical, fusion)) if c.entry & FAQ_BIT else c
                  for c in candidates]
        first = max((c for c in ranked if c.entry & FAQ_BIT), key=order_key(fusion), default=None)
        return [replace(c, lead=(lead[c.entry] if c is first else 0.0) if c.entry & FAQ_BIT else None)
                for c in ranked]

    def _answer_scores(self, vector: np.ndarray, entries: list[int], depth: int, allowed: set[int] | None,
                       fusion: FusionConfig) -> dict[int, float]:
        """The answer cosine of the FAQs among `entries` and of the FAQs whose answers match best (hybrid mode
        with an answer weight only)."""
        answers = self._require_answers()
        if fusion.mode != "hybrid" or fusion.answer_weight <= 0 or len(answers) == 0:
            return {}
        found = {match.entry: match.score for match in answers.search(vector, depth, allowed)}
        rest = [entry for entry in entries if entry & FAQ_BIT and entry not in found]
        found.update((entry, match.score) for entry, match in answers.best_scores(vector, rest).items())
        return found

    def _entries_with_codes(self, text: str, depth: int, allowed: set[int] | None) -> set[int]:
        """Entries that contain the query's product codes or order numbers ("SRK-7731"): an exact rare token
        says more than any embedding of it, whatever the classifier thinks of the rest."""
        codes = _CODE.findall(text)
        if not codes:
            return set()
        return {match.entry for match in self.lexical.search(" ".join(codes), depth, allowed, all_words=True)}

    def faq_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """Every FAQ text's vector and its FAQ entry: what the classifier learns from."""
        dense = self._require_dense()
        return dense.vectors_of(sorted(entry for entry in dense.entries if entry & FAQ_BIT))

    def _require_dense(self) -> DenseIndex:
        if self.dense is None:
            raise RuntimeError("SearchIndex.sync() must run before searching or editing")
        return self.dense

    def _require_answers(self) -> DenseIndex:
        self._require_dense()
        return self.answers

    @property
    def action_entries(self) -> set[int]:
        """The declared actions' entries in this index (kept as a set: the FAQ path asks on every search)."""
        return self._actions

    @property
    def faq_ids(self) -> set[int]:
        return {ref(entry).id for entry in self._require_dense().entries if entry & FAQ_BIT}

    # -- snapshots -----------------------------------------------------------------------------------

    def save(self) -> None:
        with self._apply_lock:
            if self.dense is None or self._saved_version == self.version:
                return
            save_snapshot(self.dense, self.folder, self.version)
            save_snapshot(self.answers, self.folder / _ANSWERS, self.version)
            self._saved_version = self.version

    def _start_snapshots(self) -> None:
        if self._snapshots is not None or self.snapshot_seconds <= 0:
            return

        def loop() -> None:
            while not self._stop.wait(self.snapshot_seconds):
                try:
                    self.save()
                except OSError:
                    log.exception("Could not write the index snapshot to %s; will retry", self.folder)

        self._snapshots = threading.Thread(target=loop, name="index-snapshots", daemon=True)
        self._snapshots.start()

    def close(self) -> None:
        self._stop.set()
        self.save()
