"""napari-cathode: human-in-the-loop 3D segmentation of battery-electrode tomography."""

__version__ = "0.1.0"
