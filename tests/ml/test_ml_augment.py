"""Training augmentation: the histogram warp keeps the order of grey values."""

from __future__ import annotations

import numpy as np
import pytest

from napari_cathode.core.errors import ModelError
from napari_cathode.ml.augment import Augmenter
from napari_cathode.ml.config import ModelConfig


def test_histogram_warp_is_monotone_and_changes_the_spacing_of_grey_values():
    config = ModelConfig(
        patch_size=(32, 32), histogram_warp=1.0, intensity_jitter=0.0, augmentation=True
    )
    augment = Augmenter(config, seed=3)
    ramp = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(1, 1, 32, 32)
    truth = np.ones((1, 32, 32), np.int64)
    warped, _ = augment(ramp, truth)
    # flips/rotations move pixels; sort to compare the grey-value mapping itself
    values = np.sort(warped.ravel())
    assert np.all(np.diff(values) >= -1e-6), "the warp must keep the order of grey values"
    assert not np.allclose(values, ramp.ravel(), atol=1e-3), "the warp must change the spacing"


def test_histogram_warp_probability_is_validated():
    with pytest.raises(ModelError, match="histogram_warp"):
        ModelConfig(histogram_warp=1.5)
