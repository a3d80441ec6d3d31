"""Training rounds on disk: ``rounds/NNNN/`` folders that appear only when complete.

A round folder holds the model files and ``model.json`` (config, classes, normalisation, data
split, metrics, timings, correction effort; see :mod:`napari_cathode.core.model_document`).
It is written under a hidden temporary name and renamed to ``NNNN`` in one step after
everything in it is fsynced, so a crash while saving a checkpoint leaves no round at all rather
than a broken one. Rounds are numbered from 1.

Every round is published by :func:`publish_round`, whether trained in this process (through
:meth:`ProjectRounds.new_round`) or elsewhere (a multi-GPU run hands over its model folder).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from napari_cathode.core.atomic import (
    folder_lock,
    is_temporary,
    publish_dir,
    temporary_sibling,
)
from napari_cathode.core.errors import ProjectError
from napari_cathode.core.model_document import MODEL_JSON, update_model_document
from napari_cathode.core.project.file_format import now_iso

__all__ = [
    "ROUNDS_FOLDER",
    "ProjectRounds",
    "RoundRecord",
    "list_rounds",
    "next_index",
    "publish_round",
    "round_name",
    "round_staging",
]

logger = logging.getLogger(__name__)

ROUNDS_FOLDER = "rounds"
#: The base of the temporary names of unpublished rounds inside ``rounds/``.
_STAGING = "round"
_ROUND_NAME = re.compile(r"^\d{4,}$")


@dataclass(frozen=True)
class RoundRecord:
    """One complete training round.

    Attributes
    ----------
    index : int
        Round number (1, 2, ...).
    path : Path
        The round folder ``rounds/NNNN``.
    metadata : dict
        Parsed ``model.json``.
    """

    index: int
    path: Path
    metadata: dict = field(hash=False, compare=False)


def round_name(index: int) -> str:
    """Folder name of round ``index`` (``0003``).

    Examples
    --------
    >>> round_name(3)
    '0003'
    >>> round_name(12345)
    '12345'
    """
    if int(index) < 0:
        raise ProjectError(f"round index {index} must be >= 0")
    return f"{int(index):04d}"


def list_rounds(rounds_dir: Path) -> list[RoundRecord]:
    """Complete rounds, sorted by index; damaged folders are skipped with a warning."""
    if not rounds_dir.is_dir():
        return []
    records = []
    for entry in rounds_dir.iterdir():
        if not (_ROUND_NAME.match(entry.name) and entry.is_dir()):
            continue
        if entry.is_symlink():  # a round is a folder inside the project, never a link out
            logger.warning("%s is a symbolic link, not a round folder; it is ignored", entry)
            continue
        try:
            metadata = json.loads((entry / MODEL_JSON).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            logger.warning(
                "skipping round folder %s: its %s is unreadable (%s)", entry, MODEL_JSON, error
            )
            continue
        records.append(RoundRecord(int(entry.name), entry, metadata))
    return sorted(records, key=lambda record: record.index)


def next_index(rounds_dir: Path) -> int:
    """Number of the next round: one more than the highest existing (1 for the first)."""
    indices = (
        [int(e.name) for e in rounds_dir.iterdir() if _ROUND_NAME.match(e.name)]
        if rounds_dir.is_dir()
        else []
    )
    return max(indices, default=0) + 1


def round_staging(rounds_dir: Path) -> Path:
    """A new, empty temporary folder inside ``rounds_dir`` to save a round's model files into."""
    rounds_dir.mkdir(parents=True, exist_ok=True)
    staging = temporary_sibling(rounds_dir / _STAGING)
    staging.mkdir()
    return staging


def publish_round(project, model_dir: str | Path, document: dict | None = None) -> RoundRecord:
    """Publish a finished model folder as the project's next round ``rounds/NNNN``.

    The one way a round comes into being: a round trained in this process (its folder from
    :meth:`ProjectRounds.new_round`) and one trained elsewhere (any model folder, e.g. the
    output of a multi-GPU run, copied in first) both end here.

    Parameters
    ----------
    project : Project
        Open for writing.
    model_dir : path
        The model files (weights and the ``model.json`` ml wrote). A temporary folder made by
        :func:`round_staging` is moved; any other folder is copied and left as it was.
    document : dict, optional
        Fields added to ``model.json`` (``round`` and ``saved`` are added too).

    Returns
    -------
    RoundRecord
        The published round.

    Raises
    ------
    ProjectError
        If the project is read-only, the fields are not JSON, or the folder cannot be written.
    """
    model_dir = Path(model_dir)
    rounds_dir = project.path / ROUNDS_FOLDER
    with project._writing("a round"):
        if model_dir.parent == rounds_dir and is_temporary(model_dir.name):
            staging = model_dir
        else:
            staging = round_staging(rounds_dir)
            shutil.rmtree(staging)
            shutil.copytree(model_dir, staging)
        try:
            with folder_lock(project.path):  # numbering and renaming: one process at a time
                index = next_index(rounds_dir)
                fields = {**(document or {}), "round": index, "saved": now_iso()}
                try:
                    content = update_model_document(staging, fields)
                except (TypeError, ValueError) as error:
                    raise ProjectError(
                        f"round {index}: metadata cannot be saved as JSON: {error}"
                    ) from error
                final = rounds_dir / round_name(index)
                try:
                    publish_dir(staging, final)  # the round appears complete or not at all
                except FileExistsError as error:
                    raise ProjectError(
                        f"round folder {final} already exists (another process saved round "
                        f"{index}); nothing was written. Save the round again."
                    ) from error
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    logger.info("saved round %d in %s", index, final)
    return RoundRecord(index, final, content)


class ProjectRounds:
    """The round methods of :class:`~napari_cathode.core.project.store.Project`.

    Expects ``self.path`` and ``self._writing(what)`` from the project.
    """

    @property
    def _rounds_dir(self) -> Path:
        return self.path / ROUNDS_FOLDER

    def rounds(self) -> list[RoundRecord]:
        """Complete training rounds, oldest first."""
        return list_rounds(self._rounds_dir)

    def latest_round(self) -> RoundRecord | None:
        """The newest complete round, or None before the first."""
        records = self.rounds()
        return records[-1] if records else None

    def next_round_index(self) -> int:
        """Number the next saved round will get (1 for the first)."""
        return next_index(self._rounds_dir)

    def round_dir(self, index: int) -> Path:
        """Folder of round ``index`` (``rounds/NNNN``; it may not exist yet)."""
        return self._rounds_dir / round_name(index)

    @contextlib.contextmanager
    def new_round(self, metadata: dict | None = None) -> Iterator[Path]:
        """Save a training round: yields a temporary folder for the model files.

        On a clean exit the folder is published by :func:`publish_round`: ``metadata`` (read
        then, so the writer may fill it in while saving) is added to the ``model.json`` the
        model files hold, with ``round`` and ``saved``, and the folder is renamed to
        ``rounds/NNNN`` in one step; on an exception it is removed. A crash at any point leaves
        either the complete round or none.
        """
        with self._writing("a round"):  # an OSError of the writer names the project too
            staging = round_staging(self._rounds_dir)
            try:
                yield staging
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        publish_round(self, staging, metadata)
