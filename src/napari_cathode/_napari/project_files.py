"""Helpers of the project page: create a project, layer choices, messages naming what to click."""

from __future__ import annotations

import os
from pathlib import Path

from napari_cathode.core.project import PROJECT_SUFFIX, Project
from napari_cathode.core.project_format import METADATA_FILE

#: A new project's folder exists already (``{target}``).
NEW_FOLDER_EXISTS = (
    "{target} already exists: open it with Open project…, or type another project folder"
)


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


def create_project(
    path, image, truth, voxel_size, unit, source, progress, contiguous=None
) -> Path:
    """Create the project (run in a worker thread) with the starting model `new` would pick."""
    from napari_cathode.jobs.training_runs import set_project_start
    from napari_cathode.ml.starter import default_start_choice

    project = Project.create(
        path,
        image,
        truth=truth,
        voxel_size=voxel_size,
        unit=unit,
        source=source,
        progress=progress,
        contiguous=contiguous,
    )
    # The same starting model as `napari-cathode new`: the shipped starter when the classes fit.
    set_project_start(project.path, default_start_choice(project.classes))
    return project.path


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
