"""The ilastik-style forest peer on a small crop of real acquisition A."""

from __future__ import annotations

import numpy as np
import pytest

from napari_cathode.core.errors import ModelError
from napari_cathode.ml.forest import ForestConfig, ForestSegmenter

FAST = ForestConfig(n_estimators=10, max_voxels=5_000)


def _dice(pred, truth, cid):
    a, b = pred == cid, truth == cid
    return 2 * np.count_nonzero(a & b) / max(1, np.count_nonzero(a) + np.count_nonzero(b))


def test_forest_learns_from_one_slice_and_predicts_others(acquisition_a_crop):
    image, labels = acquisition_a_crop
    forest = ForestSegmenter(config=FAST).fit([image], [labels], [[0]])
    assert forest.n_fit_voxels == 5_000 < forest.n_labelled_voxels  # subsampled, said so
    proba = forest.predict_proba(image, [2, 3])
    assert proba.shape == (2, 3, *image.shape[1:]) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    pred = forest.predict(image, 3)
    assert pred.shape == image.shape[1:]
    # Active material (88 % of the crop) is easy; pore (9 %) must be far above chance. Binder
    # is under 3 % of this crop: too rare for a meaningful bound at this size.
    dice = [_dice(pred, labels[3], c) for c in (1, 2)]
    assert dice[0] > 0.5 and dice[1] > 0.9, dice


def test_forest_ignores_unlabeled_and_keeps_class_order(acquisition_a_crop):
    image, labels = acquisition_a_crop
    sparse = np.zeros_like(labels)
    # Only pore and binder strokes: active material (id 2) is never labelled.
    for cid in (1, 3):
        ys, xs = np.nonzero(labels[1] == cid)
        sparse[1, ys[:300], xs[:300]] = cid
    forest = ForestSegmenter(config=FAST).fit([image], [sparse])
    assert forest.n_labelled_voxels == forest.n_fit_voxels == 600
    proba = forest.predict_proba(image, 1)
    assert np.all(proba[1] == 0)  # the unseen class keeps its channel, with probability 0
    assert set(np.unique(forest.predict(image, 1))) <= {1, 3}


def test_forest_3d_features_and_errors(acquisition_a_crop):
    image, labels = acquisition_a_crop
    forest = ForestSegmenter(config=ForestConfig(n_estimators=5, max_voxels=2_000, three_d=True))
    forest.fit([image], [labels], [[1]])
    assert forest.predict_proba(image, 2).shape == (3, *image.shape[1:])
    with pytest.raises(ModelError, match="labelled voxels"):
        ForestSegmenter(config=FAST).fit([image], [np.zeros_like(labels)])
    bad = labels.copy()
    bad[0, 0, 0] = 9
    with pytest.raises(ModelError, match=r"\[9\]"):
        ForestSegmenter(config=ForestConfig(n_estimators=2, max_voxels=10**9)).fit(
            [image], [bad], [[0]]
        )
