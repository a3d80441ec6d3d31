"""napari opens a 1 GiB project as a multiscale image and paints into it without loading it."""

from __future__ import annotations

import dask.array as da
import numpy as np
import psutil
import pytest
import zarr

from large_volumes import tiled_acquisition
from napari_cathode.core.project.store import Project

pytestmark = pytest.mark.gui

SHAPE = (64, 4096, 4096)  # uint8: 1 GiB


def _semi_synthetic(acquisition_a) -> da.Array:
    return tiled_acquisition(acquisition_a[0], SHAPE, chunks=(8, 1024, 1024))


@pytest.mark.slow
def test_napari_opens_and_paints_a_large_project_without_loading_it(
    make_napari_viewer, qtbot, acquisition_a, tmp_path
):
    project = Project.create(tmp_path / "large.cathode", _semi_synthetic(acquisition_a))
    levels = project.image_levels
    assert [level.shape for level in levels][-1][1] <= 512, "a pyramid down to display size"

    process = psutil.Process()
    viewer = make_napari_viewer(show=True)
    qtbot.wait(200)
    before = process.memory_info().rss
    layers = viewer.open(str(project.path), plugin="napari-cathode")
    qtbot.wait(500)
    by_name = {layer.name: layer for layer in layers}
    image, truth = by_name["large"], by_name["large truth"]

    assert image.multiscale and len(image.data) == len(levels) >= 3
    assert all(isinstance(level, zarr.Array) for level in image.data), "zarr, not copies"
    assert type(truth.data).__name__ == "TruthCanvas" and truth.data.shape == SHAPE
    assert str(truth.data.store_path).endswith("large.cathode/labels/truth"), "not a copy"

    z = 40
    viewer.dims.set_current_step(0, z)
    truth.selected_label = 2
    truth.brush_size = 9
    truth.paint((z, 3000, 1000), 2, refresh=True)
    viewer.camera.zoom *= 4  # zoom in: napari switches to a finer level of the pyramid
    qtbot.wait(500)
    after = process.memory_info().rss

    painted = np.asarray(Project.open(project.path, mode="r").truth[z, 2990:3010, 990:1010])
    assert painted[10, 10] == 2 and (painted == 2).sum() > 9, "the stroke is on disk"
    volume_bytes = int(np.prod(SHAPE))
    assert after - before < volume_bytes / 4, (
        f"opening and painting grew the process by {(after - before) / 2**20:.0f} MiB "
        f"for a {volume_bytes / 2**20:.0f} MiB volume"
    )
