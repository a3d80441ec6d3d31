"""Every rename-into-place: killed at the moment of publishing, its temporary is cleaned later.

Each site (a new project, a round, a project's starting model, an OME-Zarr and a TIFF export,
the round table CSV, a copied model, a ``train --out`` model folder, a prediction TIFF) is run
in a child process that SIGKILLs itself when the finished temporary is about to be renamed
into place. What the killed writer left must be a temporary of the one scheme, and the stale
cleanup that runs next at that place (opening the project, or the same kind of write) must
remove it, leaving the finished output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_cathode.core.atomic import (
    is_temporary,
    publish_dir,
    remove_stale_siblings,
    staged,
    temporary_sibling,
)
from napari_cathode.core.io.export import export_ome_zarr
from napari_cathode.core.io.export_tiff import export_tiff
from napari_cathode.core.project.round_table import copy_model, write_round_table_csv
from napari_cathode.core.project.store import Project
from napari_cathode.jobs.training_runs import run_training

#: Run first in the child: SIGKILL at the rename that publishes a temporary.
_KILL_AT_PUBLISH = """
import os, signal, sys
from napari_cathode.core.atomic import is_temporary
_rename = os.rename
def _rename_or_die(src, dst, *args, **kwargs):
    if is_temporary(os.path.basename(str(src))) and not is_temporary(os.path.basename(str(dst))):
        os.kill(os.getpid(), signal.SIGKILL)
    return _rename(src, dst, *args, **kwargs)
os.rename = _rename_or_die
import numpy as np
from pathlib import Path
root = Path(sys.argv[1])
"""

#: What each site's child runs, and the place its temporary is left.
SITES = {
    "new project": (
        "from napari_cathode.core.project.store import Project\n"
        "Project.create(root / 'new.cathode', np.ones((2, 16, 16), np.uint8))",
        ".",
    ),
    "round": (
        "from napari_cathode.core.project.store import Project\n"
        "with Project.open(root / 'p.cathode').new_round() as folder:\n"
        "    (folder / 'model.safetensors').write_bytes(b'w')",
        "p.cathode/rounds",
    ),
    "starting model": (
        "from napari_cathode.core.project.store import Project\n"
        "Project.open(root / 'p.cathode').set_start_model(root / 'model', 'path')",
        "p.cathode",
    ),
    "OME-Zarr export": (
        "from napari_cathode.core.io.export import export_ome_zarr\n"
        "a = np.ones((2, 16, 16), np.uint8)\n"
        "export_ome_zarr(root / 'out.ome.zarr', a, a)",
        ".",
    ),
    "TIFF export": (
        "from napari_cathode.core.io.export_tiff import export_tiff\n"
        "export_tiff(root / 'out.tif', np.ones((2, 16, 16), np.uint8))",
        ".",
    ),
    "round table CSV": (
        "from napari_cathode.core.project.round_table import write_round_table_csv\n"
        "write_round_table_csv([], root / 'rounds.csv')",
        ".",
    ),
    "copied model": (
        "from napari_cathode.core.project.round_table import copy_model\n"
        "copy_model(root / 'model', root / 'copy')",
        ".",
    ),
    "prediction TIFF": (
        "from napari_cathode.jobs.evaluation import write_prediction_tiff\n"
        "write_prediction_tiff(root / 'pred.tif', np.ones((2, 16, 16), np.uint8))",
        ".",
    ),
    "train --out model folder": (
        "from napari_cathode.jobs.training_runs import run_training\n"
        "from test_atomic_publish import _training_request\n"
        "list(run_training(_training_request(root)))",
        ".",
    ),
}


def _training_request(root: Path):
    from napari_cathode.jobs.training_runs import FileTrainingRequest
    from napari_cathode.ml.config import ModelConfig

    config = ModelConfig(
        channels=(4, 8), patch_size=(16, 16), batch_size=1, steps=1, device="cpu", seed=1
    )
    return FileTrainingRequest(
        (str(root / "image.tif"),),
        (str(root / "labels.tif"),),
        str(root / "trained"),
        config=config,
    )


def _cleanup(site: str, root: Path) -> None:
    """What runs next at the site's place (and removes what a killed writer left)."""
    ones = np.ones((2, 16, 16), np.uint8)
    if site == "new project":
        Project.create(root / "new.cathode", ones, overwrite=True)
    elif site in ("round", "starting model"):
        Project.open(root / "p.cathode")
    elif site == "OME-Zarr export":
        export_ome_zarr(root / "out.ome.zarr", ones, ones)
    elif site == "TIFF export":
        export_tiff(root / "out.tif", ones)
    elif site == "round table CSV":
        write_round_table_csv([], root / "rounds.csv")
    elif site == "copied model":
        copy_model(root / "model", root / "copy")
    elif site == "prediction TIFF":
        from napari_cathode.jobs.evaluation import write_prediction_tiff

        write_prediction_tiff(root / "pred.tif", ones)
    elif site == "train --out model folder":
        list(run_training(_training_request(root)))


