"""A project's status: review progress and the round table, for every front end.

``napari-cathode status`` prints it; the Project dock shows its summary line and the Train
dock its round table. The round table itself is
:func:`~napari_cathode.core.project.round_table.round_rows` (one row per complete round, read from
the round's ``model.json``), so every front end shows the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from napari_cathode.core.project.round_table import RoundRow, round_rows

__all__ = ["SLICE_KINDS", "UNKNOWN_SLICES", "ProjectStatus", "project_status", "slice_kind"]

#: How a project's slices are modelled, by its ``contiguous`` flag.
SLICE_KINDS = {True: "contiguous (2.5D model)", False: "separate (2D model)"}
UNKNOWN_SLICES = "of unknown contiguity (2D model)"


def slice_kind(contiguous: bool | None) -> str:
    """``"contiguous (2.5D model)"``, ``"separate (2D model)"`` or unknown contiguity."""
    return SLICE_KINDS.get(contiguous, UNKNOWN_SLICES)


@dataclass(frozen=True)
class ProjectStatus:
    """What a project holds now.

    Attributes
    ----------
    review : dict
        Slices per review status (``unseen``, ``proposed``, ``reviewed``).
    truth_slices : int
        Slices holding ground truth.
    round_count : int
        Complete rounds.
    rounds : tuple of RoundRow
        The round table (empty when not asked for).
    slices : str
        How the slices are modelled (:func:`slice_kind`).
    """

    review: dict
    truth_slices: int
    round_count: int
    rounds: tuple[RoundRow, ...]
    slices: str

    def rounds_json(self) -> list[dict]:
        """The round table as JSON-ready dicts (NaN written as null)."""
        return [
            {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in asdict(r).items()}
            for r in self.rounds
        ]


def project_status(project, *, with_rounds: bool = True) -> ProjectStatus:
    """The status of ``project`` (a :class:`~napari_cathode.core.project.store.Project`).

    Parameters
    ----------
    project : Project
        Open (read-only is enough).
    with_rounds : bool
        Also build the round table (it may count labelled voxels of old rounds; a GUI calls
        that off its Qt thread).

    Returns
    -------
    ProjectStatus
    """
    from napari_cathode.core.project.store import ReviewStatus

    status = project.review_status()
    review = {s.name.lower(): int((status == s).sum()) for s in ReviewStatus}
    rows = tuple(round_rows(project)) if with_rounds else ()
    return ProjectStatus(
        review=review,
        truth_slices=len(project.truth_slices()),
        round_count=len(rows) if with_rounds else len(project.rounds()),
        rounds=rows,
        slices=slice_kind(project.contiguous),
    )
