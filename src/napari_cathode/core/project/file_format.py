"""``project.json``: the versioned description of a project folder, read and written atomically.

Layout of a project folder (format 1; a zarr v3 group readable without napari-cathode)::

    sample.cathode/
      project.json          format_version, classes, voxel_size + unit, axes "zyx", shape,
                            source {path, size, mtime, sha256}, display_range, created/modified,
                            contiguous (true/false/null) + contiguity (how it was decided)
      zarr.json             the root zarr group (its attributes point to project.json)
      image/                the volume, chunks (8, 256, 256), source dtype
      labels/truth/         uint8, chunks (1, 256, 256): 0 = unlabeled, 1..255 = class ids
      labels/proposal/      uint8, chunks (1, 256, 256): 0 = no proposal
      labels/uncertainty/   uint8, chunks (1, 256, 256): 0 = certain .. 255 = most uncertain
      review/status         int8 per slice (ReviewStatus), one chunk
      review/round          int16 per slice, the round a review feeds (-1 = not reviewed)
      review/correction_effort  int64 per slice, voxels the human changed vs the proposal
      review/uncertainty    float32 per slice, NaN = not predicted
      rounds/NNNN/          model files + model.json, renamed into place when complete

Label chunks are one slice deep so painting a slice rewrites few, small chunks and the slices
holding ground truth can be listed from the chunk files (all-zero chunks are not stored).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from napari_cathode.core.atomic import atomic_write_json
from napari_cathode.core.classes import SegmentationClass, validate_classes
from napari_cathode.core.errors import CathodeError, ProjectError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "METADATA_FILE",
    "PROJECT_SUFFIX",
    "new_metadata",
    "now_iso",
    "parse_classes",
    "read_metadata",
    "source_record",
    "write_metadata",
]

logger = logging.getLogger(__name__)

PROJECT_SUFFIX = ".cathode"
FORMAT_VERSION = 1
FORMAT_NAME = "napari-cathode project"
METADATA_FILE = "project.json"

#: Upgrades of an older ``project.json`` to the next format, keyed by the version they read.
#: Format 1 is the first; add ``{1: _upgrade_1_to_2}`` here when format 2 appears.
_UPGRADES: dict[int, Callable[[dict], dict]] = {}

#: Source files up to this size get a full sha256 when a project is created from them.
_CHECKSUM_LIMIT = 2 * 1024**3


def now_iso() -> str:
    """Current UTC time as ISO 8601 (seconds)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def source_record(source: str | os.PathLike | None) -> dict | None:
    """Describe the file a project's image came from: path, size, mtime and (if small) sha256.

    A folder (zarr, DICOM series...) or a missing path gets no checksum; a path that does not
    exist is still recorded, as where the data came from.
    """
    if source is None:
        return None
    path = Path(source).expanduser()
    record: dict[str, Any] = {
        "path": str(path.resolve()),
        "size": None,
        "mtime": None,
        "sha256": None,
    }
    if path.exists():
        stat = path.stat()
        record["mtime"] = stat.st_mtime
        if path.is_file():
            record["size"] = stat.st_size
            if stat.st_size <= _CHECKSUM_LIMIT:
                digest = hashlib.sha256()
                with open(path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        digest.update(block)
                record["sha256"] = digest.hexdigest()
    return record


def new_metadata(
    *, shape, classes, voxel_size, unit, source, display_range, contiguous=None, contiguity=""
) -> dict:
    """The ``project.json`` content of a new project.

    ``contiguous``: whether the slices are neighbours in a 3D volume (None = unknown; see
    :mod:`napari_cathode.core.project.contiguity`); ``contiguity`` says how that was decided.
    Projects written before these fields existed read as unknown.
    """
    stamp = now_iso()
    from napari_cathode import __version__

    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "software": f"napari-cathode {__version__}",
        "axes": "zyx",
        "shape": [int(n) for n in shape],
        "classes": [c.to_json() for c in classes],
        "voxel_size": [float(v) for v in voxel_size],
        "unit": str(unit),
        "source": source,
        "display_range": display_range,
        "contiguous": None if contiguous is None else bool(contiguous),
        "contiguity": str(contiguity),
        "created": stamp,
        "modified": stamp,
    }


def write_metadata(root: Path, metadata: dict) -> None:
    """Write ``project.json`` atomically, stamping ``modified``."""
    metadata["modified"] = now_iso()
    atomic_write_json(root / METADATA_FILE, metadata)


