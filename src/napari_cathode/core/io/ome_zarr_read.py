"""Read OME-Zarr (NGFF 0.4 on zarr v2, 0.5 on zarr v3): the image's level 0 and its labels.

The metadata is read from the zarr attributes directly. ``ome_zarr.reader.Reader`` covers the
same ground, but it logs warnings on valid data (a "version mismatch" for every 0.4 image, "no
parent found" for label images without the optional ``source`` key), goes through fsspec and
turns label colours into floats; what we need is a handful of attribute lookups:
``multiscales[0]`` (axes, first dataset, its scale), ``labels`` (names) and ``image-label``
(``colors`` and ``properties`` per label value).
"""

from __future__ import annotations

import logging
from pathlib import Path

import dask.array as da
import zarr

from napari_cathode.core.classes import (
    SegmentationClass,
    classes_from_names,
    validate_classes,
)
from napari_cathode.core.errors import VolumeError
from napari_cathode.core.io.axes import RawVolume, harmonise_spacing, select_zyx
from napari_cathode.core.io.strict_zarr import strict_dask

__all__ = [
    "classes_from_image_label",
    "is_ome_zarr",
    "is_ome_zarr_group",
    "ome_attributes",
    "open_ome_zarr_image",
    "read_ome_zarr_labels",
]

log = logging.getLogger(__name__)


def ome_attributes(node: zarr.Group | zarr.Array) -> dict:
    """The OME metadata of a zarr node: under ``"ome"`` in 0.5, top-level in 0.4."""
    attributes = dict(node.attrs)
    ome = attributes.get("ome")
    return ome if isinstance(ome, dict) else attributes


def is_ome_zarr_group(group: zarr.Group) -> bool:
    """True when ``group`` is an OME-Zarr multiscale image."""
    return bool(ome_attributes(group).get("multiscales"))


def is_ome_zarr(path: str | Path) -> bool:
    """True when ``path`` is a zarr group holding an OME-Zarr multiscale image."""
    try:
        node = zarr.open(str(path), mode="r")
    except Exception:  # not a zarr store at all: zarr raises several types
        return False
    return isinstance(node, zarr.Group) and is_ome_zarr_group(node)


def _axis_letters(axes: list | None, ndim: int) -> str | None:
    if axes is None:  # NGFF 0.1/0.2: always 5D t, c, z, y, x
        return "TCZYX" if ndim == 5 else None
    letters = ""
    for axis in axes:
        name = (axis if isinstance(axis, str) else axis.get("name", "")).lower()
        kind = None if isinstance(axis, str) else axis.get("type")
        if kind == "time" or name == "t":
            letters += "T"
        elif kind == "channel" or name == "c":
            letters += "C"
        else:
            letters += name.upper() if name in ("z", "y", "x") else "?"
    return letters


def _level0(group: zarr.Group, path: Path, *, missing_ok: bool = False) -> RawVolume:
    """Level 0 of the multiscale image in ``group``, with its spacing and unit."""
    try:
        multiscale = ome_attributes(group)["multiscales"][0]
        dataset = multiscale["datasets"][0]
        array = group[dataset["path"]]
    except (KeyError, IndexError, TypeError) as e:
        raise VolumeError(
            f"{path}: OME-Zarr metadata is incomplete (multiscales[0] needs "
            f"datasets with a path): {e}"
        ) from e
    axes = multiscale.get("axes")
    letters = _axis_letters(axes, array.ndim)
    scale = [1.0] * array.ndim
    transforms = list(dataset.get("coordinateTransformations", []))
    transforms += list(multiscale.get("coordinateTransformations", []))
    for transform in transforms:
        if transform.get("type") == "scale" and len(transform.get("scale", [])) == array.ndim:
            scale = [a * float(b) for a, b in zip(scale, transform["scale"])]
    spacing, units = {}, {}
    if letters is not None and len(letters) == array.ndim:
        for position, letter in enumerate(letters):
            if letter in "ZYX":
                spacing[letter.lower()] = scale[position]
                axis = axes[position] if axes is not None else None
                units[letter.lower()] = axis.get("unit") if isinstance(axis, dict) else None
    spacing, unit = harmonise_spacing(spacing, units)
    if not isinstance(array, zarr.Array):
        raise VolumeError(f"{path}: OME-Zarr level {dataset['path']!r} is not an array")
    data = strict_dask(array, path, missing_ok=missing_ok)
    return RawVolume(data, axes=letters, spacing=spacing, unit=unit)


