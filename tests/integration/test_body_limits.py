"""A body over the limit is a 413 that clients see, also those that send it all before reading the answer.

Python's urllib sends the whole body first; a server that answered early and closed with the body unread
made the kernel reset the connection, so urllib saw "connection reset by peer" (bot/limits.py, `linger`).
Both of uvicorn's HTTP implementations, a real server on loopback.
"""

import json
import time
import urllib.error
import urllib.request

import pytest

from bot.app import create_app
from tests.support.live_server import live_server

pytestmark = pytest.mark.integration

SIX_MB = json.dumps({"sender": "limits-test", "message": "x" * 6_000_000}).encode()


@pytest.fixture(scope="module", params=["httptools", "h11"])
def server_url(request, services):
    with live_server(create_app(services.settings, services), http=request.param) as url:
        yield url


def refused(url: str, data) -> urllib.error.HTTPError:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=60)
    return error.value


def in_chunks(body: bytes, size: int = 65_536):
    # An iterable body makes urllib send it chunked, with no Content-Length: the limit is found mid-stream.
    return iter([body[start:start + size] for start in range(0, len(body), size)])


@pytest.mark.parametrize("send", [lambda body: body, in_chunks], ids=["content-length", "chunked"])
def test_urllib_gets_the_413_for_a_6_mb_chat_body(server_url, send):
    started = time.monotonic()
    error = refused(server_url + "/webhooks/rest/webhook", send(SIX_MB))
    assert error.code == 413
    assert error.headers["connection"] == "close"
    assert "HELPDESK_MAX_BODY_BYTES" in json.loads(error.read())["detail"]
    assert time.monotonic() - started < 10


def test_socketio_polling_posts_over_the_limit_get_the_413_too(server_url):
    with urllib.request.urlopen(server_url + "/socket.io/?EIO=4&transport=polling", timeout=30) as opened:
        handshake = opened.read().decode()
    sid = json.loads(handshake[1:])["sid"]
    url = f"{server_url}/socket.io/?EIO=4&transport=polling&sid={sid}"
    for body in (SIX_MB, in_chunks(SIX_MB)):
        assert refused(url, body).code == 413


def test_the_server_answers_normally_after_refusing(server_url):
    refused(server_url + "/webhooks/rest/webhook", SIX_MB)
    request = urllib.request.Request(server_url + "/webhooks/rest/webhook",
                                     data=json.dumps({"sender": "limits-test", "message": "hello"}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as answered:
        assert answered.status == 200 and json.loads(answered.read())[0]["text"]
