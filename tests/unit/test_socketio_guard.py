"""bot/connectors/socketio_guard.py: packets measured before parsing, in linear time; throttled logs and rates."""

import json
import logging
import time

import pytest

from bot.connectors.socketio_json import BoundedJson, PacketRefused, nesting_depth
from bot.connectors.socketio_throttles import OncePerMinute, RateLimit

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("value", [
    [], {}, "a string", 42, ["user_uttered", {"message": "hi", "customData": {"a": [1, {"b": [2]}]}}],
    [[[[[["six"]]]]]], {"brackets in text": "[[[[{{{{", "escaped": "quote \" [ and \\ backslash ["},
])
def test_depth_is_counted_like_json_nests(value):
    def depth(item) -> int:
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else []
        return 1 + max(map(depth, children), default=0) if isinstance(item, (dict, list)) else 0

    assert nesting_depth(json.dumps(value)) == depth(value)


@pytest.mark.parametrize("text", [
    "[" * 65_000,  # the probe's packet, and deeper
    '["' + '\\"' * 32_000,  # escaped quotes in an unterminated string: quadratic for a naive string regex
    '"' * 65_000,
    "\\" * 65_000,
    '[{"a":' * 8_000,
])
def test_depth_of_hostile_64_kb_takes_milliseconds(text):
    started = time.perf_counter()
    nesting_depth(text)
    assert time.perf_counter() - started < 0.2


def test_bounded_json_refuses_deep_and_big_packets_before_parsing_them():
    parser = BoundedJson(max_bytes=1000, max_depth=32)
    assert parser.loads('["user_uttered", {"message": "hi"}]') == ["user_uttered", {"message": "hi"}]
    assert parser.loads("[" * 32 + "]" * 32) is not None
    with pytest.raises(PacketRefused, match="more than 32 levels"):
        parser.loads("[" * 33 + "]" * 33)
    with pytest.raises(PacketRefused, match="more than 32 levels"):
        BoundedJson(max_bytes=10**6, max_depth=32).loads("[" * 10_000 + "]" * 10_000)  # no RecursionError
    with pytest.raises(PacketRefused, match="1001 bytes"):
        parser.loads('"' + "x" * 999 + '"')
    assert parser.dumps({"a": 1}, separators=(",", ":")) == '{"a":1}'


def test_one_log_line_per_client_per_minute_then_how_many_were_left_out(caplog):
    notes = OncePerMinute(every=0.3)
    with caplog.at_level(logging.WARNING, logger="bot.connectors.socketio"):
        for _ in range(50):
            notes.warn("10.0.0.1", "dropped a malformed packet")
        notes.warn("10.0.0.2", "dropped a malformed packet")
        time.sleep(0.35)
        notes.warn("10.0.0.1", "dropped a malformed packet")
    lines = [record.getMessage() for record in caplog.records]
    assert lines == ["socket.io client 10.0.0.1: dropped a malformed packet",
                     "socket.io client 10.0.0.2: dropped a malformed packet",
                     "socket.io client 10.0.0.1: dropped a malformed packet (49 more from this client left out "
                     "of the log)"]


def test_rate_limit_is_a_sliding_window_per_client():
    rate = RateLimit(per_minute=3, window=0.3)
    assert [rate.allow("a") for _ in range(5)] == [True, True, True, False, False]
    assert rate.allow("b")
    time.sleep(0.35)
    assert rate.allow("a")
    assert all(RateLimit(per_minute=0).allow("a") for _ in range(1000))
