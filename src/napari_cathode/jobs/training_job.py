"""Training in a child process: events stream back; cancel never hangs; the child dies with us.

The child is a fresh interpreter running ``python -m napari_cathode.jobs.training_worker``
(see that module for the protocol), never a re-import of the caller's script. A crash, an
out-of-memory kill or an exception in the child becomes an :class:`ErrorEvent`, so a viewer
or a CLI driving the job never dies with it; and when the parent dies (even by SIGKILL) the
child exits before it can publish a round: its stdin closes (every platform) and on Linux the
kernel sends it SIGKILL (``PR_SET_PDEATHSIG``).

A job does not lock the project: the front end holds
:func:`~napari_cathode.core.project.lock.project_lock` around it (the command line's
``train``, the napari Train dock), so one training per project runs at a time.
"""

from __future__ import annotations

import collections
import logging
import os
import queue as queue_module
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

from napari_cathode.jobs.threads import training_threads
from napari_cathode.jobs.training_worker import read_frame, write_frame
from napari_cathode.ml.events import CancelledEvent, DoneEvent, ErrorEvent, TrainingEvent

__all__ = ["TERMINAL", "TrainingJob"]

log = logging.getLogger(__name__)

TERMINAL = (DoneEvent, CancelledEvent, ErrorEvent)
_END = object()


class TrainingJob:
    """Run a training request in a separate process.

    Parameters
    ----------
    request : FileTrainingRequest or ProjectTrainingRequest
    num_threads : int, optional
        ``torch.set_num_threads`` in the child (default:
        :func:`~napari_cathode.jobs.threads.training_threads`, all cores unless
        ``$NAPARI_CATHODE_THREADS`` says otherwise).

    Notes
    -----
    On Linux the parent-death signal fires when the *thread* that called :meth:`start` ends;
    call it from a thread that lives as long as the job (the main thread, or the worker thread
    that reads :meth:`events`).

    Examples
    --------
    >>> job = TrainingJob(ProjectTrainingRequest("sample.cathode")).start()  # doctest: +SKIP
    >>> for event in job.events():  # doctest: +SKIP
    ...     print(event)
    """

    def __init__(self, request, *, num_threads: int | None = None) -> None:
        self.request = request
        self.num_threads = training_threads(num_threads)
        self._process: subprocess.Popen | None = None
        self._events: queue_module.Queue = queue_module.Queue()
        self._cancelled = False
        self._finished = False
        self._pending: collections.deque = collections.deque()
        self._stdin_lock = threading.Lock()

    def start(self) -> TrainingJob:
        """Start the child process; returns ``self``."""
        self._process = subprocess.Popen(
            [sys.executable, "-m", "napari_cathode.jobs.training_worker", str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        setup = {
            "request": self.request,
            "num_threads": self.num_threads,
            "log_level": logging.getLogger().getEffectiveLevel(),
        }
        try:
            write_frame(self._process.stdin, setup)
        except (BrokenPipeError, OSError):
            log.debug("training child exited before it read its request")
        threading.Thread(target=self._read_events, daemon=True).start()
        return self

    def _read_events(self) -> None:
        stream = self._process.stdout
        try:
            while (event := read_frame(stream)) is not None:
                self._events.put(event)
        except Exception as exc:  # a damaged frame: the child is broken
            log.error("unreadable event from the training process: %s", exc)
        finally:
            self._events.put(_END)

    @property
    def pid(self) -> int | None:
        """Process id of the child (None before :meth:`start`)."""
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _next(self, timeout: float):
        if self._pending:
            return self._pending.popleft()
        return self._events.get(timeout=timeout)

    def events(self, *, poll_seconds: float = 0.5) -> Iterator[TrainingEvent]:
        """Yield events until the run ends; the last one is Done, Cancelled or Error."""
        while not self._finished:
            try:
                event = self._next(poll_seconds)
            except queue_module.Empty:
                continue
            if event is _END:
                self._finished = True
                code = self._wait(30)
                if self._cancelled:
                    yield CancelledEvent(-1)
                else:
                    yield ErrorEvent(
                        f"the training process stopped unexpectedly (exit code {code})",
                        kind="crash",
                    )
                return
            if isinstance(event, TERMINAL):
                self._finished = True
                self._wait(30)
            yield event

    def _wait(self, seconds: float) -> int | None:
        try:
            return self._process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return None

    def _send(self, line: bytes) -> None:
        with self._stdin_lock:
            try:
                self._process.stdin.write(line)
                self._process.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                pass  # the child has gone already

    def cancel(self, *, grace_seconds: float = 20.0) -> None:
        """Ask the run to stop; kill the process if it has not stopped after the grace time.

        The unfinished model is discarded, so the previous model or round stays current.
        """
        if self._process is None:
            return
        self._cancelled = True
        self._send(b"cancel\n")
        deadline = time.monotonic() + grace_seconds
        # Keep reading while waiting: a child blocked on a full pipe could not exit.
        while self._process.poll() is None and time.monotonic() < deadline:
            try:
                event = self._events.get(timeout=0.2)
            except queue_module.Empty:
                continue
            self._pending.append(event)
        if self._process.poll() is None:
            log.warning("training did not stop within %.0f s; stopping it", grace_seconds)
            self._process.terminate()
            if self._wait(10) is None:
                self._process.kill()
                self._wait(10)

    def close(self) -> None:
        """Stop the process if it still runs and release its pipes."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self.cancel(grace_seconds=5)
        with self._stdin_lock:
            try:
                self._process.stdin.close()
            except OSError:
                pass
        self._wait(10)
