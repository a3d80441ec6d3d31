"""A project's layers in a real napari viewer: names, scale, colours, and painting to disk."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from napari_cathode._napari.project_layers import PROJECT_KEY, project_layer_tuples
from napari_cathode.core.classes import DEFAULT_CLASSES
from napari_cathode.core.errors import CathodeError
from napari_cathode.core.project.store import Project

pytestmark = pytest.mark.gui


@pytest.fixture
def project(tmp_path, acquisition_a_crop):
    image, labels = acquisition_a_crop
    truth = np.where(np.arange(image.shape[0])[:, None, None] == 1, labels, 0)
    return Project.create(
        tmp_path / "nmc_a.cathode", image, truth=truth, voxel_size=(0.06, 0.03, 0.03), unit="um"
    )


def _add(viewer, tuples):
    layers = []
    for data, kwargs, kind in tuples:
        layers.append(getattr(viewer, f"add_{kind}")(data, **kwargs))
    return {layer.name: layer for layer in layers}


def test_project_layers_in_viewer(make_napari_viewer, project, acquisition_a_crop):
    viewer = make_napari_viewer()
    layers = _add(viewer, project_layer_tuples(project.path))

    assert [layer.name for layer in viewer.layers] == [
        "nmc_a",
        "nmc_a uncertainty",
        "nmc_a proposal",
        "nmc_a truth",
    ]
    image, proposal, truth = layers["nmc_a"], layers["nmc_a proposal"], layers["nmc_a truth"]
    uncertainty = layers["nmc_a uncertainty"]
    assert type(image).__name__ == "Image" and type(truth).__name__ == "Labels"
    assert type(uncertainty).__name__ == "Image"
    for layer in viewer.layers:
        np.testing.assert_allclose(layer.scale, (0.06, 0.03, 0.03))
        assert layer.metadata[PROJECT_KEY] == str(project.path)
        assert [c["name"] for c in layer.metadata["classes"]] == [c.name for c in DEFAULT_CLASSES]
    # backed by the project's zarr arrays, not copies in memory; truth through the project's
    # painting view, so every stroke is written by the project store
    assert isinstance(image.data, zarr.Array) and type(truth.data).__name__ == "TruthCanvas"
    assert str(image.data.store_path).endswith("nmc_a.cathode/image")
    assert str(truth.data.store_path).endswith("nmc_a.cathode/labels/truth")
    assert uncertainty.visible is False and uncertainty.blending == "additive"
    assert uncertainty.colormap.name == "magma"
    assert proposal.opacity == pytest.approx(0.5)
    # the project's ground truth shows with each class's colour
    np.testing.assert_array_equal(np.asarray(truth.data[1]), acquisition_a_crop[1][1])
    for cls in DEFAULT_CLASSES:
        np.testing.assert_allclose(truth.colormap.map(np.array([cls.id]))[0], cls.rgba, atol=1e-6)
    assert truth.colormap.map(np.array([0]))[0][3] == 0  # unlabeled is transparent
    # image contrast comes from the project, not from loading the volume
    low, high = image.contrast_limits
    assert acquisition_a_crop[0].min() <= low < high <= acquisition_a_crop[0].max()


def test_painting_the_truth_layer_writes_the_project(make_napari_viewer, project):
    viewer = make_napari_viewer()
    layers = _add(viewer, project_layer_tuples(project))
    truth = layers["nmc_a truth"]
    assert 3 not in project.truth_slices()

    truth.selected_label = 3
    truth.brush_size = 5
    truth.paint((3, 40, 50), 3, refresh=True)

    reopened = Project.open(project.path, mode="r")
    painted = np.asarray(reopened.truth[3])
    assert painted[40, 50] == 3 and painted.sum() > 3
    assert set(np.unique(painted)) == {0, 3}

    # a value that is no class id never reaches the disk
    with pytest.raises(CathodeError, match="not class ids"):
        truth.data[(np.array([4]), np.array([10]), np.array([10]))] = 9
    assert not np.any(Project.open(project.path, mode="r").truth[4])
    assert list(Project.open(project.path, mode="r").truth_slices()) == [1, 3]


def test_read_only_project_layers_still_open(make_napari_viewer, project):
    viewer = make_napari_viewer()
    read_only = Project.open(project.path, mode="r")
    layers = _add(viewer, project_layer_tuples(read_only))
    assert layers["nmc_a truth"].data.shape == project.shape
