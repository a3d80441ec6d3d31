"""Run a state-classifier training job from the CLI with a progress bar on stderr."""

from __future__ import annotations

__all__ = ["run_training_job"]


def run_training_job(request):
    """Run ``request`` in a :class:`StateTrainingJob`; return its Done event.

    The same event loop and progress rendering as ``train``
    (:func:`~napari_cathode.jobs.training_round.run_job`).

    Raises
    ------
    CathodeError
        If the job reports an error (with the child's message) or is cancelled.
    """
    from napari_cathode.cli.progress import TrainingProgress
    from napari_cathode.jobs.state_training_job import StateTrainingJob
    from napari_cathode.jobs.training_round import run_job

    return run_job(
        StateTrainingJob(request),
        TrainingProgress(),
        cancelled="training was cancelled; no model was written",
    )
