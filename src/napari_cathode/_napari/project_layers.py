"""The napari layers of a project: image, uncertainty, proposal and (editable) truth.

All four are backed by the project's zarr arrays, so nothing is loaded up front; the truth layer
paints into the writable view the project hands out (``Project.truth_for_painting``), which
writes straight through to ``labels/truth`` on disk. A big project's image
is a multiscale layer over its display pyramid (see :mod:`napari_cathode.core.io.pyramid`).
"""

from __future__ import annotations

import os

from napari_cathode._napari.layers import (
    PROPOSAL,
    TRUTH,
    UNCERTAINTY,
    image_layer_tuple,
    labels_layer_tuple,
)
from napari_cathode.core.project.store import Project

__all__ = ["PROJECT_KEY", "project_layer_tuples"]

#: Metadata key, on every project layer, holding the project folder.
PROJECT_KEY = "napari_cathode_project"


def project_layer_tuples(path_or_project: str | os.PathLike | Project) -> list[tuple]:
    """LayerDataTuples for a project, in drawing order (truth last, so it is the active layer).

    Parameters
    ----------
    path_or_project : str, Path or Project
        A project folder (opened read/write) or an open :class:`Project`.

    Returns
    -------
    list of tuple
        ``(data, kwargs, layer_type)`` for the image, ``"<name> uncertainty"`` (hidden, magma,
        additive), ``"<name> proposal"`` (labels, half transparent) and ``"<name> truth"``
        (editable labels). Each layer's metadata holds ``{"napari_cathode_project": path}``.
    """
    project = (
        path_or_project if isinstance(path_or_project, Project) else Project.open(path_or_project)
    )
    name, scale, unit, classes = project.name, project.voxel_size, project.unit, project.classes
    image_extra = {}
    if project.display_range is not None:
        image_extra["contrast_limits"] = project.display_range
    levels = project.image_levels
    if len(levels) > 1:  # a big volume: napari reads only the visible part of one level
        image_extra["multiscale"] = True
    image_data = levels if len(levels) > 1 else project.image
    layers = [
        image_layer_tuple(image_data, name, scale, unit, **image_extra),
        image_layer_tuple(
            project.uncertainty,
            f"{name} {UNCERTAINTY}",
            scale,
            unit,
            colormap="magma",
            blending="additive",
            visible=False,
            contrast_limits=(0, 255),
        ),
        labels_layer_tuple(
            project.proposal, f"{name} {PROPOSAL}", classes, scale, unit, opacity=0.5
        ),
        labels_layer_tuple(project.truth_for_painting(), f"{name} {TRUTH}", classes, scale, unit),
    ]
    for _data, kwargs, _kind in layers:
        kwargs["metadata"] = {
            **kwargs["metadata"],
            PROJECT_KEY: str(project.path),
            "classes": [c.to_json() for c in classes],
        }
    return layers
