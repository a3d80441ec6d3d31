"""napari_cathode.ml"""
