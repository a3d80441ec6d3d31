"""The review queue as a compact Qt table that always highlights the slice the viewer shows."""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from napari_cathode.core.project.review_actions import QueueItem
from napari_cathode.core.project.review_state import ReviewStatus

__all__ = ["COLUMNS", "STATUS_TEXT", "TOOLTIPS", "ReviewQueueTable"]

STATUS_TEXT = {
    ReviewStatus.UNSEEN: "unseen",
    ReviewStatus.PROPOSED: "proposed",
    ReviewStatus.REVIEWED: "reviewed",
}
COLUMNS = ("slice", "status", "round", "uncert.", "effort")
TOOLTIPS = (
    "slice index along z",
    "unseen: no proposal; proposed: the model proposed labels; reviewed: you checked it",
    "the training round this slice's review feeds",
    "mean normalised entropy of the proposal (0 = sure, 1 = no idea)",
    "correction effort: voxels you changed versus the proposal",
)


class ReviewQueueTable(QTableWidget):
    """One row per slice of the queue; the row of the slice on screen is selected."""

    def __init__(self) -> None:
        super().__init__(0, len(COLUMNS))
        self.setHorizontalHeaderLabels(COLUMNS)
        for column, tip in enumerate(TOOLTIPS):
            self.horizontalHeaderItem(column).setToolTip(tip)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(22)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.setMinimumHeight(140)
        self.queue: list[QueueItem] = []

    def show_queue(self, queue: list[QueueItem], current_z: int | None) -> None:
        """Draw ``queue`` and select the row of ``current_z``."""
        self.queue = list(queue)
        self.setRowCount(len(self.queue))
        for row, item in enumerate(self.queue):
            values = (
                str(item.z),
                STATUS_TEXT[item.status],
                "" if item.round < 0 else str(item.round),
                "" if np.isnan(item.uncertainty) else f"{item.uncertainty:.3f}",
                str(item.correction_effort) if item.status == ReviewStatus.REVIEWED else "",
            )
            for column, text in enumerate(values):
                self.setItem(row, column, QTableWidgetItem(text))
        self.select_slice(current_z)

    def select_slice(self, z: int | None) -> None:
        """Select the row of slice ``z`` (none if it is not in the queue)."""
        self.blockSignals(True)
        self.clearSelection()
        for row, item in enumerate(self.queue):
            if item.z == z:
                self.selectRow(row)
                self.scrollToItem(self.item(row, 0))
        self.blockSignals(False)

    def selected_slice(self) -> int | None:
        """The slice of the selected row, or None."""
        rows = {index.row() for index in self.selectedIndexes()}
        return self.queue[min(rows)].z if rows else None
