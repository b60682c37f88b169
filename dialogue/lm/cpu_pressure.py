"""Is the machine's CPU contended right now? Read from the kernel's pressure stall information.

llama.cpp's threads wait for each other by spinning. Given every core for a prompt, a quiet 2-core machine
computed the first text in 297 ms instead of 547 ms, but with another process holding a core each step
stalled and the first text took 2-3 s (docs/generation.md). So the engine uses all its prompt threads only
while the CPU is not contended: `/proc/pressure/cpu` "some avg10" (the share of the last 10 s in which a
runnable task waited for a CPU) below `BUSY_PERCENT`; without PSI (older kernels, other systems), the load
average against the core count. Read at most once a second (~20 µs).
"""

import os
import time
from pathlib import Path

PRESSURE_FILE = Path("/proc/pressure/cpu")
BUSY_PERCENT = 10.0  # some avg10; an idle machine reads ~0-3, one with a competing busy process 30-100
READ_EVERY_SECONDS = 1.0


class CpuPressure:
    def __init__(self, path: Path = PRESSURE_FILE, busy_percent: float = BUSY_PERCENT,
                 every: float = READ_EVERY_SECONDS):
        self.path, self.busy_percent, self.every = path, busy_percent, every
        self._busy = False
        self._read_at = float("-inf")

    def busy(self) -> bool:
        now = time.monotonic()
        if now - self._read_at >= self.every:
            self._busy, self._read_at = self._read(), now
        return self._busy

    def _read(self) -> bool:
        try:
            for line in self.path.read_text().splitlines():
                if line.startswith("some "):
                    fields = dict(part.split("=", 1) for part in line.split()[1:])
                    return float(fields["avg10"]) >= self.busy_percent
        except (OSError, ValueError, KeyError):
            pass
        cores = len(os.sched_getaffinity(0))
        return os.getloadavg()[0] >= max(1.0, cores - 0.5)
