"""Networks (equinox modules) shared by all methods."""

from sciml.nn._embeddings import FourierFeatures
from sciml.nn._mlp import MLP

__all__ = ["MLP", "FourierFeatures"]
