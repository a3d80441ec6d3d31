"""Carry the reference particle instances through time, or match new ones to them.

Two ways, as the microstructure allows:

- **static** (:class:`ShiftedLabels`): the particles do not change shape, so each time point's
  instances are the reference instances moved by that time point's drift (rounded to whole
  voxels: labels are not interpolated). Nothing is segmented again.
- **matched** (:func:`match_instances`): each time point is segmented on its own (e.g. by the
  project model plus the particle watershed) and its instances are matched to the moved
  reference instances by overlap. A particle becomes ``split`` when two or more new instances
  each lie mostly inside it, ``disappeared`` when nothing overlaps it enough, and a new
  instance lying mostly outside every reference particle ``appeared``; two reference particles
  covered by one new instance are ``merged``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from napari_cathode.core.errors import CathodeError

__all__ = ["MatchResult", "ShiftedLabels", "match_instances", "overlap_table"]


class ShiftedLabels:
    """A (z, y, x) label array moved by a whole-voxel offset, read lazily by block.

    ``ShiftedLabels(labels, offset)[p] == labels[p - offset]``, 0 where that falls outside.
    It has ``shape``, ``dtype``, ``ndim`` and ``__getitem__`` with slices, so dask and napari
    can read it like an array.
    """

    def __init__(self, labels, offset) -> None:
        self.labels = labels
        self.offset = tuple(round(float(o)) for o in offset)
        self.shape = tuple(int(n) for n in labels.shape)
        self.dtype = np.dtype(labels.dtype)
        self.ndim = len(self.shape)
        if len(self.offset) != self.ndim:
            raise CathodeError(f"offset {offset} does not fit labels of shape {self.shape}")

    def __getitem__(self, key) -> np.ndarray:
        if key is Ellipsis:
            key = ()
        if not isinstance(key, tuple):
            key = (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        bounds = []
        for k, n in zip(key, self.shape):
            if isinstance(k, (int, np.integer)):
                k = slice(int(k), int(k) + 1)
            start, stop, step = k.indices(n)
            if step != 1:
                raise CathodeError("ShiftedLabels supports slices with step 1 only")
            bounds.append((start, max(stop, start)))
        out = np.zeros(tuple(b - a for a, b in bounds), dtype=self.dtype)
        source, target = [], []
        for (a, b), o, n in zip(bounds, self.offset, self.shape):
            s0, s1 = max(a - o, 0), min(b - o, n)
            if s1 <= s0:
                return out.reshape(self._squeezed_shape(key, out))
            source.append(slice(s0, s1))
            target.append(slice(s0 + o - a, s1 + o - a))
        out[tuple(target)] = np.asarray(self.labels[tuple(source)])
        return out.reshape(self._squeezed_shape(key, out))

    @staticmethod
    def _squeezed_shape(key, out: np.ndarray) -> tuple[int, ...]:
        return tuple(n for k, n in zip(key, out.shape) if not isinstance(k, (int, np.integer)))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        array = self[tuple(slice(None) for _ in self.shape)]
        return array if dtype is None else array.astype(dtype)


def overlap_table(reference: np.ndarray, current: np.ndarray) -> dict[tuple[int, int], int]:
    """Voxel counts of every (reference id, current id) pair that overlaps (both > 0)."""
    reference = np.asarray(reference).ravel()
    current = np.asarray(current).ravel()
    both = (reference > 0) & (current > 0)
    if not both.any():
        return {}
    span = int(current.max()) + 1
    keys, counts = np.unique(
        reference[both].astype(np.int64) * span + current[both].astype(np.int64),
        return_counts=True,
    )
    return {(int(k // span), int(k % span)): int(c) for k, c in zip(keys, counts)}


@dataclass
class MatchResult:
    """Instances of one time point matched to the reference particles.

    Attributes
    ----------
    mapping : dict
        Current instance id → reference particle id (appeared instances get new ids above the
        largest reference id).
    split, disappeared, merged : set of int
        Reference particle ids so flagged at this time point.
    appeared : set of int
        Current instance ids with no reference particle (their new ids are in ``mapping``).
    """

    mapping: dict[int, int] = field(default_factory=dict)
    split: set[int] = field(default_factory=set)
    disappeared: set[int] = field(default_factory=set)
    merged: set[int] = field(default_factory=set)
    appeared: set[int] = field(default_factory=set)

    def relabel(self, current: np.ndarray) -> np.ndarray:
        """``current`` with every instance given its reference particle id (0 stays 0)."""
        current = np.asarray(current)
        lookup = np.zeros(int(current.max()) + 1 if current.size else 1, dtype=np.int64)
        for source, target in self.mapping.items():
            if source < lookup.size:
                lookup[source] = target
        return lookup[current]


def match_instances(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    inside: float = 0.5,
    present: float = 0.2,
) -> MatchResult:
    """Match the instances of one time point to the reference particles (already moved).

    Parameters
    ----------
    reference : numpy.ndarray of int, (z, y, x)
        Reference particle instances moved onto this time point's grid
        (e.g. ``ShiftedLabels(reference, drift)[...]``).
    current : numpy.ndarray of int, (z, y, x)
        This time point's own particle instances (0 = not a particle).
    inside : float
        A current instance belongs to the reference particle holding at least this fraction of
        its voxels (majority rule at the default 0.5).
    present : float
        A reference particle is ``disappeared`` when the instances assigned to it cover less
        than this fraction of its (visible) voxels.

    Returns
    -------
    MatchResult
    """
    reference = np.asarray(reference)
    current = np.asarray(current)
    if reference.shape != current.shape:
        raise CathodeError(
            f"instance matching needs one grid: reference {reference.shape}, current "
            f"{current.shape}"
        )
    pairs = overlap_table(reference, current)
    ref_sizes = np.bincount(reference.ravel().astype(np.int64))
    cur_sizes = np.bincount(current.ravel().astype(np.int64))
    result = MatchResult()
    children: dict[int, list[int]] = {}
    covered: dict[int, int] = {}
    best_parent: dict[int, tuple[int, int]] = {}
    for (ref_id, cur_id), count in pairs.items():
        if count > best_parent.get(cur_id, (0, 0))[1]:
            best_parent[cur_id] = (ref_id, count)
    for cur_id in np.flatnonzero(cur_sizes[1:]) + 1:
        cur_id = int(cur_id)
        ref_id, count = best_parent.get(cur_id, (0, 0))
        if ref_id and count >= inside * cur_sizes[cur_id]:
            result.mapping[cur_id] = ref_id
            children.setdefault(ref_id, []).append(cur_id)
            covered[ref_id] = covered.get(ref_id, 0) + pairs[(ref_id, cur_id)]
            # one instance spanning several reference particles
            others = [
                r
                for (r, c), n in pairs.items()
                if c == cur_id and r != ref_id and n >= 0.25 * ref_sizes[r]
            ]
            if others:
                result.merged.update([ref_id, *others])
        else:
            result.appeared.add(cur_id)
    next_id = int(ref_sizes.size)
    for cur_id in sorted(result.appeared):
        result.mapping[cur_id] = next_id
        next_id += 1
    for ref_id in np.flatnonzero(ref_sizes[1:]) + 1:
        ref_id = int(ref_id)
        kids = children.get(ref_id, [])
        if covered.get(ref_id, 0) < present * ref_sizes[ref_id]:
            result.disappeared.add(ref_id)
        big = [k for k in kids if pairs[(ref_id, k)] >= 0.1 * ref_sizes[ref_id]]
        if len(big) >= 2:
            result.split.add(ref_id)
    return result
