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

from sciml.nn._cape import CAPEBlock, CAPEConditioned, ParameterChannels, Unconditioned, neural_solver  # noqa: E402
from sciml.nn._fno import FNO, SpectralConv, parameter_count  # noqa: E402
from sciml.nn._unet import UNet  # noqa: E402

__all__ += ["CAPEBlock", "CAPEConditioned", "FNO", "ParameterChannels", "SpectralConv", "UNet", "Unconditioned",
            "neural_solver", "parameter_count"]
