"""Networks (equinox modules) shared by all methods."""

from sciml.nn._deeponet import DeepONet
from sciml.nn._embeddings import FourierFeatures, TrainableFourierFeatures
from sciml.nn._factorized import FactorizedLinear, FactorizedMLP
from sciml.nn._gaussian import GaussianFeatures
from sciml.nn._gicnet import GICNet, KernelInterpolation
from sciml.nn._mlp import MLP
from sciml.nn._modified_mlp import ModifiedMLP
from sciml.nn._mpnn import MPNN
from sciml.nn._periodic import PeriodicEmbedding
from sciml.nn._piratenet import PirateBlock, PirateNet, least_squares_readout

__all__ = [
    "DeepONet",
    "MLP",
    "MPNN",
    "FactorizedLinear",
    "FactorizedMLP",
    "FourierFeatures",
    "GICNet",
    "GaussianFeatures",
    "KernelInterpolation",
    "ModifiedMLP",
    "PeriodicEmbedding",
    "PirateBlock",
    "PirateNet",
    "TrainableFourierFeatures",
    "least_squares_readout",
]

from sciml.nn._cape import (  # noqa: E402
    CAPEBlock,
    CAPEConditioned,
    CAPEConditioning,
    Conditioning,
    FNOBase,
    MPNNBase,
    NoConditioning,
    ParameterChannelConditioning,
    ParameterChannels,
    Unconditioned,
    UNetBase,
)
from sciml.nn._fno import FNO, CPSpectralConv, SpectralConv, cp_rank, parameter_count  # noqa: E402
from sciml.nn._unet import UNet  # noqa: E402

__all__ += ["CAPEBlock", "CAPEConditioned", "CAPEConditioning", "CPSpectralConv", "Conditioning", "FNO", "FNOBase",
            "MPNNBase", "NoConditioning", "ParameterChannelConditioning", "ParameterChannels", "SpectralConv", "UNet",
            "UNetBase", "Unconditioned", "cp_rank", "parameter_count"]
