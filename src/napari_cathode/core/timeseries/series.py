"""Open a time series of volumes lazily as one (t, z, y, x) dask array.

Sources
-------
- one array with a time axis: OME-Zarr whose ``multiscales`` axes include ``t`` (type
  ``"time"``), an ImageJ/OME-TIFF hyperstack with a ``T`` axis, an HDF5 dataset, a zarr array
  or a ``.npy`` file of 4D data (read as (t, z, y, x)), or 3D data read as a 2D movie (t, y, x)
  with ``axes="tyx"``;
- several volume files, one per time point: a list of paths, or a folder of volume files taken
  in natural sort order (``t2`` before ``t10``). Each file is any volume :func:`open_volume`
  reads; in a folder every file is a time point, so a folder of 2D images is a 2D movie.

Opening reads headers only (and, for float data, one slice per time point to catch NaN frames
early); every frame's pixels are read when the dask array is computed, block by block.

Examples
--------
>>> import tempfile, pathlib, numpy as np
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> np.save(folder / "movie.npy", np.ones((3, 2, 8, 8), np.float32))  # 3 time points
>>> series = open_series(folder / "movie.npy")
>>> series.data.shape, type(series.data).__name__
((3, 2, 8, 8), 'Array')
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import numpy as np

from napari_cathode.core.errors import VolumeError
from napari_cathode.core.io.axes import RawVolume, voxel_size_zyx
from napari_cathode.core.io.slices import natural_key
from napari_cathode.core.io.volumes import (
    SUPPORTED_SUFFIXES,
    _open_raw,
    is_zarr_folder,
    open_volume,
    volume_name,
)

__all__ = [
    "MIN_TIME_POINTS",
    "TimeSeries",
    "check_block_finite",
    "check_frames_finite",
    "check_time_points",
    "open_series",
    "select_tzyx",
    "series_files",
]

log = logging.getLogger(__name__)

#: Fewest time points a series may have (kinetics need a trajectory, not a point).
MIN_TIME_POINTS = 2


@dataclass(frozen=True, eq=False)
class TimeSeries:
    """A series of volumes of one sample, lazily backed by its file(s).

    Parameters
    ----------
    data : dask.array.Array
        (t, z, y, x); a 2D movie has z = 1.
    name : str
        Display name.
    sources : tuple of str
        The file holding the series, or one file per time point.
    voxel_size : tuple of float or None
        (z, y, x) voxel size in ``unit`` when the file(s) state it.
    unit : str or None
        Length unit of ``voxel_size``.
    """

    data: da.Array
    name: str
    sources: tuple[str, ...]
    voxel_size: tuple[float, float, float] | None = None
    unit: str | None = None

    def __post_init__(self) -> None:
        if self.data.ndim != 4:
            raise VolumeError(f"{self.name}: a time series is (t, z, y, x); got {self.data.shape}")
        check_time_points(self.data.shape[0], self.name)

    @property
    def n_time_points(self) -> int:
        """Number of time points t."""
        return int(self.data.shape[0])

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """(z, y, x) shape of one time point."""
        return tuple(int(n) for n in self.data.shape[1:])


def check_time_points(count: int, name: str) -> None:
    """Refuse a series with fewer than :data:`MIN_TIME_POINTS` time points."""
    if count < MIN_TIME_POINTS:
        raise VolumeError(
            f"{name}: holds a single time point; a time series needs at least "
            f"{MIN_TIME_POINTS} (open a single volume with open_volume instead)"
        )


def _series_axes(raw: RawVolume, axes: str | None, name: str) -> str:
    """The axis letters of ``raw``: the user's ``axes``, the file's, or (t, z, y, x) for 4D."""
    if axes is not None:
        letters = axes.upper()
        if len(letters) != raw.data.ndim or set(letters) - set("TCZYX"):
            raise VolumeError(
                f"{name}: axes={axes!r} do not fit data of shape {raw.data.shape}; give one "
                "letter of t, c, z, y, x per axis, e.g. 'tzyx' or 'tyx'"
            )
        return letters
    if raw.axes is not None and "?" not in raw.axes:
        return raw.axes
    if raw.data.ndim == 4:
        return "TZYX"
    if raw.data.ndim == 3:
        raise VolumeError(
            f"{name}: 3D data of shape {raw.data.shape} is one volume, or a 2D movie; "
            "for a movie (t, y, x) pass axes='tyx'"
        )
    raise VolumeError(
        f"{name}: data of shape {raw.data.shape} has no axis names; pass axes= (e.g. 'tczyx')"
    )


def select_tzyx(
    raw: RawVolume, *, axes: str | None = None, channel: int | None = None, name: str
) -> da.Array:
    """``raw.data`` as a (t, z, y, x) dask array (a 2D movie gets z = 1).

    Raises
    ------
    VolumeError
        If the data has no time axis, several channels and no ``channel``, or other axes.
    """
    data = raw.data
    letters = _series_axes(raw, axes, name)
    if "T" not in letters:
        raise VolumeError(
            f"{name}: the data (shape {data.shape}, axes {letters}) has no time axis; "
            "open it with open_volume, or pass axes= naming the time axis 't'"
        )
    if "C" in letters:
        position = letters.index("C")
        size = data.shape[position]
        if channel is None and size != 1:
            raise VolumeError(
                f"{name}: the series has {size} channels; choose one with channel=0..{size - 1}"
            )
        index = 0 if channel is None else int(channel)
        if not 0 <= index < size:
            raise VolumeError(f"{name}: channel={channel} is out of range 0..{size - 1}")
        data = data[tuple(index if i == position else slice(None) for i in range(data.ndim))]
        letters = letters.replace("C", "")
    elif channel is not None:
        raise VolumeError(f"{name}: channel={channel} was given but the series has no channels")
    if "Z" not in letters:
        position = letters.index("T") + 1  # a 2D movie: one slice per time point
        data = da.expand_dims(data, position)
        letters = letters[:position] + "Z" + letters[position:]
    if sorted(letters) != sorted("TZYX"):
        raise VolumeError(f"{name}: cannot read axes {letters!r} as (t, z, y, x)")
    return data.transpose([letters.index(a) for a in "TZYX"])


def series_files(folder: Path) -> list[Path]:
    """Volume files (and zarr folders) in ``folder``, one per time point, naturally sorted."""
    entries = [
        p
        for p in folder.iterdir()
        if not p.name.startswith(".")
        and (
            (p.is_file() and p.name.lower().endswith(SUPPORTED_SUFFIXES))
            or (p.is_dir() and is_zarr_folder(p))
        )
    ]
    return sorted(entries, key=lambda p: natural_key(p.name))


def _stack_files(paths: Sequence[Path], dataset: str | None, channel: int | None) -> TimeSeries:
    """One lazy volume per file, stacked along t; every frame must have one shape."""
    volumes = [open_volume(p, dataset=dataset, channel=channel) for p in paths]
    shapes = Counter(v.shape for v in volumes)
    if len(shapes) > 1:
        common = shapes.most_common(1)[0][0]
        odd = [f"{v.path.name} {v.shape}" for v in volumes if v.shape != common]
        raise VolumeError(
            f"time points of different shapes: most are {common} but {', '.join(odd[:5])}"
            f"{' ...' if len(odd) > 5 else ''}; every time point must have one (z, y, x) shape: "
            "crop or resample them to one shape"
        )
    dtypes = {v.dtype for v in volumes}
    dtype = np.result_type(*dtypes)
    data = da.stack([v.data.astype(dtype) for v in volumes])
    first = volumes[0]
    name = first.path.parent.name if len(paths) > 1 else first.name
    return TimeSeries(data, name, tuple(str(p) for p in paths), first.voxel_size, first.unit)


def open_series(
    source: str | Path | Sequence[str | Path],
    *,
    dataset: str | None = None,
    channel: int | None = None,
    axes: str | None = None,
) -> TimeSeries:
    """Open a time series lazily as (t, z, y, x).

    Parameters
    ----------
    source : path or sequence of paths
        A file or zarr/OME-Zarr store with a time axis, a folder of volume files (one per time
        point, natural sort order), or a list of volume files in time order.
    dataset : str, optional
        HDF5 dataset or array inside a zarr group.
    channel : int, optional
        Channel to take from multi-channel data.
    axes : str, optional
        Axis letters of a single-array source whose file does not name them, e.g. ``"tzyx"``
        (the default for 4D data) or ``"tyx"`` for a 2D movie.

    Returns
    -------
    TimeSeries

    Raises
    ------
    VolumeError
        If a file is missing or unreadable, time points differ in shape, the series has a single
        time point, the data has no time axis, or a sampled frame holds NaN/inf.
    """
    if isinstance(source, (list, tuple)):
        paths = [Path(p).expanduser() for p in source]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise VolumeError(f"{missing[0]}: no such file or folder; check the path")
        check_time_points(len(paths), "the list of time points")
        series = _stack_files(paths, dataset, channel)
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise VolumeError(f"{path}: no such file or folder; check the path")
        if path.is_dir() and not is_zarr_folder(path) and not path.name.endswith(".zarr"):
            files = series_files(path)
            if not files:
                raise VolumeError(
                    f"{path}: no volume files ({', '.join(SUPPORTED_SUFFIXES)}) in this folder"
                )
            check_time_points(len(files), str(path))
            series = _stack_files(files, dataset, channel)
        else:
            raw = _open_raw(path, dataset)
            data = select_tzyx(raw, axes=axes, channel=channel, name=str(path))
            check_time_points(int(data.shape[0]), str(path))
            voxel = voxel_size_zyx(raw.spacing, int(data.shape[1]), name=str(path))
            series = TimeSeries(
                data, volume_name(path), (str(path),), voxel, raw.unit if voxel else None
            )
    if series.data.dtype.kind not in "biuf":
        raise VolumeError(f"{series.name}: voxels of dtype {series.data.dtype} are not grey values")
    check_frames_finite(series, sample=True)
    log.debug("opened series %s: %s %s", series.name, series.data.shape, series.data.dtype)
    return series


def check_frames_finite(series: TimeSeries, *, sample: bool = True) -> None:
    """Raise naming the first time point that holds NaN or ±inf.

    With ``sample`` only the middle slice of every frame is read (cheap, done at open); the
    kinetics pass checks every block it reads (:func:`check_block_finite`).
    """
    data = series.data
    if data.dtype.kind != "f":
        return
    subset = data[:, data.shape[1] // 2] if sample else data
    finite = da.isfinite(subset).all(axis=tuple(range(1, subset.ndim))).compute()
    bad = np.flatnonzero(~np.asarray(finite))
    if bad.size:
        raise VolumeError(
            f"{series.name}: time point {int(bad[0])} holds NaN or infinite values "
            f"({bad.size} of {data.shape[0]} time points{' (middle slice checked)' * sample}); "
            "drop that time point or replace the values (e.g. numpy.nan_to_num)"
        )


def check_block_finite(block: np.ndarray, *, time: int, z0: int, name: str) -> None:
    """Raise if a block of frame ``time`` starting at slice ``z0`` holds NaN or ±inf."""
    if block.dtype.kind == "f" and not np.isfinite(block).all():
        z = z0 + int(np.flatnonzero(~np.isfinite(block).reshape(block.shape[0], -1).all(1))[0])
        raise VolumeError(
            f"{name}: time point {time}, slice {z} holds NaN or infinite values; drop that "
            "time point or replace the values (e.g. numpy.nan_to_num)"
        )
