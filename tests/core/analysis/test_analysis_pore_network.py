"""Pore connectivity on a straight channel and interface areas on known shapes."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from napari_cathode.core.analysis.pore_network import pore_connectivity, surface_areas
from napari_cathode.core.classes import DEFAULT_CLASSES
from napari_cathode.core.errors import CathodeError


def channel_phantom() -> np.ndarray:
    """Pores in active material: a straight 3x3 channel along z, a dead end, an isolated cube."""
    pores = np.zeros((20, 16, 16), bool)
    pores[:, 2:5, 2:5] = True  # 20*9 = 180 voxels, both z faces
    pores[:8, 10:12, 10:12] = True  # 8*4 = 32 voxels, top face only
    pores[9:12, 10:13, 2:5] = True  # 27 voxels, no face
    return pores


def test_straight_channel_percolates_along_its_axis_only():
    pores = channel_phantom()
    along_z = pore_connectivity(pores, axis=0)
    total = 180 + 32 + 27
    assert along_z.percolating == 180 / total
    assert along_z.dead_end == 32 / total
    assert along_z.isolated == 27 / total
    assert along_z.clusters == 3
    along_x = pore_connectivity(pores, axis=2)
    assert along_x.percolating == 0.0


def test_diagonal_contact_counts_only_with_wider_connectivity():
    pores = np.zeros((4, 4, 4), bool)
    pores[:2, 0, 0] = True
    pores[2:, 1, 0] = True  # touches the first only along an edge
    assert pore_connectivity(pores, axis=0, connectivity=1).percolating == 0.0
    assert pore_connectivity(pores, axis=0, connectivity=2).percolating == 1.0
    assert pore_connectivity(np.zeros((3, 3, 3), bool)).percolating == 0.0
    with pytest.raises(CathodeError):
        pore_connectivity(pores, axis=3)


def test_plane_interface_area_and_specific_surface():
    labels = np.full((20, 16, 12), 2, np.uint8)
    labels[:10] = 1
    areas = surface_areas(labels, DEFAULT_CLASSES, voxel_size=(1, 2, 3), unit="µm")
    # marching cubes spans voxel centres: (16-1)*2 by (12-1)*3 µm
    assert areas.interface_areas["pore / active material"] == pytest.approx(30 * 33)
    assert areas.interface_areas["pore / carbon-binder"] == 0
    per_volume = areas.per_volume()
    assert per_volume["pore / active material"] == pytest.approx(990 / (20 * 16 * 12 * 6))


def test_sphere_interface_area_and_blockwise_sum():
    z, y, x = np.indices((30, 30, 30))
    sphere = (z - 15) ** 2 + (y - 15) ** 2 + (x - 15) ** 2 <= 100
    labels = np.where(sphere, 1, 2).astype(np.uint8)
    labels[:, :, 27:] = 3
    whole = surface_areas(labels, DEFAULT_CLASSES)
    sphere_area = 4 * np.pi * 10**2
    # marching cubes on a voxelised sphere overestimates by < 10 %
    assert sphere_area < whole.interface_areas["pore / active material"] < 1.1 * sphere_area
    assert whole.interface_areas["active material / carbon-binder"] == pytest.approx(29 * 29)
    blockwise = surface_areas(
        da.from_array(labels, chunks=(7, 11, 9)), DEFAULT_CLASSES, block_shape=(7, 11, 9)
    )
    for key, value in whole.interface_areas.items():
        assert blockwise.interface_areas[key] == pytest.approx(value, rel=1e-5)
