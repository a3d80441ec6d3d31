"""The typed writers of a project's label arrays: truth, proposals and their uncertainty.

Every write into ``labels/`` goes through these methods of
:class:`~napari_cathode.core.project.store.Project` (a mixin, like
:class:`~napari_cathode.core.project.rounds.ProjectRounds`): values are checked against the
project's class ids, uncertainty is encoded to uint8 by
:func:`~napari_cathode.core.project.label_arrays.uncertainty_to_uint8` only, a read-only project
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
from napari_cathode.core.io.block_copy import check_label_values
from napari_cathode.core.project.label_arrays import labelled_slices, uncertainty_to_uint8

__all__ = ["Index", "ProjectWriters", "TruthCanvas"]

#: A slice number ``z`` or a region (tuple of ints/slices) of a (z, y, x) array.
Index = int | tuple


class ProjectWriters:
    """The label-writing methods of :class:`~napari_cathode.core.project.store.Project`.

    Expects ``self.path``, ``self.shape``, ``self.classes``, ``self.read_only``,
    ``self._read_only_reason`` and the arrays ``self.truth``, ``self.proposal``,
    ``self.uncertainty``.
    """

    def truth_for_painting(self) -> TruthCanvas:
        """The writable view of ``labels/truth`` that a viewer paints into.

        Reads come from the zarr array; every write (``view[index] = value``, as napari's
        brush, fill and undo do) goes through :meth:`write_truth`, so it is checked against the
        class ids, refused on a read-only project, and on disk when it returns.
        """
        return TruthCanvas(self)

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


class TruthCanvas:
    """An array-like over a project's ``labels/truth`` whose writes go through the project.

    It has what napari needs of layer data (``shape``, ``dtype``, ``ndim``, ``size``,
    indexing, ``__array__``) plus the zarr array's ``chunks``, so lazy readers (dask) read it
    chunk by chunk. Other attributes are the zarr array's.
    """

    def __init__(self, project: ProjectWriters) -> None:
        self._project = project
        self._array = project.truth

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._array.shape)

    @property
    def dtype(self) -> np.dtype:
        return self._array.dtype

    @property
    def ndim(self) -> int:
        return self._array.ndim

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def chunks(self) -> tuple[int, ...]:
        return self._array.chunks

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index):
        return self._array[index]

    def __setitem__(self, index, values) -> None:
        self._project.write_truth(index, values)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        data = self._array[...]
        return data if dtype is None else data.astype(dtype)

    def __getattr__(self, name: str):
        if name.startswith("_"):  # not set yet (copy, pickle): never recurse
            raise AttributeError(name)
        return getattr(self._array, name)

    def __repr__(self) -> str:
        return f"TruthCanvas({self._project!r})"
