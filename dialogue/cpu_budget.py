"""CPU time one request may spend on masking personal data, counted so that only the request's own work counts.

Thread CPU time, so a busy machine does not refuse what an idle one accepts; and without the garbage collector's
runs in that thread. A full collection in a started server (~620,000 objects: the models, the index, Presidio)
costs 0.29 s of CPU here, as much as the whole default budget (HELPDESK_MASKING_BUDGET_SECONDS=0.3). Python runs
it in whichever thread allocates at the wrong moment. An ordinary FAQ question was refused with "took more than
0.3 s of CPU" once in 6,668 messages (three runs of bench/load.py up to 32 clients, 2026-12-05); a collection is
the one cost of that size on the masking path. A server process also freezes what start-up loaded
(bot/cli/startup.py), so that collections there scan only what requests allocate.
"""

import gc
import threading
import time

from dialogue.errors import MessageTooComplex

_collecting = threading.local()


def _count_collection(phase: str, info: dict) -> None:
    # Called by the collector in the thread it runs in, before and after each collection: cheap, allocation-light.
    if phase == "start":
        _collecting.started = time.thread_time()
    elif (started := getattr(_collecting, "started", None)) is not None:
        _collecting.seconds = getattr(_collecting, "seconds", 0.0) + time.thread_time() - started
        _collecting.started = None


gc.callbacks.append(_count_collection)


def collector_seconds() -> float:
    """CPU seconds the garbage collector has run in this thread."""
    return getattr(_collecting, "seconds", 0.0)


class Budget:
    """CPU time one request may spend on masking (its message, metadata and profile reading together).

    Every recogniser is linear in its input (bench/worst_inputs.py), but the phone matcher costs ~65 µs per
    character of digit-heavy text, one region after another: 0.5 s for an 8 KiB metadata string of "1111 ".
    The budget is checked between recognisers and between the pieces the phone matcher reads; over it, the
    message is refused (MessageTooComplex) before anything of it is stored. Created and checked in one thread."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._started = time.thread_time()
        self._collected = collector_seconds()

    def exclude(self, seconds: float) -> None:
        """Leave `seconds` of CPU already spent (a one-off warm-up) out of this request's account."""
        self._started += seconds

    def spent(self) -> float:
        return time.thread_time() - self._started - (collector_seconds() - self._collected)

    def check(self) -> None:
        if self.spent() > self.seconds:
            raise MessageTooComplex(self.seconds)
