"""Proposals in the background: :func:`~napari_cathode.jobs.prediction_job.run_prediction` in a
worker thread, with progress and cancel between blocks, one run at a time per viewer.

Used by the review dock (predict a slice, a range, the volume) and by the train dock (refresh
the unreviewed slices when a round ends). The Qt loop only receives signals.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from napari.qt.threading import thread_worker
from qtpy.QtCore import QObject, Signal

from napari_cathode._napari.activity import job_progress

__all__ = ["PredictionCancelled", "PredictionRunner"]

log = logging.getLogger(__name__)


class PredictionCancelled(Exception):
    """Raised from the progress callback to stop a prediction between blocks."""


def _predict(project_path: str, slices, model, device: str, cancel: threading.Event, report):
    # imported here: torch loads in the worker thread, never in a Qt callback
    from napari_cathode.jobs.prediction_job import run_prediction

    # model None: the latest round, else the project's starting model (jobs.latest_model_dir)

    def progress(done: int, total: int) -> None:
        report.emit(done, total)
        if cancel.is_set():
            raise PredictionCancelled

    # the command line's prediction, unlocked (see run_prediction's lock_as)
    return run_prediction(
        project_path, model=model, slices=slices, device=device, progress=progress, lock_as=None
    )


class PredictionRunner(QObject):
    """Runs one prediction at a time and reports it with Qt signals.

    Signals
    -------
    progress(done, total)
        Slices predicted so far (emitted from the worker thread, delivered on the Qt thread).
    finished(result)
        The :class:`~napari_cathode.jobs.prediction_job.PredictionResult`.
    cancelled()
        Stopped by :meth:`cancel`; slices predicted before the stop keep their proposals.
    failed(error)
        The exception, for a notification.
    stopped()
        The run is over, whichever way (:attr:`running` is False from now on).
    """

    progress = Signal(int, int)
    finished = Signal(object)
    cancelled = Signal()
    failed = Signal(object)
    stopped = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._worker = None
        self._cancel = threading.Event()
        self._bar = None  # the same progress in napari's activity panel
        self.progress.connect(self._advance)

    @property
    def running(self) -> bool:
        return self._worker is not None

    def start(
        self,
        project_path: str | Path,
        *,
        slices: Sequence[int] | None = None,
        model: str | Path | None = None,
        device: str = "auto",
    ) -> bool:
        """Start predicting ``slices`` (default all); False when a prediction already runs."""
        if self._worker is not None:
            return False
        self._cancel = threading.Event()
        worker = thread_worker(_predict, start_thread=False, ignore_errors=True)(
            str(project_path),
            None if slices is None else [int(z) for z in slices],
            None if model is None else str(model),
            device,
            self._cancel,
            self.progress,
        )
        worker.returned.connect(self.finished.emit)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        self._worker = worker
        self._bar = job_progress(len(slices) if slices is not None else 0, "predicting")
        worker.start()
        return True

    def _advance(self, done: int, total: int) -> None:
        if self._bar is not None:
            self._bar.total = total
            self._bar.update(done - self._bar.n)

    def cancel(self) -> None:
        """Stop after the block being predicted (never blocks the caller)."""
        self._cancel.set()

    def _on_error(self, error: BaseException) -> None:
        if isinstance(error, PredictionCancelled):
            self.cancelled.emit()
        else:
            self.failed.emit(error)

    def _on_finished(self) -> None:
        self._worker = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self.stopped.emit()
