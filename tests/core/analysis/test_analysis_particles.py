"""Particle separation and measurement on phantoms with known spheres."""

from __future__ import annotations

import numpy as np
import pytest

from napari_cathode.core.analysis.particles import measure_particles, separate_particles
from napari_cathode.core.analysis.size_distribution import size_distribution, weighted_percentile
from napari_cathode.core.errors import CathodeError

# (centre z, y, x), radius: two pairs of spheres overlap by one voxel (a neck to cut),
# one sphere is isolated and one is cut by the volume border.
SPHERES = (
    ((20, 20, 14), 9),
    ((20, 20, 31), 9),  # touches the first: centres 17 apart, radii sum 18
    ((20, 46, 20), 6),
    ((20, 46, 32), 7),  # touches the third: centres 12 apart, radii sum 13
    ((22, 26, 52), 5),  # isolated
)
SHAPE = (42, 60, 64)


def ball_phantom(spheres=SPHERES, shape=SHAPE) -> np.ndarray:
    """Binary mask of the union of spheres."""
    z, y, x = np.indices(shape)
    mask = np.zeros(shape, bool)
    for (cz, cy, cx), r in spheres:
        mask |= (z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= r**2
    return mask


def test_touching_spheres_are_separated_with_their_diameters():
    instances = separate_particles(ball_phantom(), h_max=2.0, min_voxels=10)
    table = measure_particles(instances)
    assert len(table) == len(SPHERES)
    # match each sphere to the particle whose centroid is nearest its centre
    for centre, radius in SPHERES:
        distances = np.linalg.norm(
            table[["centroid_z", "centroid_y", "centroid_x"]].to_numpy() - centre, axis=1
        )
        row = table.iloc[int(np.argmin(distances))]
        assert distances.min() < 1.0
        assert abs(row["equivalent_diameter"] - 2 * radius) <= 1.0
        assert 0.8 < row["sphericity"] <= 1.0
    assert not table["touches_border"].any()


def test_anisotropic_voxels_give_physical_sizes_and_positions():
    # a sphere of radius 8 µm sampled at 2 µm in z and 1 µm in y, x
    z, y, x = np.indices((20, 30, 30))
    mask = (2.0 * (z - 10)) ** 2 + (y - 15) ** 2 + (x - 15) ** 2 <= 8**2
    table = measure_particles(
        separate_particles(mask, voxel_size=(2, 1, 1), min_voxels=1), voxel_size=(2, 1, 1)
    )
    assert len(table) == 1
    assert abs(table["equivalent_diameter"][0] - 16.0) <= 1.0
    assert table["centroid_z"][0] == pytest.approx(20.0, abs=0.1)
    assert table["volume"][0] == 2 * table["voxels"][0]


def test_border_particles_are_flagged_and_small_ones_dropped():
    spheres = (((0, 15, 15), 6), ((15, 15, 15), 5), ((15, 3, 27), 1))
    mask = ball_phantom(spheres, (24, 30, 30))
    table = measure_particles(separate_particles(mask, min_voxels=20))
    assert len(table) == 2  # the radius-1 speck (7 voxels) is dropped
    assert sorted(table["touches_border"]) == [False, True]
    assert table.loc[table["touches_border"], "bbox_z0"].item() == 0


def test_h_max_controls_splitting():
    mask = ball_phantom()
    few = separate_particles(mask, h_max=8.0, min_voxels=10).max()
    many = separate_particles(mask, h_max=1.0, min_voxels=10).max()
    assert few < len(SPHERES) <= many
    with pytest.raises(CathodeError, match="h_max"):
        separate_particles(mask, h_max=0)


def test_size_distribution_of_known_diameters():
    diameters = np.arange(1.0, 11.0)  # 1..10
    stats = size_distribution(diameters)
    assert stats.count == 10
    assert stats.d50 == pytest.approx(5.5)
    assert stats.d10 == pytest.approx(1.9)
    assert stats.d90 == pytest.approx(9.1)
    # volume weighting pushes the median to the big particles: half the volume is in d >= 9
    volumes = diameters**3
    below = volumes[diameters < stats.dv50].sum() / volumes.sum()
    assert below < 0.5 <= (below + volumes[diameters == stats.dv50].sum() / volumes.sum())
    assert stats.dv50 == 9.0
    assert size_distribution([]).d50 is None


def test_weighted_percentile_refuses_bad_input():
    with pytest.raises(CathodeError):
        weighted_percentile([], [], 50)
    assert weighted_percentile([3.0, 1.0], [0.0, 1.0], 50) == 1.0
