"""Blockwise prediction into zarr equals whole-array prediction; uncertainty and scores behave."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import zarr

from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.networks import build_network
from napari_cathode.ml.normalization import fit_normalization
from napari_cathode.ml.prediction import PredictionOptions, Predictor

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def setup(acquisition_a_crop):
    image, _ = acquisition_a_crop
    config = ModelConfig(channels=(8, 16, 32), patch_size=(64, 64), context_slices=3, seed=1)
    network = build_network(config)
    # Non-trivial (not uniform) predictions: perturb BatchNorm statistics away from identity.
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
    return image, config, network, fit_normalization(image)


def _predict(image, config, network, normalization, *, proposal, uncertainty, **options):
    predictor = Predictor(
        network,
        config=config,
        normalization=normalization,
        device=torch.device("cpu"),
        options=PredictionOptions(window=64, **options),
    )
    return predictor.predict(image, proposal=proposal, uncertainty=uncertainty)


def test_blockwise_zarr_prediction_equals_whole_array_prediction(setup, tmp_path):
    image, config, network, normalization = setup
    whole = np.zeros(image.shape, np.uint8)
    whole_u = np.zeros(image.shape, np.uint8)
    _predict(image, config, network, normalization, proposal=whole, uncertainty=whole_u)

    store = zarr.open_group(str(tmp_path / "p.zarr"), mode="w")
    image_z = store.create_array("image", data=image, chunks=(1, 64, 64))
    proposal = store.create_array("proposal", shape=image.shape, dtype="uint8", chunks=(1, 64, 64))
    uncertainty = store.create_array(
        "uncertainty", shape=image.shape, dtype="uint8", chunks=(1, 64, 64)
    )
    slice_pixels = image.shape[1] * image.shape[2]
    # Two slices per block: 5 slices -> 3 blocks, each needing context slices from its neighbours.
    scores = _predict(
        image_z,
        config,
        network,
        normalization,
        proposal=proposal,
        uncertainty=uncertainty,
        block_voxels=2 * slice_pixels,
    )
    assert np.array_equal(proposal[...], whole)
    assert np.abs(uncertainty[...].astype(int) - whole_u).max() <= 1
    assert sorted(scores) == list(range(image.shape[0]))
    assert len(np.unique(whole)) > 1, "the test network should not predict a single class"


def test_tiles_in_y_x_agree_with_whole_slices(setup):
    image, config, network, normalization = setup
    whole = np.zeros(image.shape, np.uint8)
    _predict(image, config, network, normalization, proposal=whole, uncertainty=None)
    tiled = np.zeros(image.shape, np.uint8)
    # 96 x 96 pixel blocks: each slice is cut into overlapping tiles with a 32 px halo.
    _predict(
        image,
        config,
        network,
        normalization,
        proposal=tiled,
        uncertainty=None,
        block_voxels=96 * 96,
        tile_halo=32,
    )
    assert (tiled == whole).mean() > 0.97


def test_uncertainty_scores_follow_entropy(setup):
    image, config, network, normalization = setup
    proposal = np.zeros(image.shape, np.uint8)
    uncertainty = np.zeros(image.shape, np.uint8)
    scores = _predict(
        image, config, network, normalization, proposal=proposal, uncertainty=uncertainty, tta=True
    )
    assert set(np.unique(proposal)) <= {1, 2, 3}
    for z, score in scores.items():
        assert 0.0 <= score <= 1.0
        assert score == pytest.approx(uncertainty[z].mean() / 255, abs=0.01)


def test_single_slice_and_small_slices_are_predicted(setup):
    image, config, network, normalization = setup
    small = image[:, :20, :30]  # smaller than the network's window: padded inside
    proposal = np.zeros(small.shape, np.uint8)
    predictor = Predictor(
        network, config=config, normalization=normalization, device=torch.device("cpu")
    )
    scores = predictor.predict(small, proposal=proposal, slices=[2])
    assert list(scores) == [2]
    assert proposal[2].all() and not proposal[[0, 1, 3, 4]].any()


def test_tiled_planes_equal_whole_planes_and_crops_on_the_grid_equal_the_whole(setup):
    """In-plane tiles (halo cropped) and grid-aligned crops reproduce whole-plane labels.

    The test network (two downsamplings, factor 4) sees far less than the 32 px halo, and
    padding goes at the end, so the downsampling grid starts at pixel 0 in every case.
    """
    image, config, network, normalization = setup

    def labels(volume, **options):
        out = np.zeros(volume.shape, np.uint8)
        predictor = Predictor(
            network,
            config=config,
            normalization=normalization,
            device=torch.device("cpu"),
            options=PredictionOptions(**options),
        )
        predictor.predict(volume, proposal=out)
        return out

    whole = labels(image, window=1024)
    assert np.array_equal(labels(image, window=64, tile_halo=32), whole)
    # A crop that starts on the grid (multiples of 4) and needs padding (145 px wide) gives
    # the same labels 32 px away from its edges: the padding must not move the grid.
    crop = labels(image[:, 8:, 12:157], window=1024)
    assert np.array_equal(crop[:, 32:-32, 32:-32], whole[:, 40:-32, 44:125])
