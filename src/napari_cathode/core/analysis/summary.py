"""One call that runs every microstructure measure on a labels volume, and its result.

What runs blockwise (any volume size, a block at a time): volume fractions, surface areas.
What needs one phase in memory: particle separation and cracks (the particle phase) and pore
connectivity (the pore phase); see :mod:`.particles` and :mod:`.pore_network` for the memory.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from napari_cathode.core.analysis.blocks import Progress
from napari_cathode.core.analysis.class_mapping import (
    ClassMap,
    check_class_map,
    class_mask,
    resolve_class,
)
from napari_cathode.core.analysis.fractions import (
    Region,
    VolumeFractions,
    fractions_from_counts,
    value_counts,
    volume_fractions,
)
from napari_cathode.core.analysis.fragmentation import (
    crack_labels,
    cracked_fraction,
    measure_cracks,
)
from napari_cathode.core.analysis.particles import measure_particles, separate_particles
from napari_cathode.core.analysis.pore_network import (
    PoreConnectivity,
    SurfaceAreas,
    pore_connectivity,
    surface_areas,
)
from napari_cathode.core.analysis.size_distribution import SizeDistribution, size_distribution
from napari_cathode.core.classes import DEFAULT_CLASSES, SegmentationClass
from napari_cathode.core.errors import CathodeError

__all__ = [
    "AnalysisConfig",
    "AnalysisResult",
    "ParticleAnalysis",
    "analyze_labels",
    "particle_analysis",
    "with_particles",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnalysisConfig:
    """Options of :func:`analyze_labels` (all lengths in voxels).

    Attributes
    ----------
    particle_class : str
        Name (or prefix) of the class holding the particles.
    pore_class : str
        Name (or prefix) of the pore class; connectivity is skipped if no class matches.
    h_max : float
        Minimum distance-peak height that seeds a particle (see
        :func:`~napari_cathode.core.analysis.particles.separate_particles`).
    min_particle_voxels : int
        Smaller instances are dropped from the particle table.
    closing_radius : int
        Ball radius bridging surface-open cracks, both for separation (a crack does not split
        its particle) and for crack detection (0 = enclosed holes only).
    min_crack_voxels : int
        A particle with at least this many crack voxels is cracked.
    connectivity_axis : int
        Axis (0 = z, 1 = y, 2 = x) whose two faces the pore network must connect.
    pore_connectivity : int
        Neighbourhood for pore clusters: 1 = faces, 2 = + edges, 3 = + corners.
    exclude_border_particles : bool
        Leave particles touching the volume border out of the size distribution (they are cut).
    """

    particle_class: str = "active"
    pore_class: str = "pore"
    h_max: float = 2.0
    min_particle_voxels: int = 20
    closing_radius: int = 0
    min_crack_voxels: int = 3
    connectivity_axis: int = 0
    pore_connectivity: int = 1
    exclude_border_particles: bool = False

    def __post_init__(self) -> None:
        if not math.isfinite(self.h_max) or self.h_max <= 0:
            raise CathodeError(f"h_max must be > 0 voxels, got {self.h_max}")
        if self.min_particle_voxels < 0 or self.min_crack_voxels < 1 or self.closing_radius < 0:
            raise CathodeError(
                "min_particle_voxels and closing_radius must be >= 0 and min_crack_voxels >= 1; "
                f"got {self.min_particle_voxels}, {self.closing_radius}, {self.min_crack_voxels}"
            )
        if self.connectivity_axis not in (0, 1, 2) or self.pore_connectivity not in (1, 2, 3):
            raise CathodeError(
                f"connectivity_axis must be 0, 1 or 2 (got {self.connectivity_axis}) and "
                f"pore_connectivity 1, 2 or 3 (got {self.pore_connectivity})"
            )

    def to_json(self) -> dict:
        """Plain dict (round-trips through :meth:`from_json`)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> AnalysisConfig:
        """Build from :meth:`to_json` output; unknown keys are refused."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise CathodeError(f"unknown analysis options {sorted(unknown)}")
        return cls(**data)


@dataclass(frozen=True)
class ParticleAnalysis:
    """Particle instances, their cracks and the per-particle table."""

    instances: np.ndarray
    cracks: np.ndarray
    table: pd.DataFrame


def _psd_rows(table: pd.DataFrame, config: AnalysisConfig) -> pd.DataFrame:
    """The particles that enter the size distribution under ``config``."""
    if config.exclude_border_particles and len(table):
        return table[~table["touches_border"]]
    return table


@dataclass(frozen=True)
class AnalysisResult:
    """Everything :func:`analyze_labels` measured."""

    classes: tuple[SegmentationClass, ...]
    voxel_size: tuple[float, float, float]
    unit: str | None
    shape: tuple[int, ...]
    config: AnalysisConfig
    fractions: VolumeFractions
    particle_class: SegmentationClass
    particles: ParticleAnalysis
    distribution: SizeDistribution
    surface: SurfaceAreas | None = None
    connectivity: PoreConnectivity | None = None
    region_fractions: VolumeFractions | None = None
    extra: dict = field(default_factory=dict)

    @property
    def psd_particles(self) -> pd.DataFrame:
        """Rows of the particle table that enter the size distribution."""
        return _psd_rows(self.particles.table, self.config)

    def to_summary(self) -> dict:
        """The ``summary.json`` content (keys of classes are their names)."""
        table = self.particles.table
        particles = {
            **self.distribution.to_json(),
            "cracked_fraction": cracked_fraction(table),
            "measured": len(table),
            "touching_border": int(table["touches_border"].sum()) if len(table) else 0,
            "class": self.particle_class.name,
        }
        summary = {
            "volume_fraction": self.fractions.fractions,
            "particles": particles,
            "pore_connectivity": self.connectivity.percolating if self.connectivity else None,
            "surface_area_per_volume": self.surface.per_volume() if self.surface else {},
            "length_unit": self.unit or "voxel",
            "voxel_size": list(self.voxel_size),
            "shape": list(self.shape),
            "classes": [c.to_json() for c in self.classes],
            "voxels": self.fractions.to_json(),
            "pore_connectivity_detail": (
                self.connectivity.to_json() if self.connectivity else None
            ),
            "surface_area": (
                {**self.surface.class_areas, **self.surface.interface_areas} if self.surface else {}
            ),
            "options": self.config.to_json(),
        }
        if self.region_fractions is not None:
            summary["region"] = {
                **self.extra.get("region", {}),
                "volume_fraction": self.region_fractions.fractions,
            }
        return summary


def particle_analysis(
    solid: np.ndarray,
    *,
    voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
    config: AnalysisConfig = AnalysisConfig(),
    instances: np.ndarray | None = None,
) -> ParticleAnalysis:
    """Separate (unless ``instances`` are given, e.g. corrected by hand), find cracks, measure.

    Parameters
    ----------
    solid : numpy.ndarray of bool
        Active-material mask.
    voxel_size : sequence of float
        (z, y, x) voxel size.
    config : AnalysisConfig
        Separation and crack options.
    instances : numpy.ndarray of int, optional
        Existing particle instances; voxels outside ``solid`` are ignored.

    Returns
    -------
    ParticleAnalysis
        ``table`` has the particle geometry (of the envelope: particle plus its cracks) and the
        crack columns, one row per particle.
    """
    solid = np.asarray(solid, dtype=bool)
    if instances is None:
        instances = separate_particles(
            solid,
            voxel_size=voxel_size,
            h_max=config.h_max,
            min_voxels=config.min_particle_voxels,
            closing_radius=config.closing_radius,
        )
    else:
        instances = np.where(solid, np.asarray(instances), 0).astype(np.int32)
    cracks = crack_labels(instances, solid, closing_radius=config.closing_radius)
    geometry = measure_particles(instances + cracks, voxel_size=voxel_size)
    crack_table = measure_cracks(
        instances, cracks, voxel_size=voxel_size, min_crack_voxels=config.min_crack_voxels
    )
    table = geometry.merge(crack_table, on="particle", how="left")
    return ParticleAnalysis(instances=instances, cracks=cracks, table=table)


def analyze_labels(
    labels,
    *,
    classes: Sequence[SegmentationClass] = DEFAULT_CLASSES,
    class_map: ClassMap | None = None,
    voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
    unit: str | None = None,
    config: AnalysisConfig = AnalysisConfig(),
    region: Region | None = None,
    block_shape: tuple[int, ...] | None = None,
    progress: Progress | None = None,
) -> AnalysisResult:
    """Volume fractions, particles, cracks, surface areas and pore connectivity of a volume.

    Parameters
    ----------
    labels : array-like, (z, y, x)
        Class ids (0 = unlabeled), or file values with ``class_map``; numpy, dask or zarr.
    classes : sequence of SegmentationClass
        The classes, by id.
    class_map : mapping, optional
        File value → class id (values it does not name are unlabeled).
    voxel_size : sequence of float
        (z, y, x) voxel size in ``unit``.
    unit : str, optional
        Length unit; ``None`` reports in voxels.
    config : AnalysisConfig
        Options.
    region : tuple of slices or boolean array, optional
        Also report volume fractions inside this region.
    block_shape : tuple of int, optional
        Block size of the blockwise measures (defaults to the array's chunks).
    progress : callable, optional
        ``progress(stage, done, total)``.

    Returns
    -------
    AnalysisResult
    """
    if len(labels.shape) != 3:
        raise CathodeError(f"analysis needs a 3D (z, y, x) labels volume, got {labels.shape}")
    voxel_size = tuple(float(v) for v in voxel_size)
    if len(voxel_size) != 3 or not all(math.isfinite(v) and v > 0 for v in voxel_size):
        raise CathodeError(
            f"voxel size must be three positive, finite numbers (z, y, x), got {voxel_size}"
        )
    classes = tuple(classes)
    options = {"class_map": class_map, "block_shape": block_shape, "progress": progress}
    counts = value_counts(labels, block_shape=block_shape, progress=progress)
    if class_map is not None:
        check_class_map(counts, class_map, "the labels")
    fractions = fractions_from_counts(
        counts, classes, class_map=class_map, voxel_size=voxel_size, unit=unit
    )
    region_fractions = None
    if region is not None:
        region_fractions = volume_fractions(
            labels, classes, region=region, voxel_size=voxel_size, unit=unit, **options
        )
    particle_class = resolve_class(config.particle_class, classes)
    solid = class_mask(labels, particle_class.id, **options)
    log.info("separating %s particles (%d voxels)", particle_class.name, int(solid.sum()))
    particles = particle_analysis(solid, voxel_size=voxel_size, config=config)
    del solid
    psd_rows = _psd_rows(particles.table, config)
    distribution = size_distribution(psd_rows["equivalent_diameter"], psd_rows["volume"])
    surface = None
    if min(labels.shape) >= 2:
        surface = surface_areas(labels, classes, voxel_size=voxel_size, unit=unit, **options)
    else:
        log.warning(
            "volume of shape %s is a single section: surface areas are skipped and particle "
            "sizes are those of one-voxel-thick sections",
            tuple(labels.shape),
        )
    connectivity = None
    try:
        pore_class = resolve_class(config.pore_class, classes)
    except CathodeError:
        log.info("no class named like %r: pore connectivity skipped", config.pore_class)
        pore_class = None
    if pore_class is not None and labels.shape[config.connectivity_axis] < 2:
        log.warning(
            "axis %d has one voxel: pore connectivity along it is skipped", config.connectivity_axis
        )
    elif pore_class is not None:
        pores = class_mask(labels, pore_class.id, **options)
        connectivity = pore_connectivity(
            pores, axis=config.connectivity_axis, connectivity=config.pore_connectivity
        )
    extra = {}
    if isinstance(region, tuple):
        extra["region"] = {"box_zyx": [[s.start, s.stop] for s in region]}
    return AnalysisResult(
        classes=classes,
        voxel_size=voxel_size,
        unit=unit,
        shape=tuple(labels.shape),
        config=config,
        fractions=fractions,
        particle_class=particle_class,
        particles=particles,
        distribution=distribution,
        surface=surface,
        connectivity=connectivity,
        region_fractions=region_fractions,
        extra=extra,
    )


def with_particles(result: AnalysisResult, particles: ParticleAnalysis) -> AnalysisResult:
    """``result`` with other particles (e.g. corrected by hand) and their size distribution."""
    updated = replace(result, particles=particles)
    table = updated.psd_particles
    distribution = size_distribution(table["equivalent_diameter"], table["volume"])
    return replace(updated, distribution=distribution)
