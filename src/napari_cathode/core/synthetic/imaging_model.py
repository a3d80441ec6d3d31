"""A FIB-SEM-like imaging model: render a grey-value volume from a 3-phase cathode label volume.

The model turns a fully labelled truth volume (1 = pore, 2 = active material, 3 = carbon-binder)
into what a FIB-SEM serial-sectioning acquisition of that microstructure roughly looks like, in
this order:

1. **phase grey levels** — pore dark, carbon-binder mid, active material bright, each with a
   smooth multiplicative texture (grain contrast, binder nano-porosity);
2. **pore shine-through** — looking into an open pore the detector sees the material *behind*
   the milled face, so pore voxels show the attenuated grey level of the next solid voxel further
   along the milling axis (z);
3. **blur** — an anisotropic Gaussian point-spread function;
4. **shading** — a low-frequency multiplicative gradient across the field of view (detector
   shadowing) and a slow brightness drift between slices (beam-current drift);
5. **curtaining** — vertical stripes (along y) from uneven milling, correlated over a few slices;
6. **noise** — Poisson shot noise at a given electron dose plus Gaussian read-out noise.

Use it on a synthetic phantom (:func:`napari_cathode.core.synthetic.phantom.make_phantom`) or on a
real
3D label volume (e.g. ``slicegan-nmc-3phase/NMC.tif`` remapped to 1/2/3) to obtain a
*semi-synthetic* raw + truth pair; say so wherever such a pair is used.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage as ndi

from napari_cathode.core.errors import VolumeError

__all__ = ["ACTIVE", "BINDER", "PORE", "FibSemModel", "render_fib_sem"]

log = logging.getLogger(__name__)

#: Class ids the imaging model renders (the default cathode classes).
PORE, ACTIVE, BINDER = 1, 2, 3


@dataclass(frozen=True)
class FibSemModel:
    """Parameters of the FIB-SEM-like imaging model (grey levels in 0..1 before noise).

    Parameters
    ----------
    intensities : dict[int, float]
        Mean grey level of each class id; must contain 1 (pore), 2 (active), 3 (carbon-binder).
    texture : float
        Relative amplitude of the smooth multiplicative texture inside each phase.
    shine_through : float
        Fraction of the grey level of the solid behind a pore that shows through (0 disables).
    shine_depth : float
        Decay length of the shine-through along z, in voxels.
    blur_sigma : tuple[float, float, float]
        Gaussian point-spread function sigma (z, y, x), in voxels.
    shading : float
        Peak-to-peak amplitude of the multiplicative shading gradient across (y, x).
    drift : float
        Standard deviation of the slow slice-to-slice brightness drift along z.
    curtaining : float
        Standard deviation of the additive vertical curtaining stripes.
    curtain_width : float
        Correlation width of the stripes along x, in voxels.
    dose : float
        Detected electrons per voxel at grey level 1 (Poisson noise); ``0`` disables shot noise.
    read_noise : float
        Standard deviation of the additive Gaussian noise.
    """

    intensities: dict[int, float] = field(
        default_factory=lambda: {PORE: 0.12, ACTIVE: 0.78, BINDER: 0.42}
    )
    texture: float = 0.06
    shine_through: float = 0.35
    shine_depth: float = 3.0
    blur_sigma: tuple[float, float, float] = (0.6, 1.0, 1.0)
    shading: float = 0.25
    drift: float = 0.02
    curtaining: float = 0.04
    curtain_width: float = 1.5
    dose: float = 60.0
    read_noise: float = 0.03

    def __post_init__(self) -> None:
        missing = {PORE, ACTIVE, BINDER} - set(self.intensities)
        if missing:
            raise VolumeError(
                f"FibSemModel.intensities {self.intensities!r} lacks class ids {sorted(missing)}; "
                "give a grey level for 1 (pore), 2 (active material) and 3 (carbon-binder)"
            )
        if len(self.blur_sigma) != 3:
            raise VolumeError(f"blur_sigma {self.blur_sigma!r} must have 3 values (z, y, x)")
        for name in (
            "texture",
            "shine_through",
            "shine_depth",
            "shading",
            "drift",
            "curtaining",
            "curtain_width",
            "dose",
            "read_noise",
        ):
            if getattr(self, name) < 0:
                raise VolumeError(f"FibSemModel.{name}={getattr(self, name)!r} must be >= 0")

    def to_json(self) -> dict:
        """Plain-JSON form (class ids as strings, as JSON object keys must be)."""
        data = asdict(self)
        data["intensities"] = {str(k): v for k, v in self.intensities.items()}
        data["blur_sigma"] = list(self.blur_sigma)
        return data

    @classmethod
    def from_json(cls, data: dict) -> FibSemModel:
        """Inverse of :meth:`to_json`."""
        data = dict(data)
        data["intensities"] = {int(k): float(v) for k, v in data["intensities"].items()}
        data["blur_sigma"] = tuple(data["blur_sigma"])
        return cls(**data)


def _smooth_noise(shape: tuple[int, ...], sigma, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian random field smoothed with ``sigma`` voxels."""
    noise = ndi.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma)
    std = float(noise.std())
    return noise / std if std > 0 else noise


