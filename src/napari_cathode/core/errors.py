"""Exceptions a user can act on: each message names the file or value and what to do."""


class CathodeError(Exception):
    """Base class for every error napari-cathode reports to a user."""


class VolumeError(CathodeError, ValueError):
    """A volume file cannot be opened as a 3D (z, y, x) image or label stack."""


class ProjectError(CathodeError):
    """A project folder is missing, damaged, from an unknown format version, or not writable."""


class ModelError(CathodeError):
    """A model folder is missing, incompatible with the project, or unsafe to load."""
