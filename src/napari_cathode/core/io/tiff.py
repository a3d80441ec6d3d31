"""Lazy TIFF reading (multi-page, ImageJ hyperstacks, OME-TIFF) with voxel size and damage checks.

Pixels stay on disk: tifffile exposes the first series as a zarr store (one chunk per page) and
dask reads pages on demand. Opening reads the page headers only.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import tifffile
import zarr

from napari_cathode.core.errors import VolumeError
from napari_cathode.core.io.axes import RawVolume, harmonise_spacing, normalise_unit
from napari_cathode.core.io.strict_zarr import strict_dask

__all__ = ["open_tiff", "tiff_axes", "tiff_spacing"]

log = logging.getLogger(__name__)

# tifffile axis codes → ours: S (samples, e.g. RGB) is a channel; I/Q (image sequence,
# unknown) is the slice axis when nothing else is.
_TIFF_AXES = {"T": "T", "C": "C", "S": "C", "Z": "Z", "Y": "Y", "X": "X"}
_RESOLUTION_UNIT_UM = {
    tifffile.RESUNIT.CENTIMETER: 1e4,
    tifffile.RESUNIT.MILLIMETER: 1e3,
    tifffile.RESUNIT.MICROMETER: 1.0,
}


class _ErrorRecords(logging.Handler):
    """Collects tifffile's ERROR log records: it logs (not raises) broken page chains."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _tifffile_errors() -> Iterator[list[str]]:
    handler = _ErrorRecords()
    logger = logging.getLogger("tifffile")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def _data_end(series: tifffile.TiffPageSeries) -> int:
    """Byte offset where the last pixel data of ``series`` ends."""
    if series.dataoffset is not None:  # contiguous, uncompressed
        return int(series.dataoffset) + int(series.nbytes)
    page = series.pages[-1]
    return max(int(o) + int(c) for o, c in zip(page.dataoffsets, page.databytecounts))


def tiff_axes(axes: str) -> str | None:
    """Our axis letters for tifffile's, or None when they do not identify the axes."""
    letters = [_TIFF_AXES.get(a, "?") for a in axes]
    unknown = [i for i, a in enumerate(axes) if a in "IQ"]
    if len(unknown) == 1 and "Z" not in letters:
        letters[unknown[0]] = "Z"
    result = "".join(letters)
    if "?" in result or len(set(result)) != len(result):
        return None
    return result


def _ome_spacing(tif: tifffile.TiffFile) -> tuple[dict[str, float], str | None]:
    image = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]
    pixels = (image[0] if isinstance(image, list) else image)["Pixels"]
    spacing, units = {}, {}
    for axis in "zyx":
        size = pixels.get(f"PhysicalSize{axis.upper()}")
        if size is not None:
            spacing[axis] = float(size)
            units[axis] = pixels.get(f"PhysicalSize{axis.upper()}Unit", "µm")  # OME default
    return harmonise_spacing(spacing, units)


def tiff_spacing(tif: tifffile.TiffFile, page) -> tuple[dict[str, float], str | None]:
    """Voxel spacing from OME-XML, ImageJ metadata (unit, spacing) or resolution tags.

    Resolution tags count only with a metric ResolutionUnit: desktop tools write a 72/300 dpi
    placeholder in inches, which says nothing about the sample.
    """
    try:
        if tif.is_ome and tif.ome_metadata:
            return _ome_spacing(tif)
        x_res, y_res = page.resolution
        if tif.is_imagej:
            metadata = tif.imagej_metadata or {}
            unit = normalise_unit(metadata.get("unit"))
            if unit is None or x_res <= 0 or y_res <= 0:
                return {}, None
            spacing = {"y": 1 / y_res, "x": 1 / x_res}
            if "spacing" in metadata:  # absent: ImageJ shows 1, a placeholder, not a measurement
                spacing["z"] = float(metadata["spacing"])
            return harmonise_spacing(spacing, dict.fromkeys(spacing, unit))
        um_per_unit = _RESOLUTION_UNIT_UM.get(page.resolutionunit)
        if um_per_unit is None or x_res <= 0 or y_res <= 0:
            return {}, None
        return {"y": um_per_unit / y_res, "x": um_per_unit / x_res}, "µm"
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
        log.warning("%s: ignoring unreadable voxel size metadata (%s)", tif.filename, e)
        return {}, None


def open_tiff(path: Path) -> RawVolume:
    """Open the first series of a TIFF lazily.

    Raises
    ------
    VolumeError
        If the file is not a TIFF, or is truncated or damaged (page chain broken, pixel data
        reaching past the end of the file).
    """
    with _tifffile_errors() as errors:
        try:
            tif = tifffile.TiffFile(path)
        except (tifffile.TiffFileError, ValueError, OSError) as e:
            raise VolumeError(f"{path}: not a readable TIFF file ({e})") from e
        try:
            series = tif.series[0]
            end = _data_end(series)
        except (tifffile.TiffFileError, ValueError, OSError, IndexError) as e:
            tif.close()
            raise VolumeError(
                f"{path}: the TIFF is truncated or damaged ({e}); copy or save it again"
            ) from e
    size = path.stat().st_size
    if errors or end > size:
        tif.close()
        detail = errors[0] if errors else f"pixel data ends at byte {end}, file has {size}"
        raise VolumeError(
            f"{path}: the TIFF is truncated or damaged ({detail}); copy or save it again"
        )
    if len(tif.series) > 1:
        log.info("%s holds %d image series; reading the first", path, len(tif.series))
    axes = series.axes
    if tif.is_shaped and "S" in axes and not axes.endswith("S"):
        # tifffile itself stores any (3 or 4, y, x) array as one planar RGB(A) page unless told
        # otherwise (e.g. the real D_image.tif): in a file it wrote, planar samples are slices.
        log.info("%s: reading tifffile's planar samples %s as slices", path, series.shape)
        axes = axes.replace("S", "Q")
    spacing, unit = tiff_spacing(tif, series.keyframe)
    store = tif.aszarr(series=0, level=0, chunkmode="page")
    data = strict_dask(zarr.open(store, mode="r"), path, missing_ok=True, what="the TIFF")
    return RawVolume(data, axes=tiff_axes(axes), spacing=spacing, unit=unit)
