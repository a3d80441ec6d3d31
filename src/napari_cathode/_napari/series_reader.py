"""napari layers for a time series, when a volume file turns out to have a time axis.

The volume reader refuses 4D data without a chosen time point; for napari that refusal is the
cue to try :func:`~napari_cathode.core.timeseries.series.open_series`, which opens the whole
series lazily as (t, z, y, x) with a time slider.
"""

from __future__ import annotations

from pathlib import Path

from napari_cathode._napari.layers import image_layer_tuple
from napari_cathode.core.errors import VolumeError
from napari_cathode.core.timeseries.series import open_series

__all__ = ["series_layers_or_raise"]


def series_layers_or_raise(path: Path, error: VolumeError) -> list[tuple]:
    """One (t, z, y, x) image layer for ``path``, or ``error`` when it is not a time series."""
    if "time" not in str(error):
        raise error
    try:
        series = open_series(path)
    except VolumeError:
        raise error from None
    voxel_size = (1.0, *(series.voxel_size or (1.0, 1.0, 1.0)))
    return [image_layer_tuple(series.data, series.name, voxel_size=voxel_size, unit=series.unit)]
