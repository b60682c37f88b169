"""Shared fixtures: real models loaded once per run, a real database per backend, the real app.

PostgreSQL tests run against HELPDESK_TEST_POSTGRES_URL (a role allowed to create databases); each run
creates and drops its own database. Without the variable they are skipped, except in CI, where a missing
server is an error: CI must test both backends.
"""

import os
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.cli.serve import SAMPLE_FAQS
from bot.migrate import upgrade_database
from bot.services import Services, build_services
from bot.settings import Settings
from core.database import make_engine, make_session_factory
from dialogue.lm.transformers_generator import TransformersGenerator
from retrieval.embedder import SentenceTransformerEmbedder
from retrieval.faq_files import read_faq_file
from tests.support.postgres import fresh_postgres_database

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ADMIN_TOKEN = "test-admin-token"
# Chat senders prove who they are with a JWT signed with this (tests/support/chat_tokens.py) or, as a server-side
# caller, with the shared secret: only then is their stored profile read back (docs/channels.md).
CHAT_JWT_SECRET = "test-chat-jwt-secret-0123456789abcdef"
CHAT_SHARED_SECRET = "test-chat-shared-secret-0123456789abcdef"
VERIFIED = {"Authorization": f"Bearer {CHAT_SHARED_SECRET}"}
BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    # Converting the embedded GGUF takes ~25 s; point this at a kept folder to pay it once across runs.
    configured = os.environ.get("HELPDESK_TEST_MODELS_DIR")
    return Path(configured) if configured else tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    model = SentenceTransformerEmbedder("default", device="cpu")
    model.warm_up()
    return model


@pytest.fixture(scope="session")
def generator(models_dir) -> TransformersGenerator:
    model = TransformersGenerator("default", models_dir, device="cpu")
    model.warm_up()
    return model


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    url = os.environ.get("HELPDESK_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI must test PostgreSQL: set HELPDESK_TEST_POSTGRES_URL (.ci/run starts a server)")
        pytest.skip("HELPDESK_TEST_POSTGRES_URL is not set")
    return url


@pytest.fixture(params=BACKENDS)
def migrated_database(request, tmp_path):
    """(url, session factory) of a database of this test's own, migrated to the head, on each backend: for
    tests that start and kill server processes over it, or take over what another process left."""
    if request.param == "sqlite":
        url, drop = f"sqlite:///{tmp_path / 'helpdesk.db'}", None
    else:
        url, drop = fresh_postgres_database(request.getfixturevalue("postgres_server_url"))
    engine = make_engine(url)
    upgrade_database(engine)
    yield url, make_session_factory(engine)
    engine.dispose()
    if drop:
        drop()


def make_settings(data_dir: Path, database_url: str, models_dir: Path, **overrides) -> Settings:
    values = dict(
        data_dir=data_dir,
        database_url=database_url,
        models_dir=models_dir,
        admin_token=ADMIN_TOKEN,
        chat_jwt_secret=CHAT_JWT_SECRET,
        chat_shared_secret=CHAT_SHARED_SECRET,
        company_name="Nimbus Home",
        max_new_tokens=24,  # short outputs keep the suite fast; the bench measures full-length replies
        device="cpu",
        lm_backend="transformers",  # the session's shared `generator` below; tests/integration/test_llamacpp_backend.py
                                    # and test_openai_backend.py run the other backends
        # One database serves many apps in a row here, each leaving its cut-off work on purpose; taking it
        # over would send one test's leftovers to the next. tests/integration/test_recovery.py turns this on.
        recover_orphaned_work=False,
        # Likewise, a subscription one test left (or schemathesis made up) must not be sent to by the next
        # app; tests/integration/test_webhooks.py turns delivery on.
        webhook_delivery=False,
    )
    return Settings(**(values | overrides))


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'helpdesk.db'}"
        return
    url, drop = fresh_postgres_database(request.getfixturevalue("postgres_server_url"))
    yield url
    drop()


@pytest.fixture(scope="session")
def services(database_url, tmp_path_factory, models_dir, embedder, generator) -> Services:
    """Started services over a database that holds the sample knowledge base."""
    settings = make_settings(tmp_path_factory.mktemp("data"), database_url, models_dir)
    started = build_services(settings, embedder=embedder, generator=generator)
    started.start()
    started.knowledge.upsert_many(read_faq_file(SAMPLE_FAQS).drafts)
    yield started
    started.engine.dispose()


@pytest.fixture()
def client(services) -> TestClient:
    with TestClient(create_app(services.settings, services)) as test_client:
        yield test_client


@pytest.fixture()
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture()
def sender() -> str:
    return f"customer-{uuid.uuid4().hex[:8]}"


def chat(client: TestClient, sender: str, message: str, headers: dict[str, str] | None = None, **extra) -> dict:
    """One REST message and its one reply; `headers=VERIFIED` sends it as a verified sender."""
    response = client.post("/webhooks/rest/webhook", json={"sender": sender, "message": message, **extra},
                           headers=headers)
    assert response.status_code == 200, response.text
    replies = response.json()
    assert len(replies) == 1
    assert replies[0]["recipient_id"] == sender
    return replies[0]


@pytest.fixture()
def make_key(services):
    """Creates API keys for a test and revokes them after it: other tests expect the database to hold none."""
    from bot.api_keys import create_key, revoke_key

    names = []

    def make(role: str) -> dict[str, str]:
        names.append(f"{role}-{uuid.uuid4().hex[:8]}")
        return {"Authorization": f"Bearer {create_key(services.sessions, names[-1], role)}"}

    yield make
    for name in names:
        revoke_key(services.sessions, name)


def pytest_collection_modifyitems(items) -> None:
    """Every test says whether it is `unit` or `integration`: `-m unit` and `-m integration` skip none."""
    unmarked = [item.nodeid for item in items
                if not any(item.get_closest_marker(kind) for kind in ("unit", "integration"))]
    if unmarked:
        raise pytest.UsageError("Tests without a unit or integration marker:\n  " + "\n  ".join(unmarked))
