"""Review rules without a viewer: accept never overwrites the human, effort, queue, round table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_cathode.core.errors import CathodeError
from napari_cathode.core.project.review_actions import (
    accept_proposal,
    correction_effort,
    most_uncertain,
    neighbour_in_queue,
    review_queue,
)
from napari_cathode.core.project.round_table import copy_model, round_rows, write_round_table_csv
from napari_cathode.core.project.store import Project, ReviewStatus


def test_accept_fills_only_empty_truth_on_real_labels(acquisition_a_crop):
    _, labels = acquisition_a_crop
    proposal = labels[2]
    rng = np.random.default_rng(0)
    truth = np.zeros_like(proposal)
    scribble = rng.random(proposal.shape) < 0.1
    truth[scribble] = (proposal[scribble] % 3) + 1  # the human disagrees where they drew

    accepted = accept_proposal(truth, proposal)

    np.testing.assert_array_equal(accepted[scribble], truth[scribble])  # human kept
    np.testing.assert_array_equal(accepted[~scribble], proposal[~scribble])
    assert truth[~scribble].max() == 0  # the input is not modified
    # effort: every scribbled voxel differs from the proposal, accepted voxels do not
    assert correction_effort(proposal, accepted) == int(scribble.sum())


def test_correction_effort_counts_relabelled_and_hand_drawn_voxels():
    proposal = np.array([[1, 1, 2, 0], [3, 3, 3, 0]], np.uint8)
    truth = np.array([[1, 2, 2, 0], [0, 3, 1, 2]], np.uint8)
    # relabelled (1->2, 3->1) and drawn where the model proposed nothing (0->2); erased
    # voxels are unlabeled, not corrections
    assert correction_effort(proposal, truth) == 3
    assert correction_effort(np.zeros_like(truth), truth) == np.count_nonzero(truth)
    with pytest.raises(CathodeError, match="differ in shape"):
        correction_effort(proposal, truth[:, :2])


def test_queue_ranks_unreviewed_by_uncertainty_then_reviewed_last():
    status = [ReviewStatus.PROPOSED, ReviewStatus.REVIEWED, ReviewStatus.PROPOSED, 0, 1]
    uncertainty = [0.2, 0.9, 0.7, np.nan, 0.4]
    queue = review_queue(status, uncertainty, reviewed_round=[-1, 1, -1, -1, -1])
    assert [item.z for item in queue] == [2, 4, 0, 3, 1]
    assert queue[-1].status == ReviewStatus.REVIEWED and queue[-1].round == 1
    assert most_uncertain(queue) == 2  # the reviewed slice 1 is more uncertain but done
    assert neighbour_in_queue(queue, 2, +1) == 4
    assert neighbour_in_queue(queue, 2, -1) is None
    assert neighbour_in_queue(queue, 99, -1) == 1
    in_order = review_queue(status, uncertainty, order="in order")
    assert [item.z for item in in_order] == [0, 2, 3, 4, 1]


def test_spread_queue_starts_far_from_reviewed_slices():
    status = np.zeros(9, int)
    status[0] = ReviewStatus.REVIEWED
    queue = review_queue(status, np.full(9, np.nan), order="spread")
    order = [item.z for item in queue]
    assert order[0] == 8 and order[-1] == 0 and sorted(order) == list(range(9))
    assert order[1] == 4  # then the middle of the gap
    with pytest.raises(CathodeError, match="queue order"):
        review_queue(status, np.full(9, np.nan), order="best")


def test_round_table_reads_rounds_and_exports(tmp_path, acquisition_a_crop):
    image, labels = acquisition_a_crop
    truth = np.zeros_like(labels)
    truth[1] = labels[1]
    project = Project.create(tmp_path / "a.cathode", image, truth=truth)
    project.set_review(1, ReviewStatus.REVIEWED, correction_effort=1234)
    metadata = {
        "truth_slices": [1],
        "correction_effort": 1234,
        "timings": {"train_seconds": 12.5},
        "dice": {"pore": 0.5, "active material": 0.9, "carbon-binder": None},
        "mean_dice": 0.7,
        "device": "cpu (1 threads)",
    }
    with project.new_round(metadata) as folder:
        (folder / "model.safetensors").write_bytes(b"weights")

    (row,) = round_rows(project)
    assert (row.round, row.truth_slices, row.correction_effort) == (1, 1, 1234)
    assert row.truth_voxels == np.count_nonzero(labels[1])  # counted from the truth on disk
    assert row.train_seconds == 12.5 and row.dice["pore"] == 0.5

    csv = write_round_table_csv([row], tmp_path / "rounds.csv")
    table = pd.read_csv(csv)
    assert table["correction_effort"].tolist() == [1234]
    assert table["dice active material"].tolist() == [0.9]

    copied = copy_model(project.round_dir(1), tmp_path / "model")
    assert (copied / "model.safetensors").read_bytes() == b"weights"
    assert (copied / "model.json").is_file()
    with pytest.raises(CathodeError, match="exists"):
        copy_model(project.round_dir(1), tmp_path / "model")
