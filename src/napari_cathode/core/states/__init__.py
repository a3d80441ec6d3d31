"""Particle and image states: the user's state labels, what the classifier sees, its
metrics and heat maps.
"""

__all__ = ["heat_maps", "images", "metrics", "particle_crops", "particles"]
