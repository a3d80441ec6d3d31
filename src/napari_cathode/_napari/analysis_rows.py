"""What the Analyse page shows, as text: layer classes and unit, the summary rows, warnings."""

from __future__ import annotations

from napari_cathode.core.analysis.summary import AnalysisResult
from napari_cathode.core.classes import DEFAULT_CLASSES, SegmentationClass

#: Warn when more than this fraction of the particles touch the volume's border.
BORDER_FRACTION = 0.5


def border_warning(result: AnalysisResult) -> str:
    """A warning when most particles are cut by the border (their sizes are then biased)."""
    particles = result.to_summary()["particles"]
    count, cut = particles["count"], particles["touching_border"]
    if not count or cut / count <= BORDER_FRACTION:
        return ""
    return (
        f"{cut} of {count} particles touch the border of the volume: their sizes are cut off, "
        "so the size distribution is biased low. Analyse a larger volume, or use a volume at "
        "least a few particle diameters wide in every direction"
    )


def layer_classes(layer) -> tuple[SegmentationClass, ...]:
    """The classes stored in a labels layer's metadata, else the default cathode classes."""
    stored = layer.metadata.get("classes") if layer is not None else None
    if not stored:
        return DEFAULT_CLASSES
    return tuple(SegmentationClass.from_json(c) for c in stored)


def layer_unit(layer) -> str | None:
    """The layer's length unit as short text (``"nm"``), ``None`` for pixels."""
    units = getattr(layer, "units", None)
    if not units:
        return None
    text = f"{units[-1]:~}"
    return None if text in ("px", "pixel", "") else text


def summary_rows(result: AnalysisResult) -> list[tuple[str, str]]:
    """(quantity, value) rows of the dock's table."""
    summary = result.to_summary()
    unit = summary["length_unit"]
    rows = [(f"volume fraction: {k}", f"{v:.4f}") for k, v in summary["volume_fraction"].items()]
    particles = summary["particles"]
    rows.append(("particles", str(particles["count"])))
    rows.append(("particles cut by the border", str(particles["touching_border"])))
    for key in ("d10", "d50", "d90", "dv50"):
        value = particles[key]
        rows.append((f"{key} ({unit})", "—" if value is None else f"{value:.4g}"))
    cracked = particles["cracked_fraction"]
    rows.append(("cracked particles", "—" if cracked is None else f"{cracked:.1%}"))
    connectivity = summary["pore_connectivity"]
    rows.append(("pore connectivity", "—" if connectivity is None else f"{connectivity:.4f}"))
    for key, value in summary["surface_area_per_volume"].items():
        if " / " in key:
            rows.append((f"interface {key} ({unit}⁻¹)", f"{value:.4g}"))
    return rows