def read_metadata(root: Path) -> dict:
    """Read and check ``project.json``; upgrade an older format in memory.

    Raises
    ------
    ProjectError
        If the folder is not a project, the file is damaged, or its format is unknown.
    """
    file = root / METADATA_FILE
    if root.is_file():
        raise ProjectError(
            f"{root} is a file, not a napari-cathode project (a project is a folder with "
            f"{METADATA_FILE}); give the project folder, or create one from this file with new"
        )
    if not root.is_dir():
        raise ProjectError(f"{root} is not a napari-cathode project: no such folder")
    if not file.is_file():
        raise ProjectError(
            f"{root} is not a napari-cathode project: it has no {METADATA_FILE}. "
            "Create one with Project.create(path, image) or `napari-cathode` from a volume."
        )
    try:
        metadata = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ProjectError(
            f"{file} is damaged and cannot be read ({error}). Restore it from a backup; the "
            "arrays in the folder are intact zarr and can still be read with zarr."
        ) from error
    if not isinstance(metadata, dict) or "format_version" not in metadata:
        raise ProjectError(f"{file} is not a napari-cathode {METADATA_FILE} (no format_version)")
    version = metadata["format_version"]
    if not isinstance(version, int):
        raise ProjectError(f"{file}: format_version {version!r} is not an integer")
    if version > FORMAT_VERSION:
        raise ProjectError(
            f"{root} was written by a newer napari-cathode (project format {version}, "
            f"{metadata.get('software', 'unknown version')}); this version reads formats up to "
            f"{FORMAT_VERSION}. Upgrade napari-cathode (pip install -U napari-cathode)."
        )
    while version < FORMAT_VERSION:
        upgrade = _UPGRADES.get(version)
        if upgrade is None:
            raise ProjectError(
                f"{root} uses project format {version}, which this napari-cathode cannot read "
                f"(it reads format {FORMAT_VERSION}); open it with the version that wrote it "
                f"({metadata.get('software', 'unknown')}) and export the labels."
            )
        metadata = upgrade(metadata)
        version = metadata["format_version"]
        logger.info("upgraded %s in memory to project format %d", file, version)
    _check_fields(file, metadata)
    return metadata


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_positive_number(value) -> bool:
    return _is_number(value) and math.isfinite(value) and value > 0


def _check_fields(file: Path, metadata: dict) -> None:
    required = ("shape", "classes", "voxel_size", "unit")
    missing = [key for key in required if key not in metadata]
    if missing:
        raise ProjectError(f"{file} lacks {', '.join(missing)}: the file is damaged")
    shape, voxel_size = metadata["shape"], metadata["voxel_size"]
    if not (
        isinstance(shape, list)
        and len(shape) == 3
        and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape)
    ):
        raise ProjectError(f"{file}: shape {shape!r} must be 3 positive integers (z, y, x)")
    if not (
        isinstance(voxel_size, list)
        and len(voxel_size) == 3
        and all(_is_positive_number(v) for v in voxel_size)
    ):
        raise ProjectError(
            f"{file}: voxel_size {voxel_size!r} must be 3 positive numbers (z, y, x)"
        )
    if not isinstance(metadata["unit"], str):
        raise ProjectError(f"{file}: unit {metadata['unit']!r} must be a string such as 'nm'")
    display = metadata.get("display_range")
    if display is not None and not (
        isinstance(display, list)
        and len(display) == 2
        and all(_is_number(v) and math.isfinite(v) for v in display)
    ):
        raise ProjectError(f"{file}: display_range {display!r} must be 2 numbers or null")
    if not isinstance(metadata["classes"], list):
        raise ProjectError(f"{file}: classes must be a list, got {metadata['classes']!r}")
    if metadata.get("contiguous") not in (None, True, False):
        raise ProjectError(f"{file}: contiguous must be true, false or null")
    if metadata.get("axes", "zyx") != "zyx":
        raise ProjectError(f"{file}: axis order {metadata['axes']!r} is not supported, only 'zyx'")
    parse_classes(file, metadata["classes"])


def parse_classes(file: Path, items: list) -> tuple[SegmentationClass, ...]:
    """Classes from their JSON form, or a ProjectError naming the file and the bad entry."""
    try:
        return validate_classes(SegmentationClass.from_json(item) for item in items)
    except (CathodeError, KeyError, TypeError, ValueError) as error:
        raise ProjectError(f"{file}: invalid classes {items!r}: {error}") from error
