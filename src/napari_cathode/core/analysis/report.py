"""Write an analysis to a folder: ``summary.json``, ``particles.csv`` and ``psd.png``.

Every file is replaced atomically, so a reader never sees half a file.
"""

from __future__ import annotations

import io
import json
import math
import os
from pathlib import Path

import numpy as np

from napari_cathode.core.analysis.measurements import write_csv
from napari_cathode.core.analysis.plots import save_size_distribution_png
from napari_cathode.core.analysis.summary import AnalysisResult
from napari_cathode.core.atomic import atomic_write_bytes
from napari_cathode.core.errors import CathodeError
from napari_cathode.core.outputs import mark_output

__all__ = [
    "CRACKS_FILE",
    "INSTANCES_FILE",
    "PARTICLES_FILE",
    "PSD_FILE",
    "SUMMARY_FILE",
    "write_analysis",
    "write_json",
]

SUMMARY_FILE = "summary.json"
PARTICLES_FILE = "particles.csv"
PSD_FILE = "psd.png"
INSTANCES_FILE = "particles.tif"
CRACKS_FILE = "cracks.tif"


def _plain(value):
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(data: dict, path: str | os.PathLike) -> Path:
    """Write ``data`` as indented JSON atomically (numpy values converted, NaN as null)."""
    path = Path(path)
    text = json.dumps(_plain(data), indent=2, allow_nan=False) + "\n"
    try:
        atomic_write_bytes(path, text.encode("utf-8"))
    except OSError as exc:
        raise CathodeError(f"cannot write {path}: {exc}") from exc
    return path


def write_analysis(
    result: AnalysisResult,
    out_dir: str | os.PathLike,
    *,
    save_instances: bool = False,
) -> dict[str, Path]:
    """Write the analysis files into ``out_dir`` (created if missing).

    Parameters
    ----------
    result : AnalysisResult
        From :func:`~napari_cathode.core.analysis.summary.analyze_labels`.
    out_dir : path
        Output folder.
    save_instances : bool
        Also write the particle instances and their cracks as uint32 TIFF stacks, to inspect
        or correct them in napari.

    Returns
    -------
    dict
        Name → path of each file written.
    """
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        mark_output(out_dir, "analysis")
    except OSError as exc:
        raise CathodeError(f"cannot create output folder {out_dir}: {exc}") from exc
    table = result.particles.table
    written = {
        "summary": write_json(result.to_summary(), out_dir / SUMMARY_FILE),
        "particles": write_csv(table, out_dir / PARTICLES_FILE),
        "psd": save_size_distribution_png(
            out_dir / PSD_FILE,
            result.psd_particles["equivalent_diameter"],
            result.psd_particles["volume"],
            unit=result.unit,
        ),
    }
    if save_instances:
        import tifffile

        for key, name, data in (
            ("instances", INSTANCES_FILE, result.particles.instances),
            ("cracks", CRACKS_FILE, result.particles.cracks),
        ):
            buffer = io.BytesIO()
            tifffile.imwrite(buffer, data.astype(np.uint32), compression="zlib")
            atomic_write_bytes(out_dir / name, buffer.getvalue())
            written[key] = out_dir / name
    return written
