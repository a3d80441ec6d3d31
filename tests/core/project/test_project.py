"""The project store: create/reopen, labels, classes, review state, rounds, versions, errors."""

from __future__ import annotations

import hashlib
import json
import os
import threading

import dask.array as da
import numpy as np
import pytest
import zarr

from napari_cathode.core import atomic
from napari_cathode.core.classes import DEFAULT_CLASSES, SegmentationClass
from napari_cathode.core.errors import ProjectError, VolumeError
from napari_cathode.core.project.store import (
    FORMAT_VERSION,
    PROJECT_SUFFIX,
    Project,
    ReviewStatus,
    RoundRecord,
    is_project,
)

A_IMAGE = "segmentpy-nmc-nanoct/stacks/A_image.tif"


@pytest.fixture
def crop(acquisition_a_crop):
    return acquisition_a_crop


@pytest.fixture
def project(tmp_path, crop):
    return Project.create(tmp_path / f"a{PROJECT_SUFFIX}", crop[0])


class BlockOnlyVolume:
    """An array-like that records each read and refuses to be loaded whole."""

    def __init__(self, data):
        self._data, self.shape, self.dtype, self.reads = data, data.shape, data.dtype, []

    def __getitem__(self, index):
        block = self._data[index]
        self.reads.append(block.size)
        return block

    def __array__(self, *args, **kwargs):
        raise AssertionError("the whole volume was loaded into memory")


