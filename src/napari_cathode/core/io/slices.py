"""A folder of 2D slices (TIFF or PNG) as one lazy stack, in natural sort order.

Every slice's header is checked (shape, dtype) without reading pixels; pixels are read per slice
when dask asks for them.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import dask
import dask.array as da
import imageio.v3 as iio
import numpy as np
import tifffile

from napari_cathode.core.errors import VolumeError
from napari_cathode.core.io.axes import RawVolume
from napari_cathode.core.io.formats import read_image_file
from napari_cathode.core.io.tiff import tiff_spacing

__all__ = ["SLICE_SUFFIXES", "natural_key", "open_slice_folder", "slice_files"]

#: Suffixes of the files taken as slices of a folder (case-insensitive).
SLICE_SUFFIXES = (".tif", ".tiff", ".png")


def natural_key(name: str) -> tuple:
    """Sort key putting ``slice2`` before ``slice10`` (digit runs compare as numbers).

    Written here because the ``natsort`` package is not a dependency and this is all we need:
    ``re.split`` with a capture group alternates text and digit runs, so tuples compare
    text with text and numbers with numbers.
    """
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name))


def slice_files(folder: Path) -> list[Path]:
    """Image slices in ``folder`` (not hidden, suffix in ``SLICE_SUFFIXES``), naturally sorted."""
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in SLICE_SUFFIXES
    ]
    return sorted(files, key=lambda p: natural_key(p.name))


def _slice_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of one slice from its header."""
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                return tuple(series.shape), np.dtype(series.dtype)
        props = iio.improps(path)
        return tuple(props.shape), np.dtype(props.dtype)
    except Exception as e:  # tifffile/imageio/pillow raise many types for a bad image
        raise VolumeError(
            f"{path}: cannot read this slice; it may be truncated or damaged "
            f"({type(e).__name__}: {e})"
        ) from e


def _summary(groups: dict, files: dict) -> str:
    """'3 slices (499, 601) e.g. 1.tif; 2 slices (400, 400) e.g. 1501.tif'."""
    return "; ".join(
        f"{count} slice{'s' * (count > 1)} {key} e.g. {files[key].name}"
        for key, count in groups.most_common()
    )


def open_slice_folder(folder: Path) -> RawVolume:
    """Stack the 2D slices of ``folder`` along z, lazily.

    Raises
    ------
    VolumeError
        If the folder has no slices, a slice is not 2D (grey or RGB), or the slices differ in
        shape or dtype.
    """
    files = slice_files(folder)
    if not files:
        raise VolumeError(f"{folder}: no image slices ({', '.join(SLICE_SUFFIXES)}) in this folder")
    headers = [_slice_header(p) for p in files]
    for path, (shape, _) in zip(files, headers):
        if not (len(shape) == 2 or (len(shape) == 3 and shape[-1] in (3, 4))):
            raise VolumeError(
                f"{path}: is not a 2D slice (shape {shape}); a slice folder "
                "needs one 2D image per file"
            )
    first_file = {}
    for path, header in zip(files, headers):
        first_file.setdefault(header[0], path)
        first_file.setdefault(header[1], path)
    shapes = Counter(shape for shape, _ in headers)
    if len(shapes) > 1:
        raise VolumeError(
            f"{folder}: slices of different shapes ({_summary(shapes, first_file)}); "
            "all slices of a stack must have one shape: move the others out"
        )
    dtypes = Counter(dtype for _, dtype in headers)
    if len(dtypes) > 1:
        raise VolumeError(
            f"{folder}: slices of different dtypes ({_summary(dtypes, first_file)}); "
            "save all slices with one dtype"
        )
    shape, dtype = headers[0]
    data = da.stack(
        [
            da.from_delayed(dask.delayed(read_image_file)(path), shape=shape, dtype=dtype)
            for path in files
        ]
    )
    spacing, unit = {}, None
    if files[0].suffix.lower() in (".tif", ".tiff"):
        with tifffile.TiffFile(files[0]) as tif:
            spacing, unit = tiff_spacing(tif, tif.series[0].keyframe)
    return RawVolume(
        data,
        axes="ZYXC" if len(shape) == 3 else "ZYX",
        spacing=spacing,
        unit=unit,
        slice_source=True,
    )
