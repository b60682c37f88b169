"""Documents through the admin API and the CLI: chunking, citations, partial re-embedding, deletion, bad input."""

import time

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from core.audit import AuditRecord
from retrieval.documents import ChunkRecord, DocumentRecord
from retrieval.entries import chunk_entry
from tests.conftest import chat
from tests.support.documents_fixtures import ARTICLE, ARTICLE_EDITED, local_site, pdf_bytes

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def no_documents_left(services):
    """Documents uploaded by a test must not change the answers other tests expect."""
    yield
    documents, _ = services.knowledge.documents.page(0, 1000)
    for document in documents:
        services.knowledge.documents.delete(document.id)


def upload(client, headers, *files, tags="", expect=201):
    response = client.post("/admin/documents", files=[("files", f) for f in files], data={"tags": tags},
                           headers=headers)
    assert response.status_code == expect, response.text
    return response.json()


def chunks(client, headers, document_id):
    response = client.get(f"/admin/documents/{document_id}/chunks", headers=headers)
    assert response.status_code == 200
    return response.json()


def stored(services) -> tuple[int, int, int, int]:
    """Documents, chunks and audit rows in the database, and vectors in the index."""
    with services.sessions() as session:
        counts = [session.scalar(select(func.count()).select_from(model))
                  for model in (DocumentRecord, ChunkRecord, AuditRecord)]
    return (*counts, len(services.knowledge.index.dense))


def test_markdown_is_chunked_by_heading_and_cited_in_a_generated_reply(client, services, admin_headers, sender):
    body = upload(client, admin_headers, ("solar-kit.md", ARTICLE.encode(), "text/markdown"), tags="Solar, kits")
    report = body["documents"][0]
    document = report["document"]
    assert (document["title"], document["media_type"], document["tags"]) == (
        "Nimbus Solar Roof Kit", "markdown", ["solar", "kits"])
    assert report["created"] and report["chunks_added"] == document["chunk_count"] >= 4
    sections = [chunk["section"] for chunk in chunks(client, admin_headers, document["id"])]
    assert sections[0] == "" and {"Mounting", "Winter care", "Warranty"} <= set(sections)

    reply = chat(client, sender, "Which bolts do I need to mount the solar roof kit panel?")
    assert reply["custom"]["kind"] == "generated"
    cited = reply["custom"]["sources"][0]
    assert cited["kind"] == "document" and cited["url"] == "solar-kit.md"
    assert cited["title"] == "Nimbus Solar Roof Kit › Mounting"
    assert "M8 bolts" in cited["snippet"]


def test_reingesting_a_changed_document_reembeds_only_the_changed_chunk(client, services, admin_headers):
    first = upload(client, admin_headers, ("solar-kit.md", ARTICLE.encode(), "text/markdown"))["documents"][0]
    before = {c["section"]: c["id"] for c in chunks(client, admin_headers, first["document"]["id"])}

    again = upload(client, admin_headers, ("solar-kit.md", ARTICLE_EDITED.encode(), "text/markdown"))["documents"][0]
    assert again["document"]["id"] == first["document"]["id"] and not again["created"]
    assert (again["chunks_added"], again["chunks_removed"]) == (1, 1)
    assert again["chunks_unchanged"] == first["chunks_added"] - 1
    after = {c["section"]: c["id"] for c in chunks(client, admin_headers, first["document"]["id"])}
    assert after["Winter care"] != before["Winter care"]
    assert {k: v for k, v in after.items() if k != "Winter care"} == {
        k: v for k, v in before.items() if k != "Winter care"}
    # The old text is gone from the index; the new one is found.
    index = services.knowledge.index.dense
    assert chunk_entry(before["Winter care"]) not in index and chunk_entry(after["Winter care"]) in index
    hits = services.knowledge.search("can I use hot water to clear snow from the solar panel", top_k=3)
    assert "hot water" in hits[0].text

    unchanged = upload(client, admin_headers, ("solar-kit.md", ARTICLE_EDITED.encode(), "text/markdown"))
    assert unchanged["documents"][0]["chunks_added"] == 0


def test_deleting_a_document_removes_its_chunks_from_search(client, services, admin_headers):
    document = upload(client, admin_headers, ("solar-kit.md", ARTICLE.encode(), "text/markdown"))["documents"][0]
    document_id = document["document"]["id"]
    chunk_ids = [c["id"] for c in chunks(client, admin_headers, document_id)]
    assert services.knowledge.search("solar panel warranty code SRK-7731", top_k=1)[0].kind == "document"

    assert client.delete(f"/admin/documents/{document_id}", headers=admin_headers).status_code == 204
    assert client.get(f"/admin/documents/{document_id}", headers=admin_headers).status_code == 404
    assert not any(chunk_entry(chunk_id) in services.knowledge.index.dense for chunk_id in chunk_ids)
    assert all(hit.kind == "faq" for hit in services.knowledge.search("solar panel warranty code SRK-7731", top_k=10))
    with services.sessions() as session:
        assert session.scalar(select(func.count()).where(ChunkRecord.document_id == document_id)) == 0
    assert client.delete(f"/admin/documents/{document_id}", headers=admin_headers).status_code == 404


