"""The "Propose and review" dock: predict, the review queue, accept, mark reviewed, keyboard.

Thin: prediction runs in :class:`~napari_cathode._napari.prediction_runner.PredictionRunner`
(a worker thread); accept and correction effort are
:mod:`napari_cathode.core.review_actions` on one slice copy. Accept writes through the truth
layer's own ``data_setitem``, so it lands in the project at once and napari's undo reverts it.

Keys (while the dock is open): ``n`` next queue item, ``Shift-N`` previous, ``a`` accept the
proposal on this slice, ``r`` mark this slice reviewed, ``u`` most uncertain slice. (``p`` is
napari's paint-mode key on a Labels layer, so "previous" is ``Shift-N``.)
"""

from __future__ import annotations

import functools
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
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from napari_cathode._napari.layers import PROPOSAL, TRUTH
from napari_cathode._napari.notifications import NO_PROJECT, notify_error, notify_info
from napari_cathode._napari.prediction_runner import PredictionRunner
from napari_cathode._napari.session import session_for
from napari_cathode.core.errors import CathodeError
from napari_cathode.core.review import ReviewStatus
from napari_cathode.core.review_actions import (
    QUEUE_ORDERS,
    QueueItem,
    accept_mask,
    correction_effort,
    most_uncertain,
    neighbour_in_queue,
    review_queue,
)

log = logging.getLogger(__name__)

SCOPES = ("current slice", "slice range", "volume")
KEYS = {"n": "next_item", "Shift-N": "previous_item", "a": "accept", "r": "mark_reviewed",
        "u": "go_to_most_uncertain"}  # fmt: skip
STATUS_TEXT = {
    ReviewStatus.UNSEEN: "unseen",
    ReviewStatus.PROPOSED: "proposed",
    ReviewStatus.REVIEWED: "reviewed",
}


def _unbind(viewer, keys, *_) -> None:
    for key in keys:
        try:
            viewer.bind_key(key, None)
        except (KeyError, ValueError, RuntimeError):
            pass


