"""The supervisor of `helpdesk serve --workers N`: uvicorn's, made to stop in seconds.

uvicorn's supervisor (uvicorn/supervisors/multiprocess.py) took 58-79 s to stop, or never did:
- it pings each worker over a socket pair and waits for the answer up to the health-check timeout (60 s
  here), but it keeps its own copy of the worker's end, so a worker killed during the wait is not seen as
  gone: the wait runs out in full;
- signals only queue while it waits; after the wait it starts a replacement worker *before* acting on a
  queued SIGTERM, and that replacement loads its models before it exits;
- it waits for every worker without a deadline, and a stopped (SIGSTOP) worker never acts on SIGTERM.

Here the parent closes its copy of each worker's end (a dead worker's end reads EOF at once), the ping is
waited for in short slices that also look at the worker's exit and at a stop request, a stop request is
taken at once and no worker is started after it, stopped workers are continued so they see the SIGTERM, and
a worker still running `stop_seconds` after SIGTERM is killed. The workers' own side is bot/cli/startup.py
(`stop_signals_end_loading`) and uvicorn's `timeout_graceful_shutdown`.
"""

import logging
import os
import pickle
import signal
import time
from collections.abc import Callable
from socket import socket

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

PING_SLICE_SECONDS = 0.2

log = logging.getLogger("uvicorn.error")


class Worker(Process):
    def start(self) -> None:
        super().start()
        # The spawned child has its own copy by now; with ours closed, its death reads as EOF on our end.
        self.child_conn.close()

    def answers(self, timeout: float, stopping: Callable[[], bool]) -> bool:
        """Whether the worker answers a ping within `timeout`; False at once when it dies or a stop is asked."""
        if not self.process.is_alive():
            return False
        try:
            self.parent_conn.send(b"ping")
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.parent_conn.poll(PING_SLICE_SECONDS):
                    self.parent_conn.recv()
                    return True
                if stopping() or not self.process.is_alive():
                    return False
        except (OSError, EOFError, pickle.UnpicklingError):
            return False
        return False


class Supervisor(Multiprocess):
    def __init__(self, config: Config, sockets: list[socket], stop_seconds: float):
        super().__init__(config, sockets)
        self.stop_seconds = stop_seconds
        self.stopping = False
        for stop in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop, self._stop_requested)

    def _stop_requested(self, sig: int, frame: object) -> None:
        # Only a flag and a list append: a handler may run while the main thread holds any lock.
        self.stopping = True
        self.signal_queue.append(sig)

    def init_processes(self) -> None:
        for _ in range(self.processes_num):
            worker = Worker(self.config, self.sockets)
            worker.start()
            self.processes.append(worker)

    def keep_subprocess_alive(self) -> None:
        for index, worker in enumerate(self.processes):
            if self.stopping or self.should_exit.is_set():
                return
            if not isinstance(worker, Worker):  # started by uvicorn's own SIGHUP/SIGTTIN handlers
                if worker.is_alive(timeout=self.config.timeout_worker_healthcheck):
                    continue
            elif worker.answers(self.config.timeout_worker_healthcheck, lambda: self.stopping):
                continue
            if self.stopping:
                return  # the wait ended for the stop: the worker is stopped with the others, not replaced
            worker.kill()
            worker.join()
            if worker.exitcode == STARTUP_FAILURE:
                log.error("Worker [%s] failed to start; stopping.", worker.pid)
                self.should_exit.set()
                return
            log.info("Worker [%s] died (exit code %s)", worker.pid, worker.exitcode)
            self.handle_signals()  # a stop that came meanwhile wins over the replacement
            if self.stopping or self.should_exit.is_set():
                return
            replacement = Worker(self.config, self.sockets)
            replacement.start()
            self.processes[index] = replacement

    def run(self) -> None:
        try:
            super().run()
        finally:
            self._kill_leftovers()

    def terminate_all(self) -> None:
        super().terminate_all()
        for worker in self.processes:
            if worker.pid is not None and worker.exitcode is None:
                try:
                    os.kill(worker.pid, signal.SIGCONT)  # a stopped worker acts on SIGTERM only once continued
                except ProcessLookupError:
                    pass

    def join_all(self) -> None:
        deadline = time.monotonic() + self.stop_seconds
        for worker in self.processes:
            log.info("Waiting for worker [%s]", worker.pid)
            worker.process.join(max(0.0, deadline - time.monotonic()))
        self._kill_leftovers()

    def _kill_leftovers(self) -> None:
        for worker in self.processes:
            if worker.process.pid is not None and worker.process.exitcode is None and worker.process.is_alive():
                log.warning("Worker [%s] did not stop within %g s of SIGTERM; killed", worker.pid, self.stop_seconds)
                worker.process.kill()
                worker.process.join()
