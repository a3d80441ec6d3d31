"""Exceptions a user can act on: each message names the file or value and what to do."""

__all__ = [
    "CathodeError",
    "DiskFullError",
    "ModelError",
    "OutputError",
    "OutputExistsError",
    "ProjectError",
    "ProjectExistsError",
    "VolumeError",
]


class CathodeError(Exception):
    """Base class for every error napari-cathode reports to a user."""


class VolumeError(CathodeError, ValueError):
    """A volume file cannot be opened as a 3D (z, y, x) image or label stack."""


class ProjectError(CathodeError):
    """A project folder is missing, damaged, from an unknown format version, or not writable."""


class ModelError(CathodeError):
    """A model folder is missing, incompatible with the project, or unsafe to load."""


class OutputExistsError(CathodeError):
    """An output path exists and may only be replaced on request.

    ``option`` names the request (``"overwrite"``); each front end words it its own way
    (the command line says ``--overwrite``, a dock asks).
    """

    option = "overwrite"

    def __init__(self, message: str, path=None) -> None:
        super().__init__(message)
        self.path = path


class OutputError(CathodeError):
    """An output would overwrite an input, a project, or something napari-cathode did not write."""


class DiskFullError(CathodeError, OSError):
    """The disk filled up while a job wrote; its partial output was removed."""


class ProjectExistsError(ProjectError, OutputExistsError):
    """A project is to be created where a project already is."""