def open_ome_zarr_image(group: zarr.Group, path: Path, *, missing_ok: bool = False) -> RawVolume:
    """Level 0 of an OME-Zarr image (its voxel size from the level's scale and axis units)."""
    return _level0(group, path, missing_ok=missing_ok)


def _hex(rgba) -> str | None:
    try:
        red, green, blue = (min(max(int(v), 0), 255) for v in list(rgba)[:3])
    except (TypeError, ValueError):
        return None
    return f"#{red:02x}{green:02x}{blue:02x}"


def classes_from_image_label(image_label: dict) -> tuple[SegmentationClass, ...]:
    """Classes from an ``image-label`` block: ``colors`` (rgba 0-255) and ``properties``.

    A value's name is its property ``class_name`` (or ``name``), else ``"class <value>"``; a
    value without a colour gets the default palette. Value 0 (background) and values outside
    1..255 are not classes.
    """
    colours: dict[int, str | None] = {}
    names: dict[int, str] = {}
    for entry in image_label.get("colors", []) or []:
        value = entry.get("label-value")
        if isinstance(value, int) and not isinstance(value, bool):
            colours[value] = _hex(entry.get("rgba"))
    for entry in image_label.get("properties", []) or []:
        value = entry.get("label-value")
        name = entry.get("class_name") or entry.get("name")
        if isinstance(value, int) and not isinstance(value, bool) and name:
            names[value] = str(name).strip()
    values = sorted(set(colours) | set(names))
    skipped = [v for v in values if not 1 <= v <= 255]
    if [v for v in skipped if v != 0]:
        log.warning("label values %s are outside 1..255 and are not classes", skipped)
    values = [v for v in values if 1 <= v <= 255]
    palette = classes_from_names([f"class {v}" for v in values]) if values else ()
    classes, used = [], set()
    for value, fallback in zip(values, palette):
        name = names.get(value) or f"class {value}"
        if name in used:
            name = f"{name} ({value})"
        used.add(name)
        classes.append(SegmentationClass(value, name, colours.get(value) or fallback.color))
    return validate_classes(classes)


def read_ome_zarr_labels(
    path: str | Path, *, time: int | None = None
) -> dict[str, tuple[da.Array, tuple[SegmentationClass, ...]]]:
    """Label images of an OME-Zarr image, by name, as lazy (z, y, x) arrays with their classes.

    Parameters
    ----------
    path : str or Path
        The OME-Zarr image (the group whose ``labels`` group lists the label images).
    time : int, optional
        Time point to take when the labels have a time axis.

    Returns
    -------
    dict
        ``{name: (labels, classes)}`` in the order of the ``labels`` list; empty when the image
        has no labels. ``classes`` is empty when the label image names no values.

    Raises
    ------
    VolumeError
        If ``path`` is not a zarr group, or a listed label image is unreadable or not integer.
    """
    path = Path(path)
    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception as e:  # zarr raises several types for a missing or bad store
        raise VolumeError(f"{path}: not a readable OME-Zarr group ({type(e).__name__}: {e})") from e
    if "labels" not in group:
        return {}
    labels_group = group["labels"]
    result = {}
    for name in ome_attributes(labels_group).get("labels", []):
        if name not in labels_group:
            log.warning("%s: label image %r is listed but missing", path, name)
            continue
        label_group = labels_group[name]
        raw = _level0(label_group, path / "labels" / name, missing_ok=True)
        if raw.data.dtype.kind not in "iub":
            raise VolumeError(
                f"{path}: label image {name!r} has dtype {raw.data.dtype}; labels must be integers"
            )
        data = select_zyx(raw, channel=None, time=time, name=f"{path} label image {name!r}")
        image_label = ome_attributes(label_group).get("image-label", {}) or {}
        result[name] = (data, classes_from_image_label(image_label))
    return result
