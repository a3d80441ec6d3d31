"""The Analyse page's helpers: layer classes and unit, summary rows, warnings, measurement CSVs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_cathode.core.analysis.class_mapping import class_mask
from napari_cathode.core.analysis.measurements import points_to_table, rulers_to_table, write_csv
from napari_cathode.core.analysis.summary import AnalysisResult, particle_analysis, with_particles
from napari_cathode.core.classes import DEFAULT_CLASSES, SegmentationClass

__all__ = [
    "BORDER_FRACTION",
    "DEFECTS",
    "RULERS",
    "TOOLTIPS",
    "border_warning",
    "layer_classes",
    "layer_source",
    "layer_unit",
    "measurement_layer",
    "remeasure_particles",
    "summary_rows",
    "voxel_coordinates",
    "write_measurements",
]

DEFECTS, RULERS = "defects", "rulers"
#: How the measurement layers look and which mode they open in.
_MEASUREMENT_LAYERS = {
    DEFECTS: ("add_points", {"size": 4, "face_color": "#ef4444"}, "add"),
    RULERS: ("add_shapes", {"edge_color": "#facc15", "edge_width": 1}, "add_line"),
}

#: Tooltips of the Analyse form, by field label.
TOOLTIPS = {
    "class map": "labels that are not 1..K class ids: which value is which class, e.g. "
    "0=pore,128=active,255=binder (empty: the layer's own classes)",
    "h-max (voxels)": "particle separation (distance-transform watershed): two touching "
    "particles stay one unless the neck between them is at least this many voxels thinner "
    "than their centres. Raise it if particles are cut in pieces, lower it if they merge",
    "min particle voxels": "smaller particles are noise and are dropped",
    "crack closing radius": "in voxels: closes a particle's envelope before looking for "
    "cracks and holes inside it (0 = the filled particle)",
    "connectivity axis": "pores connected from the first to the last slice along this axis",
    "labels": "the segmentation to measure; sizes are in the layer's units (its scale), "
    "voxels when it has none",
}

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


def layer_source(layer, class_map_text: str = ""):
    """The labels of ``layer`` as the analysis use case's
    :class:`~napari_cathode.core.analysis.sources.LabelsSource` (the command line builds the
    same from a file or project): the layer's classes, an optional class map, its scale and
    unit.

    Raises
    ------
    CathodeError
        If the class map does not fit the classes.
    """
    from napari_cathode.core.analysis.class_mapping import parse_class_map
    from napari_cathode.core.analysis.sources import LabelsSource

    classes = layer_classes(layer)
    text = class_map_text.strip()
    return LabelsSource(
        data=layer.data,
        classes=classes,
        class_map=parse_class_map(text, classes) if text else None,
        voxel_size=tuple(float(v) for v in layer.scale),
        unit=layer_unit(layer),
        path=Path(layer.source.path or layer.name),
    )


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


def voxel_coordinates(layer, data, target) -> np.ndarray:
    """Data coordinates of ``layer`` → voxel coordinates of the labels layer ``target``."""
    world = np.asarray(data, float) * np.asarray(layer.scale) + np.asarray(layer.translate)
    return (world - np.asarray(target.translate)) / np.asarray(target.scale)


def write_measurements(folder: Path, target, defects, rulers, *, class_map=None) -> dict:
    """defects.csv (class at each point) and rulers.csv (lengths) for the labels ``target``."""
    written: dict[str, Path] = {}
    if target is None:
        return written
    unit, voxel_size, classes = layer_unit(target), tuple(target.scale), layer_classes(target)
    if defects is not None:
        table = points_to_table(
            voxel_coordinates(defects, defects.data, target),
            target.data,
            voxel_size=voxel_size,
            unit=unit,
            classes=classes,
            class_map=class_map,
        )
        written["defects"] = write_csv(table, folder / "defects.csv")
    if rulers is not None:
        lines = [
            voxel_coordinates(rulers, shape, target)
            for shape, kind in zip(rulers.data, rulers.shape_type)
            if kind in ("line", "path")
        ]
        table = rulers_to_table(lines, voxel_size=voxel_size, unit=unit)
        written["rulers"] = write_csv(table, folder / "rulers.csv")
    return written


def measurement_layer(viewer, name: str, geometry: dict):
    """Add (or select) the defects Points layer or the rulers Shapes layer, ready to draw."""
    method, style, mode = _MEASUREMENT_LAYERS[name]
    if name not in viewer.layers:
        getattr(viewer, method)(ndim=3, name=name, **style, **geometry)
    layer = viewer.layers[name]
    viewer.layers.selection.active = layer
    layer.mode = mode
    return layer


def remeasure_particles(labels, result: AnalysisResult, instances, class_map) -> AnalysisResult:
    """The analysis again from hand-corrected particle instances (run in a worker thread)."""
    solid = class_mask(labels, result.particle_class.id, class_map=class_map)
    particles = particle_analysis(
        solid, voxel_size=result.voxel_size, config=result.config, instances=instances
    )
    return with_particles(result, particles)
