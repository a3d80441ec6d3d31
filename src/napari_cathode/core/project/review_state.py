"""Per-slice review state of a project: status, round, correction effort, slice uncertainty.

Stored as four small 1D zarr arrays in the project's ``review`` group, each a single chunk so
every update replaces one file atomically. ``status`` is written last: it is what says a slice
was reviewed, so a crash between the writes never shows a reviewed slice without its round.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import numpy as np
import zarr

from napari_cathode.core.atomic import folder_lock
from napari_cathode.core.errors import ProjectError

__all__ = ["REVIEW_GROUP", "ProjectReview", "ReviewState", "ReviewStatus", "create_review_arrays"]

REVIEW_GROUP = "review"


class ReviewStatus(enum.IntEnum):
    """Where a slice stands in the review queue."""

    UNSEEN = 0
    PROPOSED = 1
    REVIEWED = 2


#: name -> (dtype, fill value) of the per-slice arrays.
_FIELDS = {
    "status": ("int8", int(ReviewStatus.UNSEEN)),
    "round": ("int16", -1),
    "correction_effort": ("int64", 0),
    "uncertainty": ("float32", float("nan")),
}


def create_review_arrays(group: zarr.Group, n_slices: int) -> None:
    """Create the empty review arrays for ``n_slices`` slices in ``group``."""
    review = group.require_group(REVIEW_GROUP)
    for name, (dtype, fill) in _FIELDS.items():
        review.create_array(
            name,
            shape=(n_slices,),
            chunks=(max(n_slices, 1),),
            dtype=dtype,
            fill_value=fill,
            dimension_names=("z",),
        )


class ReviewState:
    """The review arrays of one open project (see the module docstring)."""

    def __init__(self, group: zarr.Group, n_slices: int) -> None:
        self.n_slices = n_slices
        try:
            review = group[REVIEW_GROUP]
            self._arrays = {name: review[name] for name in _FIELDS}
        except KeyError as error:
            raise ProjectError(f"the project has no review array {error}: it is damaged") from error

    def read(self, name: str) -> np.ndarray:
        """The whole per-slice array ``name``."""
        try:
            return self._arrays[name][:]
        except Exception as error:  # a damaged chunk: the codec's own error type
            raise ProjectError(
                f"the review array {name!r} cannot be read ({type(error).__name__}: {error}); "
                "the project is damaged: restore it from a backup"
            ) from error

    def slice_indices(self, z: int | Sequence[int]) -> np.ndarray:
        """``z`` as an index array, checked against the number of slices."""
        indices = np.atleast_1d(np.asarray(z))
        if indices.size == 0:
            return np.zeros(0, dtype=np.int64)
        if indices.dtype.kind not in "iu" or indices.ndim != 1:
            raise ProjectError(f"slice index {z!r} must be an int or a sequence of ints")
        bad = indices[(indices < 0) | (indices >= self.n_slices)]
        if bad.size:
            raise ProjectError(
                f"slice index {bad.tolist()} is outside the project's {self.n_slices} slices"
            )
        return indices.astype(np.int64)

    def write(self, name: str, indices: np.ndarray, values) -> None:
        """Set ``name[indices] = values`` (one atomic chunk rewrite; call under the folder lock)."""
        array = self._arrays[name]
        current = array[:]
        current[indices] = values
        array[:] = current

    def set_review(
        self, indices: np.ndarray, status: ReviewStatus, round_index: int, correction_effort
    ) -> None:
        """Record a review decision; ``status`` goes last (see the module docstring)."""
        if status != ReviewStatus.REVIEWED:
            round_index = -1
        effort = None
        if correction_effort is not None:
            effort = np.asarray(correction_effort)
            if effort.dtype.kind not in "iu" or (effort < 0).any():
                raise ProjectError(
                    f"correction_effort {correction_effort!r} must be voxel counts >= 0"
                )
            try:
                effort = np.broadcast_to(effort, indices.shape)
            except ValueError as error:
                raise ProjectError(
                    f"correction_effort has {effort.size} values for {indices.size} slices"
                ) from error
        self.write("round", indices, round_index)
        if effort is not None:
            self.write("correction_effort", indices, effort)
        self.write("status", indices, int(status))


class ProjectReview:
    """The review methods of :class:`~napari_cathode.core.project.store.Project`.

    Expects ``self._review`` (a :class:`ReviewState`), ``self.path``, ``self._writing(what)``
    and ``self.next_round_index()`` from the project.
    """

    def review_status(self) -> np.ndarray:
        """Per-slice :class:`ReviewStatus` values (int8)."""
        return self._review.read("status").astype(np.int8)

    def reviewed_round(self) -> np.ndarray:
        """Per-slice round a review feeds (int16), -1 where the slice is not reviewed."""
        status = self._review.read("status")
        return np.where(status == ReviewStatus.REVIEWED, self._review.read("round"), -1).astype(
            np.int16
        )

    def correction_effort(self) -> np.ndarray:
        """Per-slice number of voxels the human changed versus the proposal (int64)."""
        return self._review.read("correction_effort").astype(np.int64)

    def slice_uncertainty(self) -> np.ndarray:
        """Per-slice uncertainty score (float32), NaN where not predicted."""
        return self._review.read("uncertainty").astype(np.float32)

    def set_review(self, z, status, *, round: int | None = None, correction_effort=None) -> None:
        """Record the review status of slice(s) ``z``.

        Parameters
        ----------
        z : int or sequence of int
            Slice number(s).
        status : ReviewStatus or int
            New status; anything but REVIEWED also clears the reviewed round.
        round : int, optional
            The training round this review feeds; default :meth:`next_round_index`.
        correction_effort : int or sequence of int, optional
            Voxels changed versus the proposal, per slice; unchanged when omitted.
        """
        try:
            status = ReviewStatus(int(status))
        except (TypeError, ValueError) as error:
            raise ProjectError(
                f"review status {status!r} must be one of {[s.name for s in ReviewStatus]}"
            ) from error
        indices = self._review.slice_indices(z)
        if indices.size == 0:
            return
        with self._writing("review state"), folder_lock(self.path):
            if round is None and status == ReviewStatus.REVIEWED:
                round = self.next_round_index()
            self._review.set_review(
                indices, status, -1 if round is None else int(round), correction_effort
            )

    def set_slice_uncertainty(self, z, scores) -> None:
        """Record per-slice uncertainty scores (NaN = not predicted)."""
        indices = self._review.slice_indices(z)
        scores = np.asarray(scores, dtype=np.float32)
        with self._writing("slice uncertainty"), folder_lock(self.path):
            self._review.write("uncertainty", indices, np.broadcast_to(scores, indices.shape))
