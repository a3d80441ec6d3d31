"""Export a project's segmentation (truth over proposal), locally or on a dask.distributed cluster.

The arrays stay lazy (dask over the project's zarr arrays) and the writers in
:mod:`napari_cathode.core.io.export` compute them chunk by chunk, so memory stays bounded. Given a
scheduler, the same dask graph runs on the cluster: a connected ``distributed.Client`` becomes
dask's default scheduler, and each worker reads and writes its own chunks of the OME-Zarr store.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from napari_cathode.core.errors import CathodeError
from napari_cathode.core.io.export import export_ome_zarr, merge_labels
from napari_cathode.core.io.export_tiff import export_tiff
from napari_cathode.core.outputs import check_output

__all__ = ["FORMATS", "ExportResult", "export_project"]

log = logging.getLogger(__name__)

FORMATS = ("ome-zarr", "tiff")


@dataclass(frozen=True)
class ExportResult:
    """Where the export went, in which format, how long it took and on which scheduler."""

    path: Path
    format: str
    seconds: float
    scheduler: str


def export_project(
    project,
    out: str | Path,
    *,
    format: str = "ome-zarr",
    scheduler=None,
    overwrite: bool = False,
    truth_only: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ExportResult:
    """Write a project's labels (truth where painted, else the proposal) to ``out``.

    The one export of every front end: ``napari-cathode export`` and the Export dock.

    Parameters
    ----------
    project : Project
        The project (read-only is enough).
    out : str or Path
        OME-Zarr folder (``*.ome.zarr``: image + multiscale label image with class names and
        colours) or TIFF file (labels only, ImageJ-compatible).
    format : {"ome-zarr", "tiff"}
    scheduler : str or distributed.Client, optional
        A dask.distributed scheduler address or scheduler file (see
        :func:`napari_cathode.jobs.distributed.cluster_client`); default: dask's local threads.
        For OME-Zarr, ``out`` must be on a file system every worker sees.
    overwrite : bool
        Replace an existing export at ``out`` (only an earlier export of ours, see
        :func:`~napari_cathode.core.outputs.check_output`).
    truth_only : bool
        Write the human's truth alone (0 where nobody labelled), not truth over proposal.
    progress : callable(done, total), optional
        OME-Zarr: called after each pyramid level is written. It may be called from another
        thread than the caller's.

    Returns
    -------
    ExportResult
    """
    if format not in FORMATS:
        raise CathodeError(f"export format {format!r} is not one of {FORMATS}")
    out = Path(out).expanduser().absolute()
    # Before any work: never over the project itself, another project, or foreign data.
    check_output(out, inputs=[project.path], overwrite=overwrite, what="export")
    labels = merge_labels(project.truth, None if truth_only else project.proposal)
    started = time.perf_counter()
    if scheduler is None:
        context = contextlib.nullcontext()
    else:
        from napari_cathode.jobs.distributed import cluster_client

        context = cluster_client(scheduler)
    with context:
        if format == "ome-zarr":
            export_ome_zarr(
                out,
                project.image,
                labels,
                classes=project.classes,
                voxel_size=project.voxel_size,
                unit=project.unit,
                name="segmentation",
                overwrite=overwrite,
                progress=progress,
            )
        else:
            export_tiff(
                out, labels, voxel_size=project.voxel_size, unit=project.unit, overwrite=overwrite
            )
    seconds = time.perf_counter() - started
    where = "local threads" if scheduler is None else str(scheduler)
    log.info("exported %s to %s (%s) in %.1f s on %s", project.path, out, format, seconds, where)
    return ExportResult(out, format, seconds, where)
