"""The docks without training: keys, undo writing through, classes guard, error notifications."""

from __future__ import annotations

import numpy as np
import pytest
from napari.utils.key_bindings import KeyBinding

from gui_strokes import brush_stroke
from napari_cathode.core.project.store import Project, ReviewStatus
from napari_cathode.ml.events import ErrorEvent

pytestmark = pytest.mark.gui

PLUGIN = "napari-cathode"


@pytest.fixture
def project(tmp_path, acquisition_a_crop):
    """A project on the real crop: slice 1 holds truth, slice 3 a proposal (the real labels)."""
    image, labels = acquisition_a_crop
    truth = np.zeros_like(labels)
    truth[1] = labels[1]
    project = Project.create(tmp_path / "crop.cathode", image, truth=truth)
    project.write_proposal(3, labels[3], np.full(labels[3].shape, 0.25))
    project.set_slice_uncertainty([3], [0.25])
    project.set_review(3, ReviewStatus.PROPOSED)
    return project


def _open(viewer, name, project=None):
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    if project is not None:
        dock.session.open(project.path)
    return dock


def test_keys_accept_stroke_undo_and_review(make_napari_viewer, project, acquisition_a_crop):
    _, labels = acquisition_a_crop
    viewer = make_napari_viewer()
    review = _open(viewer, "Propose and review", project)
    truth = viewer.layers["crop truth"]
    for key in ("n", "Shift-N", "a", "r", "u"):
        assert KeyBinding.from_str(key) in viewer.keymap

    viewer.keymap[KeyBinding.from_str("u")](viewer)  # most uncertain: slice 3
    assert review.session.current_z() == 3
    viewer.keymap[KeyBinding.from_str("a")](viewer)  # accept
    np.testing.assert_array_equal(np.asarray(project.truth[3]), labels[3])

    # a brush stroke writes through to disk; undo reverts it on disk too
    label = 1 if labels[3][60, 80] != 1 else 2
    brush_stroke(truth, 3, [(60, 70), (60, 90)], label=label, size=5)
    assert Project.open(project.path, mode="r").truth[3][60, 80] == label
    truth.undo()
    np.testing.assert_array_equal(
        np.asarray(Project.open(project.path, mode="r").truth[3]), labels[3]
    )
    truth.undo()  # and the accept itself is one undo step
    assert not np.asarray(Project.open(project.path, mode="r").truth[3]).any()

    # accept never overwrites the human: paint first, then accept around it
    brush_stroke(truth, 3, [(60, 70), (60, 90)], label=label, size=5)
    painted = np.asarray(project.truth[3]) > 0
    review.accept()
    final = np.asarray(project.truth[3])
    assert final[60, 80] == label
    np.testing.assert_array_equal(final[~painted], labels[3][~painted])
    viewer.keymap[KeyBinding.from_str("r")](viewer)  # mark reviewed
    effort = int(np.count_nonzero(final != labels[3]))
    assert project.correction_effort()[3] == effort > 0
    assert project.review_status()[3] == ReviewStatus.REVIEWED
    assert review.queue[-1].z == 3  # reviewed slices go to the end of the queue

    # next / previous walk the queue, in the chosen order
    review.order.setCurrentText("in order")
    review.go_to(0)
    viewer.keymap[KeyBinding.from_str("n")](viewer)
    assert review.session.current_z() == 1
    viewer.keymap[KeyBinding.from_str("Shift-N")](viewer)
    assert review.session.current_z() == 0

    # closing the dock unbinds its keys
    viewer.window.remove_dock_widget(review.parent() or review)
    review.close_dock()
    assert KeyBinding.from_str("u") not in viewer.keymap


def test_classes_guard_voxel_size_and_shape_mismatch(make_napari_viewer, project):
    viewer = make_napari_viewer()
    dock = _open(viewer, "Project and classes", project)
    assert dock.classes_table.rowCount() == 3
    # removing "carbon-binder" (3) is refused: truth on slice 1 uses it
    dock.classes_table.selectRow(2)
    dock.classes_table.setCurrentCell(2, 0)
    dock.remove_class_row()
    assert not dock.apply_classes()
    assert [c.id for c in Project.open(project.path).classes] == [1, 2, 3]
    assert dock.classes_table.rowCount() == 3  # the table shows the project again
    # renaming and adding a class works and recolours the layers
    dock.classes_table.item(0, 1).setText("pore space")
    dock.add_class_row()
    assert dock.apply_classes()
    assert Project.open(project.path).classes[0].name == "pore space"
    assert len(Project.open(project.path).classes) == 4
    # voxel size goes to the project and every layer
    for spin, value in zip(dock.voxel, (0.06, 0.03, 0.03)):
        spin.setValue(value)
    dock.unit.setText("um")
    assert dock.apply_voxel_size()
    np.testing.assert_allclose(viewer.layers["crop truth"].scale, (0.06, 0.03, 0.03))
    assert Project.open(project.path).voxel_size == pytest.approx((0.06, 0.03, 0.03))
    # a labels layer of another shape cannot become the initial truth
    viewer.add_image(np.zeros((2, 8, 8), np.float32), name="other")
    viewer.add_labels(np.zeros((3, 8, 8), np.uint8), name="wrong")
    assert not dock.create_from_layer("other", truth_layer="wrong", path=project.path.parent / "x")
    assert not (project.path.parent / "x").exists()


def test_read_only_project_is_refused_with_advice(make_napari_viewer, project):
    viewer = make_napari_viewer()
    train = _open(viewer, "Train")
    review = _open(viewer, "Propose and review")
    train.session.open(Project.open(project.path, mode="r"))  # as for a folder we cannot write
    assert not viewer.layers["crop truth"].editable
    assert not train.start_round()
    assert "read-only" in train.last_error
    review.go_to(3)
    assert review.accept() == 0 and "read-only" in review.last_error
    assert not np.asarray(project.truth[3]).any()


def test_training_errors_become_notifications(make_napari_viewer, project, monkeypatch):
    viewer = make_napari_viewer()
    train = _open(viewer, "Train", project)
    review = _open(viewer, "Propose and review")
    # predicting with a model folder that is not one: a notification, not a crash
    review.model.setText(str(project.path / "nowhere"))
    assert review.predict("current slice")
    from qtpy.QtWidgets import QApplication

    while review.runner.running:
        QApplication.processEvents()
    assert "prediction failed" in review.last_error
    # a GPU out-of-memory error: advice, and the round restarts on the CPU
    from napari_cathode.ml.config import ModelConfig

    runner = train.training  # the session's round, rendered by the dock
    runner.config, runner.project_path = ModelConfig(device="cuda"), project.path
    restarted = []
    monkeypatch.setattr(runner, "start", lambda path, config, *args: restarted.append(config))
    runner._on_event(ErrorEvent("CUDA out of memory. Tried to allocate 2.00 GiB", kind="crash"))
    assert "ran out of memory" in train.last_error
    runner._over(None, False, 1)
    assert restarted and restarted[0].device == "cpu"
    runner._on_event(ErrorEvent("the training process stopped unexpectedly", kind="crash"))
    assert "training failed: the training process stopped" in train.last_error
