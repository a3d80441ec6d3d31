"""Self-training on pseudo-labels: only unreviewed slices, never written into the truth."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from napari_cathode.core.errors import ModelError
from napari_cathode.core.project.store import Project, ReviewStatus
from napari_cathode.jobs.training_runs import ProjectTrainingRequest, run_training
from napari_cathode.ml import events as ev
from napari_cathode.ml import pseudo_labels
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.training import TrainingVolume, train

torch.set_num_threads(2)
PSEUDO = ModelConfig(
    channels=(8, 16, 32),
    patch_size=(64, 64),
    batch_size=2,
    steps=3,
    validate_every=3,
    forest_trees=5,
    forest_voxels=3_000,
    pseudo_label_weight=0.5,
    pseudo_label_confidence=0.4,
    pseudo_label_steps=2,
    device="cpu",
    seed=1,
)


class RecordingTruth:
    """Truth array that records which slices were read (the simulated reviewer's knowledge)."""

    def __init__(self, labels: np.ndarray) -> None:
        self.labels, self.shape, self.dtype, self.read = labels, labels.shape, labels.dtype, set()

    def __getitem__(self, index):
        z = index[0] if isinstance(index, tuple) else index
        self.read.update(range(self.shape[0])[z] if isinstance(z, slice) else [int(z)])
        return self.labels[index]


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_project_round_with_pseudo_labels_leaves_truth_and_review_untouched(
    acquisition_a_crop, tmp_path
):
    image, labels = acquisition_a_crop
    truth = np.zeros_like(labels)
    truth[[0, 2]] = labels[[0, 2]]
    project = Project.create(tmp_path / "a.cathode", image, truth=truth)
    project.set_review([0, 2], ReviewStatus.REVIEWED, round=1, correction_effort=[10, 20])
    truth_dir = project.path / "labels" / "truth"
    before = _files(truth_dir)
    review_before = (
        project.review_status().copy(),
        project.reviewed_round().copy(),
        project.correction_effort().copy(),
    )

    events = list(run_training(ProjectTrainingRequest(str(project.path), config=PSEUDO)))

    assert isinstance(events[-1], ev.DoneEvent)
    assert events[0].steps == 3 + 2  # the progress bar knows about the student phase
    assert [e.step for e in events if isinstance(e, ev.StepEvent)] == [1, 2, 3, 4, 5]
    record = json.loads((project.latest_round().path / "model.json").read_text())
    summary = record["pseudo_labels"]
    assert summary["slices"] == {project.name: [1, 3, 4]}  # the unreviewed slices only
    assert summary["voxels"] > 0 and summary["adopted"] and summary["steps"] == 2
    # Nothing of the pseudo-labels reached the project's truth or its review state.
    reopened = Project.open(project.path)
    assert _files(truth_dir) == before
    np.testing.assert_array_equal(np.asarray(reopened.truth[:]), truth)
    for now, then in zip(
        (reopened.review_status(), reopened.reviewed_round(), reopened.correction_effort()),
        review_before,
    ):
        np.testing.assert_array_equal(now, then)


def test_pseudo_labels_come_only_from_unreviewed_slices(acquisition_a_crop, tmp_path, monkeypatch):
    image, labels = acquisition_a_crop
    truth = RecordingTruth(labels)  # every slice is labelled, but only 0 and 3 are "reviewed"
    seen = []
    original = pseudo_labels.extract_regions

    def spy(image, pseudo, slices, **kwargs):
        seen.extend(int(z) for z in slices)
        assert np.isin(pseudo[slices[0]], [0, 1, 2, 3]).all()
        return original(image, pseudo, slices, **kwargs)

    monkeypatch.setattr(pseudo_labels, "extract_regions", spy)
    volume = TrainingVolume(image, truth, "A", slices=(0, 3))
    events = list(train([volume], config=PSEUDO, out_dir=tmp_path / "m"))

    assert isinstance(events[-1], ev.DoneEvent)
    assert seen and set(seen) <= {1, 2, 4}
    assert truth.read <= {0, 3}  # the unreviewed slices' truth is never read


def test_unreviewed_slices_are_spread_and_exclude_truth_slices():
    volume = TrainingVolume(np.zeros((20, 4, 4), np.float32), np.zeros((20, 4, 4), np.uint8))
    picked = pseudo_labels.unreviewed_slices(volume, [0, 5, 10], limit=4)
    assert picked == [1, 7, 14, 19]
    assert pseudo_labels.unreviewed_slices(volume, range(20), limit=4) == []


def test_pseudo_label_settings_are_checked():
    with pytest.raises(ModelError, match="pseudo_label_weight"):
        ModelConfig(pseudo_label_weight=2.0)
    with pytest.raises(ModelError, match="pseudo_label_confidence"):
        ModelConfig(pseudo_label_confidence=0.0)
    assert not pseudo_labels.enabled(ModelConfig())


def test_train_and_simulate_take_pseudo_labels_option():
    import argparse

    from napari_cathode.cli.model_options import add_model_options, model_config_from_args

    parser = argparse.ArgumentParser()
    add_model_options(parser)
    config = model_config_from_args(parser.parse_args(["--pseudo-labels", "0.5"]))
    assert config.pseudo_label_weight == 0.5 and pseudo_labels.enabled(config)
    assert model_config_from_args(parser.parse_args([])).pseudo_label_weight == 0.0


def test_class_share_keeps_each_predicted_class_even_below_the_confidence():
    top = np.array([0.95, 0.99, 0.5, 0.6, 0.7, 0.41])
    best = np.array([0, 0, 2, 2, 2, 1])
    plain = pseudo_labels.class_thresholds(top, best, 3, ModelConfig())
    assert not (top >= plain[best])[best == 2].any()  # one threshold: no binder at all
    share = ModelConfig(pseudo_label_class_share=0.34)
    balanced = pseudo_labels.class_thresholds(top, best, 3, share)
    kept = top >= balanced[best]
    assert kept.tolist() == [True, True, False, False, True, True]
