"""How long this process's SQLite writes waited for the write lock and held it, logged as percentiles."""

import logging
from dataclasses import dataclass, field

# The logger docs/deploy.md names for these summaries (`core.sqlite_writes` at INFO), kept as it was.
log = logging.getLogger("core.sqlite_writes")

_SUMMARY_EVERY = 1000  # write transactions


@dataclass
class WriteWaits:
    """How long the first write statement of each write transaction of this process took, waiting for the
    lock (or, with the lock off, in SQLite's busy handler) included; logged every _SUMMARY_EVERY of them."""

    database: str
    count: int = 0
    recent: list[float] = field(default_factory=list)  # seconds, since the last summary
    held: list[float] = field(default_factory=list)  # seconds from the first write to commit or rollback

    def add(self, seconds: float) -> None:
        self.recent.append(seconds)

    def ended(self, held_seconds: float) -> None:
        self.count += 1
        self.held.append(held_seconds)
        if len(self.held) >= _SUMMARY_EVERY:
            summary, self.recent, self.held = self.summary(), [], []
            log.info("SQLite %s: %s", self.database, summary)

    def summary(self) -> str:
        if not self.held:
            return "no writes"
        return (f"{self.count} write transactions, the last {len(self.held)}: first write statement "
                f"(waiting included) {_percentiles(self.recent)}; first write to commit {_percentiles(self.held)}")


def _percentiles(seconds: list[float]) -> str:
    ordered = sorted(seconds) or [float("nan")]

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    return f"p50 {at(0.5):.1f} ms, p95 {at(0.95):.1f} ms, p99 {at(0.99):.1f} ms, max {ordered[-1] * 1000:.1f} ms"
