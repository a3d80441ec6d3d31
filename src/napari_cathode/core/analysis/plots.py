"""The particle-size-distribution plot, drawn on any matplotlib Figure.

Uses the object-oriented API only (no ``pyplot``): the same function draws into the dock's
embedded Qt canvas and into a PNG written by the CLI, from any thread.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from napari_cathode.core.analysis.size_distribution import size_distribution
from napari_cathode.core.atomic import atomic_write_bytes
from napari_cathode.core.errors import CathodeError

__all__ = ["draw_size_distribution", "save_size_distribution_png"]


def draw_size_distribution(
    figure: Figure,
    diameters: Sequence[float],
    volumes: Sequence[float] | None = None,
    *,
    unit: str | None = None,
    bins: int | str = "auto",
) -> Figure:
    """Draw a PSD: count histogram plus cumulative number and volume curves.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        Cleared and drawn into.
    diameters : sequence of float
        Equivalent-sphere diameters.
    volumes : sequence of float, optional
        Particle volumes for the volume-weighted curve (sphere volumes when omitted).
    unit : str, optional
        Length unit for the axis label ("voxel" when unknown).
    bins : int or str
        Histogram bins, as :func:`numpy.histogram_bin_edges` takes them.

    Returns
    -------
    matplotlib.figure.Figure
        The same figure.
    """
    figure.clear()
    axes = figure.add_subplot(1, 1, 1)
    unit = unit or "voxel"
    diameters = np.asarray(diameters, dtype=float)
    axes.set_xlabel(f"equivalent-sphere diameter ({unit})")
    axes.set_ylabel("particles")
    if diameters.size == 0:
        axes.set_title("Particle size distribution: no particle")
        return figure
    volumes = np.pi / 6 * diameters**3 if volumes is None else np.asarray(volumes, dtype=float)
    stats = size_distribution(diameters, volumes)
    edges = np.histogram_bin_edges(diameters, bins=bins)
    axes.hist(diameters, bins=edges, color="#f59e0b", edgecolor="#92400e", label="count")
    cumulative = axes.twinx()
    order = np.argsort(diameters)
    ranks = np.arange(1, diameters.size + 1) / diameters.size * 100
    cumulative.step(diameters[order], ranks, where="post", color="#1f2937", label="cum. number")
    cumulative.step(
        diameters[order],
        np.cumsum(volumes[order]) / volumes.sum() * 100,
        where="post",
        color="#2563eb",
        linestyle="--",
        label="cum. volume",
    )
    cumulative.set_ylim(0, 100)
    cumulative.set_ylabel("cumulative %")
    for value, name, style in ((stats.d50, "d50", ":"), (stats.dv50, "dv50", "-.")):
        axes.axvline(value, color="#6b7280", linestyle=style, label=f"{name} = {value:.3g}")
    handles = axes.get_legend_handles_labels()
    extra = cumulative.get_legend_handles_labels()
    axes.legend(handles[0] + extra[0], handles[1] + extra[1], fontsize="small", loc="center right")
    axes.set_title(
        f"Particle size distribution (n = {stats.count}; d10/d50/d90 = "
        f"{stats.d10:.3g}/{stats.d50:.3g}/{stats.d90:.3g} {unit})",
        fontsize="medium",
    )
    figure.tight_layout()
    return figure


def save_size_distribution_png(
    path: str | os.PathLike,
    diameters: Sequence[float],
    volumes: Sequence[float] | None = None,
    *,
    unit: str | None = None,
    dpi: int = 120,
) -> Path:
    """Write the PSD plot of :func:`draw_size_distribution` to a PNG file (atomically)."""
    figure = Figure(figsize=(7, 4.2))
    FigureCanvasAgg(figure)
    draw_size_distribution(figure, diameters, volumes, unit=unit)
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=dpi, format="png")
    path = Path(path)
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as exc:
        raise CathodeError(f"cannot write {path}: {exc}") from exc
    return path
