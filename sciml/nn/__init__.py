"""Networks (equinox modules) shared by all methods."""

from sciml.nn._embeddings import FourierFeatures
from sciml.nn._factorized import FactorizedLinear, FactorizedMLP
from sciml.nn._gaussian import GaussianFeatures
from sciml.nn._mlp import MLP
from sciml.nn._periodic import PeriodicEmbedding

__all__ = [
    "MLP",
    "FactorizedLinear",
    "FactorizedMLP",
    "FourierFeatures",
    "GaussianFeatures",
    "PeriodicEmbedding",
]
