"""The command line and the napari docks run one use case per user action, so the same inputs
give the same project: ``napari-cathode new --labels`` vs the Project dock's "New project from
layer" on the bundled acquisition A with its truth."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_cathode.cli.main import main
from napari_cathode.core.project.store import Project, ReviewStatus
from napari_cathode.jobs.project_status import project_status
from napari_cathode.jobs.training_runs import ProjectTrainingRequest, plan_round

pytestmark = pytest.mark.gui

#: What may differ between two projects made from the same inputs: when, and from which path.
VOLATILE = {"created", "modified", "source"}
WAIT = 120_000


def _metadata(project: Project) -> dict:
    document = json.loads((project.path / "project.json").read_text())
    return {key: value for key, value in document.items() if key not in VOLATILE}


def _round_one(project: Project) -> dict:
    """What round 1's model.json will record about its data (reviewed slices, effort, ...)."""
    metadata = dict(plan_round(ProjectTrainingRequest(str(project.path))).metadata)
    start = dict(metadata["start"])
    start.pop("source", None)  # a path outside the project
    if start.get("model"):  # the project's own copy of the starting model
        start["model"] = str(Path(start["model"]).relative_to(project.path))
    metadata["start"] = start
    return metadata


def test_new_project_is_the_same_from_the_cli_and_the_dock(make_napari_viewer, qtbot, tmp_path):
    data = files("napari_cathode") / "data"
    image, truth = str(data / "acquisition_a_image.tif"), str(data / "acquisition_a_truth.tif")
    cli_path, dock_path = tmp_path / "cli.cathode", tmp_path / "dock.cathode"
    assert main(["new", str(cli_path), "--image", image, "--labels", truth]) == 0

    viewer = make_napari_viewer()
    viewer.open_sample("napari-cathode", "acquisition_a")  # the same two files, as layers
    _, dock = viewer.window.add_plugin_dock_widget("napari-cathode", "Project and classes")
    assert dock.create_from_layer(
        "acquisition A", truth_layer="acquisition A reference labels", path=dock_path
    )
    qtbot.waitUntil(lambda: dock.session.project is not None, timeout=WAIT)

    by_cli, by_dock = Project.open(cli_path, mode="r"), Project.open(dock_path, mode="r")
    assert _metadata(by_dock) == _metadata(by_cli)
    np.testing.assert_array_equal(by_dock.truth[:], by_cli.truth[:])
    assert by_cli.truth[:].any()
    # the initial truth is reviewed, for round 1, from both front ends
    for project in (by_cli, by_dock):
        assert (project.review_status() == ReviewStatus.REVIEWED).all()
        assert (project.reviewed_round() == 1).all()
    np.testing.assert_array_equal(by_dock.correction_effort(), by_cli.correction_effort())
    # the same round table (none yet) and review counts, and the same round 1 to come
    assert project_status(by_dock) == project_status(by_cli)
    assert project_status(by_cli).review["reviewed"] == by_cli.shape[0]
    assert _round_one(by_dock) == _round_one(by_cli)
    assert _round_one(by_cli)["reviewed_slices"] == list(range(by_cli.shape[0]))
    for name in ("start_model.json",):
        assert (dock_path / name).read_text() == (cli_path / name).read_text()


def test_export_has_the_same_options_and_result_from_the_cli_and_the_dock(
    make_napari_viewer, qtbot, tmp_path
):
    from napari_cathode._napari.export_dock import MERGED, TRUTH_ONLY

    image = np.random.default_rng(0).random((3, 32, 40), dtype=np.float32)
    truth = np.zeros(image.shape, np.uint8)
    truth[1, :16] = 2
    project = Project.create(tmp_path / "p.cathode", image, truth=truth, contiguous=False)
    project.write_proposal(np.s_[:], np.ones(image.shape, np.uint8))
    merged = np.where(truth > 0, truth, 1)

    viewer = make_napari_viewer()
    _, dock = viewer.window.add_plugin_dock_widget("napari-cathode", "Export")
    dock.session.open(project.path)
    for which, expected, flags in ((TRUTH_ONLY, truth, ["--truth-only"]), (MERGED, merged, [])):
        name = which.split(",")[0].replace(" ", "_")
        assert (
            main(["export", str(project.path), "--out", f"{tmp_path}/cli_{name}.tif", *flags]) == 0
        )
        dock.which.setCurrentText(which)
        assert dock.export_tiff(tmp_path / f"dock_{name}.tif")
        qtbot.waitUntil(lambda: not dock.busy, timeout=WAIT)
        for front_end in ("cli", "dock"):
            written = tifffile.imread(tmp_path / f"{front_end}_{name}.tif")
            np.testing.assert_array_equal(written, expected)
    # OME-Zarr from the dock reports its levels as the command line's progress bar does
    assert dock.export_ome_zarr(tmp_path / "dock.ome.zarr")
    qtbot.waitUntil(lambda: not dock.busy, timeout=WAIT)
    assert dock.written[-1] == tmp_path / "dock.ome.zarr"
    assert dock.progress.maximum() >= 1 and dock.progress.value() == dock.progress.maximum()
    # the same output rule as the command line: never into a project
    assert dock.export_tiff(project.path / "labels.tif")
    qtbot.waitUntil(lambda: not dock.busy, timeout=WAIT)
    assert "failed" in dock.status.text() and "lies inside" in dock.status.text()
    assert not (project.path / "labels.tif").exists()
