"""Search latency at 10k and 1M chunks, HNSW recall against exact search, and FAQ edit-to-visible at 100k.

    python bench/retrieval_latency.py                        # 10k and 1M chunks, edit test at 100k
    python bench/retrieval_latency.py --sizes 10000 --edit-size 20000   # quick

How the synthetic corpus is built (embedding a million real chunks would take ~1 h on 2 cores):
- `--base` Banking77 training utterances (../shared/data/banking77, beside the repository) are embedded
  with the product's MiniLM; chunk i is the text of two of them plus a unique reference code, and its
  vector is normalize(mean(their two vectors) + noise), noise ~ N(0, sigma^2 / d) per dimension. So the
  vectors sit in realistic, overlapping clusters, and the texts have real vocabulary for BM25.
- Queries are Banking77 *test* utterances, embedded for real; the table times the index search only
  (dense, BM25, and the fused hybrid) and, separately, one query embedding.
- Recall@5 compares the entries the configured index returns with exact inner-product search
  (faiss.IndexFlatIP) over the same vectors.
- Edit-to-visible: a real KnowledgeBase on SQLite holding `--edit-size` synthetic chunks (inserted in
  bulk, vectors synthetic) and the sample FAQs; an FAQ is edited through `KnowledgeBase.update` and the
  clock runs until a search in the same process, and one in a second process-like KnowledgeBase on the
  same database (polling the index version), returns the new answer.
"""

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from retrieval.dense import DenseConfig, DenseIndex
from retrieval.dense_snapshots import load_snapshot, save_snapshot
from retrieval.entries import chunk_entry
from retrieval.hybrid import FusionConfig
from retrieval.lexical import LexicalIndex
from retrieval.search_index import SearchIndex

BANKING77 = Path(__file__).resolve().parents[2] / "shared" / "data" / "banking77"
SIGMA = 0.35
BATCH = 100_000


def utterances(name: str) -> list[str]:
    with (BANKING77 / name).open(encoding="utf-8") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


