"""Helpers over a project's uint8 label arrays: which slices hold labels, value counts, scaling."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import zarr

from napari_cathode.core.atomic import is_temporary
from napari_cathode.core.errors import ProjectError
from napari_cathode.core.io.block_copy import iter_blocks

__all__ = ["ProposalArrays", "count_value", "labelled_slices", "uncertainty_to_uint8"]


def labelled_slices(array: zarr.Array, folder: Path) -> np.ndarray:
    """z indices of the slices of ``array`` (stored in ``folder``) holding any value > 0.

    With one-slice-deep chunks, "/"-separated chunk keys and all-zero chunks not stored, these
    are the ``c/<z>`` folders holding a chunk file: a directory listing, consistent with the
    data even after a crash. Any other layout falls back to reading every slice.
    """
    encoding = array.metadata.chunk_key_encoding
    if array.chunks[0] != 1 or getattr(encoding, "separator", None) != "/":
        return np.asarray([z for z in range(array.shape[0]) if np.any(array[z])], dtype=np.int64)
    base = folder / "c"
    if not base.is_dir():
        return np.zeros(0, dtype=np.int64)
    found = [int(e.name) for e in os.scandir(base) if e.name.isdigit() and _holds_chunk(e.path)]
    return np.asarray(sorted(found), dtype=np.int64)


def _holds_chunk(folder: str) -> bool:
    for _root, _dirs, files in os.walk(folder):
        if any(not is_temporary(name) for name in files):
            return True
    return False


def count_value(array: zarr.Array, value: int, slices=None) -> int:
    """Voxels of ``array`` equal to ``value``, read blockwise (only ``slices`` if given)."""
    if slices is None:
        blocks = iter_blocks(array.shape)
    else:
        plane = list(iter_blocks((1, *array.shape[1:])))
        blocks = ((int(z), *index[1:]) for z in slices for index in plane)
    return int(sum(np.count_nonzero(array[index] == value) for index in blocks))


def uncertainty_to_uint8(uncertainty) -> np.ndarray:
    """Per-voxel uncertainty as stored: floats 0..1 scaled to 0..255, or integers 0..255."""
    values = np.asarray(uncertainty)
    if values.dtype.kind == "f":
        if values.size and (not np.isfinite(values).all() or values.min() < 0 or values.max() > 1):
            raise ProjectError("float uncertainty must lie in 0..1 (it is stored as 0..255)")
        return np.round(values * 255).astype(np.uint8)
    if values.dtype.kind in "iub":
        if values.size and (values.min() < 0 or values.max() > 255):
            raise ProjectError("integer uncertainty must lie in 0..255")
        return values.astype(np.uint8)
    raise ProjectError(f"uncertainty has dtype {values.dtype}; use floats 0..1 or uint8")


class ProposalArrays:
    """Proposal writer over plain arrays (a prediction outside a project).

    The same interface as :meth:`Project.write_proposal
    <napari_cathode.core.project.writers.ProjectWriters.write_proposal>`, so the predictor writes
    through one method and uncertainty is encoded by :func:`uncertainty_to_uint8` only.

    Parameters
    ----------
    proposal : writable array-like (z, y, x) uint8
        Receives class ids.
    uncertainty : writable array-like (z, y, x) uint8, optional
        Receives uncertainty 0..255.
    """

    def __init__(self, proposal, uncertainty=None) -> None:
        self.proposal, self.uncertainty = proposal, uncertainty

    def write_proposal(self, index, labels, uncertainty=None) -> None:
        """Write class ids (and uncertainty, floats 0..1 or uint8) at ``index``."""
        self.proposal[index] = np.asarray(labels, dtype=np.uint8)
        if uncertainty is not None and self.uncertainty is not None:
            self.uncertainty[index] = uncertainty_to_uint8(uncertainty)