def test_pdf_and_html_are_parsed(client, admin_headers):
    pdf = pdf_bytes(["Nimbus Doorbell quick start", "Hold the ring button for 10 seconds to reset the doorbell."])
    html = (b"<html><head><title>Doorbell chimes</title><script>var x = 1;</script></head><body>"
            b"<nav>Home | Shop</nav><h1>Doorbell chimes</h1><p>Pick a chime in the app.</p>"
            b"<h2>Silent mode</h2><p>Night mode mutes the chime from 22:00 to 07:00.</p></body></html>")
    body = upload(client, admin_headers, ("doorbell.pdf", pdf, "application/pdf"),
                  ("chimes.html", html, "text/html"))
    by_type = {d["document"]["media_type"]: d["document"] for d in body["documents"]}
    pdf_chunks = chunks(client, admin_headers, by_type["pdf"]["id"])
    assert pdf_chunks[0]["section"] == "page 1" and "10 seconds" in pdf_chunks[0]["text"]
    html_chunks = chunks(client, admin_headers, by_type["html"]["id"])
    assert [c["section"] for c in html_chunks] == ["", "Silent mode"]
    assert "var x" not in str(html_chunks) and "Home | Shop" not in str(html_chunks)


@pytest.mark.parametrize(
    ("name", "content", "status", "needle"),
    [
        ("manual.docx", b"PK\x03\x04 word file", 415, "unsupported"),
        ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog", 422, "pdf"),
        ("empty.md", b"# \n\n   \n", 422, "no text"),
        ("latin1.txt", "Caf\xe9 cr\xe8me".encode("latin-1"), 422, "utf-8"),
        ("huge.txt", b"word " * 4000, 413, "limit"),
    ],
)
def test_bad_documents_are_rejected_and_leave_nothing(client, services, admin_headers, monkeypatch, name, content,
                                                      status, needle):
    monkeypatch.setattr(services.knowledge.documents, "max_upload_bytes", 10_000)
    before = stored(services)
    response = client.post("/admin/documents", files=[("files", (name, content))], headers=admin_headers)
    assert response.status_code == status, response.text
    detail = str(response.json()["detail"])  # a text for 413/415, a list of errors for 422
    assert needle in detail.lower() and name in detail
    assert stored(services) == before


def test_one_bad_file_does_not_stop_the_others(client, services, admin_headers):
    before = stored(services)
    body = upload(client, admin_headers, ("solar-kit.md", ARTICLE.encode(), "text/markdown"),
                  ("slides.pptx", b"binary", "application/octet-stream"))
    assert [d["document"]["source"] for d in body["documents"]] == ["solar-kit.md"]
    assert [e["item"] for e in body["errors"]] == ["slides.pptx"]
    assert stored(services)[0] == before[0] + 1


def test_viewers_cannot_upload(client, admin_headers):
    response = client.post("/admin/documents", files=[("files", ("a.md", b"# A\n\ntext"))],
                           headers={"Authorization": "Bearer not-a-key"})
    assert response.status_code == 401


def test_sitemap_is_fetched_in_a_background_job_with_per_url_errors(client, services, admin_headers):
    with local_site() as site:
        site.pages["/help/returns"] = ("text/html; charset=utf-8", (
            b"<html><head><title>Returning a doorbell</title></head><body><h1>Returning a doorbell</h1>"
            b"<p>Doorbells can be returned within 45 days if the seal is intact.</p></body></html>"))
        site.pages["/help/faq.md"] = ("text/markdown", b"# Chime FAQ\n\nThe chime volume has 5 levels.\n")
        site.sitemap(["/help/returns", "/help/faq.md", "/help/missing"])
        response = client.post("/admin/documents/fetch", json={"sitemap": f"{site.url}/sitemap.xml",
                                                               "tags": ["web"]}, headers=admin_headers)
        assert response.status_code == 202, response.text
        job = response.json()
        assert job["total"] == 3 and response.headers["location"] == f"/admin/jobs/{job['id']}"
        job = wait_for_job(client, admin_headers, job["id"])

        assert (job["status"], job["done"]) == ("partial", 3)
        assert [e["item"] for e in job["errors"]] == [f"{site.url}/help/missing"]
        assert "404" in job["errors"][0]["message"]
        page = services.knowledge.documents.find(f"{site.url}/help/returns")
        assert page is not None and page.source_kind == "url" and page.tags == ["web"]
        hit = services.knowledge.search("how many days do I have to return a doorbell", top_k=1)[0]
        assert hit.url == f"{site.url}/help/returns"

        # Re-sync after the page changed: only the changed chunk is embedded again.
        site.pages["/help/returns"] = ("text/html", site.pages["/help/returns"][1].replace(b"45 days", b"60 days"))
        resynced = client.post(f"/admin/documents/{page.id}/resync", headers=admin_headers).json()
        assert (resynced["chunks_added"], resynced["chunks_removed"]) == (1, 1)
        assert "60 days" in services.knowledge.search("doorbell return days", top_k=1)[0].text


