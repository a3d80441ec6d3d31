"""napari_cathode.jobs"""

__all__ = [
    "analysis_job",
    "distributed",
    "distributed_training",
    "evaluation",
    "export_job",
    "image_states_job",
    "kinetics_job",
    "new_project",
    "particle_states_job",
    "prediction_job",
    "project_status",
    "simulate",
    "simulate_scribbles",
    "state_training_job",
    "threads",
    "training_job",
    "training_round",
    "training_runs",
    "training_worker",
    "volume_files",
]
