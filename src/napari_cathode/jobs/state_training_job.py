"""Train a state classifier in a subprocess with the U-Net training job's machinery.

:class:`StateTrainingJob` is :class:`~napari_cathode.jobs.training_job.TrainingJob` (the child is
``python -m napari_cathode.jobs.training_worker``, dies with its parent, streams events over a
pipe; cancel with a grace time; a crash or SIGKILL of the child becomes an ``ErrorEvent``). The
worker runs ``request.run(cancel)`` for any request that has one - a
:class:`~napari_cathode.jobs.particle_states_job.ParticleStateRequest` or an
:class:`~napari_cathode.jobs.image_states_job.ImageStateRequest`.
"""

from __future__ import annotations

from napari_cathode.jobs.training_job import TrainingJob

__all__ = ["StateTrainingJob"]


class StateTrainingJob(TrainingJob):
    """Run a state-classifier training request (anything with ``run(cancel)``) in a process."""
