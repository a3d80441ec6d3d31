"""Train a round (or a model from files, or a state classifier): the one event loop of every
front end.

Every command that trains (``train``, ``classify ... train``) runs its request the same way: a
:class:`~napari_cathode.jobs.training_job.TrainingJob` started in the thread that reads it,
its events read until the terminal one, the process closed at the end (:func:`job_events`),
driven to a result by :func:`run_job` (an error or a cancel raises); a project round also
holds the project's writer lock (:func:`train_project_round`). The napari Train dock runs the
same job and request from a worker thread (``_napari/training_runner.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import closing

from napari_cathode.core.errors import CathodeError, ModelError
from napari_cathode.ml.events import CancelledEvent, DoneEvent, ErrorEvent

__all__ = ["ROUND_CANCELLED", "job_events", "run_job", "train_project_round"]

log = logging.getLogger(__name__)

#: What a cancelled round leaves behind (a cancelled model from files or classifier: nothing).
ROUND_CANCELLED = "training was cancelled; the previous model is unchanged"


def job_events(
    job, *, poll_seconds: float = 0.5, on_start: Callable[[object], None] | None = None
) -> Iterator:
    """Start ``job`` here, yield its events until the terminal one, then close it.

    Parameters
    ----------
    job : TrainingJob
        Not started yet. It starts in the calling thread, which must live as long as the job
        (see :class:`~napari_cathode.jobs.training_job.TrainingJob`).
    poll_seconds : float
        How long one wait for an event may block (a GUI worker polls faster, to quit sooner).
    on_start : callable(job), optional
        Called once the process runs, e.g. to keep the job for a Stop button.

    Yields
    ------
    TrainingEvent
        The last one is a Done, Cancelled or Error event.
    """
    job.start()
    if on_start is not None:
        on_start(job)
    try:
        yield from job.events(poll_seconds=poll_seconds)
    finally:
        job.close()


def run_job(job, on_event: Callable[[object], None] | None = None, *, cancelled=ROUND_CANCELLED):
    """Run ``job`` to its end, passing every event to ``on_event``; return its Done event.

    Ctrl+C cancels the job (with a grace time) and re-raises.

    Raises
    ------
    ModelError
        If the job reports an error (the message is the child's).
    CathodeError
        If the child process crashed, or the job was cancelled (``cancelled`` says what was
        kept).
    """
    events = job_events(job)
    with closing(events):
        try:
            for event in events:
                if on_event is not None:
                    on_event(event)
                if isinstance(event, ErrorEvent):
                    error = CathodeError if event.kind == "crash" else ModelError
                    raise error(event.message)
                if isinstance(event, CancelledEvent):
                    raise CathodeError(cancelled)
                if isinstance(event, DoneEvent):
                    return event
        except KeyboardInterrupt:
            job.cancel(grace_seconds=10)
            raise
    raise CathodeError("training ended without a result")


def train_project_round(
    request, on_event: Callable[[object], None] | None = None, *, holder: str = "train"
) -> DoneEvent:
    """Train the next round of ``request.project`` in a child process, holding its lock.

    Parameters
    ----------
    request : ProjectTrainingRequest
    on_event : callable(event), optional
        Sees every event (progress rendering).
    holder : str
        How the project lock names this job to a job it refuses.

    Raises
    ------
    ProjectError
        If the folder is not a project, or another job holds it.
    """
    from napari_cathode.core.project.lock import project_lock
    from napari_cathode.core.project.store import Project
    from napari_cathode.jobs.training_job import TrainingJob

    Project.open(request.project, mode="r")  # a clear message before the lock if it is none
    with project_lock(request.project, holder):
        return run_job(TrainingJob(request), on_event)
