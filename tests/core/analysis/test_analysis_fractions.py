"""Volume fractions: exact counts, class maps, regions, blockwise dask input, real data."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import tifffile

from napari_cathode.core.analysis.class_mapping import (
    apply_class_map,
    parse_class_map,
    resolve_class,
)
from napari_cathode.core.analysis.fractions import volume_fractions
from napari_cathode.core.classes import DEFAULT_CLASSES, classes_from_names
from napari_cathode.core.errors import CathodeError


def layered_phantom() -> np.ndarray:
    """10 x 20 x 30 volume: z 0-1 unlabeled, 2-4 pore, 5-8 active, 9 binder."""
    labels = np.zeros((10, 20, 30), np.uint8)
    labels[2:5] = 1
    labels[5:9] = 2
    labels[9] = 3
    return labels


def test_fractions_are_exact_and_exclude_unlabeled():
    result = volume_fractions(
        layered_phantom(), DEFAULT_CLASSES, voxel_size=(0.5, 0.1, 0.1), unit="µm"
    )
    assert result.fractions == {"pore": 3 / 8, "active material": 4 / 8, "carbon-binder": 1 / 8}
    assert result.unlabeled_voxels == 2 * 20 * 30
    assert result.volumes["pore"] == pytest.approx(3 * 20 * 30 * 0.5 * 0.01)
    assert result.to_json()["volume_unit"] == "µm^3"


def test_region_box_and_mask():
    labels = layered_phantom()
    box = volume_fractions(labels, DEFAULT_CLASSES, region=(slice(4, 6), slice(None), slice(None)))
    assert box.fractions["pore"] == 0.5 and box.fractions["active material"] == 0.5
    mask = np.zeros(labels.shape, bool)
    mask[9, :5] = True
    assert volume_fractions(labels, DEFAULT_CLASSES, region=mask).fractions["carbon-binder"] == 1
    with pytest.raises(CathodeError, match="region mask"):
        volume_fractions(labels, DEFAULT_CLASSES, region=mask[:5])


def test_blockwise_dask_equals_whole_and_reports_progress():
    labels = np.random.default_rng(0).integers(0, 4, (17, 23, 29), dtype=np.uint8)
    whole = volume_fractions(labels, DEFAULT_CLASSES)
    calls = []
    chunked = volume_fractions(
        da.from_array(labels, chunks=(5, 8, 7)),
        DEFAULT_CLASSES,
        block_shape=(5, 8, 7),
        progress=lambda stage, done, total: calls.append((done, total)),
    )
    assert chunked.voxel_counts == whole.voxel_counts
    assert calls[-1] == (4 * 3 * 5, 4 * 3 * 5)


def test_unknown_values_need_a_class_map():
    labels = np.array([[[0, 128, 255, 255]]], np.uint8)
    with pytest.raises(CathodeError, match="--class-map"):
        volume_fractions(labels, DEFAULT_CLASSES)
    class_map = parse_class_map("0=pore, 128=active ,255=Binder", DEFAULT_CLASSES)
    assert class_map == {0: 1, 128: 2, 255: 3}
    result = volume_fractions(labels, DEFAULT_CLASSES, class_map=class_map)
    assert result.fractions == {"pore": 0.25, "active material": 0.25, "carbon-binder": 0.5}
    assert apply_class_map(labels, class_map).tolist() == [[[1, 2, 3, 3]]]
    # a partial class map leaves the other values unlabeled
    partial = volume_fractions(labels, DEFAULT_CLASSES, class_map={255: 3})
    assert partial.unlabeled_voxels == 2 and partial.fractions["carbon-binder"] == 1.0


def test_class_names_match_by_prefix_and_refuse_ambiguity():
    assert resolve_class("ACT", DEFAULT_CLASSES).id == 2
    assert resolve_class("carbon", DEFAULT_CLASSES).id == 3
    with pytest.raises(CathodeError, match="ambiguous"):
        resolve_class("p", classes_from_names(["pore", "particle"]))
    with pytest.raises(CathodeError, match="no class"):
        resolve_class("electrolyte", DEFAULT_CLASSES)
    for bad in ("0:pore", "x=pore", "0=pore,0=active", ""):
        with pytest.raises(CathodeError):
            parse_class_map(bad, DEFAULT_CLASSES)


def test_real_slicegan_volume_fractions_match_a_direct_count(shared_data):
    labels = tifffile.imread(shared_data / "slicegan-nmc-3phase" / "NMC.tif")
    class_map = parse_class_map("0=pore,128=active,255=binder", DEFAULT_CLASSES)
    result = volume_fractions(
        da.from_array(labels, chunks=(8, 64, 64)), DEFAULT_CLASSES, class_map=class_map
    )
    values, counts = np.unique(labels, return_counts=True)
    direct = dict(zip(values.tolist(), (counts / labels.size).tolist()))
    assert result.fractions == {
        "pore": direct[0],
        "active material": direct[128],
        "carbon-binder": direct[255],
    }
