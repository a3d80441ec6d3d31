"""Lazy readers for the array formats: NumPy ``.npy``, MRC, HDF5, zarr (and OME-Zarr), PNG.

Each returns a :class:`~napari_cathode.core.io.axes.RawVolume` whose data is a dask array
over a memory map, an HDF5 dataset or a zarr array: opening reads headers only.
TIFF lives in ``core.io.tiff``, folders of slices in ``core.io.slices``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import dask
import dask.array as da
import h5py
import imageio.v3 as iio
import mrcfile
import numpy as np
import tifffile
import zarr

from napari_cathode.core.errors import VolumeError
from napari_cathode.core.io.axes import RawVolume, harmonise_spacing
from napari_cathode.core.io.ome_zarr_read import is_ome_zarr_group, open_ome_zarr_image
from napari_cathode.core.io.strict_zarr import strict_dask

__all__ = [
    "ZARR_MARKERS",
    "open_hdf5",
    "open_mrc",
    "open_npy",
    "open_png",
    "open_zarr",
    "read_image_file",
    "slab_chunks",
]

log = logging.getLogger(__name__)

#: Files whose presence marks a folder as a zarr store (v3, v2 group, v2 array).
ZARR_MARKERS = ("zarr.json", ".zgroup", ".zarray")


def slab_chunks(ndim: int) -> tuple:
    """Dask chunks for a memory-mapped array: whole slices, as many per chunk as dask likes."""
    return ("auto",) + (-1,) * (ndim - 1)


def open_npy(path: Path) -> RawVolume:
    """Memory-map a ``.npy`` file, checking its header against the file size first."""
    try:
        with path.open("rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(fh)
            header_bytes = fh.tell()
    except (ValueError, OSError, SyntaxError) as e:
        raise VolumeError(
            f"{path}: not a readable NumPy .npy file ({e}); save it again with numpy.save"
        ) from e
    if dtype.hasobject:
        raise VolumeError(f"{path}: holds Python objects, not numbers; save a numeric array")
    expected = header_bytes + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = path.stat().st_size
    if actual < expected:
        raise VolumeError(
            f"{path}: the .npy file is truncated ({actual} of {expected} bytes); "
            "copy or save it again"
        )
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    if fortran_order:
        log.info("%s is stored in Fortran order; reading slices will be slower", path)
    return RawVolume(da.from_array(array, chunks=slab_chunks(array.ndim)))


def open_mrc(path: Path) -> RawVolume:
    """Memory-map an MRC/REC/MAP file; voxel size from the header, converted from Å to nm."""
    try:
        with mrcfile.mmap(path, mode="r") as mrc:
            array = mrc.data
            voxel = mrc.voxel_size
            size = {"x": float(voxel.x), "y": float(voxel.y), "z": float(voxel.z)}
    except (ValueError, OSError) as e:
        raise VolumeError(
            f"{path}: not a readable MRC file; it may be truncated or damaged (mrcfile: {e})"
        ) from e
    if array is None:
        raise VolumeError(f"{path}: the MRC file holds no data")
    # mrcfile keeps the memory map valid after close (it only drops its reference).
    spacing, unit = {}, None
    if all(v > 0 for v in size.values()):  # 0 means "not set" in the MRC header
        spacing, unit = harmonise_spacing(size, dict.fromkeys(size, "Å"))  # reported in nm
    return RawVolume(
        da.from_array(array, chunks=slab_chunks(array.ndim)),
        axes="ZYX" if array.ndim == 3 else None,
        spacing=spacing,
        unit=unit,
    )


def _hdf5_candidates(h5file: h5py.File) -> list[str]:
    """Paths of the datasets in an HDF5 file that could be images (2D or more)."""
    found: list[str] = []

    def visit(name: str, node) -> None:
        if isinstance(node, h5py.Dataset) and node.ndim >= 2:
            found.append(name)

    h5file.visititems(visit)
    return found


def open_hdf5(path: Path, dataset: str | None) -> RawVolume:
    """Open one dataset of an HDF5 file lazily (``element_size_um`` gives the voxel size)."""
    try:
        h5file = h5py.File(path, "r")
    except OSError as e:
        raise VolumeError(
            f"{path}: not a readable HDF5 file; it may be truncated or damaged (h5py: {e})"
        ) from e
    candidates = _hdf5_candidates(h5file)
    if dataset is None:
        if len(candidates) != 1:
            h5file.close()
            raise VolumeError(_choose_message(path, candidates, "HDF5 file"))
        dataset = candidates[0]
    node = h5file.get(dataset)
    if not isinstance(node, h5py.Dataset):
        h5file.close()
        raise VolumeError(
            f"{path}: no dataset {dataset!r}; the image datasets are "
            f"{candidates}; pass one as dataset="
        )
    if node.dtype.kind not in "biuf":
        h5file.close()
        raise VolumeError(f"{path}: dataset {dataset!r} has dtype {node.dtype}, not numbers")
    spacing: dict[str, float] = {}
    # ilastik / Fiji HDF5 convention: element_size_um = (z, y, x) in µm.
    element_size = node.attrs.get("element_size_um")
    if element_size is not None and len(element_size) == node.ndim and node.ndim in (2, 3):
        spacing = dict(zip("zyx"[3 - node.ndim :], (float(v) for v in element_size)))
    if node.chunks:
        data = strict_dask(node, path, what=f"the HDF5 dataset {dataset!r}")
    else:
        data = da.from_array(node, chunks=slab_chunks(node.ndim))
    return RawVolume(data, spacing=spacing, unit="µm" if spacing else None)


def _choose_message(path: Path, candidates: list[str], container: str) -> str:
    if not candidates:
        return f"{path}: the {container} holds no image array (2D or more)"
    return f"{path}: the {container} holds several arrays {candidates}; choose one with dataset="


def open_zarr(path: Path, dataset: str | None, *, missing_ok: bool = False) -> RawVolume:
    """Open a zarr array, a group holding one array, or an OME-Zarr image (level 0)."""
    try:
        node = zarr.open(str(path), mode="r")
    except Exception as e:  # zarr raises several unrelated types for a bad store
        raise VolumeError(f"{path}: not a readable zarr store ({type(e).__name__}: {e})") from e
    if dataset is not None:
        if not isinstance(node, zarr.Group) or dataset not in node:
            candidates = _zarr_candidates(node) if isinstance(node, zarr.Group) else []
            raise VolumeError(
                f"{path}: no array {dataset!r} in this zarr store; the arrays are "
                f"{candidates}; pass one as dataset="
            )
        node = node[dataset]
    if isinstance(node, zarr.Group):
        if is_ome_zarr_group(node):
            return open_ome_zarr_image(node, path, missing_ok=missing_ok)
        candidates = _zarr_candidates(node)
        if len(candidates) != 1:
            raise VolumeError(_choose_message(path, candidates, "zarr group"))
        node = node[candidates[0]]
    if node.dtype.kind not in "biuf":
        raise VolumeError(f"{path}: zarr array has dtype {node.dtype}, not numbers")
    return RawVolume(strict_dask(node, path, missing_ok=missing_ok))


def _zarr_candidates(group: zarr.Group) -> list[str]:
    """Paths of the arrays (2D or more) anywhere below ``group``."""
    return [
        name
        for name, member in group.members(max_depth=None)
        if isinstance(member, zarr.Array) and member.ndim >= 2
    ]


def open_png(path: Path) -> RawVolume:
    """A single PNG: 2D grey (one-slice stack) or colour (needs ``channel=``)."""
    try:
        props = iio.improps(path)
    except Exception as e:  # imageio/pillow raise many types for a bad image
        raise VolumeError(
            f"{path}: not a readable PNG image; it may be truncated or damaged ({e})"
        ) from e
    data = da.from_delayed(
        dask.delayed(read_image_file)(path), shape=props.shape, dtype=props.dtype
    )
    return RawVolume(data, slice_source=True)


def read_image_file(path: Path) -> np.ndarray:
    """Read one 2D image file (PNG or TIFF) now; a damaged file raises a VolumeError naming it."""
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            return tifffile.imread(path)
        return iio.imread(path)
    except Exception as e:  # imageio/pillow/tifffile raise many types for a bad image
        raise VolumeError(
            f"{path}: cannot read the image; it may be truncated or damaged "
            f"({type(e).__name__}: {e})"
        ) from e
