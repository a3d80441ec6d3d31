"""napari_cathode.jobs"""
