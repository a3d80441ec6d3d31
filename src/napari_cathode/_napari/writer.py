"""npe2 writer: save a Labels layer as an OME-Zarr image with a multiscale label image.

A single-layer writer receives no image, so the labels are also written as the OME-Zarr image
(see :func:`~napari_cathode.core.io.export.export_ome_zarr`); the class names and colours come from
the layer's ``metadata["classes"]`` (set by every napari-cathode labels layer), else the default
cathode classes. The layer's scale and units become the voxel size and unit.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from napari_cathode.core.classes import DEFAULT_CLASSES, SegmentationClass
from napari_cathode.core.errors import VolumeError
from napari_cathode.core.io.export import export_ome_zarr

__all__ = ["write_labels"]

log = logging.getLogger(__name__)


def _classes(attributes: dict) -> tuple[SegmentationClass, ...]:
    stored = (attributes.get("metadata") or {}).get("classes")
    if not stored:
        return DEFAULT_CLASSES
    return tuple(
        c if isinstance(c, SegmentationClass) else SegmentationClass.from_json(c) for c in stored
    )


def _voxel_size_and_unit(attributes: dict, ndim: int) -> tuple[tuple[float, ...], str | None]:
    scale = tuple(float(s) for s in (attributes.get("scale") or (1.0,) * ndim))[-3:]
    if len(scale) == 2:  # a 2D layer becomes one slice
        scale = (1.0, *scale)
    units = attributes.get("units") or ()
    unit = str(units[-1]) if len(units) else None
    return scale, unit


def _label_image_name(layer_name) -> str:
    """Zarr-friendly label image name: ``"phantom truth"`` → ``phantom_truth``."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", str(layer_name or "")).strip("._")
    return name or "segmentation"


def write_labels(path: str, data, attributes: dict) -> list[str]:
    """npe2 single-layer writer: the labels layer ``data`` as OME-Zarr at ``path``.

    Parameters
    ----------
    path : str
        Target folder (``*.zarr`` / ``*.ome.zarr``); napari has already confirmed replacing it.
    data : array-like
        The layer's labels (numpy, zarr or dask; a multiscale list writes its full resolution).
    attributes : dict
        The layer's state: ``scale``, ``units``, ``name`` and ``metadata["classes"]``.

    Returns
    -------
    list of str
        The written path.
    """
    if isinstance(data, (list, tuple)):
        data = data[0]
    if data.ndim not in (2, 3):
        raise VolumeError(
            f"labels layer {attributes.get('name')!r} has {data.ndim} dimensions; "
            "only 2D or 3D (z, y, x) labels can be saved as OME-Zarr"
        )
    voxel_size, unit = _voxel_size_and_unit(attributes, data.ndim)
    target = Path(path)
    if not target.suffix:
        target = target.with_name(target.name + ".ome.zarr")
    export_ome_zarr(
        target,
        None,
        data,
        classes=_classes(attributes),
        voxel_size=voxel_size,
        unit=unit,
        name=_label_image_name(attributes.get("name")),
        overwrite=True,
    )
    log.info("saved labels layer %r to %s", attributes.get("name"), target)
    return [str(target)]
