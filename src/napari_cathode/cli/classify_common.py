"""Run a state-classifier training job from the CLI with a progress bar on stderr."""

from __future__ import annotations

import sys

from napari_cathode.core.errors import CathodeError, ModelError


def run_training_job(request, steps: int):
    """Run ``request`` in a :class:`StateTrainingJob`; return its Done event.

    Raises
    ------
    CathodeError
        If the job reports an error (with the child's message) or is cancelled.
    """
    from tqdm import tqdm

    from napari_cathode.jobs.state_training_job import StateTrainingJob
    from napari_cathode.ml.events import CancelledEvent, DoneEvent, ErrorEvent, StepEvent

    job = StateTrainingJob(request).start()
    try:
        with tqdm(total=steps, desc="training", unit="step", file=sys.stderr) as bar:
            for event in job.events():
                if isinstance(event, StepEvent):
                    bar.update(1)
                    bar.set_postfix(loss=f"{event.loss:.3f}", refresh=False)
                elif isinstance(event, ErrorEvent):
                    error = CathodeError if event.kind == "crash" else ModelError
                    raise error(event.message)
                elif isinstance(event, CancelledEvent):
                    raise CathodeError("training was cancelled; no model was written")
                elif isinstance(event, DoneEvent):
                    return event
    except KeyboardInterrupt:
        job.cancel(grace_seconds=10)
        raise
    finally:
        job.close()
    raise CathodeError("training ended without a result")
