"""The command line and the napari docks run one use case per user action, so the same inputs
give the same project: ``napari-cathode new --labels`` vs the Project dock's "New project from
layer" on the bundled acquisition A with its truth."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

from napari_cathode.cli.main import main
from napari_cathode.core.project import Project, ReviewStatus
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
