"""Where the Export page writes: file names, checks a user can act on, and replacing a model copy.

No Qt here: the page asks the user (its ``confirm`` callback) and calls these.
"""

from __future__ import annotations

import os
from pathlib import Path

from napari_cathode.core.errors import CathodeError
from napari_cathode.core.project.round_table import copy_model

__all__ = ["SUFFIXES", "export_target", "replace_model_copy"]

#: What each export writes, after the base name.
SUFFIXES = {
    "ome_zarr": ".ome.zarr",
    "tiff": "_labels.tif",
    "model": "_round{round:04d}.model",
    "rounds": "_rounds.csv",
}


def export_target(folder: str | os.PathLike, name: str, kind: str, **fields) -> Path:
    """``folder / (name + suffix)``, checked: the folder must be an existing folder.

    Raises
    ------
    CathodeError
        If the name is empty or holds a path separator, or the folder is missing or a file;
        the message says what to type or choose instead.
    """
    folder, name = Path(folder).expanduser(), name.strip()
    if not name or os.sep in name or (os.altsep and os.altsep in name):
        raise CathodeError(
            f"the export name {name!r} is not a file name: type a name without slashes"
        )
    if folder.exists() and not folder.is_dir():
        raise CathodeError(f"{folder} is a file, not a folder: choose a folder to export into")
    if not folder.is_dir():
        raise CathodeError(
            f"the folder {folder} does not exist: choose an existing folder with … or create it"
        )
    return folder / f"{name}{SUFFIXES[kind].format(**fields)}"


def replace_model_copy(round_dir: Path, target: Path) -> Path:
    """Copy a round's model to ``target``, replacing an earlier model copy there.

    The new copy is complete before the old one is removed; a folder that is not a model
    folder (no ``model.json``) is never replaced.
    """
    return copy_model(round_dir, target, replace=True)
