"""The "Particle states" dock: label particles by clicking → train → predict → explain.

Thin, like the Train dock: particles, labels, training, prediction and Grad-CAM live in
``core``/``ml``/``jobs``; training runs in a :class:`~napari_cathode.jobs.state_training_job.
StateTrainingJob` process read by a ``thread_worker``; prediction and explanation run in worker
threads. A click on the viewer with "label by clicking" on gives the particle under the cursor
the chosen state (Alt-click removes its label); every change is saved to the project at once.
"""

from __future__ import annotations

import logging
import threading

import napari
import numpy as np
from napari.qt.threading import thread_worker
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_cathode._napari import notifications as note
from napari_cathode._napari.session import session_for
from napari_cathode._napari.states_layers import PARTICLES, put_layer, show_labelled_points
from napari_cathode._napari.states_results import StatesResults
from napari_cathode.core.states.particles import (
    load_instances,
    load_particle_labels,
    save_particle_labels,
)
from napari_cathode.ml.events import CancelledEvent, DoneEvent, ErrorEvent, StepEvent

__all__ = ["StatesDock"]

log = logging.getLogger(__name__)


def _run_training(project: str, steps: int, started: list):
    from napari_cathode.jobs.particle_states_job import ParticleStateRequest
    from napari_cathode.jobs.state_training_job import StateTrainingJob

    job = StateTrainingJob(ParticleStateRequest(project, steps=steps), num_threads=1).start()
    started.append(job)
    try:
        yield from job.events(poll_seconds=0.2)
    finally:
        job.close()


