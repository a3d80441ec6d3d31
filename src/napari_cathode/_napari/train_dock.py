"""The "Train" dock: start a round in a subprocess, watch it live, stop it, see every round.

Thin: it builds a frozen :class:`~napari_cathode.ml.config.ModelConfig` and hands it to the
session's :class:`~napari_cathode._napari.training_runner.TrainingRunner` (a separate process,
so the viewer never freezes or dies with it), and renders its events: progress with ETA, loss
and Dice plot, the round table. The round belongs to the session, so a Train page closed and
opened again shows the running round and can stop it. When a round ends the session refreshes
the proposals of the unreviewed slices.
"""

from __future__ import annotations

import logging
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
from napari_cathode._napari.round_table_widget import RoundTableWidget
from napari_cathode._napari.session import session_for
from napari_cathode._napari.train_lookups import count_gpus, find_starter_model, theme_colors
from napari_cathode.ml.config import DEVICES, ModelConfig
from napari_cathode.ml.events import (
    DoneEvent,
    ErrorEvent,
    StepEvent,
    ValidationEvent,
)

__all__ = [
    "IMPORTED",
    "LAST_ROUND",
    "SCRATCH",
    "STARTER",
    "STARTER_CHOICE",
    "TrainDock",
]

log = logging.getLogger(__name__)

#: ``init_model`` value the training job resolves to the shipped starter model.
STARTER_CHOICE = "starter"

LAST_ROUND, IMPORTED, STARTER, SCRATCH = (
    "last round (warm start)",
    "imported model",
    "starter model",
    "from scratch",
)


class TrainDock(QWidget):
    """Dock widget: train a round, live progress, loss/Dice plot, Stop, round table."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.session = session_for(viewer)
        self.runner = self.session.predictions  # the proposal refresh after a round
        self.training = self.session.training
        self.config: ModelConfig | None = self.training.config
        self.last_error = ""

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
        self.gpus = QSpinBox()
        self.gpus.setRange(1, 1)
        self.gpus.setEnabled(False)
        self.gpus.setToolTip("looking for GPUs …")
        self._gpu_lookup = thread_worker(count_gpus, start_thread=False, ignore_errors=True)()
        self._gpu_lookup.returned.connect(self.show_gpus)
        self._gpu_lookup.start()
        self.refresh = QCheckBox("new proposals when the round ends")
        self.refresh.setToolTip("predict the unreviewed slices again with the new round")
        self.refresh.setChecked(self.session.refresh_after_round)
        self.start_button = QPushButton("Train a round")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.progress = QProgressBar()
        self.eta = note.status_label()
        self.plot = TrainingPlot(theme_colors(viewer))
        self.rounds = RoundTableWidget()

        box = QGroupBox("Train")
        form = QFormLayout(box)
        form.addRow("start from", self.start_from)
        form.addRow("model", self.model)
        form.addRow("steps", self.steps)
        form.addRow("device", self.device)
        form.addRow("GPUs", self.gpus)
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
        self.refresh.toggled.connect(lambda on: setattr(self.session, "refresh_after_round", on))
        self.training.event.connect(self.on_event)
        self.training.state_changed.connect(self._show_state)
        self.session.follow(self, "project_changed", self._on_project)
        self.session.follow(self, "rounds_changed", self._on_project)
        self._on_project(self.session.project)
        self._show_state()
        for event in self.training.history:  # a round already running: draw it so far
            self._plot(event)

    def _on_project(self, *_) -> None:
        project = self.session.project
        self.rounds.refresh(project)
        if project is not None:
            self.plot.colors = {c.name: c.color for c in project.classes}

    def show_gpus(self, count: int) -> None:
        """Offer data-parallel training when torch sees ``count`` >= 2 GPUs, else say why not."""
        self.gpus.setRange(1, max(count, 1))
        self.gpus.setEnabled(count >= 2)
        self.gpus.setToolTip(
            f"train the round on up to {count} GPUs of this machine at once (data-parallel, "
            "one process per GPU; the batch size is per GPU)"
            if count >= 2
            else f"training on several GPUs needs 2 or more CUDA GPUs; torch sees {count}"
        )

    def _starter_lookup_done(self) -> None:
        self._starter_lookup = None

    def _starter_found(self, folder: Path | None) -> None:
        if folder is not None and self.start_from.findText(STARTER) < 0:
            self.start_from.addItem(STARTER)

    @property
    def running(self) -> bool:
        """True while the session's round runs (started here or from any other page)."""
        return self.training.running

    def _show_state(self) -> None:
        running = self.training.running
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running and self.training.status != "stopping …")
        if self.training.config is not None:
            self.progress.setRange(0, self.training.total_steps)
        if self.training.history:
            steps = [e.step for e in self.training.history if isinstance(e, StepEvent)]
            self.progress.setValue(max(steps, default=0))
        self.eta.setText(self.training.status)

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
        if self.training.running:
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
        gpus = self.gpus.value() if self.gpus.isEnabled() else 1
        # threads=None: the job uses all cores ($NAPARI_CATHODE_THREADS caps it); the Qt
        # thread is idle while it trains (benchmarks/bench_gui_responsiveness.py measures it)
        threads = None
        self.plot.clear()
        self.progress.setValue(0)
        started = self.training.start(
            project.path, self.config, init_model, from_scratch, threads, gpus
        )
        if not started:
            self.last_error = self.training.last_error
        return started

    # ------------------------------------------------------------------ events
    def on_event(self, event) -> None:
        """Render one training event (on the Qt thread; the runner already updated its state)."""
        self._plot(event)
        if isinstance(event, StepEvent):
            self.progress.setValue(event.step)
        elif isinstance(event, DoneEvent):
            self.progress.setValue(self.progress.maximum())
            self.plot.finish()
        elif isinstance(event, ErrorEvent):
            self.last_error = self.training.last_error
        self.eta.setText(self.training.status)

    def _plot(self, event) -> None:
        if isinstance(event, StepEvent):
            self.plot.add_loss(event.step, event.loss)
        elif isinstance(event, ValidationEvent):
            self.plot.add_dice(event.step, event.dice)

    def stop(self) -> None:
        """Cancel the round (never blocks Qt; the previous round stays the latest)."""
        self.training.stop()
