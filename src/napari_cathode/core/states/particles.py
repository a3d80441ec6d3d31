"""Particle states a user assigned by clicking particles, stored in the project.

A user names some states (``intact``, ``cracked``, ...) and clicks particles to give them one.
What is stored is the clicked *point* and the state, in ``PROJECT/states/labels.json``; the
particle a point belongs to is looked up in the particle instances each time
(:meth:`ParticleLabels.resolve`), so labels survive a recomputation of the instances (e.g. after
the segmentation was corrected) as long as the clicked voxel still lies in a particle.

The instances themselves (distance-transform watershed of the project's particle class,
:func:`~napari_cathode.core.analysis.particles.separate_particles`) are cached in
``PROJECT/states/instances.npy`` so that the viewer, the CLI and a training process all see the
same particle ids.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from napari_cathode.core.atomic import atomic_write_bytes, atomic_write_json
from napari_cathode.core.errors import CathodeError, ProjectError

__all__ = [
    "FORMAT",
    "INSTANCES_FILE",
    "LABELS_FILE",
    "STATES_DIR",
    "ParticleLabel",
    "ParticleLabels",
    "Point",
    "check_state_names",
    "find_project_particles",
    "load_instances",
    "load_particle_labels",
    "save_instances",
    "save_particle_labels",
    "state_volume",
    "states_dir",
]

log = logging.getLogger(__name__)

STATES_DIR = "states"
LABELS_FILE = "labels.json"
INSTANCES_FILE = "instances.npy"
FORMAT = "napari-cathode-particle-states"

Point = tuple[int, int, int]


def check_state_names(names: Sequence[str]) -> tuple[str, ...]:
    """Validate user-defined state names: at least two, non-empty, distinct (case-insensitive).

    Examples
    --------
    >>> check_state_names([" intact", "cracked "])
    ('intact', 'cracked')
    """
    cleaned = tuple(str(n).strip() for n in names)
    if any(not n for n in cleaned):
        raise CathodeError(f"state names {list(names)} contain an empty name; name every state")
    folded = [n.casefold() for n in cleaned]
    if len(set(folded)) != len(folded):
        raise CathodeError(f"state names {list(cleaned)} repeat a name; make each one distinct")
    if len(cleaned) < 2:
        raise CathodeError(
            f"give at least two state names (e.g. intact,cracked), got {list(cleaned)}"
        )
    return cleaned


@dataclass(frozen=True)
class ParticleLabel:
    """One click: the voxel (z, y, x) a user clicked and the state given to its particle."""

    point: Point
    state: str

    def to_json(self) -> dict:
        return {"point": list(self.point), "state": self.state}

    @classmethod
    def from_json(cls, data: dict) -> ParticleLabel:
        point = tuple(int(v) for v in data["point"])
        if len(point) != 3:
            raise ValueError(f"point {data['point']!r} must be (z, y, x)")
        return cls(point=point, state=str(data["state"]))


@dataclass(frozen=True)
class ParticleLabels:
    """The state names and the labelled particles of a project (immutable; methods return new).

    Attributes
    ----------
    states : tuple of str
        State names in class order (class index 0, 1, ...).
    labels : tuple of ParticleLabel
        At most one per particle (labelling a particle again replaces its label).
    """

    states: tuple[str, ...] = ("intact", "cracked")
    labels: tuple[ParticleLabel, ...] = field(default_factory=tuple)

    def state_index(self, state: str) -> int:
        """Class index of ``state``; a clear error for an unknown name."""
        for index, name in enumerate(self.states):
            if name.casefold() == str(state).strip().casefold():
                return index
        raise CathodeError(
            f"unknown state {state!r}; the project's states are {list(self.states)} "
            "(add it to the state names first)"
        )

    def with_states(self, names: Sequence[str]) -> ParticleLabels:
        """Rename/extend the states; a state that still has labelled particles cannot go."""
        names = check_state_names(names)
        kept = {n.casefold() for n in names}
        used = sorted({lab.state for lab in self.labels if lab.state.casefold() not in kept})
        if used:
            raise CathodeError(
                f"states {used} still label particles; unlabel those particles before removing "
                "the state"
            )
        return replace(self, states=names)

    def with_label(self, point: Sequence[int], state: str, instances: np.ndarray) -> ParticleLabels:
        """Label the particle under ``point`` (replacing any label it had)."""
        state = self.states[self.state_index(state)]
        point = _point(point, instances.shape)
        particle = int(instances[point])
        if particle == 0:
            raise CathodeError(
                f"no particle at voxel (z, y, x) = {point}: click inside a particle of the "
                "particles layer"
            )
        kept = tuple(lab for lab in self.labels if _particle_at(instances, lab.point) != particle)
        return replace(self, labels=(*kept, ParticleLabel(point, state)))

    def without_particle(self, point: Sequence[int], instances: np.ndarray) -> ParticleLabels:
        """Remove the label of the particle under ``point`` (no change if it had none)."""
        point = _point(point, instances.shape)
        particle = int(instances[point])
        if particle == 0:
            return self
        kept = tuple(lab for lab in self.labels if _particle_at(instances, lab.point) != particle)
        return replace(self, labels=kept)

    def resolve(self, instances: np.ndarray) -> dict[int, str]:
        """Particle id → state of every label whose point lies in a particle (later wins)."""
        resolved: dict[int, str] = {}
        for lab in self.labels:
            particle = _particle_at(instances, lab.point)
            if particle == 0:
                log.warning("label at %s (%s) is no longer inside a particle", lab.point, lab.state)
                continue
            resolved[particle] = lab.state
        return resolved

    def counts(self, instances: np.ndarray) -> dict[str, int]:
        """Labelled particles per state."""
        resolved = self.resolve(instances)
        return {s: sum(1 for v in resolved.values() if v == s) for s in self.states}

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "version": 1,
            "states": list(self.states),
            "labels": [lab.to_json() for lab in self.labels],
        }

    @classmethod
    def from_json(cls, data: dict) -> ParticleLabels:
        if data.get("format") != FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, not {FORMAT!r}")
        return cls(
            states=check_state_names(data["states"]),
            labels=tuple(ParticleLabel.from_json(d) for d in data["labels"]),
        )


def _point(point: Sequence[int], shape: tuple[int, ...]) -> Point:
    values = tuple(round(float(v)) for v in point)
    if len(values) != 3 or any(not 0 <= v < n for v, n in zip(values, shape)):
        raise CathodeError(f"point {tuple(point)} lies outside the volume of shape {shape}")
    return values  # type: ignore[return-value]


def _particle_at(instances: np.ndarray, point: Point) -> int:
    if any(not 0 <= v < n for v, n in zip(point, instances.shape)):
        return 0
    return int(instances[point])


def states_dir(project_path: str | Path) -> Path:
    """``PROJECT/states``: labels, instances, model and predictions of particle states."""
    return Path(project_path) / STATES_DIR


def load_particle_labels(project_path: str | Path) -> ParticleLabels:
    """The project's particle labels (default states and no labels when none were saved)."""
    path = states_dir(project_path) / LABELS_FILE
    if not path.is_file():
        return ParticleLabels()
    try:
        return ParticleLabels.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as error:
        raise ProjectError(
            f"{path} is damaged ({error}); restore it from a backup or delete it to start the "
            "particle labels afresh"
        ) from error


