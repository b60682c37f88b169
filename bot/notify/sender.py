"""Sends the outbox's deliveries to subscribers, signed, from a thread of its own (docs/webhooks.md).

Nothing here runs on the event loop or the answer threads: a slow or dead receiver holds one of this
sender's `concurrency` threads for at most `timeout` seconds per read, never a customer's answer. A
commit that emitted an event wakes the sender at once (`core.outbox.WOKEN`); events other processes
wrote are found by polling every `poll_seconds`.
"""

import hashlib
import hmac
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from queue import SimpleQueue

import httpx
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from bot.settings import Settings
from bot.notify.queue import Claimed, DeliveryQueue, Outcome, RetryPolicy
from core.outbox import WOKEN
from core.processes import ProcessTable

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Helpdesk-Signature"
USER_AGENT = "helpdesk-webhooks/1"
PRUNE_EVERY_SECONDS = 600.0


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """Stripe's scheme: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True)
class SenderConfig:
    timeout: float
    concurrency: int
    poll_seconds: float
    keep: timedelta  # how long ended deliveries stay visible


class WebhookSender:
    def __init__(self, queue: DeliveryQueue, config: SenderConfig, sessions: sessionmaker):
        self.queue = queue
        self.config = config
        self.sessions = sessions
        self._wake = threading.Event()
        self._outcomes: SimpleQueue[Outcome] = SimpleQueue()  # from the send threads to the loop
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        event.listen(self.sessions, "after_commit", self._after_commit)
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="webhook-sender", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the sends in progress (each bounded by the timeout), then free what is still claimed."""
        if self._thread is None:
            return
        event.remove(self.sessions, "after_commit", self._after_commit)
        self._stopping.set()
        self._wake.set()
        self._thread.join()
        self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(WOKEN, False):
            self._wake.set()

    def _run(self) -> None:
        in_flight: set[Future] = set()
        next_prune = 0.0
        with httpx.Client(timeout=self.config.timeout, follow_redirects=False,
                          headers={"User-Agent": USER_AGENT}) as client, \
                ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="webhook-send") as pool:
            while not self._stopping.is_set():
                self._wake.clear()
                self._record_outcomes()
                in_flight = {future for future in in_flight if not future.done()}
                free = self.config.concurrency - len(in_flight)
                # Claim in batches (half the pool at least): each claim is a transaction, and so a commit.
                claimed = self._claim(free) if free >= self._batch or not in_flight else []
                for item in claimed:
                    future = pool.submit(self._post, client, item)
                    future.add_done_callback(self._finished)
                    in_flight.add(future)
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
                    self._prune()
                if len(claimed) < free or not claimed:  # nothing more is due now, or the pool is busy
                    self._wake.wait(self.config.poll_seconds)
        self._record_outcomes()
        self._release()

    @property
    def _batch(self) -> int:
        return max(1, self.config.concurrency // 2)

    def _finished(self, future: Future) -> None:
        if future.exception() is None:
            self._outcomes.put(future.result())
        else:  # a bug in sending: logged; the lease runs out and the row is sent again
            log.error("Sending a webhook delivery failed", exc_info=future.exception())
        self._wake.set()

    def _record_outcomes(self) -> None:
        outcomes = []
        while not self._outcomes.empty():
            outcomes.append(self._outcomes.get_nowait())
        if not outcomes:
            return
        try:
            self.queue.record(outcomes)
        except Exception:  # the leases run out and these rows are sent again: at-least-once
            log.exception("Recording %d webhook deliveries failed", len(outcomes))

    def _claim(self, limit: int) -> list[Claimed]:
        try:
            return self.queue.claim(limit)
        except Exception:  # the database is briefly unreachable: try again on the next round
            log.exception("Claiming webhook deliveries failed; trying again in %.1f s", self.config.poll_seconds)
            return []

    def _prune(self) -> None:
        try:
            self.queue.prune(self.config.keep)
        except Exception:
            log.exception("Pruning old webhook deliveries failed; trying again later")

    def _release(self) -> None:
        try:
            self.queue.release()
        except Exception:
            log.exception("Freeing this process's webhook claims failed; they are free once its lease expires")

    def _post(self, client: httpx.Client, claimed: Claimed) -> Outcome:
        outcome = self._attempt(client, claimed)
        return Outcome(claimed, *outcome)

    def _attempt(self, client: httpx.Client, claimed: Claimed) -> tuple[int | None, str | None]:
        """(status code, None) when the receiver took it (2xx); else (status code or None, what went wrong)."""
        body = claimed.body.encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(claimed.secret, body, int(time.time())),
                   "X-Helpdesk-Event-Id": claimed.event_id, "X-Helpdesk-Event-Type": claimed.type,
                   "X-Helpdesk-Delivery-Attempt": str(claimed.attempt)}
        try:
            with client.stream("POST", claimed.url, content=body, headers=headers) as response:
                code = response.status_code
                said = _start_of(response) if not 200 <= code < 300 else ""
        except httpx.TimeoutException as error:
            return None, f"no answer within {self.config.timeout:g} s ({type(error).__name__})"
        except httpx.HTTPError as error:
            return None, f"{type(error).__name__}: {error}"
        if 200 <= code < 300:
            return code, None
        if 300 <= code < 400:
            return code, (f"HTTP {code} to {response.headers.get('location', '?')}: webhooks do not follow "
                          "redirects; subscribe the final URL")
        return code, f"HTTP {code}" + (f": {said}" if said else "")


def _start_of(response: httpx.Response, limit: int = 300) -> str:
    data = b""
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) >= limit:
            break
    return data[:limit].decode("utf-8", "replace").strip()


def build_sender(settings: Settings, sessions: sessionmaker, processes: ProcessTable) -> WebhookSender:
    policy = RetryPolicy(
        lease=timedelta(seconds=settings.webhook_lease_seconds),
        retry_for=timedelta(hours=settings.webhook_retry_hours),
        first_backoff=settings.webhook_backoff_seconds, max_backoff=settings.webhook_max_backoff_seconds,
        pause_after=timedelta(hours=settings.webhook_pause_after_hours))
    config = SenderConfig(timeout=settings.webhook_timeout_seconds, concurrency=settings.webhook_concurrency,
                          poll_seconds=settings.webhook_poll_seconds,
                          keep=timedelta(days=settings.webhook_keep_days))
    return WebhookSender(DeliveryQueue(sessions, processes.id, processes.orphaned, policy), config, sessions)
