"""Blockwise prediction on a ``dask.distributed`` cluster, voxel for voxel like the local run.

The client plans the blocks exactly as :meth:`Predictor.predict` does (whole slices, same
block depth) and fits the volume's normalisation once; each worker process opens the project
folder (a shared file system), loads the model from ``rounds/NNNN`` once, and runs
:meth:`Predictor.predict_block` on its blocks, writing ``labels/proposal`` and
``labels/uncertainty`` itself. Blocks that would share a zarr chunk of those arrays go to one
task, so no two workers ever write the same chunk file. Only per-slice scores travel back.

The engine is dask.distributed (``Client``, ``as_completed``); a scheduler started by hand,
by ``dask-jobqueue`` on SLURM, or a ``LocalCluster`` all work (see ``docs/cluster.md``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from napari_cathode.core.errors import CathodeError
from napari_cathode.ml.normalization import Normalization
from napari_cathode.ml.prediction import PredictionOptions, Predictor

__all__ = ["Block", "chunk_aligned_tasks", "cluster_client", "predict_on_cluster", "predict_task"]

log = logging.getLogger(__name__)

Block = tuple[int, int]


def _distributed():
    try:
        import distributed
    except ImportError as error:  # an optional dependency (extra "distributed")
        raise CathodeError(
            "--scheduler needs dask.distributed: pip install 'napari-cathode[distributed]'"
        ) from error
    return distributed


@contextlib.contextmanager
def cluster_client(scheduler, *, timeout: float = 30.0) -> Iterator:
    """A connected ``distributed.Client`` for ``scheduler``, closed on exit.

    Parameters
    ----------
    scheduler : str or distributed.Client
        A scheduler address (``tcp://host:8786``), a scheduler file (``*.json``, as written by
        ``dask scheduler --scheduler-file`` or dask-jobqueue), or a client (used as is and
        left open).
    timeout : float
        Seconds to wait for the scheduler.

    Raises
    ------
    CathodeError
        If dask.distributed is missing or the scheduler cannot be reached.
    """
    distributed = _distributed()
    if isinstance(scheduler, distributed.Client):
        with scheduler.as_current():
            yield scheduler
        return
    text = str(scheduler)
    options = (
        {"scheduler_file": text}
        if text.endswith(".json") and Path(text).is_file()
        else {"address": text}
    )
    try:
        client = distributed.Client(**options, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as error:
        raise CathodeError(
            f"cannot reach the dask scheduler {text!r} ({error}); start one with "
            "`dask scheduler` (see docs/cluster.md) or leave --scheduler out to run locally"
        ) from error
    with client:
        yield client


def chunk_aligned_tasks(blocks: Sequence[Block], chunk_depth: int) -> list[tuple[Block, ...]]:
    """Group prediction blocks so that no two groups touch the same zarr chunk.

    Blocks are whole slices, so only the chunks' depth along z matters: consecutive blocks
    that meet inside one chunk are kept in one task (run in order by one worker).

    Examples
    --------
    >>> chunk_aligned_tasks([(0, 4), (4, 8), (9, 12)], 1)
    [((0, 4),), ((4, 8),), ((9, 12),)]
    >>> chunk_aligned_tasks([(0, 3), (3, 6), (9, 12)], 2)
    [((0, 3), (3, 6)), ((9, 12),)]
    """
    tasks: list[list[Block]] = []
    for z0, z1 in blocks:
        if tasks and (tasks[-1][-1][1] - 1) // chunk_depth == z0 // chunk_depth:
            tasks[-1].append((z0, z1))
        else:
            tasks.append([(z0, z1)])
    return [tuple(task) for task in tasks]


@functools.lru_cache(maxsize=4)
def _worker_predictor(
    model_dir: str,
    stamp: tuple[int, ...],
    normalization: Normalization,
    device: str,
    options: PredictionOptions,
) -> Predictor:
    """One Predictor per worker process and model (``stamp``: the files' mtimes)."""
    from napari_cathode.ml.checkpoint import load_model
    from napari_cathode.ml.device import resolve_device

    model = load_model(model_dir)
    torch_device = resolve_device(device if device != "auto" else model.config.device)
    log.info("worker loaded %s on %s", model_dir, torch_device)
    return Predictor(
        model.network,
        config=model.config,
        normalization=normalization,
        device=torch_device,
        options=options,
        forest=model.forest,
    )


def _model_stamp(model_dir: Path) -> tuple[int, ...]:
    return tuple(f.stat().st_mtime_ns for f in sorted(model_dir.iterdir()) if f.is_file())


def predict_task(
    project_path: str,
    model_dir: str,
    normalization: Normalization,
    device: str,
    options: PredictionOptions,
    blocks: tuple[Block, ...],
) -> dict[int, float]:
    """Run on a worker: predict ``blocks`` of a project into its proposal and uncertainty.

    Returns
    -------
    dict
        Per-slice uncertainty score of the predicted slices.
    """
    from napari_cathode.core.project.store import Project

    project = Project.open(project_path, remove_temporaries=False)
    predictor = _worker_predictor(
        model_dir, _model_stamp(Path(model_dir)), normalization, device, options
    )
    scores: dict[int, float] = {}
    for z0, z1 in blocks:
        scores.update(predictor.predict_block(project.image, z0, z1, into=project))
    return scores


def predict_on_cluster(
    project,
    predictor: Predictor,
    model_dir: Path,
    *,
    scheduler,
    slices=None,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> dict[int, float]:
    """Predict ``slices`` of ``project`` on a dask.distributed cluster.

    Parameters
    ----------
    project : Project
        Open for writing, in a folder every worker can reach under the same path.
    predictor : Predictor
        The client's predictor: its blocks and normalisation are used as they are.
    model_dir : Path
        The model folder the workers load (a project round or an exported model).
    scheduler : str or distributed.Client
        See :func:`cluster_client`.
    slices : iterable of int, optional
        Slices to predict (default all).
    device : {"auto", "cpu", "cuda"}
        Device on the workers (``auto``: each worker's own GPU when it has one).
    progress : callable(done, total), optional
        Called with slice counts as blocks finish (in any order).

    Returns
    -------
    dict
        Per-slice uncertainty score, as :meth:`Predictor.predict` returns.
    """
    distributed = _distributed()
    blocks = predictor.plan_blocks(project.shape, slices)
    depth = max(int(project.proposal.chunks[0]), int(project.uncertainty.chunks[0]))
    tasks = chunk_aligned_tasks(blocks, depth)
    total = sum(z1 - z0 for z0, z1 in blocks)
    scores: dict[int, float] = {}
    with cluster_client(scheduler) as client:
        log.info(
            "predicting %d slices of %s in %d tasks on %s",
            total,
            project.path,
            len(tasks),
            getattr(client.scheduler, "address", scheduler),
        )
        futures = [
            client.submit(
                predict_task,
                str(project.path),
                str(Path(model_dir).absolute()),
                predictor.normalization,
                device,
                predictor.options,
                task,
                key=f"napari-cathode-predict-{task[0][0]}-{task[-1][1]}-{id(blocks)}",
                pure=False,
            )
            for task in tasks
        ]
        for future in distributed.as_completed(futures):
            scores.update(future.result())
            if progress is not None:
                progress(len(scores), total)
    return scores