def save_particle_labels(project_path: str | Path, labels: ParticleLabels) -> Path:
    """Write the labels atomically (the file is always either the old or the new version)."""
    folder = states_dir(project_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LABELS_FILE
    atomic_write_json(path, labels.to_json())
    return path


def save_instances(project_path: str | Path, instances: np.ndarray) -> Path:
    """Cache the particle instances of a project (``.npy``, atomically)."""
    folder = states_dir(project_path)
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(instances, dtype=np.int32), allow_pickle=False)
    path = folder / INSTANCES_FILE
    atomic_write_bytes(path, buffer.getbuffer())
    return path


def load_instances(project_path: str | Path) -> np.ndarray | None:
    """The cached particle instances, or None when they were never computed."""
    path = states_dir(project_path) / INSTANCES_FILE
    if not path.is_file():
        return None
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise ProjectError(
            f"{path} cannot be read ({error}); find the particles again to rebuild it"
        ) from error


def find_project_particles(
    project,
    *,
    particle_class: str = "active",
    h_max: float = 2.0,
    min_voxels: int = 20,
) -> np.ndarray:
    """Separate the particles of a project's segmentation (truth, else proposal) and cache them.

    Parameters
    ----------
    project : Project
        Open project; its truth where labelled, else its proposal, is the segmentation.
    particle_class : str
        Name (or the start of a word of it) of the class that forms particles.
    h_max, min_voxels
        See :func:`~napari_cathode.core.analysis.particles.separate_particles`.

    Returns
    -------
    numpy.ndarray of int32
        Particle instances, also saved in ``PROJECT/states/instances.npy``.

    Raises
    ------
    CathodeError
        If the segmentation holds no voxel of the particle class.
    """
    from napari_cathode.core.analysis.class_mapping import class_mask, resolve_class
    from napari_cathode.core.analysis.particles import separate_particles
    from napari_cathode.core.io.export import merge_labels

    chosen = resolve_class(particle_class, project.classes)
    mask = class_mask(merge_labels(project.truth, project.proposal), chosen.id)
    if not mask.any():
        raise CathodeError(
            f"{project.path} has no {chosen.name!r} voxels in its truth or proposal: segment "
            "the volume (predict or label it) before looking for particles"
        )
    instances = separate_particles(
        mask, voxel_size=project.voxel_size, h_max=h_max, min_voxels=min_voxels
    )
    if not project.read_only:
        save_instances(project.path, instances)
    log.info("%s: %d particles of class %s", project.path, int(instances.max()), chosen.name)
    return instances


def state_volume(instances: np.ndarray, particle_states: dict[int, int]) -> np.ndarray:
    """A labels volume of class index + 1 per particle (0 = no particle / no state).

    Parameters
    ----------
    instances : numpy.ndarray of int
    particle_states : dict
        Particle id → class index (0-based, into the state names).
    """
    lut = np.zeros(int(instances.max(initial=0)) + 1, np.uint8)
    for particle, index in particle_states.items():
        if 0 < particle < lut.size:
            lut[particle] = index + 1
    return lut[instances]
