"""The "Propose and review" dock: predict, the review queue, accept, mark reviewed, keyboard.

Thin: prediction runs in the session's
:class:`~napari_cathode._napari.prediction_runner.PredictionRunner` (a worker thread); accept
and correction effort are :mod:`napari_cathode.core.project.review_actions` on one slice copy.
Accept writes through the truth layer's own ``data_setitem``, so it lands in the project at once and
napari's undo reverts it.

Keys (while a review page is open; :mod:`~napari_cathode._napari.review_keys`): ``n`` next
queue item, ``Shift-N`` previous, ``a`` accept the proposal on this slice, ``r`` mark this
slice reviewed, ``u`` most uncertain slice, ``t`` proposal filled / contours / hidden,
``Shift-T`` truth shown / hidden. (``p`` is napari's paint key, so "previous" is ``Shift-N``.)
"""

from __future__ import annotations

import logging

import napari
import numpy as np
from qtpy.QtCore import QEvent
from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_cathode._napari.layers import PROPOSAL, TRUTH
from napari_cathode._napari.notifications import NO_PROJECT, notify_error, notify_info
from napari_cathode._napari.propose_box import ProposeBox
from napari_cathode._napari.review_queue_widget import ReviewQueueTable
from napari_cathode._napari.session import session_for
from napari_cathode.core.errors import CathodeError
from napari_cathode.core.project.review_actions import (
    QUEUE_ORDERS,
    QueueItem,
    accept_mask,
    correction_effort,
    most_uncertain,
    neighbour_in_queue,
    review_queue,
)
from napari_cathode.core.project.review_state import ReviewStatus

__all__ = ["ReviewDock"]

log = logging.getLogger(__name__)


