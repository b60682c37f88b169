"""Keeps the FAQ classifier and the self-calibrated thresholds in step with the knowledge base.

What it learns belongs to one state of the FAQs (a key over their content fingerprints and the embedder),
and is swapped in whole, so a search never mixes a classifier with thresholds from another state:
- at start-up `train_now` learns it before the process reports healthy (or loads it from the snapshot in
  the index folder, or from this process's memory when the same FAQs were seen before);
- after this process edits FAQs, `refit_classifier` retrains the classifier at once (the first time, for
  a knowledge base that had none, it learns the thresholds too before the edit returns) (an edited FAQ is
  ranked by what it now says on the very next message; ~0.3 s for the sample shop, ~1 s for 6,000
  questions) and the thresholds are recalibrated in the background;
- after another process's edit, `schedule` does both in the background: the classifier within a few
  tenths of a second, the thresholds after a debounce. The answer path never waits: until the new state
  is ready it uses the previous one (an FAQ newer than the classifier gets p = 0).

Several server processes share the index folder (`helpdesk serve --workers N`): learning the thresholds
takes a file lock there, and a process that waited for it loads what the other one just saved instead of
learning the same FAQs again (10-30 s of CPU each for the sample shop).
"""

import hashlib
import logging
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
from filelock import FileLock

from retrieval.classifier import FaqClassifier
from retrieval.embedder import Embedder, model_calibration
from retrieval.entries import FAQ_BIT
from retrieval.indexed_content import stored_texts
from retrieval.learned_state import Learned, load_learned, save_learned, with_chosen_blend
from retrieval.search_index import SearchIndex
from retrieval.self_calibration import calibratable, calibrate, off_topic_questions

log = logging.getLogger(__name__)

# of what is learned: a snapshot of another version is learned again (3: answer weights; 4: a knowledge base of
# several languages ranks each held-out question among its own language's FAQs; 5: answer weights up to three
# times the configured one; 6: the BM25 weight)
_VERSION = 6
_DEBOUNCE_SECONDS = 1.0
_REFIT_DELAY_SECONDS = 0.1  # another process's edit: gather its burst, then refit the classifier
_REMEMBER = 16
# A fine-tuned embedder's thresholds describe the knowledge base it was trained on: more than this share of
# FAQs added or removed since, and /health says so.
STALE_SHARE = 0.2
_remembered: dict[str, "Learned"] = {}  # per process: the same FAQs (tests, restarts of one app) learn once


_NOTHING = Learned("", -1, None, None, "not calibrated yet")
NO_CALIBRATION = "too few alternative questions to calibrate on"
OFF_TOPIC_PERCENTILE = 95  # without a calibration, 95% of the off-topic questions stay below generate (as with one)


