"""Training rounds on disk: ``rounds/NNNN/`` folders that appear only when complete.

A round folder holds the model files and ``model.json`` (config, classes, normalisation, data
split, metrics, timings, correction effort). It is written under a hidden temporary name and
renamed to ``NNNN`` in one step after everything in it is fsynced, so a crash while saving a
checkpoint leaves no round at all rather than a broken one. Rounds are numbered from 1.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from napari_cathode.core.atomic import (
    atomic_write_json,
    folder_lock,
    fsync_dir,
    fsync_tree,
    temporary_sibling,
)
from napari_cathode.core.errors import ProjectError
from napari_cathode.core.project_format import now_iso

logger = logging.getLogger(__name__)

ROUNDS_FOLDER = "rounds"
MODEL_JSON = "model.json"
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


@contextlib.contextmanager
def write_round(rounds_dir: Path, index: int, metadata: dict | None) -> Iterator[Path]:
    """Yield a temporary folder for round ``index``; publish it as ``rounds/NNNN`` on success.

    ``metadata`` is serialised on exit, so the writer may fill it in while saving.
    On an exception the temporary folder is removed and the exception propagates.
    """
    final = rounds_dir / round_name(index)
    rounds_dir.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(final)
    temporary.mkdir()
    try:
        yield temporary
        content = dict(metadata or {})
        content.setdefault("round", int(index))
        content.setdefault("saved", now_iso())
        try:
            atomic_write_json(temporary / MODEL_JSON, content)
        except TypeError as error:
            raise ProjectError(
                f"round {index}: metadata cannot be saved as JSON: {error}"
            ) from error
        fsync_tree(temporary)
        if final.exists():
            raise ProjectError(
                f"round folder {final} already exists (another process saved round {index}); "
                "nothing was written. Save the round again to get the next number."
            )
        os.rename(temporary, final)  # atomic: the round appears complete or not at all
        fsync_dir(rounds_dir)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    logger.info("saved round %d in %s", index, final)


class ProjectRounds:
    """The round methods of :class:`~napari_cathode.core.project.Project`.

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

        On a clean exit ``model.json`` (``metadata``, serialised then, plus ``round``) is
        written and the folder is renamed to ``rounds/NNNN`` in one step; on an exception it
        is removed. A crash at any point leaves either the complete round or none.
        """
        with self._writing("a round"):
            with folder_lock(self.path):
                index = self.next_round_index()
            with write_round(self._rounds_dir, index, metadata) as folder:
                yield folder
