"""One hostile socket.io client against the real server: a message flood and 10,000-deep packets (docs/widget.md).

The probe of issue 27 sent 500 `user_uttered` from one client (140 s of answering, +27 MB) and 10,000-deep
packets (a RecursionError traceback logged per packet). For each setting of HELPDESK_SOCKETIO_EVENTS_PER_MINUTE
given (0 turns the limit off), this starts `helpdesk serve --sample-kb` on a free loopback port over a fresh
data folder, then from one python-socketio client sends `--messages` FAQ questions as fast as it can and waits
until no answer came for 5 s; then from a raw websocket `--deep` packets nested 10,000 levels. It prints what
the client got, how long the server was busy answering, and what the server logged.

    .venv/bin/python bench/socketio_flood.py [--limits 0,30] [--messages 500] [--deep 200] [--models-dir DIR]

Loopback only; bounded by `--messages`, `--deep` and the quiet time; ~1 min per limit here, most of it the start.
"""

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path

import socketio
import websockets
from sample_server import SampleServer

QUESTION = "What is the return policy for devices?"  # answered with the curated FAQ answer: no LM time in it
QUIET_SECONDS = 5.0
DEEP = '42["user_uttered",' + "[" * 10_000 + "]" * 10_000 + "]"


async def flood(base: str, messages: int) -> tuple[int, int, float]:
    """(answers, slow-down notices, seconds from the first message to the last answer)."""
    texts: list[tuple[float, str]] = []
    client = socketio.AsyncClient(reconnection=False)
    client.on("bot_uttered", lambda data: texts.append((time.perf_counter(), data.get("text", ""))))
    await client.connect(base, socketio_path="/socket.io", transports=["websocket"])
    session = uuid.uuid4().hex
    started = time.perf_counter()
    for _ in range(messages):
        await client.emit("user_uttered", {"message": QUESTION, "session_id": session})
    while not texts or time.perf_counter() - texts[-1][0] < QUIET_SECONDS:
        await asyncio.sleep(0.2)
        if not texts and time.perf_counter() - started > 300:
            break
    await client.disconnect()
    notices = sum("faster than I can read" in text for _, text in texts)
    return len(texts) - notices, notices, (texts[-1][0] - started) if texts else 0.0


async def deep_packets(base: str, count: int) -> tuple[float, str]:
    """Seconds until `count` 10,000-deep packets and a real message after them were dealt with, and how: the
    message answered, or the session closed by the server (past the limit, malformed packets end it)."""
    started = time.perf_counter()
    async with websockets.connect(base.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket") as ws:
        await ws.recv()
        await ws.send("40")
        await ws.recv()
        for _ in range(count):
            await ws.send(DEEP)
        await ws.send("42" + json.dumps(["user_uttered", {"message": "hello"}]))
        while True:  # the answer, or engine.io's close packet ("1") for a session the server ended
            frame = str(await asyncio.wait_for(ws.recv(), 60))
            if frame.startswith('42["bot_uttered"') or frame == "1":
                return time.perf_counter() - started, "answered" if frame != "1" else "session closed"


def run(limit: int, args: argparse.Namespace) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="helpdesk-flood-"))
    log = folder / "server.log"
    server = SampleServer(folder, args.models_dir, {"HELPDESK_SOCKETIO_EVENTS_PER_MINUTE": str(limit)}, log)
    server.start()
    try:
        asyncio.run(flood(server.base, 1))  # warm: the first answer loads what answering needs
        answers, notices, busy = asyncio.run(flood(server.base, args.messages))
        lines_before = len(log.read_text(errors="replace").splitlines())
        deep_seconds, deep_end = asyncio.run(deep_packets(server.base, args.deep))
        logged = log.read_text(errors="replace").splitlines()[lines_before:]
    finally:
        server.stop()
    return {"limit": limit, "answers": answers, "notices": notices, "busy": busy,
            "deep_seconds": deep_seconds, "deep_end": deep_end, "deep_lines": len(logged),
            "tracebacks": sum(line.startswith("Traceback") for line in logged)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limits", default="0,30", help="HELPDESK_SOCKETIO_EVENTS_PER_MINUTE values, comma-separated")
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--deep", type=int, default=200)
    parser.add_argument("--models-dir", default=None)
    args = parser.parse_args()
    rows = [run(int(limit), args) for limit in args.limits.split(",")]
    print(f"\n{args.messages} messages from one client, then {args.deep} packets nested 10,000 deep\n")
    print("| events/min limit | answered | told to slow down | server busy (s) | deep packets: s | then "
          "| log lines | tracebacks |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['limit'] or 'off'} | {row['answers']} | {row['notices']} | {row['busy']:.1f} | "
              f"{row['deep_seconds']:.2f} | {row['deep_end']} | {row['deep_lines']} | {row['tracebacks']} |")


if __name__ == "__main__":
    main()
