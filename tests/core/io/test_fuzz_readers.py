"""Randomly damaged TIFF / zarr / HDF5 / project.json: every outcome is a CathodeError.

For a bounded time per format, a seeded generator damages a small valid file (flipped bytes,
truncation, garbage blocks, deleted or emptied files, JSON values of the wrong type) and the
readers open it and read every voxel; the project opener opens a damaged project and reads
its metadata, review state, ground-truth slices and rounds. Each attempt must succeed or raise a
:class:`~napari_cathode.core.errors.CathodeError`: any other exception fails the test with
the seed that reproduces it. A watchdog (``faulthandler``) ends the run if one attempt hangs.
"""

from __future__ import annotations

import faulthandler
import json
import random
import shutil
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
import zarr

from napari_cathode.core.errors import CathodeError
from napari_cathode.core.io.volumes import open_volume
from napari_cathode.core.project.store import Project

SECONDS_PER_FORMAT = 4.0
HANG_SECONDS = 120


def _image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 60000, size=(4, 24, 32), dtype=np.uint16)


def _files_below(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def damage_bytes(path: Path, rng: random.Random) -> str:
    """Damage one file in place; returns what was done."""
    data = bytearray(path.read_bytes())
    kind = rng.choice(["flip", "truncate", "garbage", "zero", "empty", "append"])
    if kind == "flip" and data:
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == "truncate" and data:
        del data[rng.randrange(len(data)) :]
    elif kind == "garbage" and data:
        start = rng.randrange(len(data))
        data[start : start + rng.randint(1, 64)] = bytes(rng.getrandbits(8) for _ in range(64))
    elif kind == "zero" and data:
        start = rng.randrange(len(data))
        data[start : start + rng.randint(1, 256)] = bytes(256)
    elif kind == "empty":
        data = bytearray()
    else:
        data += bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 100)))
    path.write_bytes(bytes(data))
    return f"{kind} {path.name}"


def damage_json(path: Path, rng: random.Random) -> str:
    """Replace, delete or retype one value of a JSON file (or damage its bytes)."""
    if not path.is_file():
        return f"{path.name} already deleted"
    try:
        document = json.loads(path.read_text())
    except ValueError:
        return damage_bytes(path, rng)
    if not isinstance(document, dict) or not document or rng.random() < 0.2:
        return damage_bytes(path, rng)
    key = rng.choice(sorted(document))
    choice = rng.choice(["delete", "null", "number", "string", "list", "dict", "nested"])
    if choice == "delete":
        del document[key]
    elif choice == "nested" and isinstance(document[key], (dict, list)) and document[key]:
        inner = document[key]
        index = rng.choice(sorted(inner)) if isinstance(inner, dict) else rng.randrange(len(inner))
        inner[index] = rng.choice([None, -1, 1e308, "x", [], {}, True])
    else:
        document[key] = {"null": None, "number": rng.choice([-1, 0, 1e308, 2**70]),
                         "string": "zzz", "list": [1, "a"], "dict": {"a": []},
                         "nested": None}[choice]  # fmt: skip
    path.write_text(json.dumps(document))
    return f"{choice} {key!r} of {path.name}"


def read_volume(path: Path, dataset: str | None = None) -> None:
    volume = open_volume(path, dataset=dataset)
    np.asarray(volume.data)


def read_project(path: Path) -> None:
    project = Project.open(path)
    project.classes, project.voxel_size, project.unit, project.display_range  # noqa: B018
    project.review_status()
    project.reviewed_round()
    project.slice_uncertainty()
    project.truth_slices()
    project.rounds()


@pytest.fixture(autouse=True)
def hang_watchdog():
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def _fuzz(make, damage, read, tmp_path: Path, seed: int) -> int:
    """Damage copies of ``make()`` until the time is up; return how many were tried."""
    pristine = make(tmp_path / "pristine")
    deadline, attempts = time.monotonic() + SECONDS_PER_FORMAT, 0
    rng = random.Random(seed)
    while time.monotonic() < deadline or attempts < 10:
        attempt_seed = rng.randrange(2**31)
        attempt_rng = random.Random(attempt_seed)
        work = tmp_path / f"attempt{attempts}"
        target = work / pristine.name
        if pristine.is_dir():
            shutil.copytree(pristine, target)
        else:
            work.mkdir()
            shutil.copy(pristine, target)
        what = [damage(target, attempt_rng) for _ in range(attempt_rng.randint(1, 3))]
        try:
            read(target)
        except CathodeError:
            pass
        except Exception as error:  # pragma: no cover - the failure being tested for
            pytest.fail(f"seed {attempt_seed} ({'; '.join(what)}): {type(error).__name__}: {error}")
        shutil.rmtree(work, ignore_errors=True)
        attempts += 1
    return attempts


def _damage_any(folder: Path, rng: random.Random) -> str:
    files = _files_below(folder)
    if not files:
        return "nothing left to damage"
    path = rng.choice(files)
    if rng.random() < 0.15:
        path.unlink()
        return f"deleted {path.relative_to(folder)}"
    if path.suffix == ".json":
        return damage_json(path, rng)
    return damage_bytes(path, rng)


def test_damaged_tiff_files(tmp_path):
    def make(folder):
        folder.mkdir()
        tifffile.imwrite(folder / "v.tif", _image(), compression="zlib", imagej=True)
        return folder / "v.tif"

    assert _fuzz(make, damage_bytes, read_volume, tmp_path, seed=1) >= 10


def test_damaged_zarr_stores(tmp_path):
    def make(folder):
        zarr.create_array(str(folder / "v.zarr"), data=_image(), chunks=(1, 12, 16))
        return folder / "v.zarr"

    assert _fuzz(make, _damage_any, read_volume, tmp_path, seed=2) >= 10


def test_damaged_hdf5_files(tmp_path):
    def make(folder):
        folder.mkdir()
        with h5py.File(folder / "v.h5", "w") as f:
            f.create_dataset("raw", data=_image(), chunks=(1, 12, 16), compression="gzip")
        return folder / "v.h5"

    assert _fuzz(make, damage_bytes, read_volume, tmp_path, seed=3) >= 10


def test_damaged_projects(tmp_path):
    def make(folder):
        folder.mkdir()
        truth = np.zeros((4, 24, 32), np.uint8)
        truth[1, :5, :5] = 2
        Project.create(folder / "p.cathode", _image(), truth=truth)
        return folder / "p.cathode"

    def damage(project: Path, rng: random.Random) -> str:
        if rng.random() < 0.6:
            return damage_json(project / "project.json", rng)
        return _damage_any(project, rng)

    assert _fuzz(make, damage, read_project, tmp_path, seed=4) >= 10
