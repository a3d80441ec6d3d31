"""Train a state classifier in a subprocess with the U-Net training job's machinery.

:class:`StateTrainingJob` is :class:`~napari_cathode.jobs.training_job.TrainingJob` (events over
a queue, cancel with a grace time, a crash or SIGKILL of the child becomes an ``ErrorEvent``)
whose child runs ``request.run(cancel)`` - a
:class:`~napari_cathode.jobs.particle_states_job.ParticleStateRequest` or an
:class:`~napari_cathode.jobs.image_states_job.ImageStateRequest`.
"""

from __future__ import annotations

import logging
import traceback

from napari_cathode.core.errors import CathodeError
from napari_cathode.jobs.training_job import TrainingJob
from napari_cathode.ml.events import ErrorEvent

log = logging.getLogger(__name__)


def _state_child_main(request, events, cancel, num_threads: int | None, log_level: int) -> None:
    """Entry point of the classifier training process (module level: spawn pickles it)."""
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    try:
        import torch

        if num_threads:
            torch.set_num_threads(num_threads)
        for event in request.run(cancel):
            events.put(event)
    except CathodeError as exc:
        events.put(ErrorEvent(str(exc), kind=type(exc).__name__))
    except BaseException as exc:  # report everything: the parent must never wait forever
        log.error("classifier training failed:\n%s", traceback.format_exc())
        events.put(ErrorEvent(f"training failed: {type(exc).__name__}: {exc}", kind="crash"))


class StateTrainingJob(TrainingJob):
    """Run a state-classifier training request (anything with ``run(cancel)``) in a process."""

    def __init__(self, request, *, num_threads: int | None = None) -> None:
        super().__init__(request, num_threads=num_threads)
        # same queue, cancel event and lifecycle; only the child's entry point differs
        self._process = self._context.Process(
            target=_state_child_main,
            args=(
                request,
                self._events,
                self._cancel,
                num_threads,
                logging.getLogger().getEffectiveLevel(),
            ),
            daemon=True,
        )
