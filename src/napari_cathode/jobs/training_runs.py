"""What a training job does, in-process: train from files into a model folder, or a project round.

Both publish atomically: the model appears complete when the run is done, and a cancelled or
failed run leaves the previous model (or round) as it was.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from napari_cathode.core.errors import ModelError
from napari_cathode.ml.checkpoint import MODEL_JSON
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.events import CancelledEvent, DoneEvent, TrainingEvent
from napari_cathode.ml.training import TrainingVolume, train

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileTrainingRequest:
    """Fully supervised training from ``--image`` / ``--labels`` files into ``out_dir``."""

    images: tuple[str, ...]
    labels: tuple[str, ...]
    out_dir: str
    config: ModelConfig = field(default_factory=ModelConfig)
    init_model: str | None = None


@dataclass(frozen=True)
class ProjectTrainingRequest:
    """One round on a project's ground truth, warm from its latest round (or ``init_model``)."""

    project: str
    config: ModelConfig | None = None
    init_model: str | None = None
    from_scratch: bool = False


class _Cancelled(Exception):
    """Raised inside a publishing context so the unfinished model is discarded."""


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
    pairs = read_pairs(request.images, request.labels, classes=request.config.classes)
    volumes = [TrainingVolume(p.image, p.truth, p.name) for p in pairs]
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.training-", dir=out_dir.parent))
    metadata = {
        "sources": [{"image": str(p.image_path), "labels": str(p.labels_path)} for p in pairs]
    }
    try:
        done = None
        for event in train(
            volumes,
            config=request.config,
            out_dir=work,
            init_model=request.init_model,
            cancel=cancel,
            metadata=metadata,
        ):
            if isinstance(event, CancelledEvent):
                yield event
                return
            if isinstance(event, DoneEvent):
                done = event
                continue
            yield event
        _replace_folder(work, out_dir)
        yield dataclasses.replace(done, path=str(out_dir))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _replace_folder(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``, replacing an old model folder there (old kept until the swap)."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{np.random.default_rng().integers(1 << 30)}")
        target.rename(old)
    new.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _train_project(request: ProjectTrainingRequest, cancel) -> Iterator[TrainingEvent]:
    from napari_cathode.core.project import Project

    project = Project.open(request.project)
    latest = project.latest_round()
    init_model = request.init_model
    if init_model is None and latest is not None and not request.from_scratch:
        init_model = str(latest.path)
    config = request.config or ModelConfig()
    config = config.replace(classes=project.classes)
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
    metadata: dict = {}
    extra = {
        "correction_effort": int(effort[this_round].sum()),
        "reviewed_slices": [int(z) for z in this_round],
        "truth_slices": list(slices),
    }
    volume = TrainingVolume(project.image, project.truth, project.name, slices=slices)
    done = None
    try:
        with project.new_round(metadata) as folder:
            for event in train(
                [volume],
                config=config,
                out_dir=folder,
                init_model=init_model,
                cancel=cancel,
                metadata=extra,
            ):
                if isinstance(event, CancelledEvent):
                    yield event
                    raise _Cancelled
                if isinstance(event, DoneEvent):
                    done = event
                    # new_round writes model.json from ``metadata`` when the block exits.
                    metadata.update(json.loads((folder / MODEL_JSON).read_text()))
                    continue
                yield event
    except _Cancelled:
        log.info("training cancelled; %s keeps its previous round", project.path)
        return
    published = project.latest_round()
    yield dataclasses.replace(done, path=str(published.path))
