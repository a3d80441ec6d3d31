"""A Qt table of a project's rounds, filled from
:func:`~napari_cathode.core.project.round_table.round_rows` in a worker thread (it may count truth
voxels on disk)."""

from __future__ import annotations

import math

from napari.qt.threading import thread_worker
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem

from napari_cathode._napari.notifications import notify_error
from napari_cathode.core.project.round_table import RoundRow, round_rows

__all__ = ["BASE_COLUMNS", "BASE_TIPS", "HEADER_CHARS", "RoundTableWidget"]

#: Short headers, so that the table fits a narrow dock without horizontal scrolling; the
#: tooltips (and each row's tooltip) say the rest.
BASE_COLUMNS = ("round", "slices", "effort", "time")
BASE_TIPS = (
    "training round",
    "slices holding ground truth when the round trained",
    "correction effort: voxels you changed versus the proposal on the slices reviewed for it",
    "training time (optimiser steps and validation)",
)
#: Longest class name shown in a Dice column header (the tooltip has the full name).
HEADER_CHARS = 7


def _duration(seconds) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "—"
    minutes, secs = divmod(round(float(seconds)), 60)
    return f"{minutes}m{secs:02d}" if minutes else f"{secs}s"


def _text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return str(value)


class RoundTableWidget(QTableWidget):
    """One row per round: truth slices, correction effort, train time, Dice per class.

    Truth voxels, mean Dice and the device are in each row's tooltip.
    """

    def __init__(self) -> None:
        super().__init__(0, len(BASE_COLUMNS))
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumHeight(110)
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
        """Draw ``rows``: round, truth slices, effort, time, then Dice per class."""
        self.rows = list(rows)
        classes = list(dict.fromkeys(name for row in rows for name in row.dice))
        headers = [*BASE_COLUMNS, *(c[:HEADER_CHARS] for c in classes)]
        tips = [*BASE_TIPS, *(f"validation Dice of {c} (1 = perfect)" for c in classes)]
        self.setColumnCount(len(headers))
        self.setHorizontalHeaderLabels(headers)
        for column, tip in enumerate(tips):
            self.horizontalHeaderItem(column).setToolTip(tip)
        self.setRowCount(len(rows))
        for r, row in enumerate(rows):
            values = [
                _text(row.round),
                _text(row.truth_slices),
                _text(row.correction_effort),
                _duration(row.train_seconds),
                *(_text(row.dice.get(c)) for c in classes),
            ]
            tip = (
                f"round {row.round}: {row.truth_voxels} truth voxels, mean Dice "
                f"{_text(row.mean_dice)}, trained on {row.device}"
            )
            for column, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                self.setItem(r, column, item)
