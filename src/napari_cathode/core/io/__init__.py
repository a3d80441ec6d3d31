"""Volume files in and out: open any format as a lazy (z, y, x) stack, export OME-Zarr/TIFF.

No module here knows about projects (an import-linter contract).
"""

__all__ = [
    "axes",
    "block_copy",
    "export",
    "formats",
    "ome_zarr_read",
    "pyramid",
    "sample_data",
    "slices",
    "strict_zarr",
    "tiff",
    "volumes",
]
