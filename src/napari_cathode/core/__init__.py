"""napari_cathode.core"""