def _temporaries(folder: Path) -> list[str]:
    return sorted(e.name for e in folder.iterdir() if is_temporary(e.name))


@pytest.fixture
def root(tmp_path):
    image = np.arange(2 * 16 * 16, dtype=np.uint8).reshape(2, 16, 16)
    Project.create(tmp_path / "p.cathode", image)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.json").write_text(json.dumps({"format": "napari-cathode-model"}))
    tifffile.imwrite(tmp_path / "image.tif", image)
    tifffile.imwrite(tmp_path / "labels.tif", (image % 3 + 1).astype(np.uint8))
    return tmp_path


@pytest.mark.parametrize("site", list(SITES))
def test_a_writer_killed_while_publishing_leaves_a_temporary_the_cleanup_removes(site, root):
    code, place = SITES[site]
    paths = [str(Path(__file__).parent), *sys.path]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    child = subprocess.Popen(
        [sys.executable, "-c", _KILL_AT_PUBLISH + code, str(root)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    _out, errors = child.communicate(timeout=300)
    assert child.returncode == -9, errors  # killed at the publishing rename
    folder = root / place
    left = _temporaries(folder)
    assert len(left) == 1, left  # one temporary, named by the one scheme, with the dead pid
    assert f".{child.pid}." in left[0] and left[0].endswith(".partial")

    _cleanup(site, root)

    assert _temporaries(folder) == []


def test_publish_replaces_only_when_asked_and_keeps_the_old_until_the_new_is_in(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    staging = temporary_sibling(target)
    staging.mkdir()
    (staging / "new.txt").write_text("new")

    with pytest.raises(FileExistsError):
        publish_dir(staging, target)
    assert (target / "old.txt").is_file() and (staging / "new.txt").is_file()

    publish_dir(staging, target, replace=True)
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert _temporaries(tmp_path) == []  # the old folder was removed after the swap
    with pytest.raises(ValueError, match="temporary sibling"):
        publish_dir(tmp_path / "not_temporary", target)
    a_file = temporary_sibling(target)
    a_file.write_text("a file never replaces a folder (as os.replace)")
    with pytest.raises(IsADirectoryError):
        publish_dir(a_file, target, replace=True)
    assert (target / "new.txt").is_file()


def test_staged_output_of_a_failed_writer_leaves_nothing(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError), staged(target) as folder:
        (folder / "half.txt").write_text("half")
        raise RuntimeError("failed")
    assert not target.exists() and _temporaries(tmp_path) == []


def test_an_old_output_set_aside_by_a_killed_writer_is_put_back(tmp_path):
    """Killed between moving the old output aside and renaming the new one in: the old stays."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    target = tmp_path / "export.tif"
    temporary_sibling(target, pid=dead.pid, set_aside=True).write_text("old")
    temporary_sibling(target, pid=dead.pid).write_text("new, never published")

    assert remove_stale_siblings(target) == 2

    assert target.read_text() == "old" and _temporaries(tmp_path) == []
