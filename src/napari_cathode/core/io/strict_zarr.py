"""Strict reads of zarr arrays: a missing chunk is an error, a corrupt one names itself.

zarr returns the fill value for a chunk that is not in the store, so a copy that did not
finish reads as zeros without a word; and a chunk whose bytes are damaged raises the codec's
own error (e.g. a Zstd message) from deep inside dask. :func:`strict_dask` checks at open that
every chunk of an input exists, and wraps the array so that a chunk that cannot be decoded
raises a :class:`~napari_cathode.core.errors.VolumeError` naming the store, the array and the
chunk.

Label images (OME-Zarr ``labels/``) are read with ``missing_ok=True``: writers skip all-zero
chunks of sparse labels, and 0 means unlabeled.
"""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path

import dask.array as da
import zarr

from napari_cathode.core.errors import VolumeError

__all__ = ["check_chunks_present", "strict_dask"]

#: Chunk keys looked at one by one to name the first missing chunk.
_NAME_SEARCH_LIMIT = 200_000


def _first_missing(array: zarr.Array) -> tuple[int, ...] | None:
    from zarr.core.sync import sync

    store_path = array.store_path
    grid = getattr(array, "cdata_shape", None)
    if grid is None:
        return None
    for coords in itertools.islice(
        itertools.product(*(range(n) for n in grid)), _NAME_SEARCH_LIMIT
    ):
        key = array.metadata.encode_chunk_key(coords)
        if not sync((store_path / key).exists()):
            return tuple(int(c) for c in coords)
    return None


def check_chunks_present(array: zarr.Array, path: Path) -> None:
    """Raise VolumeError if chunks of ``array`` are missing from its store."""
    try:
        expected, present = int(array.nchunks), int(array.nchunks_initialized)
    except Exception:  # a store that cannot be listed: reads will tell
        return
    if present >= expected:
        return
    first = _first_missing(array)
    where = f" (first missing: chunk {first})" if first is not None else ""
    fill = array.fill_value
    fill = fill.item() if hasattr(fill, "item") else fill
    raise VolumeError(
        f"{path}: {expected - present} of {expected} chunks of the zarr array "
        f"'{array.path or '/'}' are missing{where}; zarr would read them as {fill!r}. The "
        "copy is probably incomplete: copy the store again (or rewrite it with empty chunks "
        "written)"
    )


class _NamedChunks:
    """Array-like over a chunked array whose read errors name the file, array and chunk."""

    def __init__(self, array, path: Path, what: str) -> None:
        self.array, self.path, self.what = array, path, what
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __getitem__(self, index):
        try:
            return self.array[index]
        except VolumeError:
            raise
        except Exception as e:  # codecs raise their own types (Zstd, Blosc, zlib, ...)
            chunk = "?"
            if isinstance(index, tuple) and all(isinstance(i, slice) for i in index):
                chunk = tuple((i.start or 0) // c for i, c in zip(index, self.array.chunks))
            raise VolumeError(
                f"{self.path}: chunk {chunk} of {self.what} cannot be decoded "
                f"({type(e).__name__}: {e}); the file is damaged: copy it again from the original"
            ) from e


def strict_dask(
    array, path: Path, *, missing_ok: bool = False, what: str | None = None
) -> da.Array:
    """A dask array over ``array`` (zarr, or any chunked array such as an HDF5 dataset) whose
    missing chunks (zarr, unless ``missing_ok``) and corrupt chunks raise
    :class:`VolumeError` naming them."""
    if isinstance(array, zarr.Array):
        what = what or f"the zarr array '{array.path or '/'}'"
        if not missing_ok:
            check_chunks_present(array, path)
    chunks = getattr(array, "chunks", None) or array.shape
    return da.from_array(
        _NamedChunks(array, path, what or "the array"),
        chunks=chunks,
        name=f"zarr-{uuid.uuid4().hex}",
        asarray=True,
        fancy=False,
    )
