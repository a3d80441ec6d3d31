"""A simulated reviewer who corrects a proposal with brush strokes instead of whole slices.

Each round the reviewer looks at the current proposal and paints ``strokes`` short strokes, one
into each of the largest wrong regions: connected (in-plane) regions of voxels whose proposal
differs from the truth and that all have the same true class. With no proposal at all (a loop
from scratch) everything is wrong, and the reviewer takes the classes in turn, each one's
largest regions first, as a user starting a project scribbles every class. A stroke is a brush
of radius ``radius`` dragged along a straight path of up to ``length`` pixels, centred on the
deepest point of its region and oriented along the region's longest extent there; it paints the
brush footprint *inside that wrong region*, with the true class. So the reviewer only ever
paints voxels that hold a truth label and that the proposal got wrong, and never paints one
twice. Effort is counted in strokes and painted voxels.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

__all__ = ["Stroke", "paint_scribbles"]

log = logging.getLogger(__name__)

#: Directions a stroke may take (angles in radians over a half turn).
_ANGLES = np.linspace(0, np.pi, 16, endpoint=False)


@dataclass(frozen=True)
class Stroke:
    """One simulated stroke: its slice, true class, path end points and painted voxel count."""

    z: int
    label: int
    start: tuple[int, int]
    end: tuple[int, int]
    voxels: int


def _wrong_regions(truth: np.ndarray, proposal: np.ndarray, painted: np.ndarray):
    """Yield ``(size, z, label, component mask slices...)`` of every wrong region of a slice."""
    wrong = (proposal != truth) & (truth > 0) & ~painted
    for label in np.unique(truth[wrong]):
        components, count = ndi.label(wrong & (truth == label))
        if not count:
            continue
        sizes = np.bincount(components.ravel())[1:]
        boxes = ndi.find_objects(components)
        for index, (size, box) in enumerate(zip(sizes, boxes), start=1):
            yield int(size), int(label), index, components, box


def _reach(mask: np.ndarray, point: np.ndarray, direction: np.ndarray, limit: int) -> int:
    """How many 1-px steps from ``point`` along ``direction`` stay inside ``mask``."""
    for step in range(1, limit + 1):
        y, x = np.rint(point + step * direction).astype(int)
        if not (0 <= y < mask.shape[0] and 0 <= x < mask.shape[1] and mask[y, x]):
            return step - 1
    return limit


def _stroke_in(region: np.ndarray, radius: float, length: int) -> tuple[np.ndarray, tuple, tuple]:
    """The footprint (bool, region's shape) of one stroke in ``region`` and its end points."""
    depth = ndi.distance_transform_edt(region)
    centre = np.array(np.unravel_index(int(np.argmax(depth)), region.shape), dtype=float)
    half = max(length // 2, 0)
    best = (-1, 0.0)
    for angle in _ANGLES:  # the direction with the longest path inside the region
        d = np.array([np.sin(angle), np.cos(angle)])
        reach = _reach(region, centre, d, half) + _reach(region, centre, -d, half)
        if reach > best[0]:
            best = (reach, angle)
    d = np.array([np.sin(best[1]), np.cos(best[1])])
    a = _reach(region, centre, -d, half)
    b = _reach(region, centre, d, half)
    path = np.zeros(region.shape, dtype=bool)
    for t in np.arange(-a, b + 0.5, 0.5):
        y, x = np.rint(centre + t * d).astype(int)
        path[y, x] = True
    # the brush: every pixel within ``radius`` of the path, clipped to the wrong region
    footprint = ndi.distance_transform_edt(~path) <= radius
    start = tuple(int(v) for v in np.rint(centre - a * d))
    end = tuple(int(v) for v in np.rint(centre + b * d))
    return footprint & region, start, end


def paint_scribbles(
    truth: np.ndarray,
    proposal: np.ndarray,
    annotation: np.ndarray,
    *,
    strokes: int,
    radius: float = 4.0,
    length: int = 30,
) -> list[Stroke]:
    """Paint up to ``strokes`` strokes into the largest wrong regions (see the module docstring).

    Parameters
    ----------
    truth : ndarray (z, y, x) uint8
        What the reviewer knows: 0 = unlabeled, 1..K.
    proposal : ndarray (z, y, x) uint8
        The current proposal (0 = none, so every labelled voxel is wrong).
    annotation : ndarray (z, y, x) uint8
        The reviewer's labels so far; painted in place (0 = not painted).
    strokes : int
        Strokes to paint this round.
    radius : float
        Brush radius in pixels.
    length : int
        Longest stroke path in pixels.

    Returns
    -------
    list of Stroke
        The strokes painted, largest region first (fewer when fewer wrong regions remain).

    Examples
    --------
    >>> truth = np.ones((1, 40, 40), np.uint8); truth[0, 10:30, 5:35] = 2
    >>> annotation = np.zeros_like(truth)
    >>> [s.label for s in paint_scribbles(truth, np.ones_like(truth), annotation, strokes=2)]
    [2]
    >>> bool((annotation[truth != 2] == 0).all())
    True
    >>> [s.label for s in paint_scribbles(truth, np.zeros_like(truth), annotation, strokes=2)]
    [1, 2]
    """
    painted = annotation > 0
    largest: dict[int, list] = {}  # per class, a heap of its ``strokes`` largest regions
    order = itertools.count()  # breaks ties between equal sizes (arrays do not compare)
    for z in range(truth.shape[0]):
        for size, label, index, components, box in _wrong_regions(
            truth[z], proposal[z], painted[z]
        ):
            heap = largest.setdefault(label, [])
            if len(heap) == strokes and size <= heap[0][0]:
                continue
            region = components[box] == index
            item = (size, -next(order), z, label, box[0].start, box[1].start, region)
            (heapq.heappush if len(heap) < strokes else heapq.heapreplace)(heap, item)
    ranked = {label: sorted(largest[label], reverse=True) for label in sorted(largest)}
    if proposal.any():  # the largest wrong regions, whatever their class
        chosen = sorted((r for rs in ranked.values() for r in rs), reverse=True)[:strokes]
    else:  # nothing proposed yet: every class in turn, its largest regions first
        rounds = itertools.zip_longest(*ranked.values())
        chosen = [r for group in rounds for r in group if r is not None][:strokes]
    done = []
    for _, _, z, label, y0, x0, region in chosen:
        footprint, start, end = _stroke_in(region, radius, length)
        box = (z, slice(y0, y0 + region.shape[0]), slice(x0, x0 + region.shape[1]))
        annotation[box][footprint] = label
        done.append(
            Stroke(
                z,
                int(label),
                (start[0] + y0, start[1] + x0),
                (end[0] + y0, end[1] + x0),
                int(footprint.sum()),
            )
        )
    log.debug("painted %d strokes, %d voxels", len(done), sum(s.voxels for s in done))
    return done
