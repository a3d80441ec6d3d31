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
from pathlib import Path

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
from napari_cathode.core.particle_states import (
    load_instances,
    load_particle_labels,
    save_particle_labels,
    state_volume,
)
from napari_cathode.ml.events import CancelledEvent, DoneEvent, ErrorEvent, StepEvent

log = logging.getLogger(__name__)

PARTICLES, LABELLED, STATE, HEAT = "particles", "state labels", "state", "Grad-CAM"
#: Colours of states 1, 2, ... (Labels layer and labelled points).
PALETTE = ("#2ca02c", "#d62728", "#1f77b4", "#ff7f0e", "#9467bd", "#8c564b")


def _run_training(project: str, steps: int, started: list):
    from napari_cathode.jobs.particle_states_job import ParticleStateRequest
    from napari_cathode.jobs.state_training_job import StateTrainingJob

    job = StateTrainingJob(ParticleStateRequest(project, steps=steps), num_threads=1).start()
    started.append(job)
    try:
        yield from job.events(poll_seconds=0.2)
    finally:
        job.close()


class StatesDock(QWidget):
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
        self.plus_plus = QCheckBox("Grad-CAM++")
        self.explain_button = QPushButton("Explain")
        self.export_path = QLineEdit()
        self.export_path.setPlaceholderText("heat map file (.tif or .png)")
        self.export_button = QPushButton("Export heat map")

        label_box = QGroupBox("1 · Label")
        form = QFormLayout(label_box)
        form.addRow("states", self.state_names)
        form.addRow(self.find_button)
        form.addRow("state", self.state)
        form.addRow(self.click_to_label)
        form.addRow(self.counts)
        train_box = QGroupBox("2 · Train")
        form = QFormLayout(train_box)
        form.addRow("steps", self.steps)
        row = QHBoxLayout()
        row.addWidget(self.train_button)
        row.addWidget(self.stop_button)
        form.addRow(row)
        form.addRow(self.progress)
        predict_box = QGroupBox("3 · Predict")
        form = QFormLayout(predict_box)
        form.addRow(self.predict_button)
        form.addRow(self.result)
        explain_box = QGroupBox("4 · Explain (Grad-CAM)")
        form = QFormLayout(explain_box)
        form.addRow("particle", self.particle)
        form.addRow(self.plus_plus)
        form.addRow(self.explain_button)
        form.addRow(self.export_path)
        form.addRow(self.export_button)
        layout = QVBoxLayout(self)
        for box in (label_box, train_box, predict_box, explain_box):
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
        from napari_cathode.core.particle_states import find_project_particles

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

    def _put(self, name: str, data, kind: str, **kwargs):
        if name in self.viewer.layers:
            layer = self.viewer.layers[name]
            layer.data = data
            for key, value in kwargs.items():
                setattr(layer, key, value)
            return layer
        return getattr(self.viewer, f"add_{kind}")(data, name=name, scale=self._scale(), **kwargs)

    def _show_particles(self) -> None:
        self._put(PARTICLES, self.instances, "labels", opacity=0.3)
        self._show_labels()

    def _show_labels(self) -> None:
        project = self.session.project
        if project is None or self.instances is None:
            return
        labels = load_particle_labels(project.path)
        points = np.array([lab.point for lab in labels.labels], float).reshape(-1, 3)
        colours = [PALETTE[labels.state_index(lab.state) % len(PALETTE)] for lab in labels.labels]
        layer = self._put(LABELLED, points, "points", size=4, face_color=colours or "white")
        layer.face_color = colours or "white"
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

    # ------------------------------------------------------------------ predict / explain
    def predict(self):
        """Classify every particle (worker thread); adds the "state" Labels layer."""
        from napari_cathode.jobs.particle_states_job import predict_project_states

        project = self._project()
        if project is None:
            return None
        worker = thread_worker(predict_project_states, start_thread=False, ignore_errors=True)(
            project.path
        )
        worker.returned.connect(self._predicted)
        worker.errored.connect(lambda error: self._fail(error, "predicting states"))
        worker.start()
        return worker

    def _predicted(self, result) -> None:
        from napari.utils.colormaps import DirectLabelColormap

        table, instances, states = result
        index = {s: i for i, s in enumerate(states)}
        volume = state_volume(
            instances, {int(p): index[s] for p, s in zip(table["particle"], table["state"])}
        )
        colours = {None: "transparent", 0: "transparent"}
        colours.update({i + 1: PALETTE[i % len(PALETTE)] for i in range(len(states))})
        self._put(STATE, volume, "labels", colormap=DirectLabelColormap(color_dict=colours))
        counts = ", ".join(f"{s}: {int((table['state'] == s).sum())}" for s in states)
        path = Path(self.session.project.path) / "states" / "particles.csv"
        self.result.setText(f"{len(table)} particles — {counts}; table: {path}")

    def explain(self):
        """Grad-CAM of the chosen particle's prediction as an image layer (worker thread)."""
        from napari_cathode.jobs.particle_states_job import explain_particle

        project = self._project()
        if project is None:
            return None
        worker = thread_worker(explain_particle, start_thread=False, ignore_errors=True)(
            project.path, self.particle.value(), plus_plus=self.plus_plus.isChecked()
        )
        worker.returned.connect(self._explained)
        worker.errored.connect(lambda error: self._fail(error, "explaining"))
        worker.start()
        return worker

    def _explained(self, result: dict) -> None:
        self.explanation = result
        start = np.array([s.start for s in result["box"]], float)
        layer = self._put(
            HEAT, result["heat"], "image", colormap="turbo", blending="additive", opacity=0.6
        )
        layer.translate = start * np.array(self._scale())
        layer.contrast_limits = (0.0, 1.0)
        probabilities = ", ".join(f"{s} {p:.2f}" for s, p in result["probabilities"].items())
        self.result.setText(
            f"particle {result['particle']}: {result['predicted']} ({probabilities}); heat map "
            f"of '{result['state']}' on its three central planes"
        )

    def export_heat_map(self) -> Path | None:
        """Save the last explanation as TIFF (float map) or PNG (overlay)."""
        from napari_cathode.core.heat_maps import save_heat_map

        if self.explanation is None:
            self._fail("explain a particle first")
            return None
        try:
            return save_heat_map(
                self.export_path.text().strip(), self.explanation["heat"], self.explanation["image"]
            )
        except Exception as error:
            self._fail(error, "exporting the heat map")
            return None
