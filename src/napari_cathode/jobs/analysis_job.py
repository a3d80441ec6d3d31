"""Analyse a segmentation and write the results: the one analysis of every front end.

``napari-cathode analyze`` and the "Analyse and measure" dock both run :func:`analyse` on a
:class:`~napari_cathode.core.analysis.sources.LabelsSource` (a file or project for the command
line, a labels layer for the dock) and write with :func:`save_analysis`, under the same output
rule as every export: the folder must be new, empty, or an earlier analysis of ours, never an
input or a project (:func:`~napari_cathode.core.outputs.check_output`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from napari_cathode.core.analysis.report import write_analysis
from napari_cathode.core.analysis.sources import LabelsSource
from napari_cathode.core.analysis.summary import AnalysisConfig, AnalysisResult, analyze_labels
from napari_cathode.core.errors import CathodeError
from napari_cathode.core.outputs import check_output, remove_output

__all__ = ["analyse", "check_analysis_folder", "save_analysis"]

log = logging.getLogger(__name__)


def analyse(
    source: LabelsSource,
    config: AnalysisConfig | None = None,
    *,
    region: tuple[slice, ...] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> AnalysisResult:
    """Microstructure numbers of ``source``: fractions, particles, cracks, pore connectivity.

    Parameters
    ----------
    source : LabelsSource
        The labels with their classes, class map, voxel size and unit.
    config : AnalysisConfig, optional
    region : tuple of 3 slices, optional
        Also report volume fractions inside this box.
    progress : callable(stage, done, total), optional

    Raises
    ------
    CathodeError
        If ``region`` does not give one range per axis.
    """
    if region is not None and len(region) != len(source.data.shape):
        raise CathodeError(f"the region needs one range per axis of {source.data.shape}")
    return analyze_labels(
        source.data,
        classes=source.classes,
        class_map=source.class_map,
        voxel_size=source.voxel_size,
        unit=source.unit,
        config=config or AnalysisConfig(),
        region=region,
        progress=progress,
    )


def check_analysis_folder(
    out: str | Path, *, inputs: Iterable[str | Path | None] = (), overwrite: bool = False,
    what: str = "analysis folder",
) -> Path:  # fmt: skip
    """``out`` checked before any work (see :func:`~napari_cathode.core.outputs.check_output`)."""
    return check_output(out, inputs=inputs, overwrite=overwrite, what=what)


def save_analysis(
    result: AnalysisResult,
    out: str | Path,
    *,
    inputs: Iterable[str | Path | None] = (),
    overwrite: bool = False,
    save_instances: bool = False,
    what: str = "analysis folder",
) -> dict[str, Path]:
    """Write summary.json, particles.csv and psd.png (and the instance TIFFs) into ``out``.

    An earlier analysis at ``out`` is replaced when ``overwrite`` is true; anything else that
    is not empty is refused.

    Returns
    -------
    dict
        Name -> path of each file written.
    """
    out = check_analysis_folder(out, inputs=inputs, overwrite=overwrite, what=what)
    remove_output(out)  # an earlier analysis, checked above (ours, and asked for)
    written = write_analysis(result, out, save_instances=save_instances)
    log.info("wrote %d analysis files to %s", len(written), out)
    return written