def _shine_through(
    grey: np.ndarray, pore: np.ndarray, *, fraction: float, depth: float
) -> np.ndarray:
    """Add to each pore voxel the attenuated grey level of the first solid voxel behind it.

    Written by hand: no library models this FIB-SEM artefact. One backward sweep along z
    carries, per (y, x) column, the grey level of the nearest solid voxel and its distance.
    """
    out = grey.copy()
    behind = np.zeros(grey.shape[1:], dtype=np.float32)
    distance = np.full(grey.shape[1:], np.inf, dtype=np.float32)
    for z in range(grey.shape[0] - 1, -1, -1):
        is_pore = pore[z]
        distance += 1.0
        out[z][is_pore] += fraction * behind[is_pore] * np.exp(-distance[is_pore] / depth)
        solid = ~is_pore
        behind[solid] = grey[z][solid]
        distance[solid] = 0.0
    return out


def render_fib_sem(
    truth: np.ndarray,
    *,
    rng: np.random.Generator,
    model: FibSemModel | None = None,
) -> np.ndarray:
    """Render a FIB-SEM-like grey-value volume from a 3-phase label volume.

    Parameters
    ----------
    truth : numpy.ndarray
        Integer label volume (z, y, x); every voxel must be 1 (pore), 2 (active material) or
        3 (carbon-binder). z is the milling (slicing) direction.
    rng : numpy.random.Generator
        Source of all randomness; the same generator state gives the same image.
    model : FibSemModel, optional
        Imaging parameters; the defaults look like a typical cathode FIB-SEM stack.

    Returns
    -------
    numpy.ndarray
        float32 volume of ``truth.shape``, roughly in 0..1.

    Raises
    ------
    VolumeError
        If ``truth`` is not 3D or holds values other than the model's class ids.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.ones((4, 16, 16), np.uint8); truth[:, 4:12, 4:12] = 2
    >>> image = render_fib_sem(truth, rng=np.random.default_rng(0))
    >>> bool(image[:, 6:10, 6:10].mean() > image[:, :2, :2].mean())
    True
    """
    model = model or FibSemModel()
    truth = np.asarray(truth)
    if truth.ndim != 3:
        raise VolumeError(
            f"render_fib_sem needs a 3D (z, y, x) label volume, got shape {truth.shape}"
        )
    values = np.unique(truth)
    unknown = sorted(set(values.tolist()) - set(model.intensities))
    if unknown:
        raise VolumeError(
            f"label volume holds values {unknown} with no grey level in the imaging model "
            f"(known: {sorted(model.intensities)}); remap it to 1 pore / 2 active / 3 binder first"
        )
    shape = truth.shape
    lut = np.zeros(int(values.max()) + 1, dtype=np.float32)
    for class_id, level in model.intensities.items():
        if class_id < lut.size:
            lut[class_id] = level
    grey = lut[truth]
    if model.texture:
        grey *= 1.0 + model.texture * _smooth_noise(shape, 1.5, rng)
    pore = truth == PORE
    if model.shine_through:
        grey = _shine_through(grey, pore, fraction=model.shine_through, depth=model.shine_depth)
    grey = ndi.gaussian_filter(grey, model.blur_sigma)

    # shading: a tilted plane across (y, x) plus slow drift along z
    yy = np.linspace(-0.5, 0.5, shape[1], dtype=np.float32)[:, None]
    xx = np.linspace(-0.5, 0.5, shape[2], dtype=np.float32)[None, :]
    angle = rng.uniform(0, 2 * np.pi)
    plane = 1.0 + model.shading * (np.cos(angle) * yy + np.sin(angle) * xx)
    drift = 1.0 + model.drift * _smooth_noise((shape[0],), 3.0, rng) if model.drift else 1.0
    grey *= plane[None] * np.reshape(drift, (-1, 1, 1))

    if model.curtaining:
        stripes = _smooth_noise((shape[0], shape[2]), (2.0, model.curtain_width), rng)
        # curtains start at the top edge (surface topography) and fade down the face
        fade = np.exp(-np.linspace(0, 1.5, shape[1], dtype=np.float32))[:, None]
        grey += model.curtaining * stripes[:, None, :] * fade[None]

    if model.dose:
        grey = rng.poisson(np.clip(grey, 0, None) * model.dose).astype(np.float32) / model.dose
    if model.read_noise:
        grey += model.read_noise * rng.standard_normal(shape, dtype=np.float32)
    log.debug("rendered FIB-SEM-like volume %s", shape)
    return grey.astype(np.float32, copy=False)
