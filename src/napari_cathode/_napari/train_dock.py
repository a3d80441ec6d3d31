"""The "Train" dock: start a round in a subprocess, watch it live, stop it, see every round.

Thin: it builds a frozen :class:`~napari_cathode.jobs.training_runs.ProjectTrainingRequest`,
hands it to a :class:`~napari_cathode.jobs.training_job.TrainingJob` (a separate process, so
the viewer never freezes or dies with it), and renders its events, read off the Qt thread by a
``thread_worker`` generator: progress with ETA, loss and Dice plot, the round table. When a
round ends the unreviewed slices get fresh proposals.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import napari
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
from napari_cathode._napari.plots import TrainingPlot
from napari_cathode._napari.prediction_runner import PredictionRunner
from napari_cathode._napari.round_table_widget import RoundTableWidget
from napari_cathode._napari.session import session_for
from napari_cathode.core.errors import ModelError
from napari_cathode.core.review import ReviewStatus
from napari_cathode.ml.config import DEVICES, ModelConfig
from napari_cathode.ml.events import (
    CancelledEvent,
    DoneEvent,
    ErrorEvent,
    StartedEvent,
    StepEvent,
    ValidationEvent,
)

log = logging.getLogger(__name__)

#: ``init_model`` value the training job resolves to the shipped starter model.
STARTER_CHOICE = "starter"

LAST_ROUND, IMPORTED, STARTER, SCRATCH = (
    "last round (warm start)",
    "imported model",
    "starter model",
    "from scratch",
)


def find_starter_model() -> Path | None:
    """The shipped starter model folder, or None (run in a worker thread: it imports torch)."""
    try:
        from napari_cathode.ml.starter import starter_model_dir
    except ImportError:
        return None
    try:
        return starter_model_dir()
    except ModelError:
        return None


def _run_job(project: str, config: ModelConfig, init_model, from_scratch: bool,
             threads: int | None, started: list):  # fmt: skip
    """Generator run in a worker thread: start the training process and yield its events.

    The job module and its request are imported here, not on the Qt thread: they pull in
    torch. ``started`` receives the job, so the dock can stop it.
    """
    from napari_cathode.jobs.training_job import TrainingJob
    from napari_cathode.jobs.training_runs import ProjectTrainingRequest

    request = ProjectTrainingRequest(
        project, config=config, init_model=init_model, from_scratch=from_scratch
    )
    job = TrainingJob(request, num_threads=threads).start()
    started.append(job)
    try:
        yield from job.events(poll_seconds=0.2)
    finally:
        job.close()


class TrainDock(QWidget):
    """Dock widget: train a round, live progress, loss/Dice plot, Stop, round table."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.session = session_for(viewer)
        self.runner = PredictionRunner()
        self._training = None
        self.config: ModelConfig | None = None
        self.last_error = ""
        self._jobs: list = []
        self._started_at = 0.0
        self._total_steps = 0
        self._retry_on_cpu: ModelConfig | None = None

        self.start_from = QComboBox()
        self.start_from.addItems([LAST_ROUND, IMPORTED, SCRATCH])
        self._starter_lookup = thread_worker(
            find_starter_model, start_thread=False, ignore_errors=True
        )()
        self._starter_lookup.returned.connect(self._starter_found)
        self._starter_lookup.finished.connect(self._starter_lookup_done)
        self._starter_lookup.start()
        self.model = QLineEdit()
        self.model.setPlaceholderText("model folder (for 'imported model')")
        self.steps = QSpinBox()
        self.steps.setRange(1, 100_000)
        self.steps.setValue(ModelConfig().steps)
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        self.refresh = QCheckBox("refresh proposals of unreviewed slices when a round ends")
        self.refresh.setChecked(True)
        self.start_button = QPushButton("Train a round")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.progress = QProgressBar()
        self.eta = QLabel("")
        self.plot = TrainingPlot()
        self.rounds = RoundTableWidget()

        box = QGroupBox("Train")
        form = QFormLayout(box)
        form.addRow("start from", self.start_from)
        form.addRow("model", self.model)
        form.addRow("steps", self.steps)
        form.addRow("device", self.device)
        form.addRow(self.refresh)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        form.addRow(buttons)
        form.addRow(self.progress)
        form.addRow(self.eta)
        layout = QVBoxLayout(self)
        layout.addWidget(box)
        layout.addWidget(self.plot)
        layout.addWidget(QLabel("Rounds"))
        layout.addWidget(self.rounds)

        self.start_button.clicked.connect(lambda: self.start_round())
        self.stop_button.clicked.connect(self.stop)
        self.runner.finished.connect(lambda _result: self.session.refresh_overlays())
        self.runner.failed.connect(lambda e: self._fail(e, "refreshing the proposals"))
        self.session.project_changed.connect(lambda *_: self.rounds.refresh(self.session.project))
        self.session.rounds_changed.connect(lambda: self.rounds.refresh(self.session.project))
        self.rounds.refresh(self.session.project)

    def _starter_lookup_done(self) -> None:
        self._starter_lookup = None

    def _starter_found(self, folder: Path | None) -> None:
        if folder is not None and self.start_from.findText(STARTER) < 0:
            self.start_from.addItem(STARTER)

    @property
    def running(self) -> bool:
        return self._training is not None

    def _fail(self, error, doing: str = "") -> None:
        self.last_error = note.notify_error(error, doing=doing)

    # ------------------------------------------------------------------ start
    def _config_from_fields(self) -> ModelConfig:
        return ModelConfig(steps=self.steps.value(), device=self.device.currentText())

    def _init_model(self) -> tuple[str | None, bool] | None:
        choice = self.start_from.currentText()
        if choice == SCRATCH:
            return None, True
        if choice == STARTER:
            return STARTER_CHOICE, False  # the job resolves it (ml.starter)
        if choice == IMPORTED:
            folder = Path(self.model.text().strip()).expanduser()
            if not (folder / "model.json").is_file():
                self._fail(f"{folder} is not a model folder (no model.json): choose one")
                return None
            return str(folder), False
        return None, False  # the job warm-starts from the latest round, if any

    def start_round(self, *, config: ModelConfig | None = None) -> bool:
        """Start training a round in a subprocess; False (with a notification) if refused.

        Parameters
        ----------
        config : ModelConfig, optional
            Overrides the dock's fields (scripts and tests pass a small config here).
        """
        project = self.session.project
        if project is None:
            self._fail(note.NO_PROJECT)
            return False
        if self._training is not None:
            self.last_error = note.notify_warning(note.TRAINING_RUNS)
            return False
        if project.read_only:
            self._fail(
                f"{project.path} is read-only (opened read-only, or the folder is not writable):"
                " a round cannot be saved there; copy the project to a folder you can write to"
            )
            return False
        if not len(project.truth_slices()):
            self._fail(note.NO_TRUTH)
            return False
        init = self._init_model()
        if init is None:
            return False
        init_model, from_scratch = init
        self.config = config or self._config_from_fields()
        self.steps.setValue(self.config.steps)  # the fields show what really runs
        self.device.setCurrentText(self.config.device)
        return self._launch(project, init_model, from_scratch)

    def _launch(self, project, init_model, from_scratch) -> bool:
        # threads=None: the job uses all cores ($NAPARI_CATHODE_THREADS caps it); the Qt
        # thread is idle while it trains (benchmarks/bench_gui_responsiveness.py measures it)
        self._jobs: list = []
        worker = thread_worker(_run_job, start_thread=False, ignore_errors=True)(
            str(project.path), self.config, init_model, from_scratch, None, self._jobs
        )
        self._training = worker  # running from now on; the process itself lands in self._jobs
        self._total_steps = self.config.steps
        self._started_at = time.monotonic()
        self.progress.setRange(0, self._total_steps)
        self.progress.setValue(0)
        self.eta.setText("starting the training process …")
        self.plot.clear()
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        worker.yielded.connect(self.on_event)
        worker.errored.connect(lambda error: self._fail(error, "training"))
        worker.finished.connect(self._job_over)
        worker.start()
        return True

    # ------------------------------------------------------------------ events
    def on_event(self, event) -> None:
        """Render one training event (on the Qt thread)."""
        if isinstance(event, StartedEvent):
            self._started_at = time.monotonic()
            warm = f", warm from {Path(event.warm_start).name}" if event.warm_start else ""
            self.eta.setText(
                f"training on {event.device}: {event.train_slices} train / "
                f"{event.validation_slices} validation slices{warm}"
            )
        elif isinstance(event, StepEvent):
            self.progress.setValue(event.step)
            elapsed = time.monotonic() - self._started_at
            left = elapsed / max(event.step, 1) * (self._total_steps - event.step)
            self.eta.setText(
                f"step {event.step}/{self._total_steps} · loss {event.loss:.3f} · "
                f"about {left:.0f} s left"
            )
            self.plot.add_loss(event.step, event.loss)
        elif isinstance(event, ValidationEvent):
            self.plot.add_dice(event.step, event.dice)
        elif isinstance(event, DoneEvent):
            self._on_done(event)
        elif isinstance(event, CancelledEvent):
            self.eta.setText("stopped; the previous model stays current")
            note.notify_info("training stopped; no round was saved and the previous model stays")
        elif isinstance(event, ErrorEvent):
            self._on_error(event)

    def _on_done(self, event: DoneEvent) -> None:
        self.plot.finish()
        mean = "—" if event.mean_dice is None else f"{event.mean_dice:.3f}"
        self.eta.setText(
            f"round saved ({Path(event.path).name}): mean Dice {mean}, {event.seconds:.0f} s "
            f"on {event.device}"
        )
        self.session.rounds_changed.emit()
        project = self.session.project
        if project is not None and self.refresh.isChecked():
            status = project.review_status()
            unreviewed = [int(z) for z in range(len(status)) if status[z] != ReviewStatus.REVIEWED]
            if unreviewed:
                self.runner.start(project.path, slices=unreviewed)

    def _on_error(self, event: ErrorEvent) -> None:
        config = self.config
        if note.is_out_of_memory(event.message) and config is not None and config.device != "cpu":
            self.last_error = note.notify_warning(note.GPU_OUT_OF_MEMORY)
            self._retry_on_cpu = config.replace(device="cpu")
            return
        self._fail(event.message, doing="training")

    def _job_over(self) -> None:
        self._training = None
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        retry = self._retry_on_cpu
        if retry is not None:
            self._retry_on_cpu = None
            self.start_round(config=retry)

    def stop(self) -> None:
        """Cancel the round (in a helper thread: waiting for the process never blocks Qt)."""
        if self._training is None:
            return
        self.stop_button.setEnabled(False)
        self.eta.setText("stopping …")
        for job in self._jobs:  # empty while the process is still starting: checked below
            threading.Thread(target=job.cancel, name="cancel-training", daemon=True).start()
        if not self._jobs:
            self._training.quit()  # the generator stops before it yields the first event
