"""The round table of a project (what each round added, cost and scored) and its exports.

One row per complete round, read from the round's ``model.json``: truth slices and voxels,
the correction effort of the slices reviewed for it, training time, validation Dice per class
and the device. The table goes to CSV with pandas; a round's model folder is copied out as a
self-contained model for reuse in another project.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from napari_cathode.core.atomic import publish_dir, remove_stale_siblings, staged, temporary_sibling
from napari_cathode.core.errors import CathodeError, ProjectError

__all__ = ["RoundRow", "copy_model", "round_rows", "round_table_frame", "write_round_table_csv"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoundRow:
    """One row of the round table.

    Attributes
    ----------
    round : int
        Round number (1, 2, ...).
    truth_slices : int
        Slices holding ground truth when the round trained.
    truth_voxels : int
        Labelled voxels on those slices (as recorded by the job, else counted now).
    correction_effort : int
        Voxels the human changed versus the proposal on the slices reviewed for this round.
    train_seconds : float
        Time spent in optimiser steps and validation.
    dice : dict
        Validation Dice per class name (None where a class is absent from the validation truth).
    mean_dice : float or None
        Mean of the per-class Dice.
    device : str
        Where it trained, e.g. ``"cpu, 2 threads"``.
    warm_start : str or None
        The model it started from.
    steps : int or None
        Optimiser steps the round was configured with.
    held_out : bool or None
        Whether the Dice is on held-out slices (False: on the training slices).
    saved : str or None
        When the round was saved (ISO 8601).
    """

    round: int
    truth_slices: int
    truth_voxels: int
    correction_effort: int
    train_seconds: float
    dice: dict = field(default_factory=dict, hash=False)
    mean_dice: float | None = None
    device: str = ""
    warm_start: str | None = None
    steps: int | None = None
    held_out: bool | None = None
    saved: str | None = None


def _truth_voxels(project, metadata: dict, slices: Sequence[int]) -> int:
    if "truth_voxels" in metadata:
        return int(metadata["truth_voxels"])
    # The job does not record it: count the labelled voxels of the round's slices now.
    return int(sum(np.count_nonzero(np.asarray(project.truth[int(z)])) for z in slices))


def round_rows(project) -> list[RoundRow]:
    """The round table of ``project`` (a :class:`~napari_cathode.core.project.store.Project`).

    Returns
    -------
    list of RoundRow
        Oldest round first.
    """
    rows = []
    for record in project.rounds():
        meta = record.metadata
        slices = [int(z) for z in meta.get("truth_slices", [])]
        timings = meta.get("timings", {})
        rows.append(
            RoundRow(
                round=record.index,
                truth_slices=len(slices),
                truth_voxels=_truth_voxels(project, meta, slices),
                correction_effort=int(meta.get("correction_effort", 0)),
                train_seconds=float(timings.get("train_seconds", float("nan"))),
                dice=dict(meta.get("dice") or {}),
                mean_dice=meta.get("mean_dice"),
                device=str(meta.get("device", "")),
                warm_start=meta.get("warm_start"),
                steps=(meta.get("config") or {}).get("steps"),
                held_out=(meta.get("data_split") or {}).get("held_out"),
                saved=meta.get("saved"),
            )
        )
    return rows


def round_table_frame(rows: Sequence[RoundRow]) -> pd.DataFrame:
    """The round table as a DataFrame, one ``dice <class>`` column per class."""
    records = []
    for row in rows:
        record = {
            "round": row.round,
            "truth_slices": row.truth_slices,
            "truth_voxels": row.truth_voxels,
            "correction_effort": row.correction_effort,
            "train_seconds": row.train_seconds,
        }
        record.update({f"dice {name}": value for name, value in row.dice.items()})
        record.update({"mean_dice": row.mean_dice, "device": row.device})
        records.append(record)
    columns = ["round", "truth_slices", "truth_voxels", "correction_effort", "train_seconds"]
    return pd.DataFrame.from_records(records, columns=None if records else columns)


def write_round_table_csv(rows: Sequence[RoundRow], path: str | os.PathLike) -> Path:
    """Write the round table to ``path`` as CSV (written beside it, then renamed into place)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise CathodeError(f"folder {path.parent} does not exist; create it first")
    remove_stale_siblings(path)
    tmp = temporary_sibling(path)
    try:
        round_table_frame(rows).to_csv(tmp, index=False)
        publish_dir(tmp, path, replace=True)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise CathodeError(f"cannot write {path}: {error.strerror or error}") from error
    log.info("wrote the round table (%d rounds) to %s", len(rows), path)
    return path


def copy_model(
    round_dir: str | os.PathLike, destination: str | os.PathLike, *, replace: bool = False
) -> Path:
    """Copy a round's model folder to ``destination`` for reuse (complete or not at all).

    Parameters
    ----------
    round_dir : path
        ``rounds/NNNN`` of a project (or any model folder with ``model.json``).
    destination : path
        A new folder; it must not exist yet unless ``replace``.
    replace : bool
        Replace an earlier model folder (one holding ``model.json``) at ``destination``; the
        new copy is complete before the old one is removed.

    Returns
    -------
    Path
        ``destination``; it holds ``model.json`` and the weights, usable as an imported model.
    """
    source, destination = Path(round_dir), Path(destination)
    if not (source / "model.json").is_file():
        raise ProjectError(f"{source} is not a model folder (no model.json); pick a round")
    if destination.exists() and not replace:
        raise CathodeError(f"{destination} exists; choose a new folder name for the model")
    if destination.exists() and not (destination / "model.json").is_file():
        raise CathodeError(
            f"{destination} exists and is not a model folder: type another name for the model"
        )
    if not destination.parent.is_dir():
        raise CathodeError(f"folder {destination.parent} does not exist; create it first")
    try:
        with staged(destination, folder=False, replace=replace) as temporary:
            shutil.copytree(source, temporary)
    except OSError as error:
        raise CathodeError(
            f"cannot copy the model to {destination}: {error.strerror or error}"
        ) from error
    log.info("copied model %s to %s", source, destination)
    return destination
