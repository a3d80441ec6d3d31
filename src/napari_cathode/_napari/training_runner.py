"""The training round of a project session: it belongs to the session, not to a dock.

:class:`TrainingRunner` starts a :class:`~napari_cathode.jobs.training_job.TrainingJob` (a
separate process) from a ``thread_worker`` that reads its events, keeps what a dock needs to
draw the round (steps, losses, Dice, a status line) and re-emits every event on the Qt thread.
So a Train page closed while a round runs, or opened later, shows the same round and can stop
it; napari's activity panel shows it too (``napari.utils.progress``), and closing the viewer
stops it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from pathlib import Path

from napari.qt.threading import thread_worker
from qtpy.QtCore import QObject, Signal

from napari_cathode._napari import notifications as note
from napari_cathode._napari.activity import job_progress
from napari_cathode.core.errors import ProjectError
from napari_cathode.core.project.lock import ProjectBusyError, is_locked, project_lock
from napari_cathode.ml.events import (
    CancelledEvent,
    DoneEvent,
    ErrorEvent,
    StartedEvent,
    StepEvent,
    ValidationEvent,
)

__all__ = ["PLOTTED", "TrainingRunner"]

log = logging.getLogger(__name__)

#: Events kept for a page opened while the round runs (its plot replays them).
PLOTTED = (StepEvent, ValidationEvent)


def _run_job(
    project: str, config, init_model, from_scratch: bool, threads: int, started: list, gpus: int
):
    """Generator run in a worker thread: start the training process and yield its events.

    The job module and its request are imported here, not on the Qt thread: they pull in
    torch. ``started`` receives the job, so the runner can stop it.
    """
    from napari_cathode.jobs.training_job import TrainingJob
    from napari_cathode.jobs.training_runs import ProjectTrainingRequest

    request = ProjectTrainingRequest(
        project, config=config, init_model=init_model, from_scratch=from_scratch, processes=gpus
    )
    job = TrainingJob(request, num_threads=threads).start()
    started.append(job)
    try:
        yield from job.events(poll_seconds=0.2)
    finally:
        job.close()


class TrainingRunner(QObject):
    """One training round at a time for a viewer's project.

    Signals
    -------
    event(object)
        Every training event, on the Qt thread.
    state_changed()
        A round started or ended (buttons follow :attr:`running`).
    """

    event = Signal(object)
    state_changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._worker = None
        self._jobs: list = []
        self._lock: contextlib.ExitStack | None = None
        self._bar = None
        self.config = None
        self.project_path: Path | None = None
        self.total_steps = 0
        self.status = ""
        self.history: list = []  # StepEvent / ValidationEvent of the current round
        self.last_error = ""
        self._started_at = 0.0
        self._retry: tuple | None = None

    @property
    def running(self) -> bool:
        """True from :meth:`start` until the job's last event was handled."""
        return self._worker is not None

    # ------------------------------------------------------------------ start / stop
    def start(
        self, project_path, config, init_model, from_scratch: bool, threads: int, gpus: int = 1
    ) -> bool:
        """Start a round in the background; False if one runs (here, or on the project).

        A round of the same project running in another viewer or a command line (the
        project's lock is held) is refused with a notification naming it. ``gpus`` > 1 trains
        it data-parallel (:mod:`napari_cathode.jobs.distributed_training`): the same job and
        events as a round on one device.
        """
        if self._worker is not None:
            return False
        # The project's writer lock is held from here until the process has ended (see
        # _release), so no other dock, viewer or command line trains it meanwhile.
        lock = contextlib.ExitStack()
        try:
            lock.enter_context(project_lock(project_path, "train a round in napari"))
        except ProjectBusyError:
            holder = is_locked(project_path)
            who = holder.describe() if holder else "another job"
            self.last_error = note.notify_warning(
                f"{project_path} is busy: {who} is working on it. Wait for it to finish (or "
                "stop it there), then press Train a round again"
            )
            return False
        except ProjectError as error:  # e.g. a folder that is not writable
            self.last_error = note.notify_error(error, doing="training")
            return False
        self._lock = lock
        self._jobs = []
        self.config, self.project_path = config, Path(project_path)
        self.total_steps, self.history, self.last_error = config.steps, [], ""
        self._started_at = time.monotonic()
        self.status = "starting the training process …"
        args = (str(project_path), config, init_model, from_scratch, threads, self._jobs, gpus)
        worker = thread_worker(_run_job, start_thread=False, ignore_errors=True)(*args)
        self._worker = worker
        self._retry = None
        self._bar = job_progress(config.steps, "training a round")
        worker.yielded.connect(self._on_event)
        worker.errored.connect(lambda error: self._failed(error))
        worker.finished.connect(lambda: self._over(init_model, from_scratch, threads))
        worker.start()
        self.state_changed.emit()
        return True

    def stop(self) -> None:
        """Cancel the round (in a helper thread: waiting for the process never blocks Qt)."""
        if self._worker is None:
            return
        self.status = "stopping …"
        for job in list(self._jobs):  # empty while the process is still starting
            threading.Thread(target=job.cancel, name="cancel-training", daemon=True).start()
        if not self._jobs:
            self._worker.quit()  # the generator stops before it yields the first event
        self.state_changed.emit()

    def shutdown(self) -> None:
        """Stop the round and wait for its process (the viewer is closing)."""
        if self._worker is not None:
            self._worker.quit()
        self._release(wait=True)
        self._close_bar()

    def _release(self, *, wait: bool = False) -> None:
        """End the job's process (if still running) and then release the project lock.

        Done here, not by the generator: a worker quit by napari (closing the viewer) may never
        resume its generator, and the lock must not wait for garbage collection.
        """
        jobs, lock, self._jobs, self._lock = list(self._jobs), self._lock, [], None

        def release() -> None:
            for job in jobs:
                job.close()
            if lock is not None:
                lock.close()

        if wait or not jobs:
            release()
        else:
            threading.Thread(target=release, name="release-training", daemon=True).start()

    # ------------------------------------------------------------------ events
    def _on_event(self, event) -> None:
        if isinstance(event, StartedEvent):
            self._started_at = time.monotonic()
            warm = f", warm from {Path(event.warm_start).name}" if event.warm_start else ""
            self.status = (
                f"training on {event.device}: {event.train_slices} train / "
                f"{event.validation_slices} validation slices{warm}"
            )
        elif isinstance(event, StepEvent):
            elapsed = time.monotonic() - self._started_at
            left = elapsed / max(event.step, 1) * (self.total_steps - event.step)
            self.status = (
                f"step {event.step}/{self.total_steps} · loss {event.loss:.3f} · "
                f"about {left:.0f} s left"
            )
        elif isinstance(event, DoneEvent):
            mean = "—" if event.mean_dice is None else f"{event.mean_dice:.3f}"
            self.status = (
                f"round saved ({Path(event.path).name}): mean Dice {mean}, "
                f"{event.seconds:.0f} s on {event.device}"
            )
        elif isinstance(event, CancelledEvent):
            self.status = "stopped; no round was saved and the previous model stays current"
            note.notify_info("training stopped; no round was saved and the previous model stays")
        elif isinstance(event, ErrorEvent):
            self._on_error(event)
        if isinstance(event, PLOTTED):
            self.history.append(event)
        self.event.emit(event)
        # Last: napari's progress bar runs QApplication.processEvents(), which delivers the
        # next events inside this call; emitting first keeps the docks' events in order.
        if isinstance(event, StepEvent) and self._bar is not None:
            self._bar.update(event.step - self._bar.n)

    def _on_error(self, event: ErrorEvent) -> None:
        config = self.config
        if note.is_out_of_memory(event.message) and config is not None and config.device != "cpu":
            self.last_error = note.notify_warning(note.GPU_OUT_OF_MEMORY)
            self._retry = (config.replace(device="cpu"),)  # one CPU process
            self.status = "the GPU ran out of memory; retrying on the CPU …"
            return
        self.status = "training failed; see the notification"
        self.last_error = note.notify_error(event.message, doing="training")

    def _failed(self, error) -> None:
        if isinstance(error, ProjectBusyError):  # lost the race for the lock since start()
            self.status = "not started: the project is busy"
            self.last_error = note.notify_warning(str(error))
            return
        self.status = "training failed; see the notification"
        self.last_error = note.notify_error(error, doing="training")

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _over(self, init_model, from_scratch, threads) -> None:
        self._worker = None
        retry, self._retry = self._retry, None
        self._release(wait=retry is not None)  # a retry needs the lock back at once
        self._close_bar()
        if retry is not None and self.project_path is not None:
            self.start(self.project_path, retry[0], init_model, from_scratch, threads)
            return
        self.state_changed.emit()
