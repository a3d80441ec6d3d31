"""What a training job does, in-process: train from files into a model folder, or a project round.

Both publish atomically: the model appears complete when the run is done, and a cancelled or
failed run leaves the previous model (or round) as it was.

A project's first round starts from the project's *starting model*, chosen when the project is
made (``new --init-model starter|none|PATH``, default the shipped starter model) and stored by
the project (:mod:`napari_cathode.core.project.start_model`); here it is only checked to load and
fit. Later rounds start from the previous round. Every round's model.json records its ``start``.
A project whose slices are contiguous trains a 2.5D model (:mod:`napari_cathode.ml.context`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from napari_cathode.core.atomic import staged
from napari_cathode.core.errors import ModelError
from napari_cathode.core.model_document import MODEL_JSON, read_model_document
from napari_cathode.core.project.start_model import (
    START_MODEL_DIR,
    START_RECORD,
    read_start_record,
    start_model_folder,
)
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.context import project_model_config
from napari_cathode.ml.events import CancelledEvent, DoneEvent, ErrorEvent, TrainingEvent
from napari_cathode.ml.starter import SCRATCH, describe_choice, resolve_init_model
from napari_cathode.ml.training import TrainingVolume, train

if TYPE_CHECKING:
    from napari_cathode.core.project.store import Project

log = logging.getLogger(__name__)

__all__ = [
    "START_MODEL_DIR",
    "START_RECORD",
    "FileTrainingRequest",
    "ProjectTrainingRequest",
    "RoundPlan",
    "check_start_model",
    "plan_round",
    "project_start",
    "run_training",
    "set_project_start",
    "start_model_folder",
]


@dataclass(frozen=True)
class FileTrainingRequest:
    """Fully supervised training from ``--image`` / ``--labels`` files into ``out_dir``.

    ``init_model``: a model folder, ``"starter"`` or ``None``/``"none"`` (from scratch).
    """

    images: tuple[str, ...]
    labels: tuple[str, ...]
    out_dir: str
    config: ModelConfig = field(default_factory=ModelConfig)
    init_model: str | None = None


@dataclass(frozen=True)
class ProjectTrainingRequest:
    """One round on a project's ground truth.

    Starts from ``init_model`` if given (a folder, ``"starter"`` or ``"none"``), else from the
    latest round, else from the project's starting model (see the module docstring);
    ``from_scratch`` overrides all of them. ``processes`` > 1 trains the round data-parallel
    on that many GPUs (or CPU processes with device ``cpu``;
    :mod:`napari_cathode.jobs.distributed_training`), with the same events and publishing.
    """

    project: str
    config: ModelConfig | None = None
    init_model: str | None = None
    from_scratch: bool = False
    processes: int = 1


class _Cancelled(Exception):
    """Raised inside a publishing context so the unfinished model is discarded."""


class _Failed(Exception):
    """A rank of a data-parallel round failed: the unfinished model is discarded."""

    def __init__(self, event: ErrorEvent) -> None:
        super().__init__(event.message)
        self.event = event


def run_training(request, *, cancel=None) -> Iterator[TrainingEvent]:
    """Run a file or project training request in this process, yielding its events."""
    if isinstance(request, FileTrainingRequest):
        yield from _train_files(request, cancel)
    elif isinstance(request, ProjectTrainingRequest):
        yield from _train_project(request, cancel)
    else:
        raise TypeError(f"unknown training request {type(request).__name__}")


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not (out_dir / MODEL_JSON).is_file() and any(out_dir.iterdir()):
        raise ModelError(
            f"--out {out_dir} exists and is not a model folder; choose a new or empty folder "
            "(an existing model folder is replaced when training finishes)"
        )


def _train_files(request: FileTrainingRequest, cancel) -> Iterator[TrainingEvent]:
    from napari_cathode.jobs.volume_files import read_pairs

    out_dir = Path(request.out_dir).expanduser().absolute()
    _check_out_dir(out_dir)
    init_model = resolve_init_model(request.init_model)
    pairs = read_pairs(request.images, request.labels, classes=request.config.classes)
    volumes = [TrainingVolume(p.image, p.truth, p.name) for p in pairs]
    metadata = {
        "sources": [{"image": str(p.image_path), "labels": str(p.labels_path)} for p in pairs],
        "start": {
            "choice": describe_choice(request.init_model),
            "model": None if init_model is None else str(init_model),
        },
    }
    # staged: the model appears at out_dir (replacing an old one) only when training is done;
    # a cancel raises _Cancelled inside, so the unfinished folder is removed
    done = None
    try:
        with staged(out_dir, replace=True) as work:
            for event in train(
                volumes,
                config=request.config,
                out_dir=work,
                init_model=init_model,
                cancel=cancel,
                metadata=metadata,
            ):
                if isinstance(event, CancelledEvent):
                    yield event
                    raise _Cancelled
                if isinstance(event, DoneEvent):
                    done = event
                    continue
                yield event
    except _Cancelled:
        return
    yield dataclasses.replace(done, path=str(out_dir))


def check_start_model(choice: str | Path | None, classes) -> Path | None:
    """The model folder of ``choice`` (None = from scratch), checked to fit ``classes``.

    Raises
    ------
    ModelError
        If the model is missing or predicts a different number of classes.
    """
    folder = resolve_init_model(choice)
    if folder is not None:
        from napari_cathode.ml.checkpoint import load_model

        load_model(folder)  # at the door: refuses pickles, tampered or non-finite weights
        found = len(read_model_document(folder)["config"]["classes"])
        if found != len(classes):
            raise ModelError(
                f"the starting model {folder} predicts {found} classes but the project has "
                f"{len(classes)}; use --init-model none (from scratch) or a model with "
                f"{len(classes)} classes"
            )
    return folder


def set_project_start(project_path: str | Path, choice: str | Path | None) -> dict:
    """Record a project's starting model: copy the folder in and write the choice.

    Parameters
    ----------
    project_path : path
        The project folder.
    choice : {"starter", "none"} or path
        ``starter`` = the shipped NMC nano-CT model, ``none`` = from scratch, or a model folder.

    Returns
    -------
    dict
        The record written to ``PROJECT/start_model.json``.

    Raises
    ------
    ModelError
        If the model cannot be found or predicts a different number of classes.
    """
    from napari_cathode.core.project.store import Project

    project = Project.open(project_path)
    folder = check_start_model(choice, project.classes)
    return project.set_start_model(folder, describe_choice(choice))


def project_start(project_path: str | Path) -> dict:
    """The starting-model record of a project (``choice`` ``none`` when it has none)."""
    return read_start_record(project_path)


def _project_start(project, request: ProjectTrainingRequest) -> tuple[str | None, dict]:
    """The model a round starts from and the ``start`` record for its model.json."""
    if request.from_scratch:
        return None, {"choice": SCRATCH, "model": None}
    if request.init_model is not None:
        folder = resolve_init_model(request.init_model)
        return (
            None if folder is None else str(folder),
            {"choice": describe_choice(request.init_model), "model": folder and str(folder)},
        )
    latest = project.latest_round()
    if latest is not None:
        return str(latest.path), {"choice": "previous round", "model": str(latest.path)}
    folder = project.start_model_dir()
    if folder is not None:
        choice = project.start_record().get("choice", "path")
        return str(folder), {"choice": choice, "model": str(folder)}
    return None, {"choice": SCRATCH, "model": None}


@dataclass(frozen=True)
class RoundPlan:
    """What a project round starts from and trains on, and its provenance for model.json.

    Shared by the in-process round and the data-parallel one (``napari-cathode train --gpus
    N``, :mod:`napari_cathode.jobs.distributed_training`).
    """

    project: Project
    init_model: str | None
    config: ModelConfig
    slices: tuple[int, ...]
    metadata: dict


def plan_round(request: ProjectTrainingRequest) -> RoundPlan:
    """Open the project of ``request`` and plan its next round.

    Raises
    ------
    ModelError
        If the project has no ground truth, or the starting model cannot be found.
    """
    from napari_cathode.core.project.store import Project

    project = Project.open(request.project)
    init_model, start = _project_start(project, request)
    config = request.config or ModelConfig()
    # contiguous slices: a 2.5D model by default (a 2D starting model is inflated to it)
    config = project_model_config(config.replace(classes=project.classes), project.contiguous)
    slices = tuple(int(z) for z in project.truth_slices())
    if not slices:
        raise ModelError(
            f"{project.path} has no ground truth yet: "
            "review or paint at least one slice, then train"
        )
    index = project.next_round_index()
    reviewed = project.reviewed_round()
    effort = project.correction_effort()
    this_round = np.flatnonzero(reviewed == index)
    metadata = {
        "correction_effort": int(effort[this_round].sum()),
        "reviewed_slices": [int(z) for z in this_round],
        "truth_slices": list(slices),
        "truth_voxels": int(sum(np.count_nonzero(project.truth[z]) for z in slices)),
        "start": start,
    }
    return RoundPlan(project, init_model, config, slices, metadata)


def _round_events(
    request: ProjectTrainingRequest, plan: RoundPlan, folder: Path, cancel
) -> Iterator[TrainingEvent]:
    """The events of the round's training into ``folder``: here, or on ``processes`` ranks."""
    if request.processes > 1:
        from napari_cathode.jobs.distributed_training import train_on_processes

        return train_on_processes(plan, folder, request.processes, cancel)
    project = plan.project
    volume = TrainingVolume(project.image, project.truth, project.name, slices=plan.slices)
    return train(
        [volume],
        config=plan.config,
        out_dir=folder,
        init_model=plan.init_model,
        cancel=cancel,
        metadata=plan.metadata,
    )


def _train_project(request: ProjectTrainingRequest, cancel) -> Iterator[TrainingEvent]:
    plan = plan_round(request)
    project = plan.project
    done = None
    try:
        with (
            project.new_round() as folder,
            closing(_round_events(request, plan, folder, cancel)) as events,
        ):
            for event in events:
                if isinstance(event, CancelledEvent):
                    yield event
                    raise _Cancelled
                if isinstance(event, ErrorEvent):
                    raise _Failed(event)
                if isinstance(event, DoneEvent):
                    done = event  # new_round publishes the folder when the block exits
                    continue
                yield event
    except _Cancelled:
        log.info("training cancelled; %s keeps its previous round", project.path)
        return
    except _Failed as failed:
        yield failed.event
        return
    published = project.latest_round()
    yield dataclasses.replace(done, path=str(published.path))
