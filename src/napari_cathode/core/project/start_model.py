"""A project's starting model: ``start_model/`` (a copied model folder) and ``start_model.json``.

A project's first round starts from the model chosen when the project was made (``new
--init-model starter|none|PATH``): the chosen model folder is copied into
``PROJECT/start_model/`` (so the project stays reproducible when the package or the path
changes) and the choice is recorded in ``PROJECT/start_model.json`` as ``{"choice": "starter" |
"none" | "path", "source": <folder copied> | null, "model": "start_model" | null}``.

The store owns this format: the methods here are those of
:class:`~napari_cathode.core.project.store.Project`. Checking that a model loads and fits the
project's classes needs torch and is done by the caller (``jobs.training_runs``) first.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from napari_cathode.core.atomic import atomic_write_json, staged
from napari_cathode.core.errors import ModelError

__all__ = [
    "SCRATCH",
    "START_MODEL_DIR",
    "START_RECORD",
    "ProjectStartModel",
    "read_start_record",
    "start_model_folder",
]

#: Inside a project folder: the copied starting model and the record of the choice.
START_MODEL_DIR = "start_model"
START_RECORD = "start_model.json"
#: ``choice`` of a project that starts from scratch.
SCRATCH = "none"


def read_start_record(project_path: str | Path) -> dict:
    """The starting-model record of a project (``choice`` ``none`` when it has none).

    Raises
    ------
    ModelError
        If ``start_model.json`` exists but cannot be read as a record.
    """
    path = Path(project_path) / START_RECORD
    if not path.is_file():
        return {"choice": SCRATCH, "source": None, "model": None}
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path} cannot be read ({exc}); run new again or delete it") from exc
    if not isinstance(record, dict):
        raise ModelError(f"{path} is not a start-model record (a JSON object); delete it")
    return record


def start_model_folder(project_path: str | Path, relative) -> Path:
    """The starting-model folder ``relative`` of a project's start record, checked to stay
    inside the project (a record pointing elsewhere, or through a link, is refused).

    Raises
    ------
    ModelError
        If ``relative`` is not a relative path string inside the project, or is a link.
    """
    record = Path(project_path) / START_RECORD
    if not isinstance(relative, str) or not relative or Path(relative).is_absolute():
        raise ModelError(
            f'{record}: "model" must be a folder name inside the project, got {relative!r}; '
            "run new again or set the starting model with --init-model"
        )
    root = Path(project_path).resolve()
    folder = Path(project_path) / relative
    if folder.is_symlink() or root not in folder.resolve().parents:
        raise ModelError(
            f'{record}: "model" {relative!r} leads outside the project or through a link; '
            "a project only loads models stored inside it. Run new again or pass --init-model"
        )
    return folder


class ProjectStartModel:
    """The starting-model methods of :class:`~napari_cathode.core.project.store.Project`.

    Expects ``self.path`` and ``self._writing(what)`` from the project.
    """

    def start_record(self) -> dict:
        """The record of ``start_model.json`` (see the module docstring)."""
        return read_start_record(self.path)

    def start_model_dir(self) -> Path | None:
        """The project's copied starting model folder, or None (from scratch).

        Raises
        ------
        ModelError
            If the record is damaged or points outside the project.
        """
        relative = self.start_record().get("model")
        return start_model_folder(self.path, relative) if relative else None

    def set_start_model(self, folder: str | Path | None, choice: str) -> dict:
        """Copy ``folder`` in as the starting model (None: from scratch) and record ``choice``.

        The copy is made under a temporary name and renamed into place, replacing an earlier
        starting model only when complete.

        Parameters
        ----------
        folder : path or None
            A model folder, already checked to fit the project.
        choice : str
            How the user chose it: ``starter``, ``none`` or ``path``.

        Returns
        -------
        dict
            The record written to ``start_model.json``.
        """
        target = self.path / START_MODEL_DIR
        record = {"choice": str(choice), "source": None, "model": None}
        with self._writing("the starting model"):
            if folder is not None:
                with staged(target, folder=False, replace=True) as temporary:
                    shutil.copytree(folder, temporary)
                record.update(source=str(folder), model=START_MODEL_DIR)
            elif target.exists():
                shutil.rmtree(target)
            atomic_write_json(self.path / START_RECORD, record)
        return record
