"""What the review dock does to a slice, GUI-free: accept, correction effort, the review queue.

Every function works on numpy slices or per-slice arrays from
:class:`~napari_cathode.core.project.store.Project`, so the napari docks stay thin and the rules are
unit-tested without a viewer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from napari_cathode.core.errors import CathodeError
from napari_cathode.core.project.review_state import ReviewStatus
from napari_cathode.core.strategies import farthest_first

__all__ = [
    "QUEUE_ORDERS",
    "QueueItem",
    "accept_mask",
    "accept_proposal",
    "correction_effort",
    "most_uncertain",
    "neighbour_in_queue",
    "review_queue",
]

#: Queue orders offered by the review dock.
QUEUE_ORDERS = ("uncertainty", "spread", "in order")


def _same_shape(truth: np.ndarray, proposal: np.ndarray) -> None:
    if truth.shape != proposal.shape:
        raise CathodeError(
            f"truth slice {truth.shape} and proposal slice {proposal.shape} differ in shape; "
            "they must come from the same project"
        )


def accept_mask(truth: ArrayLike, proposal: ArrayLike) -> np.ndarray:
    """Where accepting the proposal writes: truth still empty (0) and a proposal there (> 0).

    The human's labels are never overwritten.

    Examples
    --------
    >>> accept_mask([0, 2, 0, 0], [1, 1, 3, 0]).tolist()
    [True, False, True, False]
    """
    truth, proposal = np.asarray(truth), np.asarray(proposal)
    _same_shape(truth, proposal)
    return (truth == 0) & (proposal > 0)


def accept_proposal(truth: ArrayLike, proposal: ArrayLike) -> np.ndarray:
    """A new truth slice: the proposal copied in where the truth is still empty.

    Parameters
    ----------
    truth, proposal : array-like
        One slice (or any region) of the truth and proposal, same shape.

    Returns
    -------
    numpy.ndarray
        A new array of the truth's dtype; the inputs are not modified.

    Examples
    --------
    >>> accept_proposal([0, 2, 0, 0], [1, 1, 3, 0]).tolist()
    [1, 2, 3, 0]
    """
    truth, proposal = np.asarray(truth), np.asarray(proposal)
    mask = accept_mask(truth, proposal)
    out = truth.copy()
    out[mask] = proposal[mask].astype(truth.dtype)
    return out


def correction_effort(proposal: ArrayLike, truth: ArrayLike) -> int:
    """Voxels the human labelled differently from the proposal (a relabel or a new label).

    Counted over labelled truth voxels (> 0) that differ from the proposal; with no proposal
    (all 0) every labelled voxel was drawn by hand and counts. Unlabelled voxels count as "not
    reviewed there", not as corrections, so sparse scribbles are not inflated by the rest of
    the slice.

    Parameters
    ----------
    proposal, truth : array-like
        The same slice (or region) of the proposal and the truth.

    Returns
    -------
    int

    Examples
    --------
    >>> correction_effort([1, 1, 3, 0], [1, 2, 0, 2])
    2
    """
    truth, proposal = np.asarray(truth), np.asarray(proposal)
    _same_shape(truth, proposal)
    return int(np.count_nonzero((truth > 0) & (truth != proposal)))


@dataclass(frozen=True)
class QueueItem:
    """One row of the review queue.

    Attributes
    ----------
    z : int
        Slice number.
    status : ReviewStatus
        Unseen, proposed or reviewed.
    round : int
        The round the review feeds; -1 when not reviewed.
    uncertainty : float
        Mean per-voxel uncertainty of the slice's proposal (0..1), NaN when not predicted.
    correction_effort : int
        Voxels changed versus the proposal, recorded when the slice was marked reviewed.
    """

    z: int
    status: ReviewStatus
    round: int
    uncertainty: float
    correction_effort: int


def review_queue(
    status: ArrayLike,
    uncertainty: ArrayLike,
    *,
    order: str = "uncertainty",
    reviewed_round: ArrayLike | None = None,
    correction_effort: ArrayLike | None = None,
) -> list[QueueItem]:
    """All slices, the ones still to review first, ranked by ``order``; reviewed ones last.

    Parameters
    ----------
    status : array-like of int
        Per-slice :class:`ReviewStatus` (``Project.review_status()``).
    uncertainty : array-like of float
        Per-slice uncertainty, NaN where not predicted (``Project.slice_uncertainty()``).
    order : {"uncertainty", "spread", "in order"}
        ``uncertainty``: most uncertain first (unpredicted slices after the predicted ones);
        ``spread``: farthest from every reviewed slice first (see
        :func:`~napari_cathode.core.strategies.pick_slices`); ``in order``: by z.
    reviewed_round, correction_effort : array-like, optional
        Per-slice values shown with each item.

    Returns
    -------
    list of QueueItem

    Examples
    --------
    >>> [i.z for i in review_queue([1, 1, 2, 1], [0.1, 0.5, 0.9, float("nan")])]
    [1, 0, 3, 2]
    """
    if order not in QUEUE_ORDERS:
        raise CathodeError(f"queue order {order!r} is not one of {', '.join(QUEUE_ORDERS)}")
    status = np.asarray(status).astype(int)
    uncertainty = np.asarray(uncertainty, dtype=float)
    n = status.size
    if uncertainty.shape != status.shape:
        raise CathodeError(f"per-slice uncertainty has {uncertainty.size} values for {n} slices")
    rounds = np.full(n, -1) if reviewed_round is None else np.asarray(reviewed_round).astype(int)
    effort = np.zeros(n, int) if correction_effort is None else np.asarray(correction_effort)
    reviewed = [int(z) for z in np.flatnonzero(status == ReviewStatus.REVIEWED)]
    todo = [int(z) for z in np.flatnonzero(status != ReviewStatus.REVIEWED)]
    if order == "uncertainty":
        # NaN (not predicted) sorts after every predicted slice; ties by z
        todo.sort(key=lambda z: (np.isnan(uncertainty[z]), -np.nan_to_num(uncertainty[z]), z))
    elif order == "spread":
        todo = _spread_order(todo, reviewed)
    return [
        QueueItem(
            z,
            ReviewStatus(int(status[z])),
            int(rounds[z]),
            float(uncertainty[z]),
            int(effort[z]),
        )
        for z in todo + reviewed
    ]


def _spread_order(todo: list[int], reviewed: list[int]) -> list[int]:
    """Rank ``todo`` so that each next slice is the one farthest from those before it.

    With nothing reviewed the first is the middle slice, as the spread strategy picks it.
    """
    return farthest_first(sorted(todo), reviewed, len(todo))


def most_uncertain(items: list[QueueItem]) -> int | None:
    """The unreviewed slice with the highest uncertainty, or None when none was predicted."""
    scored = [i for i in items if i.status != ReviewStatus.REVIEWED and not np.isnan(i.uncertainty)]
    if not scored:
        return None
    return max(scored, key=lambda i: (i.uncertainty, -i.z)).z


def neighbour_in_queue(items: list[QueueItem], z: int, step: int) -> int | None:
    """The slice ``step`` places after (``+1``) or before (``-1``) ``z`` in the queue.

    From a slice not in the queue, ``+1`` gives the first item and ``-1`` the last. None for an
    empty queue; the queue does not wrap around.
    """
    order = [i.z for i in items]
    if not order:
        return None
    if z not in order:
        return order[0] if step > 0 else order[-1]
    position = order.index(z) + step
    if not 0 <= position < len(order):
        return None
    return order[position]
