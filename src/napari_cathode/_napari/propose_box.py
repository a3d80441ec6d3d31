"""The "Propose" box of the review page: predict a slice, a slice range or the volume.

Thin: the prediction runs in the session's
:class:`~napari_cathode._napari.prediction_runner.PredictionRunner` (one per viewer, so the
Train page's refresh and this box never run two at once), which also shows it in napari's
activity panel.
"""

from __future__ import annotations

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
)

from napari_cathode._napari.notifications import NO_PROJECT, notify_error, notify_info

__all__ = ["SCOPES", "ProposeBox"]

SCOPES = ("current slice", "slice range", "volume")


class ProposeBox(QGroupBox):
    """Scope, model and Predict / Cancel, with progress; ``status`` is the page's status line."""

    def __init__(self, session, status: QLabel) -> None:
        super().__init__("Propose")
        self.session = session
        self.runner = session.predictions
        self.status = status
        self.last_error = ""
        self.scope = QComboBox()
        self.scope.addItems(SCOPES)
        self.first = QSpinBox()
        self.last = QSpinBox()
        self.model = QLineEdit()
        self.model.setPlaceholderText("latest round (or a model folder)")
        self.model.setToolTip("empty: the latest round, else the project's starting model")
        self.predict_button = QPushButton("Predict")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.hide()

        form = QFormLayout(self)
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

        self.predict_button.clicked.connect(lambda: self.predict())
        self.cancel_button.clicked.connect(self.runner.cancel)
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_predicted)
        self.runner.cancelled.connect(self._on_cancelled)
        self.runner.failed.connect(self._on_failed)
        if self.runner.running:  # a prediction started elsewhere: show it here too
            self._on_progress(0, 0)

    def set_project(self, project) -> None:
        """Fit the slice range to ``project``."""
        if project is not None:
            for spin in (self.first, self.last):
                spin.setRange(0, project.shape[0] - 1)
            self.last.setValue(project.shape[0] - 1)

    def predict(self, scope: str | None = None) -> bool:
        """Predict the current slice, the slice range or the volume in the background."""
        project = self.session.project
        if project is None:
            self.last_error = notify_error(NO_PROJECT)
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
            self.last_error = notify_error(
                f"{project.path} is read-only: proposals cannot be saved there"
            )
            return False
        self.progress.setRange(0, len(slices) if slices else project.shape[0])
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.setEnabled(True)
        self.status.setText("predicting …")
        return self.runner.start(project.path, slices=slices, model=model)

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.show()
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _over(self, text: str) -> None:
        self.progress.hide()
        self.cancel_button.setEnabled(False)
        self.status.setText(text)

    def _on_cancelled(self) -> None:
        self._over("prediction cancelled; slices done before the stop keep proposals")

    def _on_predicted(self, result) -> None:
        self._over(
            f"predicted {len(result.slices)} slices in {result.seconds:.1f} s on {result.device}"
        )

    def _on_failed(self, _error) -> None:
        self.last_error = self.session.last_prediction_error
        self._over(f"prediction failed: {self.last_error}")
