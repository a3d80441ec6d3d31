"""Dice pooled over labelled voxels (hand-computed values) and the slice-picking strategies."""

from __future__ import annotations

import numpy as np
import pytest

from napari_cathode.core.classes import DEFAULT_CLASSES
from napari_cathode.core.errors import CathodeError
from napari_cathode.core.metrics import DiceCounts, dice_scores, mean_dice
from napari_cathode.core.strategies import pick_slices


def test_dice_against_hand_computed_values():
    truth = np.array([[0, 0, 1, 1], [2, 2, 2, 3]])
    prediction = np.array([[3, 1, 1, 2], [2, 2, 3, 3]])
    # Unlabeled voxels (truth 0) are ignored, so the predicted 3 and 1 there do not count.
    # pore: T={(0,2),(0,3)}, P∩labelled={(0,2)}, I=1 -> 2*1/(2+1)
    # active: T=3 voxels, P∩labelled={(0,3),(1,0),(1,1)}, I=2 -> 2*2/(3+3)
    # binder: T={(1,3)}, P∩labelled={(1,2),(1,3)}, I=1 -> 2*1/(1+2)
    scores = dice_scores(truth, prediction, DEFAULT_CLASSES)
    assert scores == pytest.approx(
        {"pore": 2 / 3, "active material": 4 / 6, "carbon-binder": 2 / 3}
    )
    assert mean_dice(scores) == pytest.approx((2 / 3 + 4 / 6 + 2 / 3) / 3)


def test_dice_is_pooled_over_slices_not_averaged():
    truth = np.array([[1, 1, 1, 1], [1, 0, 0, 0]])
    prediction = np.array([[1, 1, 1, 1], [2, 0, 0, 0]])
    pooled = DiceCounts().add(truth[0], prediction[0]).add(truth[1], prediction[1])
    assert pooled.scores(DEFAULT_CLASSES)["pore"] == pytest.approx(2 * 4 / (5 + 4))
    assert dice_scores(truth, prediction, DEFAULT_CLASSES) == pooled.scores(DEFAULT_CLASSES)


def test_absent_class_has_no_score_and_is_left_out_of_the_mean():
    scores = dice_scores(np.array([1, 1, 2]), np.array([1, 1, 2]), DEFAULT_CLASSES)
    assert scores["carbon-binder"] is None and mean_dice(scores) == 1.0
    assert mean_dice({"pore": None}) is None


def test_spread_strategy_fills_the_largest_gaps():
    assert pick_slices("spread", range(100), 2) == [25, 75]
    assert pick_slices("spread", range(100), 1, reviewed=[10, 60]) == [99]
    assert pick_slices("spread", [3, 4, 5], 5, reviewed=[4]) == [3, 5]


def test_uncertainty_strategy_takes_the_least_certain_unreviewed_slices():
    scores = {0: 0.1, 1: 0.9, 2: 0.5, 3: 0.95}
    assert pick_slices("uncertainty", range(4), 2, reviewed=[3], uncertainty=scores) == [1, 2]


def test_random_strategy_is_seeded_and_never_repeats_reviewed():
    picks = [
        pick_slices("random", range(50), 5, reviewed=[1, 2], rng=np.random.default_rng(7))
        for _ in "ab"
    ]
    assert picks[0] == picks[1] and not {1, 2} & set(picks[0]) and len(set(picks[0])) == 5


@pytest.mark.parametrize("argument", ["truth", "prediction"])
def test_dice_refuses_fractional_labels_and_names_the_argument(argument):
    blocks = {"truth": np.array([1.0, 2.0, 2.0]), "prediction": np.array([1.0, 2.0, 1.0])}
    blocks[argument] = np.array([1.0, 1.7, 2.0])
    with pytest.raises(CathodeError, match=rf"{argument} labels .*1\.7.*whole numbers"):
        DiceCounts().add(blocks["truth"], blocks["prediction"])
    blocks[argument] = np.array([1.0, np.nan, 2.0])
    with pytest.raises(CathodeError, match=f"{argument} labels"):
        DiceCounts().add(blocks["truth"], blocks["prediction"])


def test_dice_accepts_float_labels_that_hold_whole_numbers():
    truth = np.array([[0, 0, 1, 1], [2, 2, 2, 3]])
    prediction = np.array([[3, 1, 1, 2], [2, 2, 3, 3]])
    as_float = dice_scores(truth.astype(np.float32), prediction.astype(np.float64), DEFAULT_CLASSES)
    assert as_float == dice_scores(truth, prediction, DEFAULT_CLASSES)
    assert dice_scores(truth > 0, prediction > 0, DEFAULT_CLASSES)["pore"] == pytest.approx(1.0)


def test_uncertainty_strategy_ranks_nan_scores_last():
    nan = float("nan")
    scores = {0: nan, 1: 0.2, 2: nan, 3: 0.9, 4: 0.5, 5: nan}
    for _ in range(3):  # NaN must not make the order depend on where it sits
        assert pick_slices("uncertainty", range(6), 3, uncertainty=scores) == [1, 3, 4]
        assert pick_slices("uncertainty", range(6), 4, uncertainty=scores) == [0, 1, 3, 4]
        assert pick_slices("uncertainty", [5, 4, 3, 2, 1, 0], 2, uncertainty=scores) == [3, 4]
        scores = dict(reversed(list(scores.items())))
    # no slice scored at all: as without scores, spread out
    only_nan = dict.fromkeys(range(100), nan)
    assert pick_slices("uncertainty", range(100), 2, uncertainty=only_nan) == [25, 75]
