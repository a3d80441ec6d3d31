"""Helpers of the project page: create a project, layer choices, messages naming what to click,
the voxel-size fields."""

from __future__ import annotations

import os
from pathlib import Path

from napari_cathode.core.project.file_format import METADATA_FILE
from napari_cathode.core.project.store import PROJECT_SUFFIX

__all__ = [
    "NEW_FOLDER_EXISTS",
    "NOT_WRITABLE",
    "create_project",
    "fill_choices",
    "layer_combo",
    "not_a_project",
    "other_layers",
    "shape_mismatch",
    "voxel_spin",
]

#: A new project's folder exists already (``{target}``).
NEW_FOLDER_EXISTS = (
    "{target} already exists: open it with Open project…, or type another project folder"
)

#: An opened project whose folder is not writable (``{path}``).
NOT_WRITABLE = (
    "{path} is not writable: painting and training are off. Copy the project to a folder you "
    "can write to, or fix its permissions"
)


def voxel_spin():
    """A narrow spin box for one voxel-size component (three fit side by side in the dock)."""
    from qtpy.QtWidgets import QDoubleSpinBox

    spin = QDoubleSpinBox()
    spin.setButtonSymbols(QDoubleSpinBox.ButtonSymbols.NoButtons)  # narrow: fits the dock
    spin.setStyleSheet("min-width: 48px")  # napari's style asks 90 px: three must fit
    spin.setDecimals(4)
    spin.setRange(1e-4, 1e6)
    spin.setValue(1.0)
    return spin


def layer_combo():
    """A layer choice that stays narrow with long layer names."""
    from qtpy.QtWidgets import QComboBox

    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(12)
    return combo


def not_a_project(path: str | os.PathLike) -> str:
    """Why ``path`` cannot be opened as a project, in the dock's words ("" if it can)."""
    folder = Path(path).expanduser()
    if (folder / METADATA_FILE).is_file():
        return ""
    return (
        f"{folder} is not a napari-cathode project (it has no {METADATA_FILE}): choose a "
        f"…{PROJECT_SUFFIX} folder, or make a project from a volume with New project from "
        "file… or New project from layer"
    )


def create_project(path, image, truth, voxel_size, unit, source, contiguous=None) -> Path:
    """Create the project (run in a worker thread): ``napari-cathode new``'s own use case,
    :func:`~napari_cathode.jobs.new_project.new_project` (same starting model, initial truth
    marked reviewed)."""
    from napari_cathode.jobs.new_project import new_project

    created = new_project(
        path,
        image,
        truth=truth,
        voxel_size=voxel_size,
        unit=unit,
        source=source,
        contiguous=contiguous,
    )
    return created.project.path


def shape_mismatch(truth_name: str, truth_shape, image_name: str, image_shape) -> str:
    """The message for an initial-truth layer drawn on another image."""
    return (
        f"the labels layer {truth_name!r} has shape {tuple(truth_shape)} but the image "
        f"{image_name!r} has {tuple(image_shape)}: choose labels drawn on this image, or no "
        "initial truth"
    )


def other_layers(viewer, own) -> tuple[list[str], list[str]]:
    """Names of the viewer's 2D/3D image layers and labels layers that are not in ``own``."""
    import napari

    own_ids = {id(layer) for layer in own}
    others = [layer for layer in viewer.layers if id(layer) not in own_ids]
    images = [x.name for x in others if isinstance(x, napari.layers.Image) and x.ndim in (2, 3)]
    labels = [x.name for x in others if isinstance(x, napari.layers.Labels)]
    return images, labels


def fill_choices(combo, names: list[str]) -> None:
    """Refill a combo box, keeping its current choice when it is still there."""
    current = combo.currentText()
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(names)
    if current in names:
        combo.setCurrentText(current)
    combo.blockSignals(False)
