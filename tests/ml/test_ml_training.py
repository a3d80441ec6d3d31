"""Training rounds: the event stream, the validation rule, warm start, seeds, cancel."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from napari_cathode.core.errors import ModelError
from napari_cathode.ml import events as ev
from napari_cathode.ml.checkpoint import load_model
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.training import TrainingVolume, split_slices, train

torch.set_num_threads(2)
TINY = ModelConfig(
    channels=(8, 16, 32),
    patch_size=(64, 64),
    batch_size=2,
    steps=6,
    validate_every=3,
    device="cpu",
    seed=5,
)


def _run(volumes, tmp_path, name, **kwargs):
    return list(train(volumes, out_dir=tmp_path / name, **{"config": TINY, **kwargs}))


def test_events_and_model_folder(acquisition_a_crop, tmp_path):
    image, labels = acquisition_a_crop
    events = _run([TrainingVolume(image, labels, "A")], tmp_path, "m")
    kinds = [type(e) for e in events]
    assert kinds[0] is ev.StartedEvent and kinds[-1] is ev.DoneEvent
    assert [e.step for e in events if isinstance(e, ev.StepEvent)] == list(range(1, 7))
    validations = [e for e in events if isinstance(e, ev.ValidationEvent)]
    assert [v.step for v in validations] == [3, 6]
    assert set(validations[0].dice) == {"pore", "active material", "carbon-binder"}
    # 5 labelled slices: the 4th is held out (1 in 4 rule).
    assert events[0].train_slices == 4 and events[0].validation_slices == 1
    done = events[-1]
    best = max(validations, key=lambda v: v.mean_dice)
    assert done.best_step == best.step and done.mean_dice == pytest.approx(best.mean_dice)
    model = load_model(done.path)
    split = model.metadata["data_split"]
    assert split["validation"] == [{"volume": "A", "z": 3}]
    assert model.metadata["device"].startswith("cpu")
    assert len(model.metadata["metrics"]) == 2


def test_validation_rule_for_few_and_many_slices():
    few = split_slices([(0, 1), (0, 7)])
    assert not few.held_out and few.train == few.validation
    many = split_slices([(0, z) for z in range(8)])
    assert many.held_out and many.validation == ((0, 3), (0, 7)) and len(many.train) == 6


def test_sparse_scribbles_train_and_unlabeled_is_not_a_class(acquisition_a_crop, tmp_path):
    image, labels = acquisition_a_crop
    sparse = np.zeros_like(labels)
    sparse[1, ::7, ::5] = labels[1, ::7, ::5]  # a few labelled voxels only
    events = _run([TrainingVolume(image, sparse, "A")], tmp_path, "sparse")
    assert isinstance(events[-1], ev.DoneEvent)
    assert events[0].train_slices == 1


def test_no_ground_truth_is_a_clear_error(acquisition_a_crop, tmp_path):
    image, labels = acquisition_a_crop
    with pytest.raises(ModelError, match="no ground truth"):
        _run([TrainingVolume(image, np.zeros_like(labels), "A")], tmp_path, "none")


def test_same_seed_gives_the_same_losses(acquisition_a_crop, tmp_path):
    image, labels = acquisition_a_crop
    volume = TrainingVolume(image, labels, "A", slices=(0, 2))
    losses = [
        [e.loss for e in _run([volume], tmp_path, name) if isinstance(e, ev.StepEvent)]
        for name in ("a", "b")
    ]
    assert losses[0] == losses[1]


def test_warm_start_changes_the_start_point(acquisition_a_crop, tmp_path):
    image, labels = acquisition_a_crop
    volume = TrainingVolume(image, labels, "A", slices=(0, 1, 2))
    first = _run([volume], tmp_path, "first", config=TINY.replace(steps=30, validate_every=30))[-1]
    one_step = TINY.replace(steps=1, validate_every=1, learning_rate=1e-7)
    warm = _run([volume], tmp_path, "warm", config=one_step, init_model=first.path)
    cold = _run([volume], tmp_path, "cold", config=one_step)
    assert warm[0].warm_start == first.path and cold[0].warm_start is None
    warm_loss, cold_loss = (
        next(e.loss for e in run if isinstance(e, ev.StepEvent)) for run in (warm, cold)
    )
    assert warm_loss < cold_loss
    start = load_model(first.path).network.state_dict()
    after = load_model(warm[-1].path).network.state_dict()
    name = next(k for k in start if k.endswith("weight"))
    assert torch.allclose(start[name], after[name], atol=1e-4)


def test_cancel_stops_before_the_next_step_and_writes_no_model(acquisition_a_crop, tmp_path):
    image, labels = acquisition_a_crop
    cancel = threading.Event()
    events = []
    for event in train(
        [TrainingVolume(image, labels, "A")],
        config=TINY.replace(steps=50),
        out_dir=tmp_path / "c",
        cancel=cancel,
    ):
        events.append(event)
        if isinstance(event, ev.StepEvent) and event.step == 2:
            cancel.set()
    assert isinstance(events[-1], ev.CancelledEvent) and events[-1].step == 2
    assert not (tmp_path / "c" / "model.json").exists()


def test_3d_patch_model_trains_and_predicts(acquisition_a_crop, tmp_path):
    from napari_cathode.jobs.prediction_job import predict_array

    image, labels = acquisition_a_crop
    config = TINY.replace(spatial_dims=3, patch_size=(4, 32, 32), steps=2, validate_every=2)
    events = _run([TrainingVolume(image, labels, "A")], tmp_path, "3d", config=config)
    assert isinstance(events[-1], ev.DoneEvent)
    assert events[0].validation_slices == 1  # slice 3's truth is masked out of the 3D block
    proposal, scores = predict_array(events[-1].path, image, device="cpu")
    assert proposal.all() and set(np.unique(proposal)) <= {1, 2, 3} and len(scores) == 5


def test_non_contiguous_class_ids_train_and_validate(acquisition_a_crop, tmp_path):
    """Classes 1, 2, 5 (ids are editable in the Project dock): a round trains on id 5 too."""
    from napari_cathode.core.classes import SegmentationClass

    image, labels = acquisition_a_crop
    labels = np.where(labels == 3, 5, labels).astype(np.uint8)
    classes = (
        SegmentationClass(1, "pore", "#3b82f6"),
        SegmentationClass(2, "active material", "#f59e0b"),
        SegmentationClass(5, "carbon-binder", "#10b981"),
    )
    events = _run(
        [TrainingVolume(image, labels, "A")], tmp_path, "m", config=TINY.replace(classes=classes)
    )
    assert isinstance(events[-1], ev.DoneEvent)
    validation = [e for e in events if isinstance(e, ev.ValidationEvent)][-1]
    assert validation.dice["carbon-binder"] > 0
