"""Hybrid search, the index across processes and restarts, API keys with roles, the audit log."""

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.services import build_services
from retrieval.dense import DenseConfig, DenseIndex
from retrieval.dense_snapshots import load_snapshot, save_snapshot
from retrieval.entries import chunk_entry, faq_entry
from retrieval.faqs import make_draft
from retrieval.hybrid import MAX_LEAD, Candidate, FusionConfig, leads, reciprocal_rank_fusion
from retrieval.search_index import SearchIndex
from retrieval.library import Upload
from tests.conftest import make_settings
from tests.support.documents_fixtures import ARTICLE


@pytest.mark.unit
def test_reciprocal_rank_fusion_rewards_agreement():
    dense, lexical = list(range(1, 11)), [10, 11]
    fused = reciprocal_rank_fusion(dense, lexical, FusionConfig(mode="rrf", rrf_k=60, rrf_lexical_weight=1.0))
    assert max(fused, key=fused.get) == 10  # 10th dense + 1st BM25 beats 1st dense alone
    assert fused[1] == pytest.approx(1 / 61) and fused[11] == pytest.approx(1 / 62)
    dense_heavy = reciprocal_rank_fusion(dense, lexical, FusionConfig(mode="rrf", rrf_k=60, rrf_lexical_weight=0.05))
    assert max(dense_heavy, key=dense_heavy.get) == 1


def unit_vectors(count: int, seed: int, dimension: int = 32) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.unit
def test_only_the_first_faq_leads_by_its_distance_to_the_second():
    assert leads({1: 1.4, 2: 1.1, 3: 0.9}) == pytest.approx({1: 0.3, 2: 0.0, 3: 0.0})
    assert leads({1: 1.0, 2: 1.0}) == {1: 0.0, 2: 0.0}  # a tie: neither leads
    assert leads({1: 3.5, 2: 0.2}) == {1: MAX_LEAD, 2: 0.0}
    assert leads({1: 1.7}) == {1: 0.0} and leads({}) == {}  # nothing to compare with


def plain_candidate(entry: int, cosine: float, bm25: float | None) -> Candidate:
    fused = cosine + 0.2 * (bm25 or 0.0) / 10.0
    return Candidate(entry, 0, cosine, None, bm25, None, None, fused)


@pytest.mark.unit
def test_without_a_classifier_faqs_rank_without_bm25_and_only_the_first_has_a_lead():
    """BM25 at one short text per FAQ gave "card" its full weight: Banking77 as plain questions ranked 6 points
    below dense. The lead is still the whole fusion's, and only the FAQ ranked first gets it."""
    shared_word, meant = faq_entry(1), faq_entry(2)
    passage = chunk_entry(3)
    candidates = [plain_candidate(shared_word, 0.50, 10.0), plain_candidate(meant, 0.60, None),
                  plain_candidate(passage, 0.55, 8.0)]
    ranked = {c.entry: c for c in SearchIndex._plain(candidates, set(), 10.0, FusionConfig())}
    assert ranked[meant].fused == pytest.approx(0.60) and ranked[shared_word].fused == pytest.approx(0.50)
    assert ranked[passage].fused == pytest.approx(0.55 + 0.2 * 0.8) and ranked[passage].lead is None
    # With BM25 the shared word led (0.70 against 0.60): the FAQ ranked first does not lead by that fusion.
    assert ranked[meant].lead == 0.0 and ranked[shared_word].lead == 0.0
    agreeing = [plain_candidate(shared_word, 0.50, None), plain_candidate(meant, 0.60, 10.0)]
    ranked = {c.entry: c for c in SearchIndex._plain(agreeing, set(), 10.0, FusionConfig())}
    assert ranked[meant].lead == pytest.approx(0.30) and ranked[shared_word].lead == 0.0


