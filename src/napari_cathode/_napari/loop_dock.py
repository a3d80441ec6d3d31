"""The main dock: the whole loop in one narrow dock that fits a 1366 × 768 laptop.

Five numbered tabs walk the loop in order — 1 Project, 2 Review (propose and review), 3 Train,
4 Export, 5 Analyse — each page being the same widget as the separate dock of that name
(those stay available from the Plugins menu). Every page scrolls inside its tab, so no page
ever grows the window. A line under the tabs shows the running training round and prediction
whichever tab is open; napari's activity panel shows them too.
"""

from __future__ import annotations

import napari
from qtpy.QtCore import QEvent, Qt
from qtpy.QtWidgets import QFrame, QScrollArea, QTabWidget, QVBoxLayout, QWidget

from napari_cathode._napari.analysis_dock import AnalysisDock
from napari_cathode._napari.export_dock import ExportDock
from napari_cathode._napari.notifications import status_label
from napari_cathode._napari.project_dock import ProjectDock
from napari_cathode._napari.review_dock import ReviewDock
from napari_cathode._napari.session import session_for
from napari_cathode._napari.train_dock import TrainDock

__all__ = ["DOCK_WIDTH", "STEPS", "LoopDock"]

#: Tab titles, in the order of the loop.
STEPS = ("1 Project", "2 Review", "3 Train", "4 Export", "5 Analyse")
#: Width the dock asks for: room for the forms and tables, the rest is the canvas.
DOCK_WIDTH = 400


def _scrolled(page: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(page)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area


class LoopDock(QWidget):
    """Dock widget: Project → Review → Train → Export → Analyse, as tabs of one dock."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.session = session_for(viewer)
        self.project = ProjectDock(viewer)
        self.review = ReviewDock(viewer)
        self.train = TrainDock(viewer)
        self.export = ExportDock(viewer)
        self.analysis = AnalysisDock(viewer)
        self.pages = (self.project, self.review, self.train, self.export, self.analysis)
        self.tabs = QTabWidget()
        self.tabs.setUsesScrollButtons(False)
        self.tabs.setDocumentMode(True)
        for title, page in zip(STEPS, self.pages):
            self.tabs.addTab(_scrolled(page), title)
        self.jobs = status_label()
        self.jobs.setToolTip("the round being trained and the proposals being computed")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.tabs)
        layout.addWidget(self.jobs)
        self.setMinimumWidth(DOCK_WIDTH - 60)

        self.session.training.event.connect(self._show_jobs)
        self.session.training.state_changed.connect(self._show_jobs)
        self.session.predictions.progress.connect(self._show_jobs)
        self.session.predictions.stopped.connect(self._show_jobs)
        self.session.follow(self, "project_changed", self._on_project)
        self._show_jobs()
        self._on_project(self.session.project)

    def sizeHint(self):
        hint = super().sizeHint()
        hint.setWidth(DOCK_WIDTH)
        return hint

    def show_step(self, step: int | str) -> QWidget:
        """Open tab ``step`` (index, or a title such as ``"3 Train"``); returns its page."""
        index = STEPS.index(step) if isinstance(step, str) else int(step)
        self.tabs.setCurrentIndex(index)
        return self.pages[index]

    def _on_project(self, project) -> None:
        if project is not None and self.tabs.currentIndex() == 0:
            self.tabs.setCurrentIndex(1)  # a project is open: reviewing is the next step

    def _show_jobs(self, *_) -> None:
        parts = []
        if self.session.training.running:
            parts.append(f"Training: {self.session.training.status}")
        if self.session.predictions.running:
            parts.append("Predicting proposals …")
        self.jobs.setText(" · ".join(parts))

    def close_dock(self) -> None:
        """Release what the pages bound on the viewer (review keys)."""
        self.review.close_dock()

    def event(self, event) -> bool:
        # napari's close button only orphans a dock: release the keys when that happens
        if event.type() == QEvent.Type.ParentChange and self.parent() is None:
            self.close_dock()
        return super().event(event)
