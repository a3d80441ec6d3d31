"""Open a tomography volume from any supported file or folder as a lazy (z, y, x) stack.

Formats: multi-page TIFF (ImageJ, OME-TIFF), a folder of 2D TIFF/PNG slices, zarr, OME-Zarr
0.4/0.5, HDF5, MRC (.mrc/.rec/.map), NumPy .npy and single PNG images. Opening reads headers and
a three-slice sample only; pixels are read when the returned dask array is computed, so volumes
larger than memory open at once.

Examples
--------
>>> from importlib.resources import files
>>> volume = open_volume(files("napari_cathode") / "data" / "acquisition_a_image.tif")
>>> volume.data.shape, volume.voxel_size, volume.unit  # the bundled sample: 5 slices, no spacing
((5, 499, 601), None, None)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import numpy as np

from napari_cathode.core.errors import VolumeError
from napari_cathode.core.io.axes import RawVolume, select_zyx, voxel_size_zyx
from napari_cathode.core.io.formats import (
    ZARR_MARKERS,
    open_hdf5,
    open_mrc,
    open_npy,
    open_png,
    open_zarr,
)
from napari_cathode.core.io.slices import open_slice_folder, slice_files
from napari_cathode.core.io.tiff import open_tiff

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Volume",
    "check_finite",
    "checked_finite",
    "is_volume_path",
    "is_zarr_folder",
    "open_volume",
    "volume_name",
]

log = logging.getLogger(__name__)

#: File and folder suffixes ``open_volume`` reads (a folder of slices needs none).
SUPPORTED_SUFFIXES: tuple[str, ...] = (
    ".tif",
    ".tiff",
    ".png",
    ".zarr",
    ".h5",
    ".hdf5",
    ".hdf",
    ".mrc",
    ".rec",
    ".map",
    ".npy",
)
_NAME_SUFFIXES = sorted(
    (*SUPPORTED_SUFFIXES, ".ome.zarr", ".ome.tif", ".ome.tiff"), key=len, reverse=True
)
_PROJECT_FILE = "project.json"


@dataclass(frozen=True, eq=False)
class Volume:
    """A grey-value or label volume, lazily backed by its file.

    Parameters
    ----------
    data : dask.array.Array
        Always 3D (z, y, x); a 2D image is a one-slice stack.
    path : Path
        The file or folder it was read from.
    name : str
        Display name: the file name without its format suffix.
    voxel_size : tuple of float or None
        (z, y, x) size of a voxel in ``unit``; None when the file does not say.
    unit : str or None
        Length unit of ``voxel_size`` (``"nm"``, ``"µm"``, ...).
    """

    data: da.Array
    path: Path
    name: str
    voxel_size: tuple[float, float, float] | None
    unit: str | None

    def __post_init__(self) -> None:
        if self.data.ndim != 3:
            raise VolumeError(f"{self.path}: a Volume is (z, y, x); got shape {self.data.shape}")
        if self.voxel_size is not None and len(self.voxel_size) != 3:
            raise VolumeError(f"{self.path}: voxel_size needs 3 values, got {self.voxel_size}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """(z, y, x) size in voxels."""
        return tuple(int(n) for n in self.data.shape)

    @property
    def dtype(self) -> np.dtype:
        """Data type of the voxels, as stored in the file."""
        return self.data.dtype


def volume_name(path: str | Path) -> str:
    """Display name of a volume path: ``sample.ome.zarr`` → ``sample``."""
    name = Path(path).name
    for suffix in _NAME_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def is_zarr_folder(path: Path) -> bool:
    """True when ``path`` is a folder holding zarr metadata (v2 or v3)."""
    return path.is_dir() and any((path / marker).is_file() for marker in ZARR_MARKERS)


def is_volume_path(path: str | Path) -> bool:
    """Cheap test (no pixel reads) of whether ``open_volume`` should be tried on ``path``.

    True for an existing file with a supported suffix, a zarr folder (or a folder named
    ``*.zarr``), or a folder holding TIFF/PNG slices; False for napari-cathode projects and
    everything else.
    """
    path = Path(path)
    if path.is_file():
        return path.name.lower().endswith(SUPPORTED_SUFFIXES)
    if not path.is_dir() or (path / _PROJECT_FILE).exists():
        return False
    return is_zarr_folder(path) or path.name.lower().endswith(".zarr") or bool(slice_files(path))


def _open_raw(path: Path, dataset: str | None, missing_ok: bool = False) -> RawVolume:
    """Dispatch on the kind of path to the format reader."""
    if path.is_dir():
        if (path / _PROJECT_FILE).exists():
            raise VolumeError(
                f"{path}: is a napari-cathode project, not a volume; open it as a project instead"
            )
        if is_zarr_folder(path):
            return open_zarr(path, dataset, missing_ok=missing_ok)
        if path.name.lower().endswith(".zarr"):
            raise VolumeError(
                f"{path}: named .zarr but holds no zarr metadata "
                f"({', '.join(ZARR_MARKERS)}); is the copy complete?"
            )
        _no_dataset(path, dataset)
        return open_slice_folder(path)
    if path.stat().st_size == 0:
        raise VolumeError(f"{path}: the file is empty (0 bytes); copy or save it again")
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5", ".hdf"):
        return open_hdf5(path, dataset)
    _no_dataset(path, dataset)
    if suffix in (".tif", ".tiff"):
        return open_tiff(path)
    if suffix in (".mrc", ".rec", ".map"):
        return open_mrc(path)
    if suffix == ".npy":
        return open_npy(path)
    if suffix == ".png":
        return open_png(path)
    if suffix == ".zarr":
        raise VolumeError(
            f"{path}: a zarr store is a folder, this is a file (zipped zarr is "
            "not supported); unzip it"
        )
    raise VolumeError(
        f"{path}: unknown file type {suffix or '(no suffix)'!r}; supported are "
        f"{', '.join(SUPPORTED_SUFFIXES)} and folders of 2D slices"
    )


def _no_dataset(path: Path, dataset: str | None) -> None:
    if dataset is not None:
        raise VolumeError(
            f"{path}: dataset={dataset!r} applies to HDF5 files and zarr groups "
            "only; leave it unset"
        )


def open_volume(
    path: str | Path,
    *,
    dataset: str | None = None,
    channel: int | None = None,
    time: int | None = None,
    missing_chunks: str = "error",
) -> Volume:
    """Open a volume lazily as (z, y, x).

    Parameters
    ----------
    path : str or Path
        A file (TIFF, PNG, HDF5, MRC/REC/MAP, NPY), a zarr or OME-Zarr folder, or a folder of 2D
        TIFF/PNG slices (stacked in natural order: ``slice2`` before ``slice10``).
    dataset : str, optional
        HDF5 dataset path, or array path inside a zarr group; needed when the file holds
        several arrays.
    channel : int, optional
        Channel (or RGB component) to take from multi-channel or colour data.
    time : int, optional
        Time point to take from time series (4D data).
    missing_chunks : {"error", "fill"}
        zarr: chunks absent from the store are an error (default; an incomplete copy would
        otherwise read as zeros), or read as the fill value.

    Returns
    -------
    Volume
        Lazily backed volume; its voxel size comes from TIFF (ImageJ, OME, metric resolution
        tags), OME-Zarr, MRC (Å, reported in nm) or HDF5 ``element_size_um`` metadata.

    Raises
    ------
    VolumeError
        If the path does not exist, is empty, truncated or of an unknown type; if the data is
        RGB or 4D without a ``channel``/``time`` choice; if slices in a folder differ in shape;
        if the dtype is not numeric; or if a sampled slice holds NaN or infinite values.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise VolumeError(f"{path}: no such file or folder; check the path")
    if missing_chunks not in ("error", "fill"):
        raise VolumeError(f"missing_chunks={missing_chunks!r} must be 'error' or 'fill'")
    try:
        raw = _open_raw(path, dataset, missing_ok=missing_chunks == "fill")
        data = select_zyx(raw, channel=channel, time=time, name=str(path))
    except VolumeError:
        raise
    except Exception as e:  # a damaged file trips the format libraries in many ways
        raise VolumeError(
            f"{path}: cannot be read ({type(e).__name__}: {e}); the file may be damaged or "
            "of another format: check it or give another copy"
        ) from e
    if data.dtype.kind not in "biuf":
        raise VolumeError(
            f"{path}: voxels of dtype {data.dtype} are not grey values; save the "
            "volume as integers or floats"
        )
    check_finite(data, path=path, sample=True)
    voxel_size = voxel_size_zyx(raw.spacing, data.shape[0], name=str(path))
    volume = Volume(
        data=data,
        path=path,
        name=volume_name(path),
        voxel_size=voxel_size,
        unit=raw.unit if voxel_size is not None else None,
    )
    log.debug(
        "opened %s: shape %s %s, voxel size %s %s",
        path,
        volume.shape,
        volume.dtype,
        voxel_size,
        volume.unit,
    )
    return volume


