"""npe2 reader: tomography volumes, OME-Zarr images with their labels, napari-cathode projects.

The manifest lists the file suffixes we read (``*.tif`` … ``*.npy``, ``*.cathode``) and accepts
folders (a folder of slices has no suffix; napari offers every folder to every reader that
accepts folders), and ``get_reader`` still claims only what
:func:`~napari_cathode.core.io.volumes.is_volume_path` recognises or a project folder, returning
None otherwise so napari can try other readers. Our own folders (projects, OME-Zarr exports)
open without napari's "Choose reader" dialog: see
:mod:`~napari_cathode._napari.reader_preferences`. A claimed path that turns out bad raises its
``VolumeError`` from the reader function, which napari shows to the user.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from napari_cathode._napari.layers import image_layer_tuple, labels_layer_tuple
from napari_cathode._napari.series_reader import series_layers_or_raise
from napari_cathode.core.errors import VolumeError
from napari_cathode.core.io.ome_zarr_read import is_ome_zarr, read_ome_zarr_labels
from napari_cathode.core.io.volumes import is_volume_path, open_volume
from napari_cathode.core.project.file_format import METADATA_FILE as PROJECT_FILE
from napari_cathode.core.project.file_format import PROJECT_SUFFIX

__all__ = ["ReaderFunction", "get_reader", "is_project_path", "read_project", "read_volume"]

ReaderFunction = Callable[[str | Sequence[str]], list[tuple]]


def _single_path(path: str | Sequence[str]) -> Path | None:
    """The one path napari asks about; None for several (we do not stack files)."""
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    return Path(path)


def is_project_path(path: Path) -> bool:
    """True for a napari-cathode project folder (``project.json`` inside, or ``*.cathode``)."""
    return path.is_dir() and (
        (path / PROJECT_FILE).is_file() or path.name.lower().endswith(PROJECT_SUFFIX)
    )


def get_reader(path: str | Sequence[str]) -> ReaderFunction | None:
    """npe2 ``get_reader``: a reader function for paths this plugin can open, else None.

    Parameters
    ----------
    path : str or list of str
        What napari was asked to open.

    Returns
    -------
    callable or None
        ``read_project`` for project folders, ``read_volume`` for volume files and folders.
    """
    single = _single_path(path)
    if single is None:
        return None
    if is_project_path(single):
        return read_project
    if is_volume_path(single):
        return read_volume
    return None


def read_volume(path: str | Sequence[str]) -> list[tuple]:
    """Layer data for a volume: one image layer, plus one labels layer per OME-Zarr label image.

    Raises
    ------
    VolumeError
        If the volume cannot be opened (napari shows the message).
    """
    single = _single_path(path)
    try:
        volume = open_volume(single)
    except VolumeError as error:  # 4D with a time axis: open it as a time series
        return series_layers_or_raise(single, error)
    voxel_size = volume.voxel_size or (1.0, 1.0, 1.0)
    layers = [image_layer_tuple(volume.data, volume.name, voxel_size=voxel_size, unit=volume.unit)]
    if single.is_dir() and is_ome_zarr(single):
        for label_name, (labels, classes) in read_ome_zarr_labels(single).items():
            layer = labels_layer_tuple(
                labels,
                f"{volume.name} {label_name}",
                classes,
                voxel_size=voxel_size,
                unit=volume.unit,
            )
            if not classes:  # no class metadata: napari's own label colours beat transparency
                layer[1].pop("colormap")
            layers.append(layer)
    return layers


def read_project(path: str | Sequence[str]) -> list[tuple]:
    """Layer data for a napari-cathode project (image, truth, proposal, uncertainty)."""
    from napari_cathode._napari.project_layers import project_layer_tuples

    return project_layer_tuples(_single_path(path))
