"""The project store: one folder per volume holding image, truth, proposal, review and rounds.

See :mod:`napari_cathode.core.project.file_format` for the layout on disk. Every write is
crash-safe: chunks and JSON files are replaced atomically (:mod:`napari_cathode.core.atomic`),
ground truth is written through chunk by chunk as it is painted, and a round folder appears only
complete.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import zarr
from numpy.typing import ArrayLike

from napari_cathode.core.atomic import AtomicLocalStore, folder_lock, remove_stale_temporaries
from napari_cathode.core.classes import DEFAULT_CLASSES, SegmentationClass
from napari_cathode.core.errors import ProjectError
from napari_cathode.core.io.pyramid import build_pyramid, pyramid_levels
from napari_cathode.core.project import file_format as fmt
from napari_cathode.core.project import rounds as _rounds
from napari_cathode.core.project.create import (
    LABEL_ARRAYS,
    NO_EMPTY_CHUNKS,
    build_project,
    check_classes,
    check_voxel_size,
    is_project,
)
from napari_cathode.core.project.label_arrays import count_value
from napari_cathode.core.project.review_state import ProjectReview, ReviewState, ReviewStatus
from napari_cathode.core.project.rounds import ProjectRounds, RoundRecord
from napari_cathode.core.project.start_model import ProjectStartModel
from napari_cathode.core.project.writers import Index, ProjectWriters

logger = logging.getLogger(__name__)

PROJECT_SUFFIX = fmt.PROJECT_SUFFIX
FORMAT_VERSION = fmt.FORMAT_VERSION
__all__ = [
    "FORMAT_VERSION",
    "PROJECT_SUFFIX",
    "Index",
    "Project",
    "ReviewStatus",
    "RoundRecord",
    "is_project",
]


class Project(ProjectWriters, ProjectStartModel, ProjectReview, ProjectRounds):
    """An open project folder. Create one with :meth:`create`, reopen it with :meth:`open`.

    Attributes
    ----------
    path : Path
        The project folder.
    shape : tuple of int
        Volume shape (z, y, x).
    classes : tuple of SegmentationClass
        Segmentation classes, sorted by id.
    voxel_size : tuple of float
        Voxel size (z, y, x) in ``unit``.
    unit : str
        Unit of the voxel size (``"nm"``, ``"um"``, ``"px"``...).
    source : dict or None
        The file the image came from: path, size, mtime, sha256.
    image, truth, proposal, uncertainty : zarr.Array
        The volume and the uint8 label arrays; writes to them go straight to disk.
    image_levels : list of zarr.Array
        ``image`` then its 2x-downsampled display levels (big volumes only), for napari.
    read_only : bool
        True when opened with ``mode="r"`` or the folder is not writable.
    """

    def __init__(
        self,
        path: Path,
        metadata: dict,
        group: zarr.Group,
        *,
        read_only: bool,
        read_only_reason: str = "",
    ) -> None:
        self.path = path
        self._metadata = metadata
        self.read_only = read_only
        self._read_only_reason = read_only_reason
        self.shape = tuple(int(n) for n in metadata["shape"])
        try:
            self.image = group["image"]
            self.truth, self.proposal, self.uncertainty = (
                group[f"labels/{name}"].with_config(NO_EMPTY_CHUNKS) for name in LABEL_ARRAYS
            )
        except KeyError as error:
            raise ProjectError(f"{path} lacks the array {error}: the project is damaged") from error
        for array in (self.image, self.truth, self.proposal, self.uncertainty):
            if tuple(array.shape) != self.shape:
                raise ProjectError(
                    f"{path}: array {array.path!r} has shape {array.shape}, but project.json "
                    f"says {self.shape}: the project is damaged"
                )
        self._review = ReviewState(group, self.shape[0])
        self._group = group

    @property
    def image_levels(self) -> list[zarr.Array]:
        """The image then its display pyramid levels, finest first (just the image if small)."""
        return pyramid_levels(self._group)

    def build_pyramid(self) -> int:
        """(Re)build the image's display pyramid blockwise; returns the number of levels added.

        Projects of big volumes get one at creation; this adds one to an older project.
        """
        with self._writing("the image pyramid"):
            return len(build_pyramid(self._group))

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        image: ArrayLike,
        *,
        classes: Sequence[SegmentationClass] = DEFAULT_CLASSES,
        voxel_size: float | Sequence[float] = (1.0, 1.0, 1.0),
        unit: str = "px",
        truth: ArrayLike | None = None,
        source: str | os.PathLike | None = None,
        overwrite: bool = False,
        progress: Callable[[int, int], None] | None = None,
        contiguous: bool | None = None,
    ) -> Project:
        """Create a project folder from a volume, copying it blockwise into chunked zarr.

        The project is built under a temporary name beside ``path`` and renamed into place
        when complete, so an interrupted creation leaves nothing behind.

        Parameters
        ----------
        path : str or Path
            The new project folder (conventionally ending in ``.cathode``).
        image : array-like (z, y, x)
            numpy, dask, zarr or h5py array; never loaded whole.
        classes : sequence of SegmentationClass
            Segmentation classes (default: 1 pore, 2 active material, 3 carbon-binder).
        voxel_size : 3 floats or float
            Voxel size (z, y, x) in ``unit``.
        unit : str
            Unit of the voxel size.
        truth : array-like (z, y, x), optional
            Initial ground truth, 0 = unlabeled or a class id.
        source : str, optional
            The file the image was read from (recorded with size, mtime and checksum).
        overwrite : bool
            Replace an existing project at ``path`` (never a folder that is not a project).
        progress : callable(done, total), optional
            Called after each copied block.
        contiguous : bool, optional
            Whether the slices are neighbours in a 3D volume (then rounds train a 2.5D model).
            None (default): measured from the image, see
            :mod:`napari_cathode.core.project.contiguity`.

        Returns
        -------
        Project
            The new project, open for writing.

        Raises
        ------
        VolumeError
            If the image is not 3D/real-valued, holds NaN/inf, or truth does not fit.
        ProjectError
            If ``path`` exists (without ``overwrite``) or classes/voxel size are invalid.
        """
        path = Path(path).expanduser().absolute()
        build_project(
            path,
            image,
            classes=classes,
            voxel_size=voxel_size,
            unit=unit,
            truth=truth,
            source=source,
            overwrite=overwrite,
            progress=progress,
            contiguous=contiguous,
        )
        return cls.open(path)

    @classmethod
    def open(
        cls, path: str | os.PathLike, *, mode: str = "r+", remove_temporaries: bool = True
    ) -> Project:
        """Open an existing project.

        Parameters
        ----------
        path : str or Path
            The project folder.
        mode : {"r+", "r"}
            ``"r"`` opens read-only: every write raises :class:`ProjectError`.
        remove_temporaries : bool
            Delete temporary files left by killed writers (judged by process id, so on this
            host only). Worker processes of a cluster pass False: other hosts write into the
            same folder, and scanning every chunk folder per task would be slow.

        Raises
        ------
        ProjectError
            If ``path`` is not a project, its ``project.json`` is damaged, or it was written
            by a newer (or unsupported older) format version.
        """
        if mode not in ("r", "r+"):
            raise ProjectError(f"mode {mode!r} must be 'r' (read-only) or 'r+' (read/write)")
        path = Path(path).expanduser().absolute()
        metadata = fmt.read_metadata(path)
        reason = ""
        if mode == "r":
            reason = "it was opened read-only (mode='r')"
        elif not os.access(path, os.W_OK):
            reason = "the folder is not writable by this user"
        read_only = bool(reason)
        try:
            group = zarr.open_group(
                AtomicLocalStore(path, read_only=read_only),
                mode="r" if read_only else "r+",
                zarr_format=3,
            )
        except Exception as error:  # zarr raises many types for damaged metadata
            raise ProjectError(
                f"{path} is not a readable zarr v3 group ({type(error).__name__}: {error}); "
                "the project is damaged: restore it from a backup"
            ) from error
        try:
            project = cls(path, metadata, group, read_only=read_only, read_only_reason=reason)
        except ProjectError:
            raise
        except Exception as error:  # damaged array metadata (zarr.json of an array)
            raise ProjectError(
                f"{path}: an array of the project cannot be opened ({type(error).__name__}: "
                f"{error}); the project is damaged: restore it from a backup"
            ) from error
        if not read_only and remove_temporaries:
            remove_stale_temporaries(path, recursive=False)  # e.g. start_model/ being copied
            for folder in ("labels", "review", _rounds.ROUNDS_FOLDER):
                if (path / folder).is_dir():
                    remove_stale_temporaries(path / folder)
        return project

    @property
    def name(self) -> str:
        """The project's name: its folder name without ``.cathode``."""
        name = self.path.name
        return name[: -len(PROJECT_SUFFIX)] if name.endswith(PROJECT_SUFFIX) else name

    @property
    def classes(self) -> tuple[SegmentationClass, ...]:
        return fmt.parse_classes(self.path / fmt.METADATA_FILE, self._metadata["classes"])

    @property
    def voxel_size(self) -> tuple[float, float, float]:
        return tuple(float(v) for v in self._metadata["voxel_size"])

    @property
    def unit(self) -> str:
        return str(self._metadata["unit"])

    @property
    def source(self) -> dict | None:
        return self._metadata.get("source")

    @property
    def display_range(self) -> tuple[float, float] | None:
        """Contrast limits for the image (0.5-99.5 percentiles sampled at creation)."""
        value = self._metadata.get("display_range")
        return (float(value[0]), float(value[1])) if value else None

    @property
    def contiguous(self) -> bool | None:
        """Whether the slices are neighbours in a 3D volume (None = unknown)."""
        return self._metadata.get("contiguous")

    @property
    def contiguity(self) -> str:
        """How :attr:`contiguous` was decided (measured, chosen by the user, ...)."""
        return str(self._metadata.get("contiguity", ""))

    def set_contiguous(self, contiguous: bool | None) -> None:
        """Record whether the slices are contiguous (True/False) or unknown (None)."""
        if contiguous not in (None, True, False):
            raise ProjectError(f"contiguous must be True, False or None, got {contiguous!r}")
        self._update_metadata(contiguous=contiguous, contiguity="chosen by the user")

    def set_classes(self, classes: Sequence[SegmentationClass]) -> None:
        """Replace the classes (names, colours, new ids).

        Raises
        ------
        ProjectError
            If a class id that would disappear is still used by truth or proposal voxels.
        """
        classes = check_classes(classes)
        kept = {c.id for c in classes}
        for old in self.classes:
            if old.id in kept:
                continue
            for label, array, slices in (
                ("truth", self.truth, self.truth_slices()),
                ("proposal", self.proposal, None),
            ):
                used = count_value(array, old.id, slices)
                if used:
                    raise ProjectError(
                        f"class {old.id} {old.name!r} is still used by {used} voxels of {label}; "
                        "relabel or erase them before removing or renumbering the class"
                    )
        self._update_metadata(classes=[c.to_json() for c in classes])

    def set_voxel_size(self, voxel_size: float | Sequence[float], unit: str | None = None) -> None:
        """Set the voxel size (z, y, x) and optionally its unit."""
        changes = {"voxel_size": list(check_voxel_size(voxel_size))}
        if unit is not None:
            if not str(unit).strip():
                raise ProjectError("unit must be a non-empty string such as 'nm' or 'px'")
            changes["unit"] = str(unit)
        self._update_metadata(**changes)

    def _update_metadata(self, **changes) -> None:
        with self._writing("project.json"), folder_lock(self.path):
            metadata = fmt.read_metadata(self.path)
            metadata.update(changes)
            fmt.write_metadata(self.path, metadata)
            self._metadata = metadata

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read/write"
        return f"Project({str(self.path)!r}, shape={self.shape}, {mode})"
