"""What a careless or unlucky user types must never destroy work: a table of bad inputs.

Every row runs ``napari-cathode`` in-process (``main(argv)``) in one shared folder holding a
project made from real acquisition A, its image and labels as TIFF, a trained model, and
damaged variants of each. Each row asserts the exit code, that the message names the
problem in one line (no traceback), and that nothing on disk changed: every file under the
folder has the same size and content digest afterwards.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
import zarr

from napari_cathode.cli.main import main
from napari_cathode.core.outputs import OUTPUT_MARKER
from napari_cathode.core.project.lock import project_lock
from napari_cathode.core.project.store import Project
from napari_cathode.jobs.training_runs import FileTrainingRequest, run_training
from napari_cathode.ml.config import ModelConfig

torch.set_num_threads(2)
TINY = ModelConfig(
    channels=(8, 16, 32), patch_size=(64, 64), batch_size=2, steps=2, device="cpu", seed=1
)
IGNORED = {".job.lock", ".lock"}  # lock files: created by taking a lock, they hold no data


class NotWeights:
    """Stands in for a pickled payload: ``torch.load(weights_only=True)`` must refuse it."""


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every file below ``root``: size and sha1 (symlinks by their target)."""
    state = {}
    for folder, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            if name in IGNORED:
                continue
            path = Path(folder) / name
            key = str(path.relative_to(root))
            if path.is_symlink():
                state[key] = (-1, os.readlink(path))
            else:
                state[key] = (path.stat().st_size, hashlib.sha1(path.read_bytes()).hexdigest())
        for name in dirs:
            state.setdefault(str((Path(folder) / name).relative_to(root)) + "/", (0, "dir"))
    return state