class ReviewDock(QWidget):
    """Dock widget: propose with the model, walk the review queue, accept and mark reviewed."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.session = session_for(viewer)
        self.runner = PredictionRunner()
        self.queue: list[QueueItem] = []
        self.last_error = ""

        self.scope = QComboBox()
        self.scope.addItems(SCOPES)
        self.first = QSpinBox()
        self.last = QSpinBox()
        self.model = QLineEdit()
        self.model.setPlaceholderText("latest round (or a model folder)")
        self.predict_button = QPushButton("Predict")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.hide()
        self.order = QComboBox()
        self.order.addItems(QUEUE_ORDERS)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["slice", "status", "round", "uncertainty", "effort"])
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.buttons = {
            "previous_item": QPushButton("◀ previous (Shift-N)"),
            "next_item": QPushButton("next ▶ (n)"),
            "accept": QPushButton("Accept proposal (a)"),
            "mark_reviewed": QPushButton("Mark reviewed (r)"),
            "go_to_most_uncertain": QPushButton("Most uncertain (u)"),
        }
        self.status = QLabel("")
        self.status.setWordWrap(True)

        predict = QGroupBox("Propose")
        form = QFormLayout(predict)
        form.addRow("predict", self.scope)
        span = QHBoxLayout()
        span.addWidget(self.first)
        span.addWidget(QLabel("to"))
        span.addWidget(self.last)
        form.addRow("slices", span)
        form.addRow("model", self.model)
        row = QHBoxLayout()
        row.addWidget(self.predict_button)
        row.addWidget(self.cancel_button)
        form.addRow(row)
        form.addRow(self.progress)
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
        layout = QVBoxLayout(self)
        layout.addWidget(predict)
        layout.addWidget(review)
        layout.addWidget(self.status)

        self.predict_button.clicked.connect(lambda: self.predict())
        self.cancel_button.clicked.connect(self.runner.cancel)
        self.order.currentTextChanged.connect(lambda *_: self.refresh_queue())
        self.table.cellDoubleClicked.connect(lambda row, _col: self._go_to_row(row))
        for name, button in self.buttons.items():
            button.clicked.connect(lambda *_, n=name: getattr(self, n)())
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_predicted)
        self.runner.cancelled.connect(self._on_prediction_cancelled)
        self.runner.failed.connect(lambda e: self._fail(e, "prediction"))
        self.session.project_changed.connect(self._on_project)
        self.session.review_changed.connect(self.refresh_queue)
        self._bind_keys()
        self._on_project(self.session.project)

    # ------------------------------------------------------------------ keys
    def _bind_keys(self) -> None:
        for key, method in KEYS.items():
            self.viewer.bind_key(key, functools.partial(self._key, method), overwrite=True)
        # unbind when the dock goes away, even if napari deletes it without closing it
        self.destroyed.connect(functools.partial(_unbind, self.viewer, tuple(KEYS)))

    def _key(self, method: str, _viewer) -> None:
        getattr(self, method)()

    def close_dock(self) -> None:
        """Unbind the keyboard shortcuts (also done automatically when the dock is closed)."""
        _unbind(self.viewer, tuple(KEYS))

    def event(self, event) -> bool:
        # napari's close button (``remove_dock_widget``) only orphans the dock, never deletes
        # it, and the bound keys keep it alive: unbind them once it has no parent any more
        if event.type() == QEvent.Type.ParentChange and self.parent() is None:
            self.close_dock()
        return super().event(event)

    # ------------------------------------------------------------------ project
    def _on_project(self, project) -> None:
        if project is not None:
            for spin in (self.first, self.last):
                spin.setRange(0, project.shape[0] - 1)
            self.last.setValue(project.shape[0] - 1)
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
        project = self._project()
        if project is None:
            return False
        if self.runner.running:
            notify_info("a prediction is running; wait for it or press Cancel")
            return False
        scope = scope or self.scope.currentText()
        if scope == "current slice":
            slices = [self.session.current_z()]
        elif scope == "slice range":
            low, high = sorted((self.first.value(), self.last.value()))
            slices = list(range(low, high + 1))
        else:
            slices = None
        # no model and no round yet: the project's starting model proposes (the shipped
        # starter by default); with neither, the worker's ModelError becomes a notification
        model = self.model.text().strip() or None
        if project.read_only:
            self._fail(f"{project.path} is read-only: proposals cannot be saved there")
            return False
        self.progress.setRange(0, len(slices) if slices else project.shape[0])
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.setEnabled(True)
        self.status.setText("predicting …")
        return self.runner.start(project.path, slices=slices, model=model)

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _prediction_over(self, text: str) -> None:
        self.progress.hide()
        self.cancel_button.setEnabled(False)
        self.status.setText(text)
        self.session.refresh_overlays()

    def _on_predicted(self, result) -> None:
        self._prediction_over(
            f"predicted {len(result.slices)} slices in {result.seconds:.1f} s on {result.device}"
        )

    def _on_prediction_cancelled(self) -> None:
        self._prediction_over("prediction cancelled; slices done before the stop keep proposals")

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
        self.table.setRowCount(len(self.queue))
        for row, item in enumerate(self.queue):
            values = (
                str(item.z),
                STATUS_TEXT[item.status],
                "" if item.round < 0 else str(item.round),
                "" if np.isnan(item.uncertainty) else f"{item.uncertainty:.3f}",
                str(item.correction_effort) if item.status == ReviewStatus.REVIEWED else "",
            )
            for column, text in enumerate(values):
                self.table.setItem(row, column, QTableWidgetItem(text))

    def _go_to_row(self, row: int) -> None:
        if 0 <= row < len(self.queue):
            self.go_to(self.queue[row].z)

    def go_to(self, z: int) -> None:
        """Show slice ``z`` and select it in the queue."""
        self.session.go_to(z)
        for row, item in enumerate(self.queue):
            if item.z == z:
                self.table.selectRow(row)

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
        self.refresh_queue()
        return effort