def test_unreachable_sitemap_is_a_clear_error(client, services, admin_headers):
    before = stored(services)
    with local_site() as site:
        response = client.post("/admin/documents/fetch", json={"sitemap": f"{site.url}/nope.xml"},
                               headers=admin_headers)
    assert response.status_code == 422 and "404" in response.json()["detail"][0]["msg"]
    response = client.post("/admin/documents/fetch", json={"urls": ["ftp://example.org/x"]}, headers=admin_headers)
    assert response.status_code == 202
    job = wait_for_job(client, admin_headers, response.json()["id"])
    assert job["status"] == "failed" and "http" in job["errors"][0]["message"]
    assert stored(services)[:2] == before[:2]


def wait_for_job(client, headers, job_id, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/admin/jobs/{job_id}", headers=headers).json()
        if job["status"] in ("succeeded", "partial", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {job}")


def test_cli_adds_lists_and_deletes_documents(services, tmp_path, monkeypatch):
    from bot.cli import main
    from bot.settings import get_settings

    monkeypatch.setenv("HELPDESK_DATA_DIR", str(services.settings.data_dir))
    monkeypatch.setenv("HELPDESK_DATABASE_URL", services.settings.resolved_database_url)
    monkeypatch.setenv("HELPDESK_MODELS_DIR", str(services.settings.resolved_models_dir))
    get_settings.cache_clear()
    good, bad = tmp_path / "solar-kit.md", tmp_path / "notes.rtf"
    good.write_text(ARTICLE)
    bad.write_text("{\\rtf1 hello}")
    try:
        runner = CliRunner()
        result = runner.invoke(main, ["docs", "add", str(good), str(bad), "--tag", "solar"])
        assert result.exit_code == 1, result.output
        assert "notes.rtf: rejected" in result.output and "1 of 2 ingested" in result.output
        listed = runner.invoke(main, ["docs", "list"])
        assert "Nimbus Solar Roof Kit  (solar-kit.md)" in listed.output
        # The server process sees the CLI's document on its next search, without a restart.
        services.knowledge.index.refresh(force=True)
        assert services.knowledge.search("M8 bolts for the roof panel", top_k=1)[0].url == "solar-kit.md"
        document = services.knowledge.documents.find("solar-kit.md")
        assert runner.invoke(main, ["docs", "delete", str(document.id)]).exit_code == 0
        services.knowledge.index.refresh(force=True)
        assert all(hit.kind == "faq" for hit in services.knowledge.search("M8 bolts for the roof panel", top_k=5))
    finally:
        get_settings.cache_clear()


def test_faq_bulk_import_reports_bad_rows_and_keeps_the_good_ones(client, services, admin_headers):
    rows = ("question,answer,alt_questions,tags\n"
            "Can I collect my order from a parcel locker?,Yes: pick InPost at checkout.,"
            "Do you deliver to lockers?,delivery\n"
            "Is there a loyalty programme?,,,\n"
            "Do you have a shop in Leeds?,No: we only sell online.,,stores\n")
    response = client.post("/admin/faqs/import", files={"file": ("faqs.csv", rows.encode(), "text/csv")},
                           headers=admin_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["updated"], body["rejected"]) == (2, 0, 1)
    assert body["errors"][0]["row"] == 2 and "answer" in body["errors"][0]["message"]
    created = [hit.faq for hit in services.knowledge.search("Do you deliver to lockers?", top_k=1)]
    try:
        assert created[0].question == "Can I collect my order from a parcel locker?"
        again = client.post("/admin/faqs/import", files={"file": ("faqs.csv", rows.encode(), "text/csv")},
                            headers=admin_headers).json()
        assert (again["created"], again["unchanged"]) == (0, 2)
        exported = client.get("/admin/faqs/export", params={"format": "json"}, headers=admin_headers)
        assert exported.headers["content-disposition"] == 'attachment; filename="faqs.json"'
        question = "Can I collect my order from a parcel locker?"
        assert {"question": question, "answer": "Yes: pick InPost at checkout.",
                "alt_questions": ["Do you deliver to lockers?"], "tags": ["delivery"]}.items() <= next(
            row for row in exported.json() if row["question"] == question).items()
        csv_export = client.get("/admin/faqs/export", params={"format": "csv"}, headers=admin_headers).text
        assert csv_export.startswith("id,question,answer,alt_questions,tags")
    finally:
        for question in ("Can I collect my order from a parcel locker?", "Do you have a shop in Leeds?"):
            faq = next(f for f in services.knowledge.page(0, 1000)[0] if f.question == question)
            services.knowledge.delete(faq.id)
    bad = client.post("/admin/faqs/import", files={"file": ("faqs.xlsx", b"PK", "application/octet-stream")},
                      headers=admin_headers)
    assert bad.status_code == 415 and ".csv" in bad.json()["detail"]
