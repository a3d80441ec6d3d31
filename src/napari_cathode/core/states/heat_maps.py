"""Export an explanation heat map: the float map as TIFF, or an overlay on the image as PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_cathode.core.errors import CathodeError

__all__ = ["HEAT_SUFFIXES", "save_heat_map"]

HEAT_SUFFIXES = (".tif", ".tiff", ".png")


def save_heat_map(
    path: str | Path, heat: np.ndarray, image: np.ndarray | None = None, *, label: str = "heat"
) -> Path:
    """Write ``heat`` (2D or 3D (z, y, x)) as float32 TIFF or as a PNG overlay.

    A PNG shows the central slice (of the heat map's z range) of ``image`` in grey with the
    heat map over it in a "jet" colour map at 45 % opacity, plus a colour bar named ``label``
    (e.g. the explanation method).

    Raises
    ------
    CathodeError
        For a suffix other than .tif/.tiff/.png, or a PNG overlay whose image shape differs.
    """
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in HEAT_SUFFIXES:
        raise CathodeError(f"{path}: save a heat map as {', '.join(HEAT_SUFFIXES)}")
    heat = np.asarray(heat, np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".tif", ".tiff"):
        import tifffile

        tifffile.imwrite(path, heat, imagej=heat.ndim == 3, metadata={"axes": "ZYX"[-heat.ndim :]})
        return path
    if image is not None and np.shape(image) != heat.shape:
        raise CathodeError(f"image {np.shape(image)} and heat map {heat.shape} differ in shape")
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    middle = heat.shape[0] // 2 if heat.ndim == 3 else None
    plane = heat[middle] if middle is not None else heat
    figure = Figure(figsize=(5, 5 * plane.shape[0] / max(plane.shape[1], 1) + 0.3), dpi=120)
    axes = figure.add_subplot()
    if image is not None:
        grey = np.asarray(image)[middle] if middle is not None else np.asarray(image)
        axes.imshow(grey, cmap="gray")
    shown = axes.imshow(plane, cmap="jet", alpha=0.45 if image is not None else 1.0, vmin=0)
    figure.colorbar(shown, ax=axes, fraction=0.046, label=label)
    axes.set_axis_off()
    figure.savefig(path, bbox_inches="tight")
    return path
