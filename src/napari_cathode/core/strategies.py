"""Which slices to review next: spread out, at random, or where the model is least sure."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from napari_cathode.core.errors import CathodeError

__all__ = ["STRATEGIES", "farthest_first", "pick_slices"]

log = logging.getLogger(__name__)

STRATEGIES = ("spread", "random", "uncertainty")


def pick_slices(
    strategy: str,
    candidates: Sequence[int],
    count: int,
    *,
    reviewed: Sequence[int] = (),
    uncertainty: Mapping[int, float] | None = None,
    rng: np.random.Generator | None = None,
) -> list[int]:
    """Choose up to ``count`` slices among ``candidates`` that are not yet reviewed.

    Parameters
    ----------
    strategy : {"spread", "random", "uncertainty"}
        ``spread``: with nothing reviewed, the candidates at evenly spaced quantiles; then,
        one at a time, the candidate farthest (in z) from every reviewed or picked slice.
        ``random``: uniformly at random (``rng``). ``uncertainty``: the highest per-slice
        uncertainty scores; slices without a score (missing or NaN) come after the scored ones,
        and with no candidate scored it falls back to ``spread``.
    candidates : sequence of int
        Slices that may be picked.
    count : int
        How many to pick.
    reviewed : sequence of int
        Slices already reviewed (never picked again).
    uncertainty : mapping z -> float, optional
        Per-slice uncertainty scores (higher = less sure; NaN = not predicted).
    rng : numpy.random.Generator, optional
        For ``random``.

    Returns
    -------
    list of int
        Picked slices, ascending.

    Examples
    --------
    >>> pick_slices("spread", range(10), 2)
    [2, 7]
    >>> pick_slices("spread", range(10), 1, reviewed=[2, 6])
    [9]
    """
    if strategy not in STRATEGIES:
        raise CathodeError(f"strategy {strategy!r} is not one of {', '.join(STRATEGIES)}")
    if count < 0:
        raise CathodeError(f"the number of slices to pick must be >= 0, got {count}")
    done = {int(z) for z in reviewed}
    free = sorted({int(z) for z in candidates} - done)
    count = min(count, len(free))
    if count == 0:
        return []
    if strategy == "uncertainty":
        # NaN (not predicted) counts as no score, as in the review queue
        scores = {z: float(uncertainty.get(z, np.nan)) for z in free} if uncertainty else {}
        if all(np.isnan(s) for s in scores.values()):
            log.info("no uncertainty scores yet: picking slices by the spread strategy")
            strategy = "spread"
    if strategy == "random":
        rng = rng if rng is not None else np.random.default_rng()
        return sorted(int(z) for z in rng.choice(free, size=count, replace=False))
    if strategy == "uncertainty":
        # unscored slices (no score or NaN) after every scored one; ties by z
        ranked = sorted(free, key=lambda z: (np.isnan(scores[z]), -np.nan_to_num(scores[z]), z))
        return sorted(ranked[:count])
    if not done:
        positions = ((np.arange(count) + 0.5) / count * len(free)).astype(int)
        return sorted({free[int(i)] for i in positions})
    return sorted(farthest_first(free, sorted(done), count))


def farthest_first(free: Sequence[int], anchors: Sequence[int], count: int) -> list[int]:
    """Up to ``count`` of the ascending slices ``free``, in the order picked.

    Each pick is the slice farthest in z from every anchor and earlier pick (ties: the lowest
    z); with no anchors the first pick is the middle one. O(len(free)) numpy work per pick.

    Examples
    --------
    >>> farthest_first([0, 1, 2, 3, 4], [], 3)
    [2, 0, 4]
    """
    z = np.asarray(free, dtype=np.int64)
    count = min(count, z.size)
    if count <= 0:
        return []
    if len(anchors):
        a = np.asarray(sorted(anchors), dtype=np.int64)
        # distance to the nearest anchor: the one just below or just above each slice
        right = np.searchsorted(a, z).clip(max=a.size - 1)
        left = (right - 1).clip(min=0)
        distance = np.minimum(np.abs(z - a[left]), np.abs(z - a[right])).astype(float)
        first = int(np.argmax(distance))
    else:
        distance = np.full(z.size, np.inf)
        first = z.size // 2
    picked = []
    nxt = first
    for _ in range(count):
        picked.append(int(z[nxt]))
        distance = np.minimum(distance, np.abs(z - z[nxt]))
        distance[nxt] = -1.0
        nxt = int(np.argmax(distance))
    return picked