@pytest.mark.unit
def test_vector_index_switches_to_hnsw_removes_by_id_and_survives_a_restart(tmp_path):
    index = DenseIndex(32, "test-model", DenseConfig(hnsw_threshold=300, hnsw_m=16, hnsw_ef_search=64))
    vectors = unit_vectors(400, seed=1)
    index.upsert_many([chunk_entry(i) for i in range(250)], vectors[:250], [1] * 250)
    assert index.kind == "flat"
    index.upsert_many([chunk_entry(i) for i in range(250, 400)], vectors[250:], [1] * 150)
    assert index.kind == "hnsw" and len(index) == 400
    assert index.search(vectors[7], 1)[0].entry == chunk_entry(7)

    # An FAQ's several questions are one entry, found through any of them, listed once.
    faq_vectors = unit_vectors(3, seed=2)
    index.upsert(faq_entry(5), faq_vectors)
    matches = index.search(faq_vectors[2], 5)
    assert (matches[0].entry, matches[0].position) == (faq_entry(5), 2)
    assert [m.entry for m in matches].count(faq_entry(5)) == 1

    index.remove(chunk_entry(7))  # HNSW cannot remove: the row is tombstoned and never returned
    assert chunk_entry(7) not in [m.entry for m in index.search(vectors[7], 10)]
    only = index.search(vectors[7], 3, allowed={chunk_entry(8), chunk_entry(9)})
    assert {m.entry for m in only} == {chunk_entry(8), chunk_entry(9)}

    save_snapshot(index, tmp_path, version=42)
    loaded, version = load_snapshot(tmp_path, 32, "test-model", index.config)
    assert version == 42 and loaded.kind == "hnsw" and len(loaded) == len(index) == 402
    assert loaded.search(vectors[100], 1)[0].entry == chunk_entry(100)
    assert load_snapshot(tmp_path, 32, "another-model") is None  # a new model re-embeds everything

    for i in range(300):  # mostly deleted: compacted back to a flat index below the threshold
        index.remove(chunk_entry(i))
    assert index.kind == "flat" and index.tombstones < 64 and len(index) == 103


@pytest.mark.integration
def test_admin_search_shows_each_retriever_and_filters(client, services, admin_headers):
    services.knowledge.documents.ingest(Upload("solar-kit.md", ARTICLE.encode(), tags=("solar",)))
    try:
        def search(**body):
            response = client.post("/admin/search", json=body, headers=admin_headers)
            assert response.status_code == 200, response.text
            return response.json()["hits"]

        # A rare code: BM25 finds it exactly; the fused list puts it first.
        hits = search(query="SRK-7731", top_k=5)
        top = hits[0]
        assert (top["kind"], top["url"], top["faq_id"]) == ("document", "solar-kit.md", None), hits[:3]
        assert top["scores"]["bm25_rank"] == 1 and top["scores"]["bm25"] > 0
        assert top["scores"]["dense"] == top["score"]
        dense_only = search(query="SRK-7731", top_k=5, mode="dense")
        assert all(h["scores"]["bm25"] is None for h in dense_only)

        only_faqs = search(query="solar panel warranty", top_k=10, sources=["faqs"])
        assert only_faqs and all(h["kind"] == "faq" for h in only_faqs)
        only_docs = search(query="return a device", top_k=10, sources=["documents"])
        assert only_docs and all(h["kind"] == "document" for h in only_docs)
        tagged = search(query="how long does delivery take", top_k=10, tags=["solar"])
        assert tagged and all(h["url"] == "solar-kit.md" for h in tagged)
        assert search(query="return a device", tags=["no-such-tag"]) == []
    finally:
        services.knowledge.documents.delete(services.knowledge.documents.find("solar-kit.md").id)


class CountingEmbedder:
    """The real embedder, counting the texts it embeds."""

    def __init__(self, embedder):
        self.inner, self.texts = embedder, 0
        self.model_id = embedder.model_id

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts):
        self.texts += len(texts)
        return self.inner.embed(texts)


@pytest.fixture()
def second_process(services):
    """A second server on the same database with its own index folder, like another worker or host."""
    settings = services.settings.model_copy(update={"data_dir": services.settings.data_dir / "worker-2"})
    other = build_services(settings, embedder=CountingEmbedder(services.embedder), generator=services.generator)
    other.start(with_lm=False)
    yield other
    other.engine.dispose()


@pytest.mark.integration
def test_an_edit_in_one_process_is_seen_by_another(services, second_process):
    question = "Can I pay for my order with carrier pigeons?"
    assert second_process.knowledge.search(question, top_k=1)[0].faq.question != question
    faq = services.knowledge.create(make_draft(question, "No, only cards and PayPal."))
    try:
        embedded = second_process.embedder.texts
        second_process.knowledge.index.refresh(force=True)  # a search does this at most poll_seconds later
        assert second_process.embedder.texts == embedded  # the vectors came with the change log
        assert second_process.knowledge.search(question, top_k=1)[0].faq.id == faq.id
        assert second_process.knowledge.index.version == services.knowledge.index.version
        services.knowledge.update(faq.id, make_draft("Do you accept payment by carrier pigeon?", "Still no."))
        second_process.knowledge.index.refresh(force=True)
        assert second_process.knowledge.search(question, top_k=1)[0].faq.answer == "Still no."
    finally:
        services.knowledge.delete(faq.id)
    second_process.knowledge.index.refresh(force=True)
    assert faq_entry(faq.id) not in second_process.knowledge.index.dense


