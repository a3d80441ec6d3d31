"""The "Export" dock: labels to OME-Zarr and TIFF, a round's model to a folder, rounds to CSV.

Thin: the label exports are ``napari-cathode export``'s own use case
(:func:`~napari_cathode.jobs.export_job.export_project`, with the same options: truth only,
a dask.distributed scheduler, progress per level), run in a worker thread since they read the
whole volume block by block, and shown in napari's activity panel too. The labels are the
human's truth where labelled, else the model's proposal, or the truth alone. The model and
round-table exports are :mod:`napari_cathode.core.project.round_table` functions.

Every output is named ``<folder>/<name><suffix>`` from the page's fields. Nothing is replaced
without asking: an existing output needs a "yes" from :attr:`ExportDock.confirm` (a dialog; a
test or a script sets its own callback). The status line always ends with the outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import napari
from napari.qt.threading import thread_worker
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_cathode._napari.activity import job_progress
from napari_cathode._napari.export_targets import export_target, replace_model_copy
from napari_cathode._napari.notifications import NO_PROJECT, notify_error, notify_info
from napari_cathode._napari.session import session_for
from napari_cathode.core.errors import CathodeError
from napari_cathode.core.project.round_table import round_rows, write_round_table_csv
from napari_cathode.jobs.export_job import export_project

__all__ = ["MERGED", "TRUTH_ONLY", "ExportDock"]

log = logging.getLogger(__name__)

MERGED, TRUTH_ONLY = "truth, else proposal", "truth only"


def _export(project, path: Path, kind: str, truth_only: bool, scheduler, report) -> Path:
    """The command line's export (:func:`~napari_cathode.jobs.export_job.export_project`),
    run in a worker thread; ``report(done, total)`` is a Qt signal's ``emit``."""
    result = export_project(
        project,
        path,
        format=kind,
        scheduler=scheduler or None,
        overwrite=True,  # the page asked the user before (confirm)
        truth_only=truth_only,
        progress=report,
    )
    return result.path


