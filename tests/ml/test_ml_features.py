"""Multi-scale input features: channel count, training regions and prediction agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_cathode.core.errors import ModelError
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.features import plane_features
from napari_cathode.ml.networks import build_network
from napari_cathode.ml.normalization import fit_normalization
from napari_cathode.ml.prediction import PredictionOptions, Predictor
from napari_cathode.ml.sampling import extract_regions

torch.set_num_threads(2)
CONFIG = ModelConfig(channels=(8, 16, 32), patch_size=(64, 64), input_features="multiscale", seed=3)


def test_multiscale_features_add_intensity_and_edges_per_sigma(acquisition_a_crop):
    image, _ = acquisition_a_crop
    normalization = fit_normalization(image)
    planes = normalization.apply(image[:1])
    features = plane_features(planes, feature_set="multiscale", sigmas=(1.0, 16.0))
    # the slice itself, then (intensity, edges) at sigmas 1, 2, 4, 8, 16
    assert features.shape == (11, *image.shape[1:]) == (CONFIG.in_channels, *image.shape[1:])
    np.testing.assert_array_equal(features[0], planes[0])
    assert features[1:].std(axis=(1, 2)).min() > 0  # none of them is blank
    assert ModelConfig(context_slices=3, input_features="multiscale").in_channels == 33
    with pytest.raises(ModelError, match="2D models only"):
        ModelConfig(spatial_dims=3, patch_size=(16, 64, 64), input_features="multiscale")


def test_training_regions_and_prediction_see_the_same_inputs(acquisition_a_crop):
    image, labels = acquisition_a_crop
    normalization = fit_normalization(image)
    (region,) = extract_regions(image, labels, [2], config=CONFIG, normalization=normalization)
    network = build_network(CONFIG).eval()
    predictor = Predictor(
        network,
        config=CONFIG,
        normalization=normalization,
        device=torch.device("cpu"),
        options=PredictionOptions(window=1024),
    )
    probs = predictor.probabilities(image, 2, 3, slice(None), slice(None))[:, 0]
    with torch.inference_mode():
        # the 128 x 160 crop is divisible by 4, so the whole slice is one unpadded window
        direct = torch.softmax(network(torch.from_numpy(region.image)[None]), dim=1)[0]
    torch.testing.assert_close(probs, direct, atol=1e-5, rtol=1e-4)


def test_features_make_grey_scale_irrelevant(acquisition_a_crop):
    # The same sample as float and as a 16-bit scan: normalisation then features match.
    image, _ = acquisition_a_crop
    as_16bit = np.round((image - image.min()) / np.ptp(image) * 60000 + 2000).astype(np.uint16)
    a = plane_features(
        fit_normalization(image).apply(image[:1]), feature_set="multiscale", sigmas=(1.0, 16.0)
    )
    b = plane_features(
        fit_normalization(as_16bit).apply(as_16bit[:1]),
        feature_set="multiscale",
        sigmas=(1.0, 16.0),
    )
    assert np.abs(a - b).max() < 0.01