class ReviewDock(QWidget):
    """Dock widget: propose with the model, walk the review queue, accept and mark reviewed."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.session = session_for(viewer)
        self.runner = self.session.predictions  # one prediction at a time per viewer
        self.queue: list[QueueItem] = []
        self.last_error = ""

        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.propose = ProposeBox(self.session, self.status)
        propose = self.propose
        self.scope, self.first, self.last = propose.scope, propose.first, propose.last
        self.model, self.progress = propose.model, propose.progress
        self.order = QComboBox()
        self.order.addItems(QUEUE_ORDERS)
        self.table = ReviewQueueTable()
        self.buttons = {
            "previous_item": QPushButton("◀ previous (Shift-N)"),
            "next_item": QPushButton("next ▶ (n)"),
            "accept": QPushButton("Accept proposal (a)"),
            "mark_reviewed": QPushButton("Mark reviewed (r)"),
            "go_to_most_uncertain": QPushButton("Most uncertain (u)"),
            "cycle_proposal": QPushButton("Proposal: filled / contours / hidden (t)"),
        }

        review = QGroupBox("Review queue")
        review_layout = QVBoxLayout(review)
        order_row = QFormLayout()
        order_row.addRow("order", self.order)
        review_layout.addLayout(order_row)
        review_layout.addWidget(self.table)
        for pair in (("previous_item", "next_item"), ("accept", "mark_reviewed")):
            line = QHBoxLayout()
            for name in pair:
                line.addWidget(self.buttons[name])
            review_layout.addLayout(line)
        review_layout.addWidget(self.buttons["go_to_most_uncertain"])
        review_layout.addWidget(self.buttons["cycle_proposal"])
        layout = QVBoxLayout(self)
        layout.addWidget(self.propose)
        layout.addWidget(review)
        layout.addWidget(self.status)

        self.order.currentTextChanged.connect(lambda *_: self.refresh_queue())
        self.table.cellDoubleClicked.connect(lambda row, _col: self._go_to_row(row))
        for name, button in self.buttons.items():
            button.clicked.connect(lambda *_, n=name: getattr(self, n)())
        self.session.follow(self, "project_changed", self._on_project)
        self.session.follow(self, "review_changed", self.refresh_queue)
        viewer.dims.events.current_step.connect(self._follow_viewer)
        self.runner.failed.connect(self._on_prediction_failed)
        self.session.register_review_page(self)
        self._on_project(self.session.project)

    # ------------------------------------------------------------------ keys
    def cycle_proposal(self) -> str | None:
        """Show the proposal filled, as contours, or hide it (key ``t``)."""
        from napari_cathode._napari.review_keys import cycle_proposal_display

        return cycle_proposal_display(self.viewer)

    def close_dock(self) -> None:
        """Release the keyboard shortcuts (also done automatically when the dock is closed)."""
        self.session.unregister_review_page(self)
        try:
            self.viewer.dims.events.current_step.disconnect(self._follow_viewer)
        except (TypeError, ValueError, RuntimeError):  # pragma: no cover - already gone
            pass

    def event(self, event) -> bool:
        # napari's close button (``remove_dock_widget``) only orphans the dock, never deletes
        # it: release the keys once it has no parent any more
        if event.type() == QEvent.Type.ParentChange and self.parent() is None:
            self.close_dock()
        return super().event(event)

    # ------------------------------------------------------------------ project
    def _on_project(self, project) -> None:
        self.propose.set_project(project)
        self.refresh_queue()

    def _project(self):
        project = self.session.project
        if project is None:
            self._fail(NO_PROJECT)
        return project

    def _fail(self, error, doing: str = "") -> None:
        self.last_error = notify_error(error, doing=doing)

    # ------------------------------------------------------------------ predict
    def predict(self, scope: str | None = None) -> bool:
        """Predict the current slice, the slice range or the volume in the background."""
        started = self.propose.predict(scope)
        self.last_error = self.propose.last_error or self.last_error
        return started

    def _on_prediction_failed(self, _error) -> None:
        self.last_error = self.session.last_prediction_error

    # ------------------------------------------------------------------ queue
    def refresh_queue(self) -> None:
        """Re-read the review state (small per-slice arrays) and redraw the queue."""
        project = self.session.project
        self.queue = []
        if project is not None:
            self.queue = review_queue(
                project.review_status(),
                project.slice_uncertainty(),
                order=self.order.currentText(),
                reviewed_round=project.reviewed_round(),
                correction_effort=project.correction_effort(),
            )
        self.table.show_queue(self.queue, self.session.current_z() if project else None)

    def _follow_viewer(self, *_) -> None:
        if self.session.project is not None:
            self.table.select_slice(self.session.current_z())

    def _go_to_row(self, row: int) -> None:
        if 0 <= row < len(self.queue):
            self.go_to(self.queue[row].z)

    def go_to(self, z: int) -> None:
        """Show slice ``z`` and select it in the queue."""
        self.session.go_to(z)
        self.table.select_slice(z)

    def next_item(self) -> int | None:
        """Go to the next slice of the queue."""
        return self._step(+1)

    def previous_item(self) -> int | None:
        """Go to the previous slice of the queue."""
        return self._step(-1)

    def _step(self, step: int) -> int | None:
        if self.session.project is None:
            return None
        z = neighbour_in_queue(self.queue, self.session.current_z(), step)
        if z is not None:
            self.go_to(z)
        return z

    def go_to_most_uncertain(self) -> int | None:
        """Go to the unreviewed slice whose proposal is least certain."""
        z = most_uncertain(self.queue)
        if z is None:
            notify_info("no unreviewed slice has a proposal yet: predict first")
        else:
            self.go_to(z)
        return z

    # ------------------------------------------------------------------ accept / review
    def _slices(self, z: int):
        truth, proposal = self.session.layer(TRUTH), self.session.layer(PROPOSAL)
        if truth is None or proposal is None:
            self._fail("the project's truth or proposal layer was removed; reopen the project")
            return None
        return truth, np.asarray(truth.data[z]), np.asarray(proposal.data[z])

    def accept(self) -> int:
        """Copy the proposal into truth on this slice where truth is empty; returns voxels set.

        Goes through the truth layer (``data_setitem``), so it is saved at once and undoable.
        """
        project = self._project()
        if project is None:
            return 0
        if project.read_only:
            self._fail(f"{project.path} is read-only: nothing can be accepted into it")
            return 0
        z = self.session.current_z()
        found = self._slices(z)
        if found is None:
            return 0
        layer, truth, proposal = found
        mask = accept_mask(truth, proposal)
        if not mask.any():
            notify_info(f"slice {z}: no proposal to accept where the truth is still empty")
            return 0
        ys, xs = np.nonzero(mask)
        try:
            layer.data_setitem((np.full(ys.shape, z), ys, xs), proposal[mask])
        except (OSError, ValueError) as error:
            self._fail(error, doing=f"accepting slice {z}")
            return 0
        self.status.setText(f"slice {z}: accepted {ys.size} voxels; correct them, then press r")
        return int(ys.size)

    def mark_reviewed(self) -> int | None:
        """Record this slice as reviewed with its correction effort; returns the effort."""
        project = self._project()
        if project is None:
            return None
        z = self.session.current_z()
        found = self._slices(z)
        if found is None:
            return None
        _, truth, proposal = found
        if not truth.any():
            self._fail(f"slice {z} has no truth yet: accept the proposal or paint it first")
            return None
        effort = correction_effort(proposal, truth)
        try:
            project.set_review(z, ReviewStatus.REVIEWED, correction_effort=effort)
        except CathodeError as error:
            self._fail(error, doing=f"marking slice {z} reviewed")
            return None
        self.status.setText(f"slice {z} reviewed: {effort} voxels corrected")
        self.session.review_changed.emit()  # queue, project line and other pages follow
        return effort
