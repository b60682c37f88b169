"""Generated requests against `/openapi.json` (schemathesis): no input is a 5xx, and every answer is one the
schema describes (status, content type, body). Bounded and seeded, on SQLite and PostgreSQL.

Each backend gets a database of its own: generated DELETEs and PUTs would otherwise change the sample
knowledge base that other tests read.
"""

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

from bot.app import create_app
from bot.cli.serve import SAMPLE_FAQS
from bot.services import build_services
from retrieval.faq_files import read_faq_file
from tests.conftest import ADMIN_TOKEN, BACKENDS, make_settings
from tests.support.live_server import live_server
from tests.support.postgres import fresh_postgres_database

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 30  # per operation and mode (valid and invalid input); ~30 operations
EXAMPLES_THAT_ANSWER = 8  # operations that may run the LM
ANSWERING = {("POST", "/webhooks/rest/webhook"), ("POST", "/widget/messages")}
# Fetching URLs would reach out of the machine; swapping the LM adapter is covered in
# tests/integration/test_training_lm.py.
SKIPPED = {("POST", "/admin/documents/fetch"), ("POST", "/admin/models/lm")}


@pytest.fixture(params=BACKENDS)
def app(request, tmp_path, models_dir, embedder, generator):
    if request.param == "sqlite":
        url, drop = f"sqlite:///{tmp_path / 'schema.db'}", None
    else:
        url, drop = fresh_postgres_database(request.getfixturevalue("postgres_server_url"))
    services = build_services(make_settings(tmp_path / "data", url, models_dir), embedder=embedder,
                              generator=generator)
    services.start()
    services.knowledge.upsert_many(read_faq_file(SAMPLE_FAQS).drafts)
    yield create_app(services.settings, services)
    services.engine.dispose()
    if drop:
        drop()


def test_no_generated_request_is_a_server_error_or_off_the_schema(app):
    failures: list[str] = []
    calls = [0]
    started = time.monotonic()
    with live_server(app) as base_url:
        schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
        for result in schema.get_all_operations():
            operation = result.ok()
            key = (operation.method.upper(), operation.path)
            if key in SKIPPED:
                continue
            examples = EXAMPLES_THAT_ANSWER if key in ANSWERING else EXAMPLES
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                failures += _run(operation, mode, base_url, examples, calls)
    assert not failures, "\n\n".join(failures[:10])
    print(f"{calls[0]} generated requests")
    assert calls[0] >= 500  # the run really exercised the API
    # bounded per request, so that new routes do not need a new budget (~0.1 s a request on an idle 2-core box)
    assert time.monotonic() - started < 30 + 0.4 * calls[0]


def _run(operation, mode: GenerationMode, base_url: str, examples: int, calls: list[int]) -> list[str]:
    failures: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def check(case):
        calls[0] += 1
        try:
            case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=60,
                                   headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        except (AssertionError, FailureGroup) as error:  # one failed check, or several
            failures.append(f"{operation.method.upper()} {operation.path} ({mode}): {error}")

    try:
        check()
    except Unsatisfiable:
        pass  # nothing of this operation can be made invalid (no parameters, no body)
    return failures
