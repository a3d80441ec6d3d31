"""The ilastik-style random-forest segmenter: the peer our learner is measured against (and uses).

What an ilastik user would pick instead of us: a random forest of 100 trees on hand-made
multi-scale pixel features (scikit-image ``multiscale_basic_features``: Gaussian intensity, Sobel
edges and Hessian-eigenvalue texture at sigmas 1, 2, 4, 8, 16), fitted on the labelled voxels only.
The features are computed on the percentile-normalised image, exactly as the network sees it
(:func:`napari_cathode.ml.normalization.fit_normalization` with the model's default percentiles),
so the peer and the network start from the same grey values.

2D features per slice by default (right for stacks of non-contiguous slices such as the SegmentPy
acquisitions); ``three_d=True`` computes 3D features for contiguous volumes.

Fully grown trees on millions of noisy voxels cost gigabytes and minutes, so at most
``max_voxels`` labelled voxels (a seeded uniform random subset) are used per fit; with fewer
labelled voxels every one of them is used.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from skimage.feature import multiscale_basic_features
from sklearn.ensemble import RandomForestClassifier

from napari_cathode.core.classes import DEFAULT_CLASSES, SegmentationClass
from napari_cathode.core.errors import ModelError
from napari_cathode.ml.features import num_scales
from napari_cathode.ml.normalization import Normalization, fit_normalization

__all__ = ["ForestConfig", "ForestSegmenter", "model_forest", "pixel_features"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForestConfig:
    """Settings of the forest peer.

    Parameters
    ----------
    sigmas : (float, float)
        Smallest and largest Gaussian sigma (pixels) of the features; powers of 2 in between.
    n_estimators : int
        Trees of the forest (ilastik's default is 100).
    max_voxels : int
        Labelled voxels used per fit at most (seeded uniform subsample above this).
    three_d : bool
        3D features (contiguous volumes) instead of 2D features per slice.
    percentiles : (float, float)
        Percentiles of the per-volume normalisation (the network's default).
    seed : int
        Seeds the voxel subsample and the forest.
    n_jobs : int
        Threads of scikit-learn (-1 = all cores).
    """

    sigmas: tuple[float, float] = (1.0, 16.0)
    n_estimators: int = 100
    max_voxels: int = 50_000
    three_d: bool = False
    percentiles: tuple[float, float] = (0.5, 99.5)
    seed: int = 0
    n_jobs: int = -1


def pixel_features(
    normalized: np.ndarray, zs: Sequence[int], *, sigmas=(1.0, 16.0), three_d: bool = False
) -> np.ndarray:
    """Multi-scale features of slices ``zs`` of a normalised volume.

    Parameters
    ----------
    normalized : ndarray (z, y, x) float32
        The percentile-normalised volume (or any array indexable by z).
    zs : sequence of int
        Slices to describe.
    sigmas : (float, float)
        Smallest and largest sigma.
    three_d : bool
        3D features computed on a slab around the slices (margin 4 * largest sigma, the
        Gaussian's truncation) instead of 2D features of each slice.

    Returns
    -------
    ndarray (len(zs), y, x, F) float32
    """
    kwargs = dict(
        intensity=True,
        edges=True,
        texture=True,
        sigma_min=sigmas[0],
        sigma_max=sigmas[1],
        num_sigma=num_scales(sigmas),
    )
    zs = [int(z) for z in zs]
    if not three_d:
        return np.stack(
            [
                multiscale_basic_features(np.asarray(normalized[z], np.float32), **kwargs).astype(
                    np.float32, copy=False
                )
                for z in zs
            ]
        )
    margin = int(np.ceil(4 * sigmas[1]))
    lo, hi = max(0, min(zs) - margin), min(normalized.shape[0], max(zs) + margin + 1)
    slab = np.asarray(normalized[lo:hi], np.float32)
    feats = multiscale_basic_features(slab, **kwargs)
    return feats[[z - lo for z in zs]].astype(np.float32, copy=False)


class ForestSegmenter:
    """Random forest on multi-scale pixel features, fitted on sparse labels.

    Parameters
    ----------
    classes : tuple of SegmentationClass
        The project's classes; label value ``c.id`` is output channel ``classes.index(c)``.
    config : ForestConfig
        Features and forest settings.
    """

    def __init__(
        self,
        classes: tuple[SegmentationClass, ...] = DEFAULT_CLASSES,
        config: ForestConfig | None = None,
    ) -> None:
        self.classes = tuple(classes)
        self.config = config or ForestConfig()
        self.forest: RandomForestClassifier | None = None
        self.n_fit_voxels = 0
        self.n_labelled_voxels = 0

    # ---------------------------------------------------------------- normalisation / features
    def normalization(self, image) -> Normalization:
        """The per-volume percentile normalisation the network would use for ``image``."""
        return fit_normalization(image, percentiles=self.config.percentiles)

    def features(self, image, zs: Sequence[int], norm: Normalization | None = None) -> np.ndarray:
        """Features (len(zs), y, x, F) of slices ``zs`` of the raw volume ``image``."""
        norm = norm or self.normalization(image)
        if self.config.three_d:
            volume = norm.apply(np.asarray(image))
        else:
            volume = _LazyNormalized(image, norm)
        return pixel_features(volume, zs, sigmas=self.config.sigmas, three_d=self.config.three_d)

    # ---------------------------------------------------------------- fit
    def fit(
        self,
        images: Sequence,
        labels: Sequence,
        slices: Sequence[Sequence[int]] | None = None,
        normalizations: Sequence[Normalization] | None = None,
    ) -> ForestSegmenter:
        """Fit on the labelled voxels (label > 0) of some slices of some volumes.

        Parameters
        ----------
        images : sequence of array-like (z, y, x)
            Raw volumes (each is normalised on its own).
        labels : sequence of array-like (z, y, x) uint8
            Truth of each volume: 0 = unlabeled (ignored), else a class id.
        slices : sequence of sequence of int, optional
            Slices of each volume to use; default: every slice holding a label.
        normalizations : sequence of Normalization, optional
            Each volume's normalisation when already known (default: fitted here).

        Returns
        -------
        ForestSegmenter
            ``self``, fitted.

        Raises
        ------
        ModelError
            If no voxel is labelled or a label is not a class id.
        """
        cfg = self.config
        ids = np.array([c.id for c in self.classes])
        plan = []  # (volume index, z, number of labelled voxels)
        for v, lab in enumerate(labels):
            zs = range(lab.shape[0]) if slices is None else [int(z) for z in slices[v]]
            for z in zs:
                n = int(np.count_nonzero(np.asarray(lab[z])))
                if n:
                    plan.append((v, z, n))
        total = sum(n for *_, n in plan)
        if total == 0:
            raise ModelError("the forest needs labelled voxels; none were given")
        rng = np.random.default_rng(cfg.seed)
        keep = min(1.0, cfg.max_voxels / total)
        xs, ys = [], []
        for v in sorted({p[0] for p in plan}):
            zs = [z for vv, z, _ in plan if vv == v]
            norm = normalizations[v] if normalizations is not None else None
            feats = self.features(images[v], zs, norm)
            for feat, z in zip(feats, zs):
                lab = np.asarray(labels[v][z]).ravel()
                idx = np.flatnonzero(lab)
                if keep < 1.0:
                    idx = rng.choice(idx, max(1, round(idx.size * keep)), replace=False)
                values = lab[idx]
                unknown = np.setdiff1d(np.unique(values), ids)
                if unknown.size:
                    raise ModelError(
                        f"label values {unknown.tolist()} in slice {z} are not class ids "
                        f"{ids.tolist()}"
                    )
                xs.append(feat.reshape(-1, feat.shape[-1])[idx])
                ys.append(values)
        x, y = np.concatenate(xs), np.concatenate(ys)
        self.n_labelled_voxels, self.n_fit_voxels = total, int(y.size)
        if keep < 1.0:
            log.info("forest: fitting on %d of %d labelled voxels (subsample)", y.size, total)
        self.forest = RandomForestClassifier(
            n_estimators=cfg.n_estimators, n_jobs=cfg.n_jobs, random_state=cfg.seed
        ).fit(x, y)
        return self

    # ---------------------------------------------------------------- predict
    def predict_proba(
        self, image, zs: int | Sequence[int], norm: Normalization | None = None
    ) -> np.ndarray:
        """Class probabilities of slices of ``image``.

        Parameters
        ----------
        image : array-like (z, y, x)
            Raw volume (normalised like in :meth:`fit`).
        zs : int or sequence of int
            One slice, or several.
        norm : Normalization, optional
            The volume's normalisation when already known (default: fitted here).

        Returns
        -------
        ndarray float32
            (K, y, x) for one slice, (len(zs), K, y, x) for several; channels in the order of
            ``classes`` (a class never seen in training has probability 0).
        """
        single = np.ndim(zs) == 0
        zlist = [int(zs)] if single else [int(z) for z in zs]
        norm = norm or self.normalization(image)
        out = np.stack([self.proba_of_features(self.features(image, [z], norm)[0]) for z in zlist])
        return out[0] if single else out

    def proba_of_features(self, features: np.ndarray) -> np.ndarray:
        """Probabilities (K, y, x) in class order from features (y, x, F) of one slice."""
        if self.forest is None:
            raise ModelError("the forest is not fitted yet")
        ids = [c.id for c in self.classes]
        out = np.zeros((len(ids), *features.shape[:-1]), np.float32)
        proba = self.forest.predict_proba(features.reshape(-1, features.shape[-1]))
        for j, cid in enumerate(self.forest.classes_):
            out[ids.index(int(cid))] = proba[:, j].reshape(features.shape[:-1])
        return out

    def proba_of_planes(self, planes: np.ndarray) -> np.ndarray:
        """Probabilities (n, K, y, x) of already normalised planes (n, y, x) (2D features)."""
        feats = pixel_features(planes, range(len(planes)), sigmas=self.config.sigmas)
        return np.stack([self.proba_of_features(f) for f in feats])

    def predict(self, image, zs: int | Sequence[int]) -> np.ndarray:
        """Label ids (uint8) of slices of ``image``: (y, x) or (len(zs), y, x)."""
        proba = self.predict_proba(image, zs)
        ids = np.array([c.id for c in self.classes], np.uint8)
        return ids[np.argmax(proba, axis=-3)]


def model_forest(config) -> ForestSegmenter:
    """The (unfitted) forest of a hybrid model with :class:`ModelConfig` ``config``."""
    return ForestSegmenter(
        config.classes,
        ForestConfig(
            n_estimators=config.forest_trees,
            max_voxels=config.forest_voxels,
            percentiles=config.percentiles,
            seed=config.seed,
        ),
    )


class _LazyNormalized:
    """Normalises one slice at a time when indexed by an int (2D features of big volumes)."""

    def __init__(self, image, norm: Normalization) -> None:
        self.image, self.norm, self.shape = image, norm, tuple(image.shape)

    def __getitem__(self, z):
        return self.norm.apply(np.asarray(self.image[z]))
