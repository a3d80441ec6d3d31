"""Which slices to review next: spread out, at random, or where the model is least sure."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from napari_cathode.core.errors import CathodeError

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
        uncertainty scores (falls back to ``spread`` when no scores are given).
    candidates : sequence of int
        Slices that may be picked.
    count : int
        How many to pick.
    reviewed : sequence of int
        Slices already reviewed (never picked again).
    uncertainty : mapping z -> float, optional
        Per-slice uncertainty scores (higher = less sure).
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
    if strategy == "uncertainty" and not uncertainty:
        log.info("no uncertainty scores yet: picking slices by the spread strategy")
        strategy = "spread"
    if strategy == "random":
        rng = rng if rng is not None else np.random.default_rng()
        return sorted(int(z) for z in rng.choice(free, size=count, replace=False))
    if strategy == "uncertainty":
        ranked = sorted(free, key=lambda z: (-float(uncertainty.get(z, -np.inf)), z))
        return sorted(ranked[:count])
    picked: list[int] = []
    if not done:
        positions = ((np.arange(count) + 0.5) / count * len(free)).astype(int)
        picked = [free[int(i)] for i in positions]
        return sorted(set(picked))
    anchors = sorted(done)
    for _ in range(count):
        remaining = [z for z in free if z not in picked]
        distance = [min(abs(z - a) for a in anchors + picked) for z in remaining]
        picked.append(remaining[int(np.argmax(distance))])
    return sorted(picked)
