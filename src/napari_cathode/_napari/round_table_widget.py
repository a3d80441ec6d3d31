"""A Qt table of a project's rounds, filled from :func:`~napari_cathode.core.round_table.round_rows`
in a worker thread (it may count truth voxels on disk)."""

from __future__ import annotations

import math

from napari.qt.threading import thread_worker
from qtpy.QtWidgets import QTableWidget, QTableWidgetItem

from napari_cathode._napari.notifications import notify_error
from napari_cathode.core.round_table import RoundRow, round_rows

BASE_COLUMNS = ("round", "truth slices", "truth voxels", "correction effort", "train s")


def _text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return str(value)


class RoundTableWidget(QTableWidget):
    """One row per round: truth slices/voxels, correction effort, train time, Dice, device."""

    def __init__(self) -> None:
        super().__init__(0, len(BASE_COLUMNS))
        self.setEditTriggers(QTableWidget.NoEditTriggers)
        self.rows: list[RoundRow] = []
        self._worker = None
        self._pending = None
        self.setHorizontalHeaderLabels(BASE_COLUMNS)

    def refresh(self, project) -> None:
        """Re-read the rounds of ``project`` (None clears the table) without blocking Qt."""
        if project is None:
            self.show_rows([])
            return
        if self._worker is not None:  # one read at a time; the latest request wins
            self._pending = project
            return
        worker = thread_worker(round_rows, start_thread=False, ignore_errors=True)(project)
        worker.returned.connect(self.show_rows)
        worker.errored.connect(lambda error: notify_error(error, doing="reading the rounds"))
        worker.finished.connect(self._read_done)
        self._worker = worker
        worker.start()

    def _read_done(self) -> None:
        self._worker = None
        if self._pending is not None:
            project, self._pending = self._pending, None
            self.refresh(project)

    def show_rows(self, rows: list[RoundRow]) -> None:
        """Draw ``rows``."""
        self.rows = list(rows)
        classes = list(dict.fromkeys(name for row in rows for name in row.dice))
        headers = [*BASE_COLUMNS, *(f"Dice {c}" for c in classes), "device"]
        self.setColumnCount(len(headers))
        self.setHorizontalHeaderLabels(headers)
        self.setRowCount(len(rows))
        for r, row in enumerate(rows):
            values = [
                row.round,
                row.truth_slices,
                row.truth_voxels,
                row.correction_effort,
                row.train_seconds,
                *(row.dice.get(c) for c in classes),
                row.device,
            ]
            for column, value in enumerate(values):
                self.setItem(r, column, QTableWidgetItem(_text(value)))
        self.resizeColumnsToContents()
