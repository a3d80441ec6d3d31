"""Training in a subprocess: events stream back through a queue; cancel never hangs the caller.

A crash, an out-of-memory kill or an exception in the child becomes an :class:`ErrorEvent`,
so a viewer or a CLI driving the job never dies with it.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing as mp
import queue as queue_module
import time
import traceback
from collections.abc import Iterator

from napari_cathode.core.errors import CathodeError
from napari_cathode.jobs.threads import training_threads
from napari_cathode.ml.events import CancelledEvent, DoneEvent, ErrorEvent, TrainingEvent

log = logging.getLogger(__name__)

TERMINAL = (DoneEvent, CancelledEvent, ErrorEvent)


def _child_main(request, events, cancel, num_threads: int | None, log_level: int) -> None:
    """Entry point of the training process (module level so the spawn context can pickle it)."""
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    try:
        if num_threads:
            import torch

            torch.set_num_threads(num_threads)
        from napari_cathode.jobs.training_runs import run_training

        for event in run_training(request, cancel=cancel):
            events.put(event)
    except CathodeError as exc:
        events.put(ErrorEvent(str(exc), kind=type(exc).__name__))
    except BaseException as exc:  # report everything: the parent must never wait forever
        log.error("training failed:\n%s", traceback.format_exc())
        events.put(ErrorEvent(f"training failed: {type(exc).__name__}: {exc}", kind="crash"))


class TrainingJob:
    """Run a training request in a separate process.

    Parameters
    ----------
    request : FileTrainingRequest or ProjectTrainingRequest
    num_threads : int, optional
        ``torch.set_num_threads`` in the child (default:
        :func:`~napari_cathode.jobs.threads.training_threads`, all cores unless
        ``$NAPARI_CATHODE_THREADS`` says otherwise).

    Examples
    --------
    >>> job = TrainingJob(ProjectTrainingRequest("sample.cathode")).start()  # doctest: +SKIP
    >>> for event in job.events():  # doctest: +SKIP
    ...     print(event)
    """

    def __init__(self, request, *, num_threads: int | None = None) -> None:
        self.request = request
        self._context = mp.get_context("spawn")
        self._events = self._context.Queue()
        self._cancel = self._context.Event()
        self._process = self._context.Process(
            target=_child_main,
            args=(
                request,
                self._events,
                self._cancel,
                training_threads(num_threads),
                logging.getLogger().getEffectiveLevel(),
            ),
            daemon=True,
        )
        self._finished = False
        self._pending: collections.deque = collections.deque()

    def start(self) -> TrainingJob:
        """Start the child process; returns ``self``."""
        self._process.start()
        return self

    @property
    def pid(self) -> int | None:
        """Process id of the child (None before :meth:`start`)."""
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process.is_alive()

    def events(self, *, poll_seconds: float = 0.5) -> Iterator[TrainingEvent]:
        """Yield events until the run ends; the last one is Done, Cancelled or Error."""
        while not self._finished:
            try:
                event = (
                    self._pending.popleft()
                    if self._pending
                    else self._events.get(timeout=poll_seconds)
                )
            except queue_module.Empty:
                if self._process.is_alive():
                    continue
                try:  # the child may have put its last event just before exiting
                    event = self._events.get(timeout=poll_seconds)
                except queue_module.Empty:
                    self._finished = True
                    if self._cancel.is_set():
                        yield CancelledEvent(-1)
                    else:
                        yield ErrorEvent(
                            "the training process stopped unexpectedly "
                            f"(exit code {self._process.exitcode})",
                            kind="crash",
                        )
                    return
            if isinstance(event, TERMINAL):
                self._finished = True
                self._process.join(timeout=30)
            yield event

    def cancel(self, *, grace_seconds: float = 20.0) -> None:
        """Ask the run to stop; terminate the process if it has not stopped after the grace time.

        The unfinished model is discarded, so the previous model or round stays current.
        """
        self._cancel.set()
        deadline = time.monotonic() + grace_seconds
        # Keep reading while waiting: a child blocked on a full queue pipe could not exit.
        while self._process.is_alive() and time.monotonic() < deadline:
            try:
                self._pending.append(self._events.get(timeout=0.2))
            except queue_module.Empty:
                pass
        if self._process.is_alive():
            log.warning("training did not stop within %.0f s; terminating it", grace_seconds)
            self._process.terminate()
            self._process.join(timeout=10)

    def close(self) -> None:
        """Stop the process if it still runs and release the queue."""
        if self._process.is_alive():
            self.cancel(grace_seconds=5)
        self._events.close()
