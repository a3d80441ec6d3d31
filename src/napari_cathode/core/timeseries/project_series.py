"""A project's optional time axis: the series it belongs to and its reference time point.

A project holds one volume (``image``) with its truth and proposal; for a time series that
volume is the **reference time point**, and ``time_series.json`` in the project folder records
where the whole series lives (it stays in its own file(s), read lazily) and which time point the
project's image is::

    {"format_version": 1, "source": ["operando.ome.zarr"], "dataset": null, "channel": null,
     "axes": null, "reference": 0, "time_points": 24, "frame_shape": [30, 252, 253]}

A separate file (instead of new keys in ``project.json``) keeps projects without a time axis
byte-for-byte unchanged and older napari-cathode versions able to open the project. Truth and
proposal are kept on the reference time point only; per-time-point corrections are not stored.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from napari_cathode.core.atomic import atomic_write_json
from napari_cathode.core.errors import ProjectError
from napari_cathode.core.timeseries.series import TimeSeries, open_series

__all__ = [
    "TIME_SERIES_FILE",
    "TIME_SERIES_FORMAT",
    "attach_series",
    "open_project_series",
    "series_record",
]

log = logging.getLogger(__name__)

TIME_SERIES_FILE = "time_series.json"
TIME_SERIES_FORMAT = 1


def _sources(source) -> list[str]:
    items = source if isinstance(source, (list, tuple)) else [source]
    return [str(Path(s).expanduser().resolve()) for s in items]


def attach_series(
    project_path: str | os.PathLike,
    source: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    reference: int,
    dataset: str | None = None,
    channel: int | None = None,
    axes: str | None = None,
) -> TimeSeries:
    """Record the series of a project and its reference time point (``time_series.json``).

    Raises
    ------
    ProjectError
        If ``reference`` is out of range or a time point's shape differs from the project's.
    VolumeError
        If the series cannot be opened.
    """
    from napari_cathode.core.project.store import Project  # the store module imports much

    project = Project.open(project_path, mode="r")
    series = open_series(source, dataset=dataset, channel=channel, axes=axes)
    if not 0 <= reference < series.n_time_points:
        raise ProjectError(
            f"reference time point {reference} is outside 0..{series.n_time_points - 1} of "
            f"{series.name}"
        )
    if tuple(series.frame_shape) != tuple(project.shape):
        raise ProjectError(
            f"{series.name}: each time point is {series.frame_shape} but project "
            f"{project.path} holds {project.shape}; create the project from the reference "
            "time point of this series"
        )
    record = {
        "format_version": TIME_SERIES_FORMAT,
        "source": _sources(source),
        "dataset": dataset,
        "channel": channel,
        "axes": axes,
        "reference": int(reference),
        "time_points": series.n_time_points,
        "frame_shape": list(series.frame_shape),
    }
    atomic_write_json(Path(project.path) / TIME_SERIES_FILE, record)
    log.info("%s: time axis of %d points, reference %d", project.path, len(series.data), reference)
    return series


def series_record(project_path: str | os.PathLike) -> dict | None:
    """The project's ``time_series.json``, or None when the project has no time axis."""
    path = Path(project_path) / TIME_SERIES_FILE
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ProjectError(f"{path}: unreadable ({e}); attach the series again") from e
    if record.get("format_version", 0) > TIME_SERIES_FORMAT:
        raise ProjectError(
            f"{path}: time-series format {record.get('format_version')} is newer than this "
            "napari-cathode understands; update napari-cathode"
        )
    return record


def open_project_series(project_path: str | os.PathLike) -> tuple[TimeSeries, int]:
    """The project's series (lazy) and its reference time point.

    Raises
    ------
    ProjectError
        If the project has no time axis.
    """
    record = series_record(project_path)
    if record is None:
        raise ProjectError(
            f"{project_path} has no time axis; attach a series with "
            "'napari-cathode kinetics PROJECT --series PATH --reference T'"
        )
    sources = record["source"]
    series = open_series(
        sources if len(sources) > 1 else sources[0],
        dataset=record.get("dataset"),
        channel=record.get("channel"),
        axes=record.get("axes"),
    )
    if list(series.frame_shape) != list(record["frame_shape"]):
        raise ProjectError(
            f"{project_path}: the series {sources[0]} now has time points of shape "
            f"{series.frame_shape}, not {tuple(record['frame_shape'])}; attach it again"
        )
    return series, int(record["reference"])
