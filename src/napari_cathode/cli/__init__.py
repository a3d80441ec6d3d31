"""The ``napari-cathode`` command line: one module per command, registered in ``main``."""

from napari_cathode.cli.main import main

__all__ = ["main"]
