"""The launcher of a data-parallel project round: N processes, one training loop, one stream.

A project round with ``processes > 1`` (``napari-cathode train PROJECT --gpus N``, the Train
dock's *GPUs*) runs here instead of in the training process itself; everything around it
(planning, the round folder, publishing, cancel, the event stream of
:class:`~napari_cathode.jobs.training_job.TrainingJob`) is the local round's
(:mod:`napari_cathode.jobs.training_runs`).

Every rank runs the one training loop, :func:`napari_cathode.ml.training.train` with
``rank``/``world_size`` (one process per GPU with NCCL, or CPU processes with gloo). The ranks
are started with ``torch.multiprocessing`` (spawn) and send their events back over one of its
queues: rank 0 sends every event, the others their last one (so the launcher can check that
all ranks end with the same weights). Why a queue: the events are the same small picklable
dataclasses the local round yields, the queue comes with the process start (no command line,
no temporary files, no log lines to parse, no port of our own), and it is what
``torch.multiprocessing`` documents for talking to DDP workers. Spawn, not fork: the parent
already runs torch threads. The ranks meet at a ``TCPStore`` the launcher hosts on a port the
system picks, so two rounds on one machine never race for a port.
"""

from __future__ import annotations

import datetime
import logging
import queue as queue_module
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from napari_cathode.core.errors import CathodeError, ModelError
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.events import (
    CancelledEvent,
    DoneEvent,
    ErrorEvent,
    StepEvent,
    TrainingEvent,
)

__all__ = [
    "EXIT_SECONDS",
    "DistributedRound",
    "RankTask",
    "check_processes",
    "rank_main",
    "train_on_processes",
]

log = logging.getLogger(__name__)

#: Seconds the launcher waits for ranks to exit after their last event, or after terminate.
EXIT_SECONDS = 60


@dataclass(frozen=True)
class RankTask:
    """What every rank of a data-parallel project round trains (sent to each rank).

    Attributes
    ----------
    project : str
        The project folder (read-only on the ranks; rank 0 writes only ``out_dir``).
    slices : tuple of int
        The labelled slices the round trains on.
    config : ModelConfig
        The round's config; ``batch_size`` is per process.
    init_model : str or None
        The model folder the round starts from.
    metadata : dict
        Extra model.json fields (the plan's provenance).
    out_dir : str
        Where rank 0 writes the model (the round's unpublished folder).
    threads : int
        torch threads per rank (CPU ranks share the cores).
    log_level : int
        Logging level of the ranks.
    """

    project: str
    slices: tuple[int, ...]
    config: ModelConfig
    init_model: str | None
    metadata: dict
    out_dir: str
    threads: int = 1
    log_level: int = logging.INFO


def check_processes(processes: int, device: str) -> str:
    """The backend of a round on ``processes`` processes; refuse what this machine cannot run.

    Returns
    -------
    str
        ``nccl`` (one process per GPU) or ``gloo`` (CPU processes).

    Raises
    ------
    ModelError
        If ``processes`` < 2, or it exceeds the GPUs torch sees and ``device`` is not ``cpu``.
    """
    from napari_cathode.ml.ddp import backend_for

    if processes < 2:
        raise ModelError(f"a data-parallel round needs 2 or more processes, got {processes}")
    if device != "cpu":
        available = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if processes > available:
            raise ModelError(
                f"{processes} GPUs were asked for but torch sees {available}; ask for at most "
                f"{available}, or train on the CPU with device cpu"
            )
    return backend_for(device)


def rank_main(rank: int, world_size: int, port: int, backend: str, task: RankTask, events, stop):
    """One rank: join the group, train the project round, send events (see the module doc)."""
    from napari_cathode.core.parent_death import die_with_parent

    die_with_parent()  # the training process is gone: never write a model for nobody
    logging.basicConfig(level=task.log_level, format=f"%(levelname)s rank {rank}: %(message)s")
    from napari_cathode.core.project.store import Project
    from napari_cathode.ml import ddp
    from napari_cathode.ml.training import TrainingVolume, train

    torch.set_num_threads(task.threads)
    try:
        ddp.join(rank, world_size, port=port, backend=backend)
        project = Project.open(task.project, mode="r", remove_temporaries=False)
        volume = TrainingVolume(project.image, project.truth, project.name, slices=task.slices)
        for event in train(
            [volume],
            config=task.config,
            out_dir=task.out_dir,
            init_model=task.init_model,
            cancel=stop,
            metadata=task.metadata,
            rank=rank,
            world_size=world_size,
        ):
            if rank == 0 or isinstance(event, (StepEvent, DoneEvent, CancelledEvent)):
                events.put((rank, event))
    except CathodeError as exc:
        events.put((rank, ErrorEvent(str(exc), kind=type(exc).__name__)))
    except BaseException as exc:  # report everything: the launcher must never wait forever
        log.exception("training failed on rank %d", rank)
        events.put((rank, ErrorEvent(f"training failed on rank {rank}: {exc!r}", kind="crash")))
    finally:
        ddp.leave()