class Calibrator:
    def __init__(self, index: SearchIndex, embedder: Embedder, folder: Path, enabled: bool = True,
                 own_language_only: bool = False):
        self.index = index
        self.embedder = embedder
        self.folder = folder
        self.enabled = enabled
        # search ranks a question among its own language's FAQs (retrieval/knowledge_base.py `candidates`)
        self.own_language_only = own_language_only
        self.current = _NOTHING if enabled else replace(_NOTHING, note="the FAQ classifier is switched off")
        self._off_topic: np.ndarray | None = None
        self._wake = threading.Event()  # thresholds to relearn
        self._refit_wake = threading.Event()  # another process edited: a classifier for its FAQs
        self._stop = threading.Event()
        self._lock = threading.Lock()  # swapping `current`
        self._training = threading.Lock()
        self._thread: threading.Thread | None = None
        self._refitter: threading.Thread | None = None

    @property
    def classifier(self) -> FaqClassifier | None:
        return self.current.classifier

    # -- learning ------------------------------------------------------------------------------------

    def train_now(self) -> Learned:
        """Learn classifier and thresholds for the index as it is (start-up; evaluations)."""
        if not self.enabled:
            return self.current
        with self._training:  # one calibration at a time; edits do not wait for it (refit_classifier)
            version = self.index.version
            vectors, labels = self.index.faq_vectors()
            key = self._key(labels)
            learned = _remembered.get(key) or load_learned(self.folder, key) or self._learn_once(key, vectors, labels)
            _remembered[key] = learned
            while len(_remembered) > _REMEMBER:
                _remembered.pop(next(iter(_remembered)))
            with self._lock:
                if self.current.version <= version:
                    self.current = replace(learned, version=version)
                else:  # an edit refitted the classifier meanwhile: keep it, learn again
                    self._wake.set()
        self._start()
        return self.current

    def refit_classifier(self) -> None:
        """After this process's own edit: the classifier now, the thresholds in the background."""
        if not self.enabled:
            return
        if self.current.classifier is None:  # the first calibration (an import into an empty knowledge
            self.train_now()                  # base): the writer waits for it, once
            return
        self._refit()
        self.schedule()

    def _refit(self) -> None:
        """A classifier for the index as it is now, with the thresholds in force."""
        version = self.index.version
        vectors, labels = self.index.faq_vectors()
        known = _remembered.get(self._key(labels))
        classifier = known.classifier if known else with_chosen_blend(FaqClassifier.train(vectors, labels),
                                                                      self.current.calibrated)
        with self._lock:
            if version >= self.current.version:
                self.current = replace(self.current, classifier=classifier, version=version)

    def schedule(self) -> None:
        """Relearn in the background (debounced); cheap to call on every search."""
        if self.enabled and self._thread is not None:
            self._refit_wake.set()
            self._wake.set()

    def stale(self) -> bool:
        return self.enabled and self.current.version != self.index.version

    def _learn_once(self, key: str, vectors: np.ndarray, labels: np.ndarray) -> "Learned":
        """Learn and save, one process of the host at a time; one that waited loads the result."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with FileLock(self.folder / "calibration.lock"):
            learned = load_learned(self.folder, key)
            if learned is None:
                learned = self._learn(key, vectors, labels)
                self._save_snapshot(learned)
        return learned

    def _learn(self, key: str, vectors: np.ndarray, labels: np.ndarray) -> Learned:
        tuned = model_calibration(self.embedder)
        if tuned is None and len(np.unique(labels)) >= 2 and not calibratable(labels):  # plain questions: no fit
            return Learned(key, -1, None, None, NO_CALIBRATION, self._off_topic_floor())
        classifier = FaqClassifier.train(vectors, labels)
        if classifier is None:
            faqs = len(np.unique(labels))
            return Learned(key, -1, None, None, f"{faqs} FAQs: too few or too many for the classifier",
                           self._off_topic_floor())
        note = ""
        if tuned is not None:  # a fine-tuned embedder: its own held-out calibration, made when it was trained
            if tuned.calibrated is None:
                return Learned(key, -1, None, None, f"fine-tuned embedder without a calibration: {tuned.note}")
            calibrated = tuned.calibrated
            if abs(len(classifier) - calibrated.faqs) > STALE_SHARE * calibrated.faqs:
                note = (f"the embedder's thresholds were calibrated on {calibrated.faqs} FAQs and the knowledge "
                        f"base now has {len(classifier)}: run `helpdesk train embeddings` again")
                log.warning("Serving with stale thresholds: %s", note)
        else:
            lexical = self.index.lexical  # several languages, no embedder across them: each among its own
            calibrated = calibrate(vectors, labels, self._off_topic_vectors(), answers=self._answers(labels),
                                   answer_weight=self.index.fusion.answer_weight,
                                   languages=([lexical.language_of(entry) for entry in labels.tolist()]
                                              if self.own_language_only and lexical.mixed() else None),
                                   texts=self._texts(labels), lexical_weight=self._lexical_weight())
        if calibrated is None:  # thresholds on the classifier's scale need calibrating: cosine + lead instead
            return Learned(key, -1, None, None, NO_CALIBRATION, self._off_topic_floor())
        log.info("Calibrated on %d FAQs / %d questions: %s", len(classifier), len(labels), calibrated.as_dict())
        return Learned(key, -1, with_chosen_blend(classifier, calibrated), calibrated, note)

    def _answers(self, labels: np.ndarray) -> dict[int, np.ndarray] | None:
        """The answer vector of each FAQ of `labels`; None unless every one has its answer indexed."""
        vectors, entries = self.index.answers.vectors_of(np.unique(labels).tolist())
        return dict(zip(entries.tolist(), vectors)) if len(entries) == len(np.unique(labels)) else None

    def _texts(self, labels: np.ndarray) -> list[str] | None:
        """The text of each row of `labels` (`faq_vectors`: each FAQ's rows together, in entry order, its texts in
        their order); None when the database no longer holds what was embedded (an edit in between: the next
        calibration has it)."""
        entries, counts = np.unique(labels, return_counts=True)
        stored = stored_texts(self.index.sessions, entries.tolist())
        texts = [stored.get(entry, ([], ""))[0] for entry in entries.tolist()]
        if [len(t) for t in texts] != counts.tolist() or not np.array_equal(labels, np.repeat(entries, counts)):
            return None
        return [text for entry_texts in texts for text in entry_texts]

    def _lexical_weight(self) -> float:
        fusion = self.index.fusion
        return fusion.lexical_weight if fusion.mode == "hybrid" else 0.0

    def _off_topic_floor(self) -> float | None:
        """The 95th percentile of the off-topic questions' confidence in this knowledge base searched without a
        classifier (cosine + lead, as live search has it then); None without FAQs."""
        fusion, confidences = self.index.fusion, []
        for text, vector in zip(off_topic_questions(), self._off_topic_vectors()):
            faqs = [c for c in self.index.search(vector, text, 3, fusion=fusion) if c.entry & FAQ_BIT]
            if faqs:
                confidences.append(faqs[0].confidence)
        return round(float(np.percentile(confidences, OFF_TOPIC_PERCENTILE)), 4) if confidences else None

    def _off_topic_vectors(self) -> np.ndarray:
        if self._off_topic is None:
            self._off_topic = self.embedder.embed(off_topic_questions())
        return self._off_topic

    def _key(self, labels: np.ndarray) -> str:
        fingerprints = self.index.dense.fingerprints() if self.index.dense is not None else {}
        faqs = sorted((entry, fingerprints.get(entry, 0)) for entry in fingerprints if entry & FAQ_BIT)
        digest = hashlib.sha256(f"{_VERSION}|{self.embedder.model_id}|{len(labels)}|{faqs}".encode())
        return digest.hexdigest()[:32]

    # -- background ----------------------------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is not None:
            return
        # Two threads: a calibration takes 10-30 s, and another process's new FAQ must not wait for one
        # to be ranked by the classifier.
        self._refitter = threading.Thread(target=self._refit_loop, name="classifier-refit", daemon=True)
        self._refitter.start()
        self._thread = threading.Thread(target=self._loop, name="calibrator", daemon=True)
        self._thread.start()

    def _refit_loop(self) -> None:
        while not self._stop.is_set():
            self._refit_wake.wait()
            if self._stop.wait(_REFIT_DELAY_SECONDS):
                return
            self._refit_wake.clear()
            try:
                self.index.refresh(force=True)
                if self.stale():
                    self._refit()
            except Exception:  # the previous classifier stays; the next edit or search tries again
                log.exception("Refitting the FAQ classifier failed; keeping the previous one")

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.wait(_DEBOUNCE_SECONDS):
                return
            self._wake.clear()
            try:
                self.index.refresh(force=True)
                self.train_now()
            except Exception:  # a failed recalibration must not end the thread: the old state stays
                log.exception("Recalibrating the decision thresholds failed; keeping the previous ones")

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._refit_wake.set()

    # -- snapshot ------------------------------------------------------------------------------------

    def _save_snapshot(self, learned: Learned) -> None:
        try:
            save_learned(self.folder, learned)
        except OSError:
            log.exception("Could not write the calibration snapshot to %s", self.folder)