class ExportDock(QWidget):
    """Dock widget: export the segmentation, the model and the round table."""

    #: Pyramid levels written so far (emitted from the export's thread).
    level_written = Signal(int, int)

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.session = session_for(viewer)
        self.written: list[Path] = []
        self.last_error = ""
        self._worker = None
        #: Asked before anything is replaced: ``confirm(question) -> bool``.
        self.confirm: Callable[[str], bool] = self._ask

        self.folder = QLineEdit()
        self.folder.setPlaceholderText("folder to export into")
        self.browse = QPushButton("…")
        self.name = QLineEdit()
        self.name.setPlaceholderText("base name of the files (default: the project's name)")
        self.name.setToolTip(
            "files are named <name>.ome.zarr, <name>_labels.tif, <name>_roundNNNN.model, "
            "<name>_rounds.csv"
        )
        self.which = QComboBox()
        self.which.addItems([MERGED, TRUTH_ONLY])
        self.which.setToolTip(
            "truth, else proposal: your labels where you gave them, else the model's"
        )
        self.scheduler = QLineEdit()
        self.scheduler.setPlaceholderText("this computer (or tcp://host:8786)")
        self.scheduler.setToolTip(
            "run the label export on a dask.distributed cluster: scheduler address or "
            "scheduler file; the folder must be one every worker sees"
        )
        self.round = QComboBox()
        self.ome_button = QPushButton("Labels → OME-Zarr")
        self.tiff_button = QPushButton("Labels → TIFF")
        self.model_button = QPushButton("Model → folder")
        self.csv_button = QPushButton("Round table → CSV")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.hide()
        self._bar = None  # the same progress in napari's activity panel
        self.level_written.connect(self._advance)
        self.status = QLabel("")
        self.status.setWordWrap(True)

        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.folder)
        row.addWidget(self.browse)
        form.addRow("folder", row)
        form.addRow("name", self.name)
        form.addRow("labels", self.which)
        form.addRow("dask scheduler", self.scheduler)
        form.addRow("model of round", self.round)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        for pair in ((self.ome_button, self.tiff_button), (self.model_button, self.csv_button)):
            line = QHBoxLayout()
            for button in pair:
                line.addWidget(button)
            layout.addLayout(line)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addStretch()

        self.browse.clicked.connect(self._choose_folder)
        self.ome_button.clicked.connect(lambda: self.export_ome_zarr())
        self.tiff_button.clicked.connect(lambda: self.export_tiff())
        self.model_button.clicked.connect(lambda: self.export_model())
        self.csv_button.clicked.connect(lambda: self.export_round_table())
        self.session.follow(self, "project_changed", self._on_project)
        self.session.follow(self, "rounds_changed", self._fill_rounds)
        self._on_project()

    # ------------------------------------------------------------------ helpers
    def _on_project(self, *_) -> None:
        project = self.session.project
        if project is not None:
            if not self.folder.text():
                self.folder.setText(str(project.path.parent))
            self.name.setPlaceholderText(project.name)
        self._fill_rounds()

    def _fill_rounds(self) -> None:
        project = self.session.project
        self.round.clear()
        if project is not None:
            self.round.addItems([str(r.index) for r in reversed(project.rounds())])

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into")
        if folder:
            self.folder.setText(folder)

    def _ask(self, question: str) -> bool:
        answer = QMessageBox.question(self, "Replace?", question)
        return answer == QMessageBox.StandardButton.Yes

    def _target(self, path, kind: str, what: str, **fields) -> Path | None:
        """The checked output path (asking before replacing), or None with the reason shown."""
        project = self.session.project
        if project is None:
            self._fail(NO_PROJECT, what)
            return None
        try:
            target = (
                Path(path)
                if path is not None
                else export_target(
                    self.folder.text().strip() or project.path.parent,
                    self.name.text().strip() or project.name,
                    kind,
                    **fields,
                )
            )
        except CathodeError as error:
            self._fail(error, what)
            return None
        if target.exists() and not self.confirm(f"{target} exists. Replace it?"):
            self.status.setText(f"{what} cancelled: {target} was kept (type another name)")
            return None
        return target

    def _done(self, path: Path) -> None:
        self.written.append(Path(path))
        self.status.setText(f"written: {path}")
        notify_info(f"exported {path}")

    def _fail(self, error, doing: str) -> None:
        self.last_error = notify_error(error, doing=doing)
        self.status.setText(self.last_error)

    def _run(self, kind: str, path: Path, doing: str) -> bool:
        if self._worker is not None:
            notify_info("an export is running; wait for it to finish")
            return False
        worker = thread_worker(_export, start_thread=False, ignore_errors=True)(
            self.session.project,
            path,
            kind,
            self.which.currentText() == TRUTH_ONLY,
            self.scheduler.text().strip(),
            self.level_written.emit,
        )
        self._bar = job_progress(0, doing)
        worker.returned.connect(self._done)
        worker.errored.connect(lambda error: self._fail(error, doing))
        worker.finished.connect(self._worker_done)
        self._worker = worker
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText(f"{doing} to {path} …")
        worker.start()
        return True

    def _advance(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        if self._bar is not None:
            self._bar.total = total
            self._bar.update(done - self._bar.n)

    def _worker_done(self) -> None:
        self._worker = None
        self.progress.hide()
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    @property
    def busy(self) -> bool:
        return self._worker is not None

    # ------------------------------------------------------------------ exports
    def export_ome_zarr(self, path=None) -> bool:
        """Write image + labels (with class names and colours) as OME-Zarr, in the background."""
        target = self._target(path, "ome_zarr", "OME-Zarr export")
        return target is not None and self._run("ome-zarr", target, "OME-Zarr export")

    def export_tiff(self, path=None) -> bool:
        """Write the labels as an ImageJ TIFF stack, in the background."""
        target = self._target(path, "tiff", "TIFF export")
        return target is not None and self._run("tiff", target, "TIFF export")

    def export_model(self, path=None, *, round_index: int | None = None) -> Path | None:
        """Copy a round's model folder (default: the one chosen, else the latest) for reuse."""
        project = self.session.project
        if project is None:
            self._fail(NO_PROJECT, "model export")
            return None
        if round_index is None:
            text = self.round.currentText()
            latest = project.latest_round()
            round_index = int(text) if text else (latest.index if latest else None)
        if round_index is None:
            self._fail("the project has no trained round yet: train one first", "model export")
            return None
        target = self._target(path, "model", "model export", round=round_index)
        if target is None:
            return None
        try:
            copied = replace_model_copy(project.round_dir(round_index), target)
        except CathodeError as error:
            self._fail(error, "model export")
            return None
        self._done(copied)
        return copied

    def export_round_table(self, path=None) -> Path | None:
        """Write the round table as CSV (one row per round)."""
        target = self._target(path, "rounds", "round table export")
        if target is None:
            return None
        try:
            written = write_round_table_csv(round_rows(self.session.project), target)
        except CathodeError as error:
            self._fail(error, "round table export")
            return None
        self._done(written)
        return written