class StatesDock(StatesResults, QWidget):
    """Dock widget: state names, label by clicking, train, predict, explain, export."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.session = session_for(viewer)
        self.instances: np.ndarray | None = None
        self.explanation: dict | None = None
        self.last_error = ""
        self._training = None
        self._jobs: list = []

        self.state_names = QLineEdit("intact,cracked")
        self.state = QComboBox()
        self.click_to_label = QCheckBox("label by clicking (Alt-click removes)")
        self.counts = QLabel("")
        self.find_button = QPushButton("Find particles")
        self.steps = QSpinBox()
        self.steps.setRange(1, 100_000)
        self.steps.setValue(300)
        self.train_button, self.stop_button = QPushButton("Train"), QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.progress = QProgressBar()
        self.predict_button = QPushButton("Predict all particles")
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.particle = QSpinBox()
        self.particle.setRange(0, 10_000_000)
        self.method = QComboBox()
        self.method.addItems(["occlusion", "gradcam", "gradcam++"])  # ml.state_explain.METHODS
        self.method.setToolTip(
            "occlusion: how much less sure the model gets when a small window of the particle is "
            "filled with plain material (points at cracks best); Grad-CAM: the network's own "
            "attention, coarser"
        )
        self.explain_button = QPushButton("Explain")
        self.export_path = QLineEdit()
        self.export_path.setPlaceholderText("heat map file (.tif or .png)")
        self.export_button = QPushButton("Export heat map")

        buttons = QWidget()
        row = QHBoxLayout(buttons)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.train_button)
        row.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        for title, rows in (
            ("1 · Label", [("states", self.state_names), self.find_button, ("state", self.state),
                           self.click_to_label, self.counts]),
            ("2 · Train", [("steps", self.steps), buttons, self.progress]),
            ("3 · Predict", [self.predict_button, self.result]),
            ("4 · Explain", [("particle", self.particle), ("method", self.method),
                                        self.explain_button, self.export_path,
                                        self.export_button]),
        ):  # fmt: skip
            box = QGroupBox(title)
            form = QFormLayout(box)
            for item in rows:
                form.addRow(*item) if isinstance(item, tuple) else form.addRow(item)
            layout.addWidget(box)
        layout.addStretch()

        self.state_names.editingFinished.connect(self.set_states)
        self.find_button.clicked.connect(lambda: self.find_particles())
        self.train_button.clicked.connect(lambda: self.train())
        self.stop_button.clicked.connect(self.stop)
        self.predict_button.clicked.connect(lambda: self.predict())
        self.explain_button.clicked.connect(lambda: self.explain())
        self.export_button.clicked.connect(lambda: self.export_heat_map())
        self.viewer.mouse_drag_callbacks.append(self._on_click)
        self.session.project_changed.connect(lambda *_: self._load())
        self._load()

    # ------------------------------------------------------------------ labels
    def _fail(self, error, doing: str = "") -> None:
        self.last_error = note.notify_error(error, doing=doing)

    def _project(self):
        if self.session.project is None:
            self._fail(note.NO_PROJECT)
        return self.session.project

    def _load(self) -> None:
        project = self.session.project
        if project is None:
            return
        labels = load_particle_labels(project.path)
        self.state_names.setText(",".join(labels.states))
        self.state.clear()
        self.state.addItems(labels.states)
        self.instances = load_instances(project.path)
        if self.instances is not None:
            self._show_particles()

    def set_states(self) -> None:
        """Save the state names typed in the field (refused while a removed one is in use)."""
        project = self._project()
        if project is None:
            return
        try:
            labels = load_particle_labels(project.path).with_states(
                self.state_names.text().split(",")
            )
            save_particle_labels(project.path, labels)
        except Exception as error:
            self._fail(error)
            return
        current = self.state.currentText()
        self.state.clear()
        self.state.addItems(labels.states)
        self.state.setCurrentText(current)
        self._show_labels()

    def find_particles(self, *, h_max: float = 2.0) -> None:
        """Separate the particles of the project's segmentation (truth, else proposal)."""
        from napari_cathode.core.states.particles import find_project_particles

        project = self._project()
        if project is None:
            return
        try:
            self.instances = find_project_particles(project, h_max=h_max)
        except Exception as error:
            self._fail(error, "finding particles")
            return
        self._show_particles()

    def _scale(self):
        return tuple(float(v) for v in self.session.project.voxel_size)

    def _show_particles(self) -> None:
        unit = self.session.project.unit
        put_layer(
            self.viewer, PARTICLES, self.instances, "labels", self._scale(), unit, opacity=0.3
        )
        self._show_labels()

    def _show_labels(self) -> None:
        project = self.session.project
        if project is None or self.instances is None:
            return
        labels = load_particle_labels(project.path)
        show_labelled_points(self.viewer, labels, self._scale(), self.session.project.unit)
        counts = labels.counts(self.instances)
        self.counts.setText(", ".join(f"{s}: {n}" for s, n in counts.items()) + " labelled")

    def label_at(self, point, *, remove: bool = False) -> bool:
        """Give the particle at voxel ``point`` the chosen state (or remove its label)."""
        project = self._project()
        if project is None:
            return False
        if self.instances is None:
            self._fail("find the particles first (Find particles)")
            return False
        try:
            labels = load_particle_labels(project.path)
            if remove:
                labels = labels.without_particle(point, self.instances)
            else:
                labels = labels.with_label(point, self.state.currentText(), self.instances)
            save_particle_labels(project.path, labels)
        except Exception as error:
            self._fail(error)
            return False
        self._show_labels()
        return True

    def _on_click(self, viewer, event) -> None:
        if self.instances is None or self.session.project is None:
            return
        layer = viewer.layers[PARTICLES] if PARTICLES in viewer.layers else None
        if layer is None:
            return
        point = np.round(layer.world_to_data(event.position)).astype(int)
        if not all(0 <= p < n for p, n in zip(point, self.instances.shape)):
            return
        particle = int(self.instances[tuple(point)])
        if particle:
            self.particle.setValue(particle)
        if self.click_to_label.isChecked():
            self.label_at(point, remove="Alt" in event.modifiers)

    # ------------------------------------------------------------------ train
    def train(self, *, steps: int | None = None) -> bool:
        """Train the classifier on the labelled particles in a separate process."""
        project = self._project()
        if project is None or self._training is not None:
            return False
        self._jobs = []
        steps = steps or self.steps.value()
        self.steps.setValue(steps)  # the field shows what really runs
        worker = thread_worker(_run_training, start_thread=False, ignore_errors=True)(
            str(project.path), steps, self._jobs
        )
        self._training = worker
        self.progress.setRange(0, steps)
        self.progress.setValue(0)
        self.train_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        worker.yielded.connect(self._on_event)
        worker.errored.connect(lambda error: self._fail(error, "training"))
        worker.finished.connect(self._training_over)
        worker.start()
        return True

    def _on_event(self, event) -> None:
        if isinstance(event, StepEvent):
            self.progress.setValue(event.step)
        elif isinstance(event, DoneEvent):
            report = getattr(event, "report", {})
            self.result.setText(
                f"model saved: training accuracy {report.get('accuracy', 0):.2f} on "
                f"{report.get('n', 0)} labelled particles, {event.seconds:.0f} s"
            )
        elif isinstance(event, CancelledEvent):
            self.result.setText("training stopped; no model was saved")
        elif isinstance(event, ErrorEvent):
            self._fail(event.message, "training")

    def _training_over(self) -> None:
        self._training = None
        self.train_button.setEnabled(True)
        self.stop_button.setEnabled(False)

    @property
    def running(self) -> bool:
        return self._training is not None

    def stop(self) -> None:
        for job in self._jobs:
            threading.Thread(target=job.cancel, name="cancel-states", daemon=True).start()