class Corpus:
    def __init__(self, embedder, base: int, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        texts = utterances("train.csv")
        self.base_texts = [texts[i] for i in self.rng.choice(len(texts), base, replace=False)]
        self.base_vectors = embedder.embed(self.base_texts)
        self.dimension = self.base_vectors.shape[1]

    def batch(self, start: int, count: int) -> tuple[list[str], np.ndarray]:
        pairs = self.rng.integers(0, len(self.base_texts), size=(count, 2))
        vectors = self.base_vectors[pairs[:, 0]] + self.base_vectors[pairs[:, 1]]
        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors += self.rng.normal(0, SIGMA / np.sqrt(self.dimension), vectors.shape).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        texts = [f"{self.base_texts[a]} {self.base_texts[b]} Ref KB-{start + i:07d}"
                 for i, (a, b) in enumerate(pairs.tolist())]
        return texts, vectors.astype(np.float32)


def percentiles(timings: list[float]) -> tuple[float, float]:
    ordered = sorted(timings)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def build(corpus: Corpus, size: int, config: DenseConfig) -> tuple[SearchIndex, np.ndarray, float]:
    """A SearchIndex over `size` synthetic chunks (no database needed for searching)."""
    index = SearchIndex(sessions=None, embedder=None, folder=Path(tempfile.mkdtemp()), dense_config=config)
    index.dense = DenseIndex(corpus.dimension, "bench", config)
    index.lexical = LexicalIndex()
    exact = faiss.IndexFlatIP(corpus.dimension)
    started = time.perf_counter()
    for start in range(0, size, BATCH):
        count = min(BATCH, size - start)
        texts, vectors = corpus.batch(start, count)
        entries = [chunk_entry(start + i + 1) for i in range(count)]
        index.dense.upsert_many(entries, vectors, [1] * count)
        index.lexical.upsert_many([(entry, [text]) for entry, text in zip(entries, texts)])
        exact.add(vectors)
        print(f"  {start + count:>9,} chunks indexed ({time.perf_counter() - started:.0f} s)", flush=True)
    return index, exact, time.perf_counter() - started


def measure(index: SearchIndex, exact, queries: list[str], vectors: np.ndarray) -> dict:
    rows = {}
    for mode in ("dense", "lexical", "hybrid"):
        fusion = FusionConfig(mode=mode)
        for query, vector in zip(queries[:10], vectors[:10]):  # warm caches
            index.search(vector, query, 5, fusion=fusion)
        timings = []
        for query, vector in zip(queries, vectors):
            began = time.perf_counter()
            index.search(vector, query, 5, fusion=fusion)
            timings.append((time.perf_counter() - began) * 1000)
        rows[mode] = percentiles(timings)
    _, truth = exact.search(vectors, 5)
    found = [{c.entry for c in index.search(v, q, 5, fusion=FusionConfig(mode="dense"))}
             for q, v in zip(queries, vectors)]
    rows["recall@5"] = float(np.mean([len(f & {chunk_entry(int(t) + 1) for t in row}) / 5
                                      for f, row in zip(found, truth)]))
    return rows


def latency(args, embedder) -> None:
    corpus = Corpus(embedder, args.base)
    queries = utterances("test.csv")[: args.queries]
    began = time.perf_counter()
    vectors = embedder.embed(queries)
    embed_ms = [0.0]
    for query in queries[:50]:
        started = time.perf_counter()
        embedder.embed([query])
        embed_ms.append((time.perf_counter() - started) * 1000)
    print(f"query embedding: p50 {statistics.median(embed_ms[1:]):.1f} ms per query (batch: "
          f"{(time.perf_counter() - began) * 1000 / len(queries):.1f} ms)")
    config = DenseConfig(hnsw_threshold=args.hnsw_threshold, hnsw_m=args.hnsw_m, hnsw_ef_search=args.ef_search,
                         hnsw_ef_construction=args.ef_construction)
    table = []
    for size in args.sizes:
        print(f"building {size:,} chunks...", flush=True)
        index, exact, seconds = build(corpus, size, config)
        rows = measure(index, exact, queries, vectors)
        save_started = time.perf_counter()
        save_snapshot(index.dense, index.folder, version=1)
        saved = time.perf_counter() - save_started
        load_started = time.perf_counter()
        load_snapshot(index.folder, corpus.dimension, "bench", config)
        loaded = time.perf_counter() - load_started
        table.append((size, index.dense.kind, rows, seconds, saved, loaded))
        del index, exact
    print()
    print("| chunks | index | dense p50 / p95 ms | BM25 p50 / p95 ms | hybrid p50 / p95 ms | dense recall@5 vs exact "
          "| build s | snapshot save / load s |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for size, kind, rows, seconds, saved, loaded in table:
        cells = " | ".join(f"{rows[m][0]:.2f} / {rows[m][1]:.2f}" for m in ("dense", "lexical", "hybrid"))
        print(f"| {size:,} | {kind} | {cells} | {rows['recall@5']:.3f} | {seconds:.0f} | {saved:.1f} / {loaded:.1f} |")


def edit_visibility(args, embedder) -> None:
    from sqlalchemy import insert

    from bot.cli.serve import SAMPLE_FAQS
    from bot.services import build_services
    from bot.settings import Settings
    from retrieval.documents import ChunkRecord, DocumentRecord, embedding_text
    from retrieval.faq_files import read_faq_file
    from retrieval.faqs import make_draft

    corpus = Corpus(embedder, args.base, seed=1)
    folder = Path(tempfile.mkdtemp(prefix="edit-bench-"))
    settings = Settings(data_dir=folder / "a", database_url=f"sqlite:///{folder / 'kb.db'}", device="cpu",
                        hnsw_threshold=args.hnsw_threshold, index_poll_seconds=args.poll)
    writer = build_services(settings, embedder=embedder)
    writer.start(with_lm=False)
    writer.knowledge.create_many(read_faq_file(SAMPLE_FAQS).drafts)
    reader = build_services(settings.model_copy(update={"data_dir": folder / "b"}), embedder=embedder)
    reader.start(with_lm=False)
    print(f"inserting {args.edit_size:,} synthetic chunks into SQLite...", flush=True)
    texts, vectors = corpus.batch(0, args.edit_size)
    with writer.sessions() as session:
        session.add(DocumentRecord(id=1, source="synthetic", source_kind="upload", title="Synthetic", media_type="text",
                                   tags=[], size_bytes=0, content_hash="", chunk_count=args.edit_size))
        session.flush()
        session.execute(insert(ChunkRecord), [
            {"id": i + 1, "document_id": 1, "position": i, "section": "", "text": text, "content_hash": str(i)}
            for i, text in enumerate(texts)])
        session.commit()
    # Written behind the change log on purpose: the vectors are synthetic, so each index gets them directly.
    entries = [chunk_entry(i + 1) for i in range(args.edit_size)]
    for services in (writer, reader):
        services.knowledge.index.dense.upsert_many(entries, vectors, [1] * args.edit_size)
        services.knowledge.index.lexical.upsert_many(
            [(e, [embedding_text("Synthetic", "", t)]) for e, t in zip(entries, texts)])
    print(f"index: {len(writer.knowledge.index.dense):,} vectors ({writer.knowledge.index.dense.kind})")
    faq = next(f for f in writer.knowledge.page(0, 100)[0] if f.question == "How do I return a device?")
    rows = []
    for attempt in range(args.edits):
        answer = f"Edited answer number {attempt}: returns are free within 30 days."
        question = "How do I return a device?" if attempt % 2 else "How can I send back a device I bought?"
        started = time.perf_counter()
        writer.knowledge.update(faq.id, make_draft(question, answer, faq.alt_questions, faq.tags))
        same = wait_until_seen(writer, question, answer, started)
        other = wait_until_seen(reader, question, answer, started)
        rows.append((same, other))
    same_p50, other_p50 = (statistics.median(r[i] for r in rows) for i in (0, 1))
    print()
    print(f"| chunks + FAQs | edits | visible in the editing process (p50 / max ms) | visible in another process "
          f"(p50 / max ms, polling every {args.poll:g} s) |")
    print("| ---: | ---: | ---: | ---: |")
    print(f"| {len(writer.knowledge.index.dense):,} vectors | {len(rows)} | {same_p50:.0f} / "
          f"{max(r[0] for r in rows):.0f} | {other_p50:.0f} / {max(r[1] for r in rows):.0f} |")


def wait_until_seen(services, question: str, answer: str, started: float, timeout: float = 10.0) -> float:
    while time.perf_counter() - started < timeout:
        hits = services.knowledge.search(question, top_k=1)
        if hits and hits[0].faq is not None and hits[0].faq.answer == answer:
            return (time.perf_counter() - started) * 1000
        time.sleep(0.005)
    raise RuntimeError("the edit was not visible within 10 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[10_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--base", type=int, default=3000, help="real utterances embedded as cluster centres")
    parser.add_argument("--hnsw-threshold", type=int, default=50_000)
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--ef-search", type=int, default=96)
    parser.add_argument("--ef-construction", type=int, default=80)
    parser.add_argument("--edit-size", type=int, default=100_000, help="0 skips the edit test")
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--poll", type=float, default=0.25)
    parser.add_argument("--torch-threads", type=int, default=0,
                        help="torch threads for the embedder (0: torch's default, one per core)")
    args = parser.parse_args()
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    if not BANKING77.exists():
        sys.exit(f"{BANKING77} is missing: the benchmark builds its corpus from Banking77 utterances.")
    from retrieval.embedder import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder("default", device="cpu")
    embedder.warm_up()
    if args.sizes and args.sizes != [0]:
        latency(args, embedder)
    if args.edit_size:
        edit_visibility(args, embedder)


if __name__ == "__main__":
    main()