def check_finite(volume_or_array, *, path: str | Path | None = None, sample: bool = False) -> None:
    """Raise if a volume holds NaN or infinite values, naming the file and first bad slice.

    Parameters
    ----------
    volume_or_array : Volume or array-like
        A :class:`Volume`, or a (z, y, x) numpy/dask array.
    path : str or Path, optional
        File named in the message (default: the volume's path).
    sample : bool
        Check only the first, middle and last slices (cheap, used when opening). The default
        scans every slice block by block, reading each chunk once; memory stays at one chunk
        per worker.

    Raises
    ------
    VolumeError
        If a checked slice holds NaN or ±inf.
    """
    data = volume_or_array
    if isinstance(volume_or_array, Volume):
        data = volume_or_array.data
        path = path if path is not None else volume_or_array.path
    if np.dtype(data.dtype).kind != "f":
        return
    if data.ndim == 2:
        data = data[np.newaxis]
    n_slices = data.shape[0]
    if n_slices == 0:
        return
    slices = sorted({0, n_slices // 2, n_slices - 1}) if sample else list(range(n_slices))
    subset = data[slices] if sample else data
    axes = tuple(range(1, data.ndim))
    if isinstance(subset, da.Array):
        finite = da.isfinite(subset).all(axis=axes).compute()
    else:
        finite = np.isfinite(np.asarray(subset)).all(axis=axes)
    bad = [slices[i] for i in np.flatnonzero(~finite)]
    if bad:
        where = f"{path}: " if path is not None else ""
        scope = f"slices {slices} checked" if sample else f"{len(bad)} of {n_slices} slices bad"
        raise VolumeError(
            f"{where}slice {bad[0]} holds NaN or infinite values ({scope}); replace them "
            "(e.g. numpy.nan_to_num) or crop them away before segmenting"
        )


def checked_finite(data: da.Array, *, path: str | Path | None = None) -> da.Array:
    """``data`` with a NaN/inf check on every block as it is read (no extra pass).

    The one finiteness policy of every entry point: data read in full is scanned with
    :func:`check_finite`; data read lazily raises :class:`VolumeError` naming the file and
    slices of the first bad block when that block is computed.
    """
    if np.dtype(data.dtype).kind != "f":
        return data

    def check(block: np.ndarray, block_info=None) -> np.ndarray:
        if not np.isfinite(block).all():
            location = (block_info or {}).get(0, {}).get("array-location", [(0, 0)])
            z0, z1 = location[0]
            where = f"{path}: " if path is not None else ""
            raise VolumeError(
                f"{where}NaN or infinite values in slices {z0}..{z1 - 1}; replace them "
                "(e.g. numpy.nan_to_num) or crop them away"
            )
        return block

    return data.map_blocks(check, dtype=data.dtype)