@pytest.fixture(scope="module")
def world(acquisition_a_crop, tmp_path_factory) -> Path:
    image, labels = acquisition_a_crop
    root = tmp_path_factory.mktemp("bad-inputs")
    tifffile.imwrite(root / "image.tif", image)
    tifffile.imwrite(root / "labels.tif", labels)
    tifffile.imwrite(root / "labels_copy.tif", labels)  # a TIFF napari-cathode did not write
    tifffile.imwrite(root / "bad_labels.tif", np.where(labels == 3, 9, labels).astype(np.uint8))
    with_nan = image.copy()
    with_nan[1, 10:20, 10:20] = np.nan  # slice 1: not first, middle or last
    tifffile.imwrite(root / "nan_image.tif", with_nan)
    (root / "notes").mkdir()
    (root / "notes" / "thesis.txt").write_text("years of work")
    (root / "prediction.txt").write_text("an existing file")
    truncated = (root / "image.tif").read_bytes()
    (root / "truncated.tif").write_bytes(truncated[: len(truncated) // 2])

    truth = np.zeros_like(labels)
    truth[[0, 2]] = labels[[0, 2]]
    Project.create(root / "p.cathode", image, truth=truth)
    Project.create(root / "other.cathode", image[:2])

    request = FileTrainingRequest(
        (str(root / "image.tif"),), (str(root / "labels.tif"),), str(root / "model"), config=TINY
    )
    list(run_training(request))
    model = root / "model"
    pickled = root / "pickled_model"
    shutil.copytree(model, pickled)
    (pickled / "model.safetensors").unlink()
    with open(pickled / "model.pt", "wb") as f:
        pickle.dump({"weights": NotWeights()}, f)
    nan_model = root / "nan_model"
    shutil.copytree(model, nan_model)
    from safetensors.torch import load_file, save_file

    state = load_file(str(nan_model / "model.safetensors"))
    first = sorted(state)[0]
    state[first] = torch.full_like(state[first], float("nan"))
    save_file(state, str(nan_model / "model.safetensors"))

    for name, record in {"evil": {"model": "../model"}, "five": {"model": 5}}.items():
        project = root / f"{name}.cathode"
        Project.create(project, image[:2])
        (project / "start_model.json").write_text(json.dumps({"choice": "path", **record}))
    linked = root / "linked.cathode"
    Project.create(linked, image[:2])
    (linked / "rounds" / "0001").symlink_to(model, target_is_directory=True)
    damaged = root / "damaged.cathode"
    Project.create(damaged, image[:2])
    (damaged / "project.json").write_text("{ not json")

    zarr.create_array(str(root / "missing.zarr"), data=image, chunks=(1, 128, 160))
    (root / "missing.zarr" / "c" / "2" / "0" / "0").unlink()
    zarr.create_array(str(root / "corrupt.zarr"), data=image, chunks=(1, 128, 160))
    (root / "corrupt.zarr" / "c" / "3" / "0" / "0").write_bytes(b"\x28\xb5\x2f\xfd garbage" * 9)

    main(["export", str(root / "p.cathode"), "--out", str(root / "old.ome.zarr")])
    (root / "old_sim").mkdir()
    (root / "old_sim" / OUTPUT_MARKER).write_text("{}")
    (root / "old_sim" / "rounds.json").write_text("{}")
    return root


@dataclass(frozen=True)
class Case:
    name: str
    argv: str
    message: str
    code: int = 2


def _cases() -> list[Case]:
    train_files = "train --image {r}/image.tif --labels {r}/labels.tif --steps 2 --device cpu"
    evaluate = "evaluate --model {r}/model --image {r}/image.tif --labels {r}/labels.tif"
    simulate = "simulate --image {r}/image.tif --labels {r}/labels.tif --steps 2 --device cpu"
    return [
        # -------------------------------------------------- export never destroys a project
        Case("export-over-its-project", "export {r}/p.cathode --out {r}/p.cathode --overwrite",
             "is the input"),
        Case("export-over-another-project",
             "export {r}/p.cathode --out {r}/other.cathode --overwrite", "is the project"),
        Case("export-into-project-image",
             "export {r}/p.cathode --out {r}/p.cathode/image --overwrite", "lies inside the input"),
        Case("export-into-other-project",
             "export {r}/p.cathode --out {r}/other.cathode/x.ome.zarr", "inside the project"),
        Case("export-over-foreign-folder", "export {r}/p.cathode --out {r}/notes --overwrite",
             "napari-cathode did not write"),
        Case("export-over-earlier-export", "export {r}/p.cathode --out {r}/old.ome.zarr",
             "already exists; add --overwrite"),
        Case("export-tiff-over-foreign-tiff",
             "export {r}/p.cathode --out {r}/labels_copy.tif --overwrite",
             "napari-cathode did not write"),
        Case("export-tiff-exists", "export {r}/p.cathode --out {r}/labels_copy.tif",
             "already exists; add --overwrite"),
        Case("export-missing-folder", "export {r}/p.cathode --out {r}/nowhere/x.ome.zarr",
             "does not exist"),
        Case("export-unknown-format", "export {r}/p.cathode --out {r}/x --format png",
             "invalid choice"),
        Case("export-file-not-project", "export {r}/image.tif --out {r}/x.ome.zarr",
             "is a file, not a napari-cathode project"),
        # ---------------------------------------- evaluate never overwrites its ground truth
        Case("evaluate-prediction-over-labels", evaluate + " --save-prediction {r}/labels.tif",
             "is the input"),
        Case("evaluate-prediction-over-image", evaluate + " --save-prediction {r}/image.tif",
             "is the input"),
        Case("evaluate-prediction-into-model",
             evaluate + " --save-prediction {r}/model/model.safetensors", "lies inside the input"),
        Case("evaluate-prediction-into-project",
             evaluate + " --save-prediction {r}/p.cathode/pred.tif", "inside the project"),
        Case("evaluate-prediction-exists", evaluate + " --save-prediction {r}/prediction.txt",
             "already exists; add --overwrite"),
        Case("evaluate-prediction-over-foreign-tiff",
             evaluate + " --save-prediction {r}/labels_copy.tif --overwrite",
             "napari-cathode did not write"),
        Case("evaluate-missing-model",
             "evaluate --model {r}/nope --image {r}/image.tif --labels {r}/labels.tif",
             "not a model folder"),
        Case("evaluate-nan-slice",
             "evaluate --model {r}/model --image {r}/nan_image.tif --labels {r}/labels.tif",
             "NaN or infinite"),
        Case("evaluate-pickled-model",
             "evaluate --model {r}/pickled_model --image {r}/image.tif --labels {r}/labels.tif",
             "nothing was executed"),
        Case("evaluate-nan-weights",
             "evaluate --model {r}/nan_model --image {r}/image.tif --labels {r}/labels.tif",
             "NaN or infinite"),
        Case("evaluate-bad-labels",
             "evaluate --model {r}/model --image {r}/image.tif --labels {r}/bad_labels.tif",
             "hold values"),
        # ------------------------------------------- train never replaces a project's round
        Case("train-out-into-round", train_files + " --out {r}/p.cathode/rounds/0001",
             "inside the project"),
        Case("train-out-is-project", train_files + " --out {r}/p.cathode", "is the project"),
        Case("train-out-is-image", train_files + " --out {r}/image.tif", "is the input"),
        Case("train-out-existing-model", train_files + " --out {r}/model",
             "already exists; add --overwrite"),
        Case("train-out-foreign-folder", train_files + " --out {r}/notes --overwrite",
             "napari-cathode did not write"),
        Case("train-init-model-is-out",
             train_files + " --out {r}/model --init-model {r}/model --overwrite", "is the input"),
        Case("train-no-out", "train --image {r}/image.tif --labels {r}/labels.tif",
             "give PROJECT, or"),
        Case("train-steps-zero", "train {r}/p.cathode --steps 0", "must be >= 1"),
        Case("train-steps-nan", "train {r}/p.cathode --steps nan", "not a whole number"),
        Case("train-seed-negative", "train {r}/p.cathode --seed -1", "must be >= 0"),
        Case("train-gpus-zero", "train {r}/p.cathode --gpus 0", "must be >= 1"),
        Case("train-missing-project", "train {r}/none.cathode", "no such folder"),
        Case("train-file-not-project", "train {r}/image.tif", "is a file"),
        Case("train-project-and-files", "train {r}/p.cathode --image {r}/image.tif",
             "not both"),
        # --------------------------------------------- simulate never mixes or clobbers runs
        Case("simulate-out-exists", simulate + " --out {r}/old_sim",
             "already exists; add --overwrite"),
        Case("simulate-out-foreign", simulate + " --out {r}/notes --overwrite",
             "napari-cathode did not write"),
        Case("simulate-out-is-labels", simulate + " --out {r}/labels.tif --overwrite",
             "is the input"),
        Case("simulate-out-in-project", simulate + " --out {r}/p.cathode/sim",
             "inside the project"),
        Case("simulate-initial-too-many", simulate + " --out {r}/sim --initial 10",
             "only 5 labelled slices"),
        Case("simulate-rounds-too-many", simulate + " --out {r}/sim --rounds 9",
             "only 5 labelled slices"),
        Case("simulate-rounds-zero", simulate + " --out {r}/sim --rounds 0", "must be >= 1"),
        Case("simulate-per-round-negative", simulate + " --out {r}/sim --per-round -1",
             "must be >= 1"),
        Case("simulate-nan-slice",
             "simulate --image {r}/nan_image.tif --labels {r}/labels.tif --out {r}/sim",
             "NaN or infinite"),
        # ------------------------------------------------ analyze checks before it works
        Case("analyze-out-existing-file", "analyze {r}/labels.tif --out {r}/image.tif",
             "already exists; add --overwrite"),
        Case("analyze-out-is-input", "analyze {r}/labels.tif --out {r}/labels.tif --overwrite",
             "is the input"),
        Case("analyze-out-in-project", "analyze {r}/p.cathode --out {r}/p.cathode/analysis",
             "lies inside the input"),
        Case("analyze-out-foreign", "analyze {r}/labels.tif --out {r}/notes --overwrite",
             "napari-cathode did not write"),
        Case("analyze-voxel-nan", "analyze {r}/labels.tif --out {r}/a --voxel-size nan 1 1",
             "must be a finite number"),
        Case("analyze-voxel-inf", "analyze {r}/labels.tif --out {r}/a --voxel-size 1 inf 1",
             "must be a finite number"),
        Case("analyze-voxel-zero", "analyze {r}/labels.tif --out {r}/a --voxel-size 1 1 0",
             "must be > 0"),
        Case("analyze-h-max-nan", "analyze {r}/labels.tif --out {r}/a --h-max nan",
             "must be a finite number"),
        Case("analyze-min-voxels-negative",
             "analyze {r}/labels.tif --out {r}/a --min-particle-voxels -1", "must be >= 0"),
        Case("analyze-class-map-absent-value",
             "analyze {r}/labels.tif --out {r}/a --class-map 300=pore", "do not occur"),
        Case("analyze-class-map-partial", "analyze {r}/labels.tif --out {r}/a --class-map 1=pore",
             "2, 3 (89856 voxels) in the labels are not in the class map"),
        Case("analyze-class-map-fraction",
             "analyze {r}/labels.tif --out {r}/a --class-map 1.5=pore,2=active", "do not occur"),
        Case("analyze-class-map-malformed",
             "analyze {r}/labels.tif --out {r}/a --class-map pore", "must look like VALUE=NAME"),
        Case("analyze-float-image-as-labels", "analyze {r}/image.tif --out {r}/a",
             "not class ids"),
        # --------------------------------------------------- new validates at the door
        Case("new-missing-chunk", "new {r}/n.cathode --image {r}/missing.zarr --init-model none",
             "chunks of the zarr array '/' are missing (first missing: chunk (2, 0, 0))"),
        Case("new-corrupt-chunk", "new {r}/n.cathode --image {r}/corrupt.zarr --init-model none",
             "chunk (3, 0, 0) of the zarr array '/' cannot be decoded"),
        Case("new-exists", "new {r}/p.cathode --image {r}/image.tif",
             "already exists (open it instead); add --overwrite"),
        Case("new-over-foreign-folder", "new {r}/notes --image {r}/image.tif --overwrite",
             "is not a project"),
        Case("new-inside-project", "new {r}/p.cathode/sub.cathode --image {r}/image.tif",
             "inside the project"),
        Case("new-over-its-own-image",
             "new {r}/p.cathode --image {r}/p.cathode/image --overwrite", "contains the input"),
        Case("new-pickled-init-model",
             "new {r}/n.cathode --image {r}/image.tif --init-model {r}/pickled_model",
             "nothing was executed"),
        Case("new-nan-init-model",
             "new {r}/n.cathode --image {r}/image.tif --init-model {r}/nan_model",
             "NaN or infinite"),
        Case("new-nan-slice", "new {r}/n.cathode --image {r}/nan_image.tif --init-model none",
             "NaN or infinite"),
        Case("new-bad-labels",
             "new {r}/n.cathode --image {r}/image.tif --labels {r}/bad_labels.tif "
             "--init-model none", "hold values"),
        Case("new-missing-image", "new {r}/n.cathode --image {r}/nope.tif", "no such file"),
        Case("new-truncated-tiff", "new {r}/n.cathode --image {r}/truncated.tif",
             "truncated.tif"),
        # ---------------------------------------------------- status, predict, projects
        Case("status-of-a-file", "status {r}/image.tif",
             "is a file, not a napari-cathode project"),
        Case("status-missing", "status {r}/none.cathode", "no such folder"),
        Case("status-damaged-project-json", "status {r}/damaged.cathode", "is damaged"),
        Case("predict-start-model-outside", "predict {r}/evil.cathode --device cpu",
             "leads outside the project"),
        Case("predict-start-model-not-a-path", "predict {r}/five.cathode --device cpu",
             "must be a folder name inside the project"),
        Case("predict-symlinked-round-ignored", "predict {r}/linked.cathode --device cpu",
             "no trained round"),
        Case("predict-nan-weights", "predict {r}/p.cathode --model {r}/nan_model --device cpu",
             "NaN or infinite"),
        Case("predict-pickled-model",
             "predict {r}/p.cathode --model {r}/pickled_model --device cpu",
             "nothing was executed"),
        Case("predict-slices-backwards", "predict {r}/p.cathode --slices 4-2 --model {r}/model",
             "runs backwards"),
    ]  # fmt: skip


CASES = _cases()


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse refusing an option
        code = exit_.code
    return code, capsys.readouterr().err


def test_the_table_is_large_and_distinct():
    assert len(CASES) >= 60
    assert len({c.name for c in CASES}) == len(CASES)
    assert len({c.argv for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_in_one_line_and_changes_nothing(world, capsys, case, monkeypatch):
    monkeypatch.chdir(world)
    before = snapshot(world)
    code, err = run_cli(case.argv.format(r=world).split(), capsys)
    after = snapshot(world)
    assert code == case.code, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert case.message in last, err
    assert len(last) < 2000
    assert after == before, f"changed: {set(after.items()) ^ set(before.items())}"


def test_lock_refuses_a_second_train_and_predict_naming_the_holder(world, capsys):
    before = snapshot(world)
    with project_lock(world / "p.cathode", "train"):
        for argv in (["train", str(world / "p.cathode"), "--steps", "2"],
                     ["predict", str(world / "p.cathode"), "--model", str(world / "model")],
                     ["new", str(world / "p.cathode"), "--image", str(world / "image.tif"),
                      "--overwrite"]):  # fmt: skip
            code, err = run_cli(argv, capsys)
            assert code == 2
            assert f"is in use by 'train' (process {os.getpid()}" in err.strip().splitlines()[-1]
    assert snapshot(world) == before


def test_broken_pipe_is_one_line_not_a_traceback(world, capsys, monkeypatch):
    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    code, err = run_cli(["status", str(world / "p.cathode")], capsys)
    assert code == 141 and "Traceback" not in err and "output closed early" in err


def test_corrupt_chunk_inside_a_project_is_one_line(world, capsys, tmp_path):
    project = tmp_path / "c.cathode"
    shutil.copytree(world / "p.cathode", project)
    chunk = next(p for p in (project / "image" / "c").rglob("*") if p.is_file())
    chunk.write_bytes(b"garbage" * 20)
    code, err = run_cli(
        ["predict", str(project), "--model", str(world / "model"), "--device", "cpu"], capsys
    )
    assert code != 0 and "Traceback" not in err
    assert "rerun" not in err.lower() or "--debug" in err
    assert len(err.strip().splitlines()[-1]) < 2000


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_during_new_cleans_up_and_says_how_much(world, capsys, tmp_path, monkeypatch):
    calls = {"n": 0}
    from napari_cathode.core import atomic

    real = atomic.atomic_write_bytes

    def fill_up(path, data, **kwargs):
        calls["n"] += 1
        if calls["n"] > 12:
            _disk_full()
        return real(path, data, **kwargs)

    monkeypatch.setattr(atomic, "atomic_write_bytes", fill_up)
    code, err = run_cli(
        ["new", str(tmp_path / "n.cathode"), "--image", str(world / "image.tif"),
         "--init-model", "none"], capsys,
    )  # fmt: skip
    assert code == 2 and "Traceback" not in err
    assert f"disk full: 1 MB needed at {tmp_path}" in err
    assert list(tmp_path.iterdir()) == []  # no project, no hidden partial


def test_disk_full_during_export_cleans_up(world, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("zarr.storage.LocalStore.set", lambda *a, **k: _disk_full())
    code, err = run_cli(
        ["export", str(world / "p.cathode"), "--out", str(tmp_path / "x.ome.zarr")], capsys
    )
    assert code == 2 and "disk full: " in err and f"needed at {tmp_path}" in err
    assert list(tmp_path.iterdir()) == []


def test_disk_full_saving_a_prediction(world, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("tifffile.imwrite", _disk_full)
    code, err = run_cli(
        ["evaluate", "--model", str(world / "model"), "--image", str(world / "image.tif"),
         "--labels", str(world / "labels.tif"), "--device", "cpu",
         "--save-prediction", str(tmp_path / "p.tif")], capsys,
    )  # fmt: skip
    assert code == 2 and f"disk full: 1 MB needed at {tmp_path}" in err
    assert list(tmp_path.iterdir()) == []


def test_partials_of_a_killed_export_are_removed_by_the_next_one(world, capsys, tmp_path):
    dead = 2**22 + 12345  # above the default pid_max: no such process
    stale = tmp_path / f".x.ome.zarr.{dead}.0123456789ab.partial"
    (stale / "labels").mkdir(parents=True)
    (stale / "big").write_bytes(b"0" * 1000)
    code, _ = run_cli(["export", str(world / "p.cathode"), "--out", str(tmp_path / "x.ome.zarr")],
                      capsys)  # fmt: skip
    assert code == 0 and not stale.exists()
    assert (tmp_path / "x.ome.zarr" / OUTPUT_MARKER).is_file()
    # and --overwrite replaces an export of ours
    code, _ = run_cli(["export", str(world / "p.cathode"), "--out", str(tmp_path / "x.ome.zarr"),
                       "--overwrite"], capsys)  # fmt: skip
    assert code == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["x.ome.zarr"]


def test_debug_shows_the_traceback_of_an_unexpected_error(world, capsys, monkeypatch):
    def boom(args):
        raise RuntimeError("boom")

    monkeypatch.setattr("napari_cathode.cli.cmd_status.run", boom)
    code, err = run_cli(["status", str(world / "p.cathode")], capsys)
    assert code == 1 and "unexpected error RuntimeError: boom" in err and "--debug" in err
    with pytest.raises(RuntimeError, match="boom"):
        main(["--debug", "status", str(world / "p.cathode")])


def test_long_messages_are_capped():
    from napari_cathode.cli.main import cap

    assert len(cap("x" * 10_000_000)) < 1600


@pytest.mark.parametrize("steps", [1, 9, 10, 11, 20])
def test_any_number_of_steps_trains(steps):
    """``train --steps 10`` raised ZeroDivisionError in OneCycleLR (10 % warm-up = 1 step)."""
    from napari_cathode.ml.optimisation import Optimisation

    network = torch.nn.Conv2d(1, 4, 1)
    optimisation = Optimisation.create(
        network.parameters(), TINY.replace(steps=steps), torch.device("cpu")
    )
    for _ in range(steps):
        optimisation.optimizer.step()
        optimisation.scheduler.step()
    assert all(np.isfinite(group["lr"]) for group in optimisation.optimizer.param_groups)
