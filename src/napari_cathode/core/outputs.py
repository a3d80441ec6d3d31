"""Where a job may write: never over an input, never into a project, never over foreign data.

Every output a job writes outside a project (an export, a model folder, a simulation folder,
an analysis folder, a prediction TIFF) goes through :func:`check_output` before any work
starts:

- an output that is, lies inside, or contains one of the job's inputs is refused;
- an output inside a project folder (or a project folder itself) is refused: projects are
  changed by project operations only;
- an existing output is replaced only on request (``overwrite``), and only if napari-cathode
  wrote it: a folder must carry the marker file :data:`OUTPUT_MARKER` (written into every
  folder output by :func:`mark_output`) or be a model folder of ours; a TIFF file must carry
  the ``software`` tag :data:`SOFTWARE_TAG`.

Messages name no front-end option; :class:`~napari_cathode.core.errors.OutputExistsError`
carries ``option = "overwrite"`` so that each front end can word the hint.
"""

from __future__ import annotations

import errno
import json
import logging
import shutil
from collections.abc import Iterable
from pathlib import Path

from napari_cathode.core.errors import DiskFullError, OutputError, OutputExistsError
from napari_cathode.core.model_document import MODEL_FORMAT, MODEL_JSON

__all__ = [
    "OUTPUT_MARKER",
    "SOFTWARE_TAG",
    "check_not_input",
    "check_output",
    "disk_full_error",
    "folder_size",
    "is_disk_full",
    "is_our_output",
    "mark_output",
    "project_containing",
    "remove_output",
]

log = logging.getLogger(__name__)

#: A file inside every output folder napari-cathode writes.
OUTPUT_MARKER = ".napari-cathode-output"
#: The TIFF ``software`` tag of every TIFF napari-cathode writes.
SOFTWARE_TAG = "napari-cathode"
_PROJECT_FILE = "project.json"


def _resolved(path: str | Path) -> Path:
    return Path(path).expanduser().resolve()


def project_containing(path: str | Path) -> Path | None:
    """The project folder that is ``path`` or one of its parents (None if none is)."""
    here = _resolved(path)
    for folder in (here, *here.parents):
        if (folder / _PROJECT_FILE).is_file():
            return folder
    return None


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def is_our_output(path: str | Path) -> bool:
    """Whether ``path`` is something napari-cathode wrote as an output (safe to replace)."""
    path = Path(path)
    if path.is_symlink():
        return False
    if path.is_dir():
        if (path / _PROJECT_FILE).exists():
            return False
        if (path / OUTPUT_MARKER).is_file():
            return True
        try:
            document = json.loads((path / MODEL_JSON).read_text())
        except (OSError, ValueError):
            return False
        return isinstance(document, dict) and document.get("format") == MODEL_FORMAT
    if path.is_file() and path.suffix.lower() in (".tif", ".tiff"):
        try:
            import tifffile

            with tifffile.TiffFile(path) as tif:
                return tif.pages.first.software == SOFTWARE_TAG
        except Exception:  # not a readable TIFF: not ours
            return False
    return False


def check_output(
    out: str | Path,
    *,
    inputs: Iterable[str | Path | None] = (),
    overwrite: bool = False,
    what: str = "output",
) -> Path:
    """Refuse an output path that would destroy an input, a project or data we did not write.

    Parameters
    ----------
    out : path
        The output file or folder.
    inputs : paths
        The job's inputs (None entries are skipped).
    overwrite : bool
        Whether an existing output of ours may be replaced.
    what : str
        How messages name the output (e.g. ``"export"``).

    Returns
    -------
    Path
        ``out`` as an absolute path (symlinks resolved).

    Raises
    ------
    OutputError
        If ``out`` is or overlaps an input or a project, or exists and is not ours.
    OutputExistsError
        If ``out`` exists and ``overwrite`` is false.
    """
    target = check_not_input(out, inputs, what=what)
    project = project_containing(target)
    if project is not None:
        where = "is the project" if project == target else "lies inside the project"
        raise OutputError(
            f"the {what} {target} {where} {project}; choose a path outside project folders "
            "(a project is changed only by its own operations)"
        )
    if target.is_dir() and not Path(out).is_symlink() and not any(target.iterdir()):
        return target  # an empty folder: nothing to lose
    if target.exists() or Path(out).is_symlink():
        if not overwrite:
            raise OutputExistsError(f"the {what} {target} already exists", path=target)
        if not is_our_output(target):
            kind = "folder" if target.is_dir() else "file"
            raise OutputError(
                f"the {what} {target} exists and is a {kind} napari-cathode did not write; "
                "refusing to replace it. Choose another path, or move it away yourself"
            )
    return target


def check_not_input(
    out: str | Path, inputs: Iterable[str | Path | None], *, what: str = "output"
) -> Path:
    """Refuse an output that is, lies inside or contains one of ``inputs``; the resolved path.

    Raises
    ------
    OutputError
        Naming the output and the input it overlaps.
    """
    target = _resolved(out)
    for given in inputs:
        if given is None:
            continue
        source = _resolved(given)
        if _within(target, source) or _within(source, target):
            relation = (
                "is"
                if target == source
                else ("lies inside" if _within(target, source) else "contains")
            )
            raise OutputError(
                f"the {what} {target} {relation} the input {source}; choose another output path "
                "(an input is never overwritten)"
            )
    return target


def mark_output(folder: str | Path, kind: str) -> None:
    """Write the marker that identifies ``folder`` as a napari-cathode output of ``kind``."""
    (Path(folder) / OUTPUT_MARKER).write_text(
        json.dumps({"written_by": SOFTWARE_TAG, "kind": kind})
    )


def remove_output(path: str | Path) -> None:
    """Delete an earlier output of ours (refuses anything else)."""
    path = Path(path)
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return
    if not is_our_output(path):
        raise OutputError(f"{path} was not written by napari-cathode; refusing to delete it")
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def folder_size(path: str | Path) -> int:
    """Bytes in the files below ``path`` (0 if it is gone)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    total = 0
    for file in path.rglob("*") if path.is_dir() else ():
        try:
            total += file.stat().st_size if file.is_file() else 0
        except OSError:
            pass
    return total


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` (or an error it was raised from) is 'no space left on device'."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


def disk_full_error(where: str | Path, needed_bytes: int) -> DiskFullError:
    """The one message for a full disk: how much a job needs and where."""
    where = Path(where)
    free = ""
    try:
        usage = shutil.disk_usage(where if where.exists() else where.parent)
        free = f", {usage.free / 1e6:.0f} MB free"
    except OSError:
        pass
    needed = max(1, round(needed_bytes / 1e6))
    return DiskFullError(
        f"disk full: {needed} MB needed at {where}{free}; the partial output was removed. "
        "Free some space there or choose another place, then run again"
    )
