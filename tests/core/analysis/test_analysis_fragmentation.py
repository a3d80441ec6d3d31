"""Cracks inside particles: a phantom with a known internal crack and a surface-open slot."""

from __future__ import annotations

import numpy as np
import pytest

from napari_cathode.core.analysis.fragmentation import (
    crack_labels,
    cracked_fraction,
    measure_cracks,
)
from napari_cathode.core.analysis.summary import AnalysisConfig, particle_analysis
from napari_cathode.core.errors import CathodeError

SHAPE = (30, 30, 56)
CENTRES = ((15, 15, 14), (15, 15, 41))
RADIUS = 10


def two_spheres() -> np.ndarray:
    z, y, x = np.indices(SHAPE)
    solid = np.zeros(SHAPE, bool)
    for cz, cy, cx in CENTRES:
        solid |= (z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= RADIUS**2
    return solid


def internal_crack(solid: np.ndarray) -> tuple[np.ndarray, int]:
    """Cut a one-voxel-thick disc of radius 6 through the first sphere's centre (enclosed)."""
    _, y, x = np.indices(SHAPE)
    cz, cy, cx = CENTRES[0]
    disc = np.zeros(SHAPE, bool)
    disc[cz] = (y[cz] - cy) ** 2 + (x[cz] - cx) ** 2 <= 36
    cracked = solid & ~disc
    return cracked, int((solid & disc).sum())


def test_known_internal_crack_is_found_and_does_not_split_the_particle():
    solid, crack_voxels = internal_crack(two_spheres())
    result = particle_analysis(solid, config=AnalysisConfig(min_particle_voxels=10))
    table = result.table
    assert len(table) == 2  # the crack does not cut its particle in two
    first = int(result.instances[CENTRES[0][0] - 3, CENTRES[0][1], CENTRES[0][2]])
    row = table.set_index("particle").loc[first]
    assert row["crack_volume"] == crack_voxels
    envelope = row["solid_volume"] + crack_voxels
    assert row["crack_fraction"] == pytest.approx(crack_voxels / envelope)
    assert set(np.unique(result.cracks)) == {0, first}
    assert cracked_fraction(table) == 0.5
    # the particle's size includes its crack: the envelope is the whole sphere
    assert abs(row["equivalent_diameter"] - 2 * RADIUS) <= 1.0


def test_surface_open_crack_needs_a_closing_radius():
    solid = two_spheres()
    cz, cy, cx = CENTRES[1]
    slot = np.zeros(SHAPE, bool)
    slot[cz - 3 : cz + 4, cy, cx:] = True  # from the centre out through the surface
    solid &= ~slot
    enclosed_only = particle_analysis(solid, config=AnalysisConfig(min_particle_voxels=10))
    assert not enclosed_only.table["cracked"].any()
    closed = particle_analysis(
        solid, config=AnalysisConfig(min_particle_voxels=10, closing_radius=1)
    )
    assert len(closed.table) == 2
    cracked = closed.table[closed.table["cracked"]]
    assert len(cracked) == 1
    # most of the slot (all but its mouth on the surface) is found
    assert 0.8 * (slot & two_spheres()).sum() <= cracked["crack_volume"].item()


def test_crack_labels_are_tied_to_their_particle_and_checked():
    instances = np.zeros((9, 9, 18), np.int32)
    instances[1:8, 1:8, 1:8] = 1
    instances[1:8, 1:8, 10:17] = 2
    instances[4, 4, 13] = 0  # one enclosed hole in particle 2
    solid = instances > 0
    cracks = crack_labels(instances, solid)
    assert cracks[4, 4, 13] == 2 and cracks.sum() == 2
    table = measure_cracks(instances, cracks, voxel_size=(2, 1, 1), min_crack_voxels=1)
    assert table["crack_volume"].tolist() == [0.0, 2.0]
    assert table["cracked"].tolist() == [False, True]
    assert cracked_fraction(table.iloc[:0]) is None
    with pytest.raises(CathodeError, match="same shape"):
        crack_labels(instances, solid[:5])
