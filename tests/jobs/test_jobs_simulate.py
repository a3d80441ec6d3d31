"""The simulated review loop: rounds.json fields, correction effort and Dice bookkeeping."""

from __future__ import annotations

import json

import numpy as np
import torch

from napari_cathode.core.metrics import dice_scores
from napari_cathode.jobs.prediction_job import predict_array
from napari_cathode.jobs.simulate import SimulationConfig, simulate
from napari_cathode.ml.config import ModelConfig

torch.set_num_threads(2)
TINY = ModelConfig(
    channels=(8, 16, 32),
    patch_size=(64, 64),
    batch_size=2,
    steps=3,
    validate_every=3,
    device="cpu",
    seed=0,
)


def test_simulate_writes_rounds_with_effort_and_dice_on_unreviewed_slices(
    acquisition_a_crop, tmp_path
):
    image, labels = acquisition_a_crop
    labels = labels.copy()
    labels[4] = 0  # an unlabelled slice is never picked nor scored
    result = simulate(
        image,
        labels,
        out_dir=tmp_path,
        model_config=TINY,
        config=SimulationConfig(initial=2, per_round=1, rounds=3, strategy="uncertainty"),
    )
    on_disk = json.loads((tmp_path / "rounds.json").read_text())
    assert on_disk == result
    assert on_disk["device"] == "cpu" and on_disk["config"]["strategy"] == "uncertainty"
    rounds = on_disk["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2]
    for r in rounds:
        assert set(r) >= {
            "round",
            "reviewed_slices",
            "corrected_voxels",
            "train_seconds",
            "predict_seconds",
            "dice",
            "mean_dice",
        }
    assert len(rounds[0]["reviewed_slices"]) == 2 and len(rounds[1]["reviewed_slices"]) == 3
    assert 4 not in rounds[-1]["reviewed_slices"] and len(rounds[-1]["reviewed_slices"]) == 4
    # Round 0: the reviewer labelled every labelled voxel of the initial slices.
    assert rounds[0]["corrected_voxels"] == int(
        np.count_nonzero(labels[rounds[0]["reviewed_slices"]])
    )

    # Round 1's effort = labelled voxels where model 0's proposal differed from the labels.
    added = rounds[1]["added_slices"]
    proposal, _ = predict_array(tmp_path / "rounds" / "0000", image, slices=added, device="cpu")
    expected = sum(
        int(np.count_nonzero((proposal[z] != labels[z]) & (labels[z] > 0))) for z in added
    )
    assert rounds[1]["corrected_voxels"] == expected

    # Round 1's Dice = model 1 on the slices not reviewed by the end of round 1 (pooled).
    remaining = [z for z in range(4) if z not in rounds[1]["reviewed_slices"]]
    proposal, _ = predict_array(tmp_path / "rounds" / "0001", image, slices=remaining, device="cpu")
    dice = dice_scores(labels[remaining], proposal[remaining], TINY.classes)
    assert rounds[1]["dice"] == dice
    # Everything labelled is reviewed after round 2: nothing left to score.
    assert rounds[2]["mean_dice"] is None