@pytest.mark.integration
def test_restart_reembeds_only_what_changed_while_down(services, second_process):
    second_process.knowledge.index.save()
    faq = services.knowledge.create(make_draft("Do you ship to Antarctica?", "Only to research stations."))
    try:
        restarted = build_services(second_process.settings, embedder=services.embedder, generator=services.generator)
        report = restarted.knowledge.sync_index()
        assert report.loaded_snapshot and (report.added, report.removed) == (1, 0)
        assert restarted.knowledge.search("shipping to Antarctica", top_k=1)[0].faq.id == faq.id
        restarted.engine.dispose()
    finally:
        services.knowledge.delete(faq.id)


# -- API keys, roles, audit -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed(tmp_path_factory, models_dir, embedder, generator):
    """Its own SQLite database: the keys created here must not leak into the shared one."""
    folder = tmp_path_factory.mktemp("keys")
    settings = make_settings(folder, f"sqlite:///{folder / 'helpdesk.db'}", models_dir)
    keyed_services = build_services(settings, embedder=embedder, generator=generator)
    keyed_services.start(with_lm=False)
    keyed_services.ready = True
    yield keyed_services
    keyed_services.engine.dispose()


def create_key(services, monkeypatch, name: str, role: str) -> str:
    from bot.cli import main
    from bot.settings import get_settings

    monkeypatch.setenv("HELPDESK_DATABASE_URL", services.settings.resolved_database_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["keys", "create", name, "--role", role])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


@pytest.mark.integration
def test_api_keys_have_roles_and_every_change_is_audited(keyed, monkeypatch):
    viewer = {"Authorization": f"Bearer {create_key(keyed, monkeypatch, 'dashboard', 'viewer')}"}
    editor = {"Authorization": f"Bearer {create_key(keyed, monkeypatch, 'content-team', 'editor')}"}
    bootstrap = {"Authorization": "Bearer test-admin-token"}
    faq = {"question": "Is there a student discount?", "answer": "Yes, 10% with a valid student card."}
    with TestClient(create_app(keyed.settings, keyed)) as client:
        assert client.get("/admin/faqs", headers=viewer).status_code == 200
        denied = client.post("/admin/faqs", json=faq, headers=viewer)
        assert denied.status_code == 403 and "editor" in denied.json()["detail"]
        created = client.post("/admin/faqs", json=faq, headers=editor)
        assert created.status_code == 201
        faq_id = created.json()["id"]
        assert client.put(f"/admin/faqs/{faq_id}", json={**faq, "answer": "Yes, 15%."},
                          headers=editor).status_code == 200
        document = client.post("/admin/documents", files=[("files", ("kit.md", ARTICLE.encode()))], headers=editor)
        assert document.status_code == 201
        assert client.delete(f"/admin/faqs/{faq_id}", headers=bootstrap).status_code == 204
        assert client.get("/admin/audit", headers=editor).status_code == 403

        log = client.get("/admin/audit", headers=bootstrap).json()
        assert [(e["actor"], e["action"], e["target"]) for e in log["data"]][:4] == [
            ("bootstrap-admin", "faq.delete", f"faq:{faq_id}"),
            ("content-team", "document.create", f"document:{document.json()['documents'][0]['document']['id']}"),
            ("content-team", "faq.update", f"faq:{faq_id}"),
            ("content-team", "faq.create", f"faq:{faq_id}"),
        ]
        assert client.get("/admin/audit", params={"actor": "content-team", "action": "faq."},
                          headers=bootstrap).json()["count"] == 2

        from bot.api_keys import revoke_key

        revoke_key(keyed.sessions, "content-team")
        assert client.get("/admin/faqs", headers=editor).status_code == 401


@pytest.mark.integration
def test_keys_work_without_the_env_token_and_are_stored_hashed(keyed, monkeypatch):
    token = create_key(keyed, monkeypatch, "ops", "admin")
    settings = keyed.settings.model_copy(update={"admin_token": None})
    with TestClient(create_app(settings, keyed)) as client:
        assert client.get("/admin/audit", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert client.get("/admin/faqs", headers={"Authorization": "Bearer nope"}).status_code == 401
    from sqlalchemy import select

    from bot.api_keys import ApiKeyRecord

    with keyed.sessions() as session:
        hashes = list(session.scalars(select(ApiKeyRecord.key_hash)))
    assert token not in hashes and all(len(digest) == 64 for digest in hashes)