class DistributedRound:
    """Run a project round on ``processes`` ranks and stream rank 0's events.

    Parameters
    ----------
    task : RankTask
    processes : int
        World size: GPUs (NCCL), or CPU processes when ``task.config.device`` is ``cpu``.

    Attributes
    ----------
    digests : dict
        Rank to :attr:`DoneEvent.weights` once every rank has finished.
    losses : dict
        Rank to the loss of its latest step (each rank trains on its own patches).

    Examples
    --------
    >>> run = DistributedRound(task, 2)  # doctest: +SKIP
    >>> for event in run.events():  # doctest: +SKIP
    ...     print(event)
    """

    def __init__(self, task: RankTask, processes: int) -> None:
        self.task, self.processes = task, processes
        self.backend = check_processes(processes, task.config.device)
        self.digests: dict[int, str] = {}
        self.losses: dict[int, float] = {}

    def events(self, cancel: Callable[[], bool] | None = None) -> Iterator[TrainingEvent]:
        """Start the ranks and yield rank 0's events; the last is Done, Cancelled or Error.

        ``cancel`` (an Event or a callable) is polled; when set, all ranks stop at one step.
        """
        context = mp.get_context("spawn")
        events, stop = context.Queue(), context.Event()
        store = dist.TCPStore(
            "127.0.0.1",
            0,
            self.processes + 1,
            is_master=True,
            wait_for_workers=False,
            timeout=datetime.timedelta(minutes=5),
        )
        ranks = [
            context.Process(
                target=rank_main,
                args=(rank, self.processes, store.port, self.backend, self.task, events, stop),
                name=f"napari-cathode-rank-{rank}",
                daemon=True,
            )
            for rank in range(self.processes)
        ]
        for process in ranks:
            process.start()
        log.info("%d %s ranks started (store port %d)", self.processes, self.backend, store.port)
        try:
            yield from self._stream(ranks, events, stop, _poll(cancel))
        finally:
            _end(ranks)
            del store

    def _stream(self, ranks, events, stop, cancelled) -> Iterator[TrainingEvent]:
        finals: dict[int, TrainingEvent] = {}
        while len(finals) < self.processes:
            if not stop.is_set() and cancelled():
                stop.set()
            try:
                rank, event = events.get(timeout=0.2)
            except queue_module.Empty:
                failed = [(i, p.exitcode) for i, p in enumerate(ranks) if p.exitcode]
                if failed:
                    rank, code = failed[0]
                    yield ErrorEvent(
                        f"rank {rank} of the data-parallel round stopped unexpectedly "
                        f"(exit code {code})",
                        kind="crash",
                    )
                    return
                continue
            if isinstance(event, ErrorEvent):
                yield event
                return
            if isinstance(event, (DoneEvent, CancelledEvent)):
                finals[rank] = event
                continue
            if isinstance(event, StepEvent):
                self.losses[rank] = event.loss
            if rank == 0:
                yield event
        for process in ranks:
            process.join(EXIT_SECONDS)
        yield self._last(finals)

    def _last(self, finals: dict[int, TrainingEvent]) -> TrainingEvent:
        """Rank 0's last event, once all ranks agree on how the round ended."""
        if any(isinstance(e, CancelledEvent) for e in finals.values()):
            return finals[0] if isinstance(finals[0], CancelledEvent) else CancelledEvent(-1)
        self.digests = {rank: e.weights for rank, e in sorted(finals.items())}
        if len(set(self.digests.values())) != 1:
            return ErrorEvent(
                f"the {self.processes} ranks ended with different weights ({self.digests}); "
                "the round was not saved",
                kind="crash",
            )
        return finals[0]


def train_on_processes(plan, out_dir, processes: int, cancel=None) -> Iterator[TrainingEvent]:
    """The events of a planned project round (:func:`~napari_cathode.jobs.training_runs.
    plan_round`) trained into ``out_dir`` on ``processes`` ranks (rank 0's events).

    Raises
    ------
    ModelError
        If this machine cannot run ``processes`` ranks (see :func:`check_processes`).
    """
    task = RankTask(
        str(plan.project.path),
        plan.slices,
        plan.config,
        plan.init_model,
        plan.metadata,
        str(out_dir),
        threads=max(1, torch.get_num_threads() // processes),
        log_level=logging.getLogger().getEffectiveLevel(),
    )
    return DistributedRound(task, processes).events(cancel)


def _poll(cancel) -> Callable[[], bool]:
    """``cancel`` (None, an Event or a callable) as a callable."""
    if cancel is None:
        return lambda: False
    return cancel.is_set if hasattr(cancel, "is_set") else cancel


def _end(ranks) -> None:
    """Stop ranks that still run (an error on one rank, or the caller went away)."""
    for process in ranks:
        if process.is_alive():
            process.terminate()
    for process in ranks:
        process.join(EXIT_SECONDS)
        if process.is_alive():
            process.kill()
            process.join(EXIT_SECONDS)
