"""One place that decides how napari-cathode data appears as napari layers.

Readers, sample data and the project docks all build layers through these functions, so names,
scales and label colours are the same wherever a volume comes from.
"""

from __future__ import annotations

from collections.abc import Sequence

from napari_cathode.core.classes import DEFAULT_CLASSES, SegmentationClass

__all__ = [
    "PROPOSAL",
    "TRUTH",
    "UNCERTAINTY",
    "image_layer_tuple",
    "label_colors",
    "labels_colormap",
    "labels_layer_tuple",
]

#: Suffixes of the label layers of a project or an export.
TRUTH, PROPOSAL, UNCERTAINTY = "truth", "proposal", "uncertainty"

#: Units that mean "no physical size known": napari gets no unit for these.
_NO_UNIT = {None, "", "px", "pixel", "pixels", "voxel", "voxels"}


def _units(unit: str | None, ndim: int) -> dict:
    return {} if unit in _NO_UNIT else {"units": (unit,) * ndim}


def label_colors(classes: Sequence[SegmentationClass] = DEFAULT_CLASSES) -> dict:
    """Colour dict for a napari Labels layer: 0/unknown transparent, each class its colour."""
    colors: dict = {None: "transparent", 0: "transparent"}
    for c in classes:
        colors[c.id] = c.color
    return colors


def labels_colormap(classes: Sequence[SegmentationClass] = DEFAULT_CLASSES):
    """A ``napari.utils.colormaps.DirectLabelColormap`` for ``classes``."""
    from napari.utils.colormaps import DirectLabelColormap

    return DirectLabelColormap(color_dict=label_colors(classes))


def image_layer_tuple(
    data, name: str, voxel_size=(1.0, 1.0, 1.0), unit: str | None = None, **extra
) -> tuple:
    """LayerDataTuple of a grey-value volume (z, y, x) with its voxel size as scale."""
    kwargs = {"name": name, "scale": tuple(float(v) for v in voxel_size), "metadata": {}}
    kwargs.update(_units(unit, len(kwargs["scale"])))
    kwargs.update(extra)
    return (data, kwargs, "image")


def labels_layer_tuple(
    data,
    name: str,
    classes: Sequence[SegmentationClass] = DEFAULT_CLASSES,
    voxel_size=(1.0, 1.0, 1.0),
    unit: str | None = None,
    **extra,
) -> tuple:
    """LayerDataTuple of a class-label volume with the classes' colours and names in metadata."""
    kwargs = {
        "name": name,
        "scale": tuple(float(v) for v in voxel_size),
        "colormap": labels_colormap(classes),
        "metadata": {"classes": [c.to_json() for c in classes]},
    }
    kwargs.update(_units(unit, len(kwargs["scale"])))
    kwargs.update(extra)
    return (data, kwargs, "labels")
