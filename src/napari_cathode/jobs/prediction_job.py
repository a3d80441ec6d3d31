"""In-process blockwise prediction of a project, and of plain arrays (evaluate, simulate)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_cathode.core.errors import ModelError, ProjectError
from napari_cathode.core.outputs import disk_full_error, is_disk_full
from napari_cathode.ml.checkpoint import LoadedModel, load_model
from napari_cathode.ml.device import resolve_device
from napari_cathode.ml.normalization import fit_normalization
from napari_cathode.ml.prediction import PredictionOptions, Predictor

__all__ = [
    "PredictionResult",
    "latest_model_dir",
    "make_predictor",
    "predict_array",
    "predict_project",
    "run_prediction",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictionResult:
    """What a prediction run did: slices, per-slice uncertainty scores, seconds, model, device."""

    slices: tuple[int, ...]
    slice_uncertainty: dict[int, float]
    seconds: float
    model: str
    device: str


def make_predictor(
    model: LoadedModel,
    image,
    *,
    device: str = "auto",
    options: PredictionOptions | None = None,
) -> Predictor:
    """A :class:`Predictor` for ``image`` with the volume's own robust normalisation."""
    options = options or PredictionOptions()
    config = model.config
    normalization = fit_normalization(
        image, method=config.normalization, percentiles=config.percentiles, seed=config.seed
    )
    torch_device = resolve_device(device if device != "auto" else config.device)
    return Predictor(
        model.network,
        config=config,
        normalization=normalization,
        device=torch_device,
        options=options,
        forest=model.forest,
    )


def predict_array(
    model: LoadedModel | str | Path,
    image,
    *,
    slices: Iterable[int] | None = None,
    device: str = "auto",
    options: PredictionOptions | None = None,
    proposal=None,
    uncertainty=None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, dict[int, float]]:
    """Predict ``slices`` of an in-memory or lazy volume.

    Returns
    -------
    proposal : ndarray or the given array
        uint8 (z, y, x) class ids; 0 where a slice was not predicted.
    scores : dict
        Per-slice uncertainty score.
    """
    if not isinstance(model, LoadedModel):
        model = load_model(model)
    predictor = make_predictor(model, image, device=device, options=options)
    if proposal is None:
        proposal = np.zeros(image.shape, np.uint8)
    scores = predictor.predict(
        image, proposal=proposal, uncertainty=uncertainty, slices=slices, progress=progress
    )
    return proposal, scores


def latest_model_dir(project) -> Path:
    """The model that proposes labels for a project: its latest round, else its starting model.

    A project created with a starting model (the shipped starter by default) can propose labels
    before anyone has reviewed a slice, as Dragonfly's "pre-trained model" choice does.

    Raises
    ------
    ModelError
        If the project has no trained round and no starting model.
    """
    latest = project.latest_round()
    if latest is not None:
        return latest.path
    start = project.start_model_dir()
    if start is not None:
        return start
    raise ModelError(
        f"{project.path} has no trained round and no starting model yet: "
        "review a slice and train first, or pass --model"
    )


def predict_project(
    project,
    *,
    model: str | Path | None = None,
    slices: Iterable[int] | None = None,
    device: str = "auto",
    options: PredictionOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
    scheduler=None,
) -> PredictionResult:
    """Write ``labels/proposal`` and ``labels/uncertainty`` of a project block by block.

    Parameters
    ----------
    project : Project
        Open for writing.
    model : path, optional
        Model folder; default the project's latest round.
    slices : iterable of int, optional
        Slices to predict (default all). Reviewed slices are predicted too but keep their status.
    device : {"auto", "cpu", "cuda"}
    options : PredictionOptions
    progress : callable(done, total), optional
    scheduler : str or distributed.Client, optional
        Run the blocks on a dask.distributed cluster (address or scheduler file, see
        :func:`napari_cathode.jobs.distributed.cluster_client`); default: in this process.

    Returns
    -------
    PredictionResult
    """
    from napari_cathode.core.project.store import ReviewStatus

    if project.read_only:
        raise ProjectError(f"{project.path} is read-only; cannot write proposals")
    model_dir = Path(model) if model is not None else latest_model_dir(project)
    loaded = load_model(model_dir)
    project_ids = {c.id for c in project.classes}
    model_ids = {c.id for c in loaded.config.classes}
    if not model_ids <= project_ids:
        raise ModelError(
            f"model {model_dir} predicts class ids {sorted(model_ids)} but project {project.path} "
            f"has {sorted(project_ids)}; use a model trained with the project's classes"
        )
    started = time.perf_counter()
    predictor = make_predictor(loaded, project.image, device=device, options=options)
    # The project's proposal writer puts each block straight on disk (never the whole volume);
    # each chunk is replaced atomically, so a full disk leaves every chunk old or new.
    if scheduler is None:
        try:
            scores = predictor.predict(
                project.image, into=project, slices=slices, progress=progress
            )
        except (OSError, ProjectError) as error:
            if is_disk_full(error):
                count = project.shape[0] if slices is None else len(list(slices))
                needed = 2 * count * project.shape[1] * project.shape[2]
                raise disk_full_error(project.path, needed) from error
            raise
    else:
        from napari_cathode.jobs.distributed import predict_on_cluster

        scores = predict_on_cluster(
            project,
            predictor,
            model_dir,
            scheduler=scheduler,
            slices=slices,
            device=device,
            progress=progress,
        )
    predicted = np.array(sorted(scores), dtype=int)
    if predicted.size:
        project.set_slice_uncertainty(predicted, [scores[int(z)] for z in predicted])
        status = project.review_status()
        unreviewed = predicted[status[predicted] != ReviewStatus.REVIEWED]
        if unreviewed.size:
            project.set_review(unreviewed, ReviewStatus.PROPOSED)
    seconds = time.perf_counter() - started
    log.info("predicted %d slices of %s in %.1f s", predicted.size, project.path, seconds)
    return PredictionResult(
        tuple(int(z) for z in predicted), scores, seconds, str(model_dir), str(predictor.device)
    )


def run_prediction(
    project_path: str | Path,
    *,
    model: str | Path | None = None,
    slices: Iterable[int] | None = None,
    device: str = "auto",
    options: PredictionOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
    scheduler=None,
    lock_as: str | None = "predict",
) -> PredictionResult:
    """Propose labels for a project folder: the one prediction of every front end.

    ``napari-cathode predict`` and the napari docks (predict a slice, a range, the volume;
    refresh after a round) call this with the same options as :func:`predict_project`.

    Parameters
    ----------
    project_path : path
        The project folder (opened for writing).
    lock_as : str or None
        Hold the project's writer lock under this name while predicting, so no other job
        writes into the project meanwhile (the command line). None: do not lock - a viewer
        proposes while its own round trains (training never writes proposals), and the
        round's lock is still being released when its refresh of the proposals starts.

    Returns
    -------
    PredictionResult
    """
    import contextlib

    from napari_cathode.core.project.lock import project_lock
    from napari_cathode.core.project.store import Project

    project = Project.open(project_path)
    lock = contextlib.nullcontext() if lock_as is None else project_lock(project.path, lock_as)
    with lock:
        return predict_project(
            project,
            model=model,
            slices=slices,
            device=device,
            options=options,
            progress=progress,
            scheduler=scheduler,
        )
