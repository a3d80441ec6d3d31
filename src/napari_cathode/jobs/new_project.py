"""Create a project: the one "new project" of every front end (``napari-cathode new`` and the
Project dock).

Checks the target before any work (never an input, never inside another project), checks the
starting model at the door, copies the image (and the initial truth) block by block, marks the
slices of the initial truth reviewed for the first round, and records the starting model.

Initial truth is labels the user brought, so its slices count as reviewed: the review queue
does not offer them again, and round 1's ``model.json`` lists them as the slices reviewed for
it. (Before, the command line marked them and the Project dock did not, so round 1 differed
by front end.)
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from napari_cathode.core.classes import DEFAULT_CLASSES
from napari_cathode.core.errors import OutputError

__all__ = ["NewProject", "default_init_model", "new_project"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewProject:
    """A created project, its slices with initial truth and its starting-model record."""

    project: object
    truth_slices: tuple[int, ...]
    start: dict

    def describe_start(self) -> str:
        """Where the first round starts from, in words."""
        return {"starter": "the NMC nano-CT starter model", "none": "scratch"}.get(
            self.start["choice"], str(self.start["source"])
        )


def default_init_model(choice: str | None, classes) -> str:
    """``choice`` as given, else the project default (the starter when the classes fit it)."""
    from napari_cathode.ml.starter import default_start_choice

    return choice if choice is not None else default_start_choice(classes)


def new_project(
    path: str | Path,
    image,
    *,
    classes=DEFAULT_CLASSES,
    truth=None,
    voxel_size=(1.0, 1.0, 1.0),
    unit: str = "px",
    source: str | Path | None = None,
    contiguous: bool | None = None,
    init_model: str | Path | None = None,
    overwrite: bool = False,
    inputs: Iterable[str | Path | None] = (),
    progress: Callable[[int, int], None] | None = None,
    holder: str = "new --overwrite",
) -> NewProject:
    """Create the project ``path`` from ``image`` (and optional initial ``truth``).

    Parameters
    ----------
    path : path
        The new project folder (conventionally ``*.cathode``).
    image : array-like (z, y, x)
        The volume, numpy, dask or zarr; copied block by block.
    classes : sequence of SegmentationClass
    truth : array-like, optional
        Initial ground truth (0 = unlabeled, 1..K); its slices are marked reviewed.
    voxel_size, unit
        Physical voxel size (z, y, x) and its unit (``"px"`` when unknown).
    source : path, optional
        The file the image came from (recorded, and never overwritten).
    contiguous : bool, optional
        Whether the slices are neighbours; None measures it from the image.
    init_model : {"starter", "none"} or path, optional
        Starting model of the first round (default: the starter when the classes fit it).
    overwrite : bool
        Replace an existing project at ``path`` (never while a job holds it).
    inputs : paths
        Other inputs the project must not replace (e.g. a labels file).
    progress : callable(done, total), optional
        Called as image blocks are copied.
    holder : str
        How the project lock names this job when it replaces a project.

    Returns
    -------
    NewProject

    Raises
    ------
    OutputError
        If ``path`` is an input or lies inside another project.
    ModelError
        If the starting model cannot be loaded or does not fit the classes.
    ProjectError, VolumeError
        From :meth:`~napari_cathode.core.project.store.Project.create`.
    """
    from napari_cathode.core.outputs import check_not_input, project_containing
    from napari_cathode.core.project.lock import project_lock
    from napari_cathode.core.project.store import Project, ReviewStatus
    from napari_cathode.jobs.training_runs import check_start_model, set_project_start

    init_model = default_init_model(init_model, classes)
    model_path = None if init_model in ("starter", "none") else init_model
    target = check_not_input(path, [source, model_path, *inputs], what="project")
    outer = project_containing(target.parent)
    if outer is not None:
        raise OutputError(
            f"{target} would lie inside the project {outer}; create projects outside other projects"
        )
    check_start_model(init_model, classes)  # refuse a bad choice before copying anything
    # Replacing a project waits for no one: a job that is writing into it keeps it.
    replacing = overwrite and (target / "project.json").is_file()
    lock = project_lock(target, holder) if replacing else contextlib.nullcontext()
    with lock:
        project = Project.create(
            path,
            image,
            classes=classes,
            voxel_size=voxel_size,
            unit=unit,
            truth=truth,
            source=None if source is None else str(source),
            overwrite=overwrite,
            progress=progress,
            contiguous=contiguous,
        )
    truth_slices = project.truth_slices()
    if len(truth_slices):
        project.set_review(truth_slices, ReviewStatus.REVIEWED, round=project.next_round_index())
    start = set_project_start(project.path, init_model)
    log.info("created %s with %d slices of initial truth", project.path, len(truth_slices))
    return NewProject(project, tuple(int(z) for z in truth_slices), start)
