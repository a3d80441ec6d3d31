"""napari_cathode._napari"""
