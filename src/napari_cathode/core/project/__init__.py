"""The project store: everything under ``sample.cathode/`` (image, truth, proposal,
uncertainty, review state, rounds and their ``model.json``, the job lock).
"""

__all__ = [
    "contiguity",
    "create",
    "file_format",
    "label_arrays",
    "lock",
    "review_actions",
    "review_state",
    "round_table",
    "rounds",
    "start_model",
    "store",
    "writers",
]
