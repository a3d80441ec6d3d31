"""The typed writers of a project's label arrays: truth, proposals and their uncertainty.

Every write into ``labels/`` goes through these methods of
:class:`~napari_cathode.core.project.Project` (a mixin, like
:class:`~napari_cathode.core.rounds.ProjectRounds`): values are checked against the project's
class ids, uncertainty is encoded to uint8 by
:func:`~napari_cathode.core.label_arrays.uncertainty_to_uint8` only, a read-only project
refuses, and an OS error becomes a :class:`~napari_cathode.core.errors.ProjectError` naming the
folder. The predictor (:mod:`napari_cathode.ml.prediction`) writes its blocks here, and napari
paints into the array :meth:`ProjectWriters.truth_for_painting` hands out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import zarr
from numpy.typing import ArrayLike

from napari_cathode.core.errors import ProjectError
from napari_cathode.core.label_arrays import labelled_slices, uncertainty_to_uint8
from napari_cathode.core.volume_copy import check_label_values

#: A slice number ``z`` or a region (tuple of ints/slices) of a (z, y, x) array.
Index = int | tuple


class ProjectWriters:
    """The label-writing methods of :class:`~napari_cathode.core.project.Project`.

    Expects ``self.path``, ``self.shape``, ``self.classes``, ``self.read_only``,
    ``self._read_only_reason`` and the arrays ``self.truth``, ``self.proposal``,
    ``self.uncertainty``.
    """

    def truth_for_painting(self) -> zarr.Array:
        """The writable ``labels/truth`` array a viewer paints into; writes go straight to disk.

        Each write replaces whole chunks atomically (one-slice chunks, so a brush stroke rewrites
        a few small files) and an erased chunk is deleted, which keeps :meth:`truth_slices`
        true. Read-only projects hand out a read-only array.
        """
        return self.truth

    def write_truth(self, index: Index, values: ArrayLike) -> None:
        """Write ground truth into ``truth[index]``; on disk when this returns.

        Parameters
        ----------
        index : int or tuple of slices/ints
            A slice number ``z`` or a region.
        values : array-like or int
            0 (erase) or class ids, broadcastable to the region.
        """
        values = self._label_values(values, f"truth values for index {index!r}")
        self._write_array(self.truth, index, values, "ground truth")

    def write_proposal(
        self, index: Index, labels: ArrayLike, uncertainty: ArrayLike | None = None
    ) -> None:
        """Write a model proposal (class ids) and optionally its per-voxel uncertainty.

        ``uncertainty`` is uint8 0..255 or floats in 0..1 (scaled to 0..255).
        """
        labels = self._label_values(labels, f"proposal labels for index {index!r}")
        if uncertainty is not None:
            uncertainty = uncertainty_to_uint8(uncertainty)
        self._write_array(self.proposal, index, labels, "proposal")
        if uncertainty is not None:
            self._write_array(self.uncertainty, index, uncertainty, "uncertainty")

    def truth_slices(self) -> np.ndarray:
        """z indices of the slices that hold any ground truth (> 0), ascending.

        Cheap: label chunks are one slice deep and all-zero chunks are not stored, so these are
        the chunk folders on disk - always in step with the data, even after a crash.
        """
        return labelled_slices(self.truth, self.path / "labels" / "truth")

    def _label_values(self, values, what: str) -> np.ndarray:
        values = np.asarray(values)
        check_label_values(values, {0, *(c.id for c in self.classes)}, what)
        return values.astype(np.uint8)

    def _write_array(self, array: zarr.Array, index, values, what: str) -> None:
        with self._writing(what):
            try:
                array[index] = values
            except (IndexError, TypeError) as error:
                raise ProjectError(
                    f"cannot write {what} at index {index!r} of shape {self.shape}: {error}"
                ) from error
            except ValueError as error:
                raise ProjectError(
                    f"cannot write {what} of shape {np.shape(values)} at index {index!r}: {error}"
                ) from error

    @contextlib.contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        if self.read_only:
            raise ProjectError(f"cannot write {what} to {self.path}: {self._read_only_reason}")
        try:
            yield
        except OSError as error:
            raise ProjectError(
                f"cannot write {what} to {self.path}: {error.strerror or error}. The project "
                "folder is not writable: check its permissions and free disk space, or save a "
                "copy elsewhere."
            ) from error
