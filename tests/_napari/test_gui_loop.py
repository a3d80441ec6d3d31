"""The whole loop in napari on the real acquisition A: project, propose, accept, correct with the
brush, train two rounds in the background, refresh proposals, export, reopen everything."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile

from gui_strokes import brush_stroke
from napari_cathode.core.io.export import merge_labels
from napari_cathode.core.io.sample_data import load_acquisition_a
from napari_cathode.core.project.store import Project, ReviewStatus
from napari_cathode.ml.config import ModelConfig

pytestmark = pytest.mark.gui

PLUGIN = "napari-cathode"
#: A tiny, fast round: the loop is under test here, not the model's quality.
SMALL = ModelConfig(
    channels=(8, 16, 32), patch_size=(64, 64), batch_size=4, steps=16, validate_every=8
)
WAIT = 120_000  # ms: generous for a shared 2-core machine; a run takes seconds


def _docks(viewer):
    docks = {}
    for name in ("Project and classes", "Propose and review", "Train", "Export"):
        _, docks[name] = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return docks


def _wait_training(qtbot, train):
    qtbot.waitUntil(lambda: not train.running, timeout=WAIT)
    qtbot.waitUntil(lambda: not train.runner.running, timeout=WAIT)  # proposals refreshed


def test_whole_loop_on_acquisition_a(make_napari_viewer, qtbot, tmp_path):
    image, real_truth = load_acquisition_a()
    image, real_truth = image[:, :192, :256].copy(), real_truth[:, :192, :256].copy()
    viewer = make_napari_viewer()
    viewer.add_image(image, name="acquisition A")
    docks = _docks(viewer)
    project_dock, review = docks["Project and classes"], docks["Propose and review"]
    train, export = docks["Train"], docks["Export"]
    session = project_dock.session
    assert review.session is session and train.session is session

    # 1. new project from the image layer (copied in a worker thread)
    assert project_dock.create_from_layer("acquisition A", path=tmp_path / "a.cathode")
    qtbot.waitUntil(lambda: session.project is not None, timeout=WAIT)
    project = session.project
    names = [layer.name for layer in viewer.layers]
    assert names[-4:] == ["a", "a uncertainty", "a proposal", "a truth"]
    truth_layer = viewer.layers["a truth"]
    assert truth_layer.editable and viewer.layers.selection.active is truth_layer

    # 2. training with no truth is refused with what to do
    assert not train.start_round(config=SMALL)
    assert "no ground truth yet" in train.last_error

    # 3. the human labels slice 0 (the real truth) and marks it reviewed
    review.go_to(0)
    assert session.current_z() == 0
    ys, xs = np.nonzero(real_truth[0])
    truth_layer.data_setitem((np.zeros_like(ys), ys, xs), real_truth[0][ys, xs])
    assert review.mark_reviewed() == np.count_nonzero(real_truth[0])  # all drawn by hand

    # 4. round 1 in the background; a second start while it runs is refused
    assert train.start_round(config=SMALL)
    assert not train.start_round(config=SMALL)
    assert "already running" in train.last_error
    _wait_training(qtbot, train)
    assert len(project.rounds()) == 1, train.last_error
    status = project.review_status()
    assert status[0] == ReviewStatus.REVIEWED
    assert (status[1:] == ReviewStatus.PROPOSED).all()  # refreshed when the round ended
    assert review.table.rowCount() == 5

    # 5. propose & review: most uncertain slice, accept, brush correction, mark reviewed
    z = review.go_to_most_uncertain()
    assert z in range(1, 5) and session.current_z() == z
    proposal = np.asarray(project.proposal[z])
    assert review.accept() == np.count_nonzero(proposal)
    np.testing.assert_array_equal(
        np.asarray(Project.open(project.path, mode="r").truth[z]), proposal
    )
    corrected_label = 3 if proposal[100, 60] != 3 else 1
    brush_stroke(truth_layer, z, [(100, 40), (100, 80)], label=corrected_label, size=9)
    on_disk = np.asarray(Project.open(project.path, mode="r").truth[z])
    assert on_disk[100, 60] == corrected_label  # the stroke is saved as painted
    effort = review.mark_reviewed()
    expected = int(np.count_nonzero((on_disk > 0) & (on_disk != proposal)))
    assert effort == expected > 0
    before = project.slice_uncertainty()

    # 6. round 2, warm from round 1; the unreviewed slices get new proposals
    assert train.start_round(config=SMALL)
    _wait_training(qtbot, train)
    rounds = project.rounds()
    assert [r.index for r in rounds] == [1, 2], train.last_error
    assert rounds[1].metadata["warm_start"].endswith("0001")
    unreviewed = [int(i) for i in np.flatnonzero(project.review_status() != ReviewStatus.REVIEWED)]
    assert len(unreviewed) == 3
    after = project.slice_uncertainty()
    assert not np.allclose(after[unreviewed], before[unreviewed])  # predicted again
    qtbot.waitUntil(lambda: train.rounds.rowCount() == 2, timeout=WAIT)
    efforts = [row.correction_effort for row in train.rounds.rows]
    assert efforts == [np.count_nonzero(real_truth[0]), effort]
    assert all(e > 0 for e in efforts)
    assert train.rounds.item(1, 2).text() == str(effort)
    assert len(train.plot.losses) == SMALL.steps and train.plot.dice

    # 7. export labels (OME-Zarr, TIFF), the model and the round table
    out = tmp_path / "export"
    out.mkdir()
    assert export.export_ome_zarr(out / "a.ome.zarr")
    qtbot.waitUntil(lambda: not export.busy, timeout=WAIT)
    assert export.export_tiff(out / "a_labels.tif")
    qtbot.waitUntil(lambda: not export.busy, timeout=WAIT)
    model = export.export_model(out / "model", round_index=2)
    table = export.export_round_table(out / "rounds.csv")
    assert export.last_error == ""
    merged = merge_labels(project.truth, project.proposal).compute()
    np.testing.assert_array_equal(tifffile.imread(out / "a_labels.tif"), merged)
    assert pd.read_csv(table)["correction_effort"].tolist() == efforts
    assert (model / "model.safetensors").is_file()

    # 8. reopen the OME-Zarr and the project (as a drop on napari would) in a fresh viewer
    again = make_napari_viewer()
    layers = again.open(str(out / "a.ome.zarr"), plugin=PLUGIN)
    labels = [layer for layer in layers if layer.name.endswith("segmentation")]
    np.testing.assert_array_equal(np.asarray(labels[0].data), merged)
    np.testing.assert_allclose(np.asarray(layers[0].data), image)
    again.open(str(project.path), plugin=PLUGIN)
    _, review_again = again.window.add_plugin_dock_widget(PLUGIN, "Propose and review")
    reopened = review_again.session.project
    assert reopened is not None and reopened.path == project.path
    np.testing.assert_array_equal(np.asarray(reopened.truth[0]), real_truth[0])
    np.testing.assert_array_equal(np.asarray(reopened.truth[z]), on_disk)
    reviewed = {item.z for item in review_again.queue if item.status == ReviewStatus.REVIEWED}
    assert reviewed == {0, z}
    assert [r.index for r in reopened.rounds()] == [1, 2]
