"""The "Project and classes" dock: new or open a project, its classes and voxel size.

Thin: the project is copied by :meth:`Project.create` in a worker thread (block by block, with
progress); the dock only reads its fields and shows the result. Opening a project (here, by
File ▸ Open or by dropping the folder on napari) restores every layer through
:class:`~napari_cathode._napari.session.ProjectSession`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import napari
from napari.qt.threading import thread_worker
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_cathode._napari.classes_box import ClassesBox
from napari_cathode._napari.notifications import notify_error, notify_warning
from napari_cathode._napari.project_files import (
    NEW_FOLDER_EXISTS,
    NOT_WRITABLE,
    create_project,
    fill_choices,
    layer_combo,
    not_a_project,
    other_layers,
    shape_mismatch,
    voxel_spin,
)
from napari_cathode._napari.session import session_for
from napari_cathode.core.errors import CathodeError
from napari_cathode.core.project.store import PROJECT_SUFFIX, Project
from napari_cathode.jobs.project_status import project_status

__all__ = ["CONTIGUITY", "NO_TRUTH_LAYER", "ProjectDock"]

log = logging.getLogger(__name__)

NO_TRUTH_LAYER = "(none)"
#: The new-project form's choice of slice contiguity -> ``Project.create(contiguous=...)``.
CONTIGUITY = {
    "detect from the image": None,
    "contiguous (3D volume: 2.5D model)": True,
    "separate 2D images (2D model)": False,
}


class ProjectDock(QWidget):
    """Dock widget: create / open a project, edit its classes and voxel size."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.session = session_for(viewer)
        self._worker = None

        self.image_layer, self.truth_layer = layer_combo(), layer_combo()
        self.project_path = QLineEdit()
        self.project_path.setPlaceholderText(f"folder for the new project (…{PROJECT_SUFFIX})")
        self.voxel = [voxel_spin() for _ in range(3)]
        self.unit = QLineEdit("px")
        self.unit.setMaximumWidth(48)
        self.contiguous = QComboBox()
        self.contiguous.addItems(list(CONTIGUITY))
        self.new_button = QPushButton("New project from layer")
        self.file_button = QPushButton("New project from file…")
        self.open_button = QPushButton("Open project…")
        self.progress = QProgressBar()
        self.progress.hide()
        self.status = QLabel("no project open")
        self.status.setWordWrap(True)
        self.classes = ClassesBox(self.session)
        self.classes_table = self.classes.table
        # the classes box's actions, under the names scripts use
        self.add_class_row, self.remove_class_row = (
            self.classes_table.add_new_class,
            self.classes_table.remove_selected,
        )
        self.table_classes, self.apply_classes = self.classes_table.classes, self.classes.apply
        self.apply_voxel_button = QPushButton("Apply voxel size")

        create = QGroupBox("Project")
        form = QFormLayout(create)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.addRow("image layer", self.image_layer)
        form.addRow("initial truth", self.truth_layer)
        form.addRow("project folder", self.project_path)
        voxel_row = QHBoxLayout()
        for spin in self.voxel:
            voxel_row.addWidget(spin)
        voxel_row.addWidget(self.unit)
        form.addRow("voxel size z y x", voxel_row)
        form.addRow("slices", self.contiguous)
        form.addRow(self.new_button)
        form.addRow(self.file_button)
        form.addRow(self.open_button)
        form.addRow(self.progress)
        form.addRow(self.status)
        form.addRow(self.apply_voxel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(create)
        layout.addWidget(self.classes)
        layout.addStretch()

        self.new_button.clicked.connect(lambda: self.create_from_layer())
        self.file_button.clicked.connect(self._choose_file)
        self.open_button.clicked.connect(self._choose_project)
        self.apply_voxel_button.clicked.connect(lambda: self.apply_voxel_size())
        self.image_layer.currentTextChanged.connect(self._suggest_path)
        for event in (viewer.layers.events.inserted, viewer.layers.events.removed):
            event.connect(self.reset_choices)
        self.session.follow(self, "project_changed", self._show_project)
        self.session.follow(self, "rounds_changed", self._show_status)
        self.session.follow(self, "review_changed", self._show_status)
        self.reset_choices()
        if self.session.project is not None:
            self._show_project(self.session.project)

    # ------------------------------------------------------------------ choices
    def reset_choices(self, *_) -> None:
        """Refresh the image and truth layer lists (napari calls this when layers change)."""
        images, labels = other_layers(self.viewer, self.session.layers.values())
        fill_choices(self.image_layer, images)
        fill_choices(self.truth_layer, [NO_TRUTH_LAYER, *labels])
        self._suggest_path(self.image_layer.currentText())

    def _suggest_path(self, name: str) -> None:
        if name and not self.project_path.text():
            folder = f"{name.replace(' ', '_')}{PROJECT_SUFFIX}"
            self.project_path.setText(str(Path.home() / folder))
            layer = self.viewer.layers[name]
            for spin, value in zip(self.voxel, tuple(layer.scale)[-3:]):
                spin.setValue(float(value))

    # ------------------------------------------------------------------ create / open
    def create_from_layer(
        self,
        image_layer: str | None = None,
        *,
        truth_layer: str | None = None,
        path: str | os.PathLike | None = None,
    ) -> bool:
        """Create a project from an image layer (and optional labels layer as initial truth).

        The copy runs in a worker thread; the project opens when it is done. Returns False
        (after a notification) when the inputs are unusable.
        """
        image_name = image_layer or self.image_layer.currentText()
        truth_name = truth_layer or self.truth_layer.currentText()
        if not image_name or image_name not in self.viewer.layers:
            notify_warning("add an image layer (File ▸ Open, or a sample) to create a project")
            return False
        image = self.viewer.layers[image_name]
        truth = None
        if truth_name and truth_name != NO_TRUTH_LAYER:
            truth = self.viewer.layers[truth_name].data
            if tuple(truth.shape) != tuple(image.data.shape):
                notify_error(shape_mismatch(truth_name, truth.shape, image_name, image.data.shape))
                return False
        source = image.source.path
        return self._start_create(path, image.data, truth, source, hide=image)

    def create_from_file(
        self, file: str | os.PathLike, *, path: str | os.PathLike | None = None
    ) -> bool:
        """Create a project from a volume file or a folder of slices (copied blockwise)."""
        from napari_cathode.core.io.volumes import open_volume

        try:
            volume = open_volume(file)
        except CathodeError as error:
            notify_error(error, doing=f"opening {file}")
            return False
        if volume.voxel_size:
            for spin, value in zip(self.voxel, volume.voxel_size):
                spin.setValue(float(value))
        if volume.unit:
            self.unit.setText(str(volume.unit))
        if path is None and not self.project_path.text():
            self.project_path.setText(str(Path(file).with_suffix(PROJECT_SUFFIX)))
        return self._start_create(path, volume.data, None, str(file))

    def _start_create(self, path, image, truth, source, *, hide=None) -> bool:
        if self._worker is not None:
            notify_warning("a project is being created; wait for it to finish")
            return False
        target = Path(path or self.project_path.text()).expanduser()
        if not str(path or self.project_path.text()).strip():
            notify_warning("type a folder for the new project")
            return False
        if target.exists():
            notify_error(NEW_FOLDER_EXISTS.format(target=target))
            return False
        voxel_size = tuple(spin.value() for spin in self.voxel)
        worker = thread_worker(create_project, start_thread=False, ignore_errors=True)(
            target,
            image,
            truth,
            voxel_size,
            self.unit.text().strip() or "px",
            source,
            CONTIGUITY[self.contiguous.currentText()],
        )
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText(f"creating {target} …")
        worker.returned.connect(lambda folder: self._created(folder, hide))
        worker.errored.connect(lambda error: notify_error(error, doing="creating the project"))
        worker.finished.connect(self._worker_done)
        self._worker = worker
        worker.start()
        return True

    def _created(self, folder: Path, hide) -> None:
        if hide is not None and hide in self.viewer.layers:
            hide.visible = False  # the project's own image layer replaces it
        self.open_project(folder)

    def _worker_done(self) -> None:
        self._worker = None
        self.progress.hide()

    def open_project(self, path: str | os.PathLike) -> Project | None:
        """Open a project folder and show its layers; None (after a notification) on failure."""
        problem = not_a_project(path)
        if problem:
            notify_error(problem)
            return None
        try:
            project = self.session.open(path)
        except CathodeError as error:
            notify_error(error, doing=f"opening {path}")
            return None
        if project.read_only:
            notify_warning(NOT_WRITABLE.format(path=project.path))
        return project

    def _choose_file(self) -> None:
        file, _ = QFileDialog.getOpenFileName(self, "Volume to segment")
        if file:
            self.create_from_file(file)

    def _choose_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a napari-cathode project")
        if folder:
            self.open_project(folder)

    # ------------------------------------------------------------------ classes and voxel size
    def _show_project(self, project: Project | None) -> None:
        self.reset_choices()
        if project is None:
            self.status.setText("no project open")
            return
        self._show_status()
        self.classes_table.show_classes(project.classes)
        for spin, value in zip(self.voxel, project.voxel_size):
            spin.setValue(value)
        self.unit.setText(project.unit)

    def _show_status(self, *_) -> None:
        """The project line: size, truth slices, rounds (refreshed after reviews and rounds)."""
        project = self.session.project
        if project is None:
            self.status.setText("no project open")
            return
        status = project_status(project, with_rounds=False)
        self.status.setText(
            f"{project.name}: {project.shape[0]} × {project.shape[1]} × {project.shape[2]}, "
            f"{status.truth_slices} truth slices, {status.round_count} rounds "
            f"({'read-only' if project.read_only else 'read/write'}); slices {status.slices}"
        )

    def apply_voxel_size(self) -> bool:
        """Save the voxel size and unit, and rescale the project's layers."""
        project = self.session.project
        if project is None:
            notify_warning("open or create a project first")
            return False
        try:
            project.set_voxel_size(tuple(s.value() for s in self.voxel), self.unit.text().strip())
        except CathodeError as error:
            notify_error(error, doing="changing the voxel size")
            return False
        for layer in self.session.layers.values():
            layer.scale = project.voxel_size
        return True