# ---------------------------------------------------------------------------- create / reopen
def test_create_and_reopen_real_volume(tmp_path, crop, shared_data):
    image, labels = crop
    source = shared_data / A_IMAGE
    created = Project.create(
        tmp_path / "nmc.cathode",
        image,
        truth=labels,
        voxel_size=(0.06, 0.03, 0.03),
        unit="um",
        source=str(source),
    )
    project = Project.open(created.path)

    assert project.shape == image.shape
    np.testing.assert_array_equal(project.image[:], image)
    assert project.image.dtype == image.dtype
    np.testing.assert_array_equal(project.truth[:], labels)
    assert project.truth.dtype == np.uint8 and project.proposal.dtype == np.uint8
    assert not project.proposal[:].any() and not project.uncertainty[:].any()
    assert project.classes == DEFAULT_CLASSES
    assert [(c.id, c.name) for c in project.classes] == [
        (1, "pore"),
        (2, "active material"),
        (3, "carbon-binder"),
    ]
    assert project.voxel_size == (0.06, 0.03, 0.03) and project.unit == "um"
    assert project.source["path"] == str(source.resolve())
    assert project.source["size"] == source.stat().st_size
    assert project.source["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    np.testing.assert_array_equal(project.truth_slices(), np.flatnonzero(labels.any(axis=(1, 2))))
    low, high = project.display_range
    assert image.min() <= low < np.median(image) < high <= image.max()
    metadata = json.loads((project.path / "project.json").read_text())
    assert metadata["format_version"] == FORMAT_VERSION == 1 and metadata["axes"] == "zyx"
    assert is_project(project.path) and not is_project(tmp_path)
    # readable without the plugin: a plain zarr v3 group
    group = zarr.open_group(project.path, mode="r")
    np.testing.assert_array_equal(group["labels/truth"][2], labels[2])
    assert group["labels/truth"].chunks == (1, 128, 160)


def test_create_copies_blockwise_without_loading_the_volume(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.normal(100, 10, size=(10, 1100, 40)).astype(np.float32)
    volume = BlockOnlyVolume(data)
    calls = []
    project = Project.create(
        tmp_path / "big.cathode", volume, progress=lambda done, total: calls.append((done, total))
    )
    np.testing.assert_array_equal(project.image[:], data)
    assert max(volume.reads) < data.size  # never the whole volume at once
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    # dask and zarr sources work the same
    dask_project = Project.create(tmp_path / "dask.cathode", da.from_array(data, chunks=5))
    np.testing.assert_array_equal(dask_project.image[:], data)
    zarr_source = zarr.create_array(tmp_path / "src.zarr", data=data, chunks=(3, 100, 40))
    np.testing.assert_array_equal(
        Project.create(tmp_path / "zarr.cathode", zarr_source).image[:], data
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_image_is_refused_and_leaves_nothing(tmp_path, crop, bad):
    image = crop[0].copy()
    image[3, 70, 90] = bad
    with pytest.raises(VolumeError, match=r"NaN or infinite values in block \(z 0:5"):
        Project.create(tmp_path / "bad.cathode", image)
    assert os.listdir(tmp_path) == []


def test_truth_must_fit_the_image_and_the_classes(tmp_path, crop):
    image, labels = crop
    with pytest.raises(VolumeError, match=r"truth has shape \(5, 128, 159\).*\(5, 128, 160\)"):
        Project.create(tmp_path / "p.cathode", image, truth=labels[:, :, :-1])
    wrong = labels.copy()
    wrong[0, :2, :3] = 7
    with pytest.raises(VolumeError, match=r"values 7 \(6 voxels\) are not class ids"):
        Project.create(tmp_path / "p.cathode", image, truth=wrong)
    with pytest.raises(VolumeError, match="3D"):
        Project.create(tmp_path / "p.cathode", image[0])
    with pytest.raises(VolumeError, match="labels must be integers"):
        Project.create(tmp_path / "p.cathode", image, truth=labels.astype(np.float32) + 0.5)
    assert os.listdir(tmp_path) == []


def test_custom_classes_and_existing_paths(tmp_path, crop):
    classes = (SegmentationClass(1, "pore", "#000000"), SegmentationClass(5, "NMC", "#ff0000"))
    labels = np.where(crop[1] == 2, 5, np.where(crop[1] == 1, 1, 0)).astype(np.uint8)
    project = Project.create(tmp_path / "p.cathode", crop[0], classes=classes, truth=labels)
    assert [c.id for c in project.classes] == [1, 5]
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(project.path, crop[0])
    replaced = Project.create(project.path, crop[0][:2], overwrite=True)
    assert replaced.shape == (2, 128, 160) and replaced.classes == DEFAULT_CLASSES
    (tmp_path / "notes").mkdir()
    with pytest.raises(ProjectError, match="not a project; refusing"):
        Project.create(tmp_path / "notes", crop[0], overwrite=True)


# ---------------------------------------------------------------------------- versions / damage
def test_open_explains_what_is_wrong(tmp_path, project):
    with pytest.raises(ProjectError, match=r"no project\.json"):
        Project.open(tmp_path)
    with pytest.raises(ProjectError, match="no such folder"):
        Project.open(tmp_path / "missing.cathode")
    metadata_file = project.path / "project.json"
    metadata = json.loads(metadata_file.read_text())

    metadata_file.write_text(json.dumps({**metadata, "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(ProjectError, match=r"newer napari-cathode \(project format 2.*Upgrade"):
        Project.open(project.path)
    assert is_project(project.path)  # still recognised, so the reader can show the message

    metadata_file.write_text(json.dumps({**metadata, "format_version": 0}))
    with pytest.raises(ProjectError, match="format 0, which this napari-cathode cannot read"):
        Project.open(project.path)

    metadata_file.write_text(json.dumps(metadata)[:40])
    with pytest.raises(ProjectError, match=r"project\.json is damaged"):
        Project.open(project.path)

    metadata_file.write_text(json.dumps(metadata))
    assert Project.open(project.path).shape == project.shape

    (project.path / "labels" / "proposal" / "zarr.json").unlink()
    with pytest.raises(ProjectError, match="lacks the array 'labels/proposal'"):
        Project.open(project.path)


# ---------------------------------------------------------------------------- labels
def test_truth_writes_slices_and_brush_patches(project, crop):
    labels = crop[1]
    assert project.truth_slices().size == 0
    project.write_truth(1, labels[1])
    project.write_truth((3, slice(40, 60), slice(10, 30)), 2)
    reopened = Project.open(project.path, mode="r")
    np.testing.assert_array_equal(reopened.truth[1], labels[1])
    patch = np.zeros((128, 160), np.uint8)
    patch[40:60, 10:30] = 2
    np.testing.assert_array_equal(reopened.truth[3], patch)
    np.testing.assert_array_equal(reopened.truth_slices(), [1, 3])
    project.write_truth((3, slice(40, 60), slice(10, 30)), 0)  # erase the patch
    np.testing.assert_array_equal(project.truth_slices(), [1])
    with pytest.raises(VolumeError, match=r"values 4 \(1 voxels\) are not class ids"):
        project.write_truth((0, 5, 5), 4)
    with pytest.raises(ProjectError, match="index"):
        project.write_truth(9, labels[0])
    assert not project.truth[0].any()


def test_proposal_and_uncertainty(project, crop):
    rng = np.random.default_rng(2)
    probability = rng.random((128, 160)).astype(np.float32)
    project.write_proposal(2, crop[1][2], uncertainty=probability)
    np.testing.assert_array_equal(project.proposal[2], crop[1][2])
    np.testing.assert_array_equal(project.uncertainty[2], np.round(probability * 255))
    project.write_proposal(4, crop[1][4], uncertainty=np.full((128, 160), 200, np.uint8))
    assert (project.uncertainty[4] == 200).all()
    with pytest.raises(ProjectError, match=r"0\.\.1"):
        project.write_proposal(0, crop[1][0], uncertainty=probability * 2)


# ---------------------------------------------------------------------------- classes, voxels
def test_set_classes_refuses_to_drop_a_class_in_use(project, crop):
    project.write_truth((1, slice(0, 4), slice(0, 5)), 3)
    project.write_proposal((2, slice(0, 2)), 2)
    renamed = (
        DEFAULT_CLASSES[0],
        SegmentationClass(2, "NMC", "#ff8800"),
        DEFAULT_CLASSES[2],
        SegmentationClass(4, "crack", "#ffffff"),
    )
    project.set_classes(renamed)
    assert Project.open(project.path).classes == renamed
    with pytest.raises(
        ProjectError,
        match=r"class 3 'carbon-binder' is still used by 20 voxels "
        r"of truth",
    ):
        project.set_classes(renamed[:2] + renamed[3:])
    with pytest.raises(
        ProjectError,
        match=r"class 2 'NMC' is still used by 320 voxels "
        r"of proposal",
    ):
        project.set_classes((renamed[0], renamed[2], renamed[3]))
    project.set_classes(renamed[:3])  # class 4 is unused: removing it is fine
    assert [c.id for c in Project.open(project.path).classes] == [1, 2, 3]
    with pytest.raises(ProjectError, match="unique"):
        project.set_classes((DEFAULT_CLASSES[0], SegmentationClass(2, "pore", "#000000")))


def test_set_voxel_size(project):
    project.set_voxel_size((0.05, 0.02, 0.02), unit="um")
    reopened = Project.open(project.path)
    assert reopened.voxel_size == (0.05, 0.02, 0.02) and reopened.unit == "um"
    project.set_voxel_size(0.01)
    assert Project.open(project.path).voxel_size == (0.01, 0.01, 0.01)
    assert Project.open(project.path).unit == "um"
    with pytest.raises(ProjectError, match="positive"):
        project.set_voxel_size((1, 0, 1))


# ---------------------------------------------------------------------------- review
def test_review_state_round_trips(project):
    n = project.shape[0]
    assert project.review_status().tolist() == [ReviewStatus.UNSEEN] * n
    assert project.review_status().dtype == np.int8
    assert project.reviewed_round().tolist() == [-1] * n
    assert project.correction_effort().dtype == np.int64
    assert np.isnan(project.slice_uncertainty()).all()

    project.set_review(range(n), ReviewStatus.PROPOSED)
    project.set_review([1, 3], ReviewStatus.REVIEWED, correction_effort=[120, 7])
    project.set_review(4, ReviewStatus.REVIEWED, round=5)
    project.set_slice_uncertainty([0, 2], [0.25, 0.75])

    reopened = Project.open(project.path, mode="r")
    assert reopened.review_status().tolist() == [1, 2, 1, 2, 2]
    assert reopened.reviewed_round().tolist() == [-1, 1, -1, 1, 5]  # default: next round (1)
    assert reopened.correction_effort().tolist() == [0, 120, 0, 7, 0]
    np.testing.assert_array_equal(reopened.slice_uncertainty()[[0, 2]], [0.25, 0.75])
    assert np.isnan(reopened.slice_uncertainty()[[1, 3, 4]]).all()

    project.set_review([], ReviewStatus.REVIEWED)  # nothing to do
    project.set_review(3, ReviewStatus.PROPOSED)  # a new proposal: no longer reviewed
    assert project.reviewed_round()[3] == -1
    with pytest.raises(ProjectError, match=r"\[7\] is outside the project's 5 slices"):
        project.set_review(7, ReviewStatus.REVIEWED)
    with pytest.raises(ProjectError, match="review status"):
        project.set_review(0, 9)


def test_concurrent_review_updates_are_not_lost(project):
    writers = [
        threading.Thread(
            target=project.set_review,
            args=(z, ReviewStatus.REVIEWED),
            kwargs={"correction_effort": 10 + z},
        )
        for z in range(project.shape[0])
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert project.review_status().tolist() == [ReviewStatus.REVIEWED] * project.shape[0]
    assert project.correction_effort().tolist() == [10, 11, 12, 13, 14]


# ---------------------------------------------------------------------------- rounds
def test_rounds_are_numbered_and_only_complete_ones_listed(project):
    assert project.rounds() == [] and project.latest_round() is None
    assert project.next_round_index() == 1
    metadata = {"classes": ["pore"], "dice": np.float32(0.5)}
    with project.new_round(metadata) as folder:
        (folder / "model.safetensors").write_bytes(b"\0" * 1000)
        metadata["epochs"] = 3  # filled in while saving
    with pytest.raises(RuntimeError, match="training diverged"), project.new_round({}) as folder:
        (folder / "model.safetensors").write_bytes(b"\1" * 10)
        raise RuntimeError("training diverged")
    with project.new_round() as folder:
        (folder / "model.safetensors").write_bytes(b"\2" * 10)

    records = Project.open(project.path).rounds()
    assert [r.index for r in records] == [1, 2]
    first = records[0]
    assert isinstance(first, RoundRecord) and first.path == project.round_dir(1)
    assert first.path.name == "0001" and (first.path / "model.safetensors").stat().st_size == 1000
    assert first.metadata["dice"] == 0.5 and first.metadata["epochs"] == 3
    assert first.metadata["round"] == 1
    assert project.latest_round().index == 2 and project.next_round_index() == 3
    assert sorted(os.listdir(project.path / "rounds")) == ["0001", "0002"]  # no leftovers


# ---------------------------------------------------------------------------- not writable
def test_read_only_and_unwritable_projects_say_so(project, crop, monkeypatch):
    read_only = Project.open(project.path, mode="r")
    assert read_only.read_only
    for write in (
        lambda: read_only.write_truth(0, 1),
        lambda: read_only.set_review(0, ReviewStatus.REVIEWED),
        lambda: read_only.set_classes(DEFAULT_CLASSES),
        lambda: read_only.new_round().__enter__(),
    ):
        with pytest.raises(ProjectError, match=r"read-only \(mode='r'\)"):
            write()

    def refuse(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(atomic, "atomic_write_bytes", refuse)  # what a locked folder does
    with pytest.raises(ProjectError, match=r"Permission denied\. The project folder is not wri"):
        project.write_truth(0, crop[1][0])
    monkeypatch.setattr("napari_cathode.core.project.file_format.atomic_write_json", refuse)
    with pytest.raises(ProjectError, match=r"cannot write project\.json"):
        project.set_voxel_size(2.0)
    monkeypatch.undo()
    assert not Project.open(project.path).truth[0].any()


def test_leftovers_of_a_killed_writer_are_removed(project, crop):
    dead_pid = 2**22 + 12345  # above Linux's pid_max default: no such process
    stale = project.path / "labels" / "truth" / f".0.{dead_pid}.abcdef.partial"
    live = project.path / "labels" / "truth" / f".1.{os.getpid()}.abcdef.partial"
    stale.write_bytes(b"half a chunk")
    live.write_bytes(b"being written")
    Project.open(project.path)
    assert not stale.exists() and live.exists()
    # a creation that was killed half way leaves a hidden staging folder beside the project
    staging = project.path.parent / f".b.cathode.{dead_pid}.0123ab.partial"
    (staging / "image").mkdir(parents=True)
    Project.create(project.path.parent / "b.cathode", crop[0][:1])
    assert not staging.exists()
