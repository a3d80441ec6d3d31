"""The kinetics job: a project with a time axis → per-particle kinetics tables.

Steps: the reference segmentation (truth where labelled, else the proposal) → particle
instances (:func:`~napari_cathode.core.analysis.particles.separate_particles`) → drift of every
time point → each time point's instances (``static``: the moved reference particles;
``predict``: the project model segments each time point, instances are matched by overlap) →
block-by-block statistics, logistic fits, switched fractions → CSV (+ Parquet) in ``out``.
Runs in the calling process (the CLI, or a napari thread worker); memory is the reference
segmentation plus a few blocks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_cathode.core.analysis.class_mapping import resolve_class
from napari_cathode.core.analysis.particles import separate_particles
from napari_cathode.core.errors import CathodeError
from napari_cathode.core.io.export import merge_labels
from napari_cathode.core.project.store import Project
from napari_cathode.core.timeseries.export import write_kinetics
from napari_cathode.core.timeseries.pipeline import KineticsResult, analyse_kinetics
from napari_cathode.core.timeseries.project_series import attach_series, open_project_series

__all__ = ["MODES", "KineticsOutput", "KineticsRequest", "run_kinetics"]

log = logging.getLogger(__name__)

MODES = ("static", "predict")


@dataclass(frozen=True)
class KineticsRequest:
    """What to compute (frozen; built on the caller's thread)."""

    project: str
    out: str | None = None
    series: tuple[str, ...] = ()
    reference: int | None = None
    dataset: str | None = None
    axes: str | None = None
    mode: str = "static"
    particle_class: str = "active"
    static_classes: tuple[str, ...] = ("pore", "binder")
    h_max: float = 2.0
    min_voxels: int = 20
    block_voxels: int = 2**22
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise CathodeError(f"mode {self.mode!r} is not one of {', '.join(MODES)}")


@dataclass
class KineticsOutput:
    """The job's result: tables, the reference instances and the files written."""

    result: KineticsResult
    particles: np.ndarray
    reference: int
    files: list[Path]
    seconds: float


def _segmenter(project: Project, series, request: KineticsRequest, particle_id: int):
    """Per-time-point particle instances from the project model (``predict`` mode)."""
    from napari_cathode.jobs.prediction_job import latest_model_dir, predict_array
    from napari_cathode.ml.checkpoint import load_model

    model = load_model(latest_model_dir(project))

    def segment(t: int) -> np.ndarray:
        frame = np.asarray(series.data[t])
        labels, _ = predict_array(model, frame, device=request.device)
        return separate_particles(
            labels == particle_id,
            voxel_size=project.voxel_size,
            h_max=request.h_max,
            min_voxels=request.min_voxels,
        )

    return segment


def run_kinetics(
    request: KineticsRequest, *, progress: Callable[[str, int, int], None] | None = None
) -> KineticsOutput:
    """Run the kinetics of a project's time series (see the module docstring).

    Raises
    ------
    CathodeError
        If the project has no time axis (and no series is given), no segmentation of the
        particle class on the reference time point, or the series is unusable.
    """
    started = time.perf_counter()
    if request.series:
        if request.reference is None:
            raise CathodeError("--series needs --reference: the time point the project holds")
        source = list(request.series) if len(request.series) > 1 else request.series[0]
        attach_series(
            request.project,
            source,
            reference=request.reference,
            dataset=request.dataset,
            axes=request.axes,
        )
    project = Project.open(request.project, mode="r")
    series, reference = open_project_series(project.path)
    particle = resolve_class(request.particle_class, project.classes)
    static = _static_ids(request.static_classes, project, particle.id)
    if progress is not None:
        progress("segmentation", 0, 1)
    classes = np.asarray(merge_labels(project.truth, project.proposal).compute())
    if not (classes == particle.id).any():
        raise CathodeError(
            f"{project.path}: no '{particle.name}' voxels on the reference time point; "
            "predict or label the project first"
        )
    particles = separate_particles(
        classes == particle.id,
        voxel_size=project.voxel_size,
        h_max=request.h_max,
        min_voxels=request.min_voxels,
    )
    if progress is not None:
        progress("segmentation", 1, 1)
    segment_at = None
    if request.mode == "predict":
        segment_at = _segmenter(project, series, request, particle.id)
    result = analyse_kinetics(
        series.data,
        particles,
        classes,
        reference=reference,
        static_classes=static,
        segment_at=segment_at,
        block_voxels=request.block_voxels,
        name=series.name,
        progress=progress,
    )
    files: list[Path] = []
    if request.out is not None:
        files = write_kinetics(
            result,
            request.out,
            summary={
                "project": str(project.path),
                "series": list(series.sources),
                "reference": reference,
                "mode": request.mode,
                "particle_class": particle.name,
                "static_classes": [c.name for c in project.classes if c.id in static],
            },
        )
    seconds = time.perf_counter() - started
    log.info("kinetics of %s in %.1f s", series.name, seconds)
    return KineticsOutput(result, particles, reference, files, seconds)


def _static_ids(names: Sequence[str], project: Project, particle_id: int) -> tuple[int, ...]:
    """Class ids of the static classes the project has (unknown names are skipped)."""
    ids = []
    for name in names:
        try:
            found = resolve_class(name, project.classes)
        except CathodeError:
            log.info("no class like %r in %s: not used for the normalisation", name, project.path)
            continue
        if found.id != particle_id:
            ids.append(found.id)
    return tuple(ids)
